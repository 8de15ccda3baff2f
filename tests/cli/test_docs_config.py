"""Every YAML configuration in README.md and docs/*.md is checked by `wis2mon config check`, so
the docs cannot show a key the program refuses. A block of sinks only gets one pipeline using
them; environment variables a block names are set to a placeholder, and the enrichment
tables and station lists it names are written (with the key and columns it asks for) in the
folder it runs in."""
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def yaml_blocks():
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = md.read_text()
        for m in re.finditer(r"```ya?ml\n(.*?)```", text, re.S):
            yield f"{md.name}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1)


BLOCKS = list(yaml_blocks())


def test_the_docs_have_configurations():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("where,block", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_docs_configuration_passes_config_check(pytestconfig, tmp_path, monkeypatch, where, block):
    for name in re.findall(r"\$\{([A-Z0-9_]+)\}", block):
        monkeypatch.setenv(name, "placeholder")
    if not re.search(r"^pipelines:", block, re.M):
        sinks = re.findall(r"^  - name: (\S+)", block, re.M)
        block += "pipelines:\n  - {name: docs, sinks: [" + ", ".join(sinks) + "]}\n"
    for m in re.finditer(r"source: (\S+\.csv), key: (\w+)(?:, columns: \[([^\]]*)\])?", block):
        columns = [m.group(2)] + [c.strip() for c in (m.group(3) or "").split(",") if c.strip()]
        (tmp_path / m.group(1)).write_text(",".join(columns) + "\n" + ",".join("x" for _ in columns) + "\n")
    for m in re.finditer(r"availability_stations: (\S+\.csv)", block):
        (tmp_path / m.group(1)).write_text("wigos_station_identifier,name,country,schedule\n0-20000-0-10393,L,DE,\n")
    config = tmp_path / "docs.yaml"
    config.write_text(block)
    exe = pathlib.Path(pytestconfig.getoption("--wis2mon")).resolve()
    r = subprocess.run([str(exe), "config", "check", str(config)], capture_output=True, text=True, cwd=tmp_path,
                       timeout=60)
    assert r.returncode == 0, f"{where}\n{block}\n{r.stdout}{r.stderr}"
