#!/usr/bin/env python3
"""Writes a wheel's METADATA and WHEEL files from pyproject.toml (scripts/build-wheels.sh).

The portable wheels are packed by hand because their Pythons cannot run where they are built;
this keeps their metadata the same as `pip wheel .` gives (name, version, summary, Python
versions, license, extras, and docs/python.md as the description).
"""
import argparse
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--version", required=True)
    ap.add_argument("--tag", required=True, help="e.g. cp313-cp313-linux_x86_64")
    ap.add_argument("--out", required=True, type=pathlib.Path, help="the .dist-info directory")
    args = ap.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {args.version}",
        f"Summary: {project['description']}",
        f"License: {project['license']['text']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    for dep in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {d}; extra == "{extra}"' for d in deps]
    lines.append("Description-Content-Type: text/markdown")
    readme = (ROOT / project["readme"]).read_text()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "METADATA").write_text("\n".join(lines) + "\n\n" + readme)
    (args.out / "WHEEL").write_text(
        "Wheel-Version: 1.0\nGenerator: wis2mon scripts/build-wheels.sh\n"
        f"Root-Is-Purelib: false\nTag: {args.tag}\n"
    )


if __name__ == "__main__":
    main()
