"""Runs every Python snippet of README.md and docs/*.md (the ```python blocks) against the
installed package, so the docs cannot drift from the code (the C and C++ snippets are
compiled by tests/docs/check_snippets.py).

Each snippet runs in a fresh namespace, in a scratch folder, holding the names its prose
assumes, made here from real parts: `payload` is a notification carrying a real BUFR message
inline; `url` is that BUFR on a local HTTP server, `b64` its SHA-256; `xml_bytes` a CAP alert;
`wth-bundle.zip` a small topic-hierarchy bundle. A snippet's Lambda handler is defined, not
called; every wis2mon name it uses must exist."""

import base64
import hashlib
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from conftest import TOPIC, notification

import wis2mon
from wis2mon import _wis2mon

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
CAP = (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>DOC-1</identifier>'
       b'<sender>cap@example.org</sender><sent>2026-01-01T00:00:00+00:00</sent><status>Test</status>'
       b'<msgType>Alert</msgType><scope>Public</scope><info><category>Met</category><event>Fog</event>'
       b'<urgency>Expected</urgency><severity>Minor</severity><certainty>Likely</certainty>'
       b'<area><areaDesc>Coast</areaDesc><polygon>1,1 1,2 2,2 2,1 1,1</polygon></area></info></alert>')


def snippets():
    return list(_snippets())


def _snippets():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in files:
        text = path.read_text()
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            yield pytest.param(m.group(1), id=f"{path.relative_to(ROOT)}:{line}")


def test_the_docs_have_python_snippets():
    assert len(snippets()) >= 4


@pytest.mark.parametrize("code", snippets())
def test_snippet_runs(code, tmp_path, data_server, monkeypatch):
    root, base, _requests = data_server
    bufr = _wis2mon._sample_synop_bufr(15, 15)
    (root / "obs.bufr4").write_bytes(bufr)
    with zipfile.ZipFile(tmp_path / "wth-bundle.zip", "w") as z:
        z.writestr("wth-bundle/centre-id.csv", "Name,Description\nde-dwd,DWD\n")
        z.writestr("wth-bundle/earth-system-discipline.csv",
                   "Name\nweather\nweather/surface-based-observations\nweather/surface-based-observations/synop\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WIS2MON_TOPIC_HIERARCHY", str(tmp_path / "absent.zip"))
    inline = [json.dumps(notification(item=f"doc-{i}", data=bufr, inline=True)).encode() for i in range(3)]
    names = {
        "wis2mon": wis2mon,  # imported by the page's first snippet
        "payload": inline[0],
        "topic": TOPIC,
        "url": f"{base}/obs.bufr4",
        "b64": base64.b64encode(hashlib.sha256(bufr).digest()).decode(),
        "n1": wis2mon.Notification.parse(inline[1]),
        "n2": wis2mon.Notification.parse(inline[2]),
        "url3": f"{base}/obs.bufr4",
        "xml_bytes": CAP,
    }
    exec(compile(code, "<snippet>", "exec"), names)  # noqa: S102 - the docs are this project's own
    # Function bodies (Lambda handlers) are defined, not run: every wis2mon name they use
    # must still exist.
    for dotted in set(re.findall(r"\bwis2mon(?:\.\w+)+", code)):
        obj = wis2mon
        for part in dotted.split(".")[1:]:
            assert hasattr(obj, part), f"{dotted}: no {part}"
            obj = getattr(obj, part)
    assert os.getcwd() == str(tmp_path)
