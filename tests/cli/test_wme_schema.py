"""Every WIS2 Monitoring Event the Sensor Centre tests saw the library emit (findings raised and
cleared, the hourly diagnostic event, the SCGC's hourly log event) validates against the WME
schema of the reference data with Python's jsonschema: a validator independent of the
library's own validate_wme, which the unit tests already apply."""
import json
import os
import pathlib
import subprocess

import pytest


def test_the_events_the_sensor_centres_emit_validate_against_the_wme_schema(pytestconfig, tmp_path, refdata):
    jsonschema = pytest.importorskip("jsonschema")
    unit = pathlib.Path(pytestconfig.getoption("--wis2mon")).resolve().parents[2] / "tests" / "wis2mon_unit_tests"
    if not unit.exists():
        pytest.skip(f"no unit test program at {unit}")
    dump = tmp_path / "events.jsonl"
    r = subprocess.run([str(unit), "--no-intro", "-tc=availability*,scgc on*"], capture_output=True, text=True,
                       timeout=600, env=dict(os.environ, WIS2MON_WME_DUMP=str(dump)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    events = [json.loads(line) for line in dump.read_text().splitlines()]
    subtypes = {e["data"].get("subtype") for e in events}
    assert {"finding", "availability"} <= subtypes, subtypes
    assert any("Cleared" in e["data"]["content"]["title"] for e in events)
    schema = json.loads((refdata / "wis2/wme/wis2-event-message-bundled.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for e in events:
        errors = [f"{list(x.path)}: {x.message}" for x in validator.iter_errors(e)]
        assert not errors, (e, errors)
    print(f"{len(events)} events valid against the WME schema")
