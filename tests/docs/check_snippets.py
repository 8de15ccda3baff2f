#!/usr/bin/env python3
"""Compiles and links every C++ and C snippet of README.md and docs/*.md against an installed
libwis2mon (its headers and the shared library), so the docs cannot drift from the code and
every public symbol a snippet uses is proven exported: an undefined reference fails the link.

A snippet is the body of a ```cpp or ```c block. Its #include lines go to the top of the
file; the rest goes where `@@` stands in its context. The context is an HTML comment right
before the block:

    <!-- snippet-context
    void example(wis2mon::Monitor& monitor, const std::string& topic) {
    @@
    }
    -->

Without one, the snippet is the body of main(); a context without main() gets an empty one
(the context's function is still compiled and linked, so its references must resolve). A context may bring declarations the
snippet assumes (variables named in the prose). Snippets are compiled and linked, not run.

    tests/docs/check_snippets.py --prefix INSTALL_PREFIX [--cxx c++] [--cc cc] [FILE.md ...]
Prints one line per snippet and a count; exits 1 when any fails (or none was found).
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(?:<!--\s*snippet-context\n(?P<context>.*?)-->\s*\n)?```(?P<lang>cpp|c)\n(?P<body>.*?)```",
                   re.S)
CXX_PRELUDE = "\n".join(f"#include <{h}>" for h in
                        ["chrono", "cstdio", "iostream", "memory", "string", "string_view", "vector"])
C_PRELUDE = "#include <stdio.h>\n#include <stddef.h>\n#include <string.h>"


def snippets(path):
    text = path.read_text()
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("body"))
        yield line, m.group("lang"), m.group("body"), m.group("context")


def source_for(lang, body, context):
    includes = [l for l in body.splitlines() if l.lstrip().startswith("#include")]
    rest = "\n".join(l for l in body.splitlines() if not l.lstrip().startswith("#include"))
    template = context if context else "int main(void) {\n@@\nreturn 0;\n}\n"
    if "@@" not in template:
        raise ValueError("snippet-context without @@")
    prelude = CXX_PRELUDE if lang == "cpp" else C_PRELUDE
    ctx_includes = [l for l in template.splitlines() if l.lstrip().startswith("#include")]
    template = "\n".join(l for l in template.splitlines() if not l.lstrip().startswith("#include"))
    source = "\n".join([prelude, *ctx_includes, *includes, template.replace("@@", rest)]) + "\n"
    # A context that is a function of its own still links as a program: its symbols must resolve.
    return source if re.search(r"\bmain\s*\(", source) else source + "int main(void) { return 0; }\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True, help="where libwis2mon is installed (include/, lib/)")
    ap.add_argument("--cxx", default="c++")
    ap.add_argument("--cc", default="cc")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    prefix = pathlib.Path(args.prefix)
    libdir = next(p for p in [prefix / "lib", *prefix.glob("lib/*-linux-gnu"), prefix / "lib64"]
                  if (p / "libwis2mon.so").exists())
    files = [pathlib.Path(f) for f in args.files] or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for md in files:
            for line, lang, body, context in snippets(md):
                shown = md.resolve()
                name = f"{shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}:{line + 1}"
                src = pathlib.Path(tmp) / ("snippet." + ("cpp" if lang == "cpp" else "c"))
                src.write_text(source_for(lang, body, context))
                compiler = [args.cxx, "-std=c++17"] if lang == "cpp" else [args.cc, "-std=c99"]
                cmd = [*compiler, "-Wall", "-Wno-unused-variable", "-Wno-unused-but-set-variable",
                       "-Wno-unused-function", "-I", str(prefix / "include"), str(src), "-o", str(src) + ".out",
                       "-L", str(libdir), "-lwis2mon", f"-Wl,-rpath,{libdir}"]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode == 0:
                    passed += 1
                    print(f"ok      {name} ({lang})")
                else:
                    failed += 1
                    print(f"FAILED  {name} ({lang})\n{src.read_text()}\n{r.stderr}")
    print(f"snippets compiled and linked: {passed} of {passed + failed}")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
