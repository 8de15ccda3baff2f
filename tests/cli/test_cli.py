"""The command-line contract of issue #2: exit codes and output shapes are fixed."""
import json
import os
import pathlib
import sqlite3
import subprocess

from conftest import json_lines

VALID = {
    "id": "6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01",
    "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
    "type": "Feature",
    "geometry": None,
    "properties": {
        "data_id": "ch-meteoswiss/data/core/weather/surface-based-observations/synop/x",
        "pubtime": "2026-01-01T00:02:11Z",
        "datetime": "2026-01-01T00:00:00Z",
    },
    "links": [{"href": "https://data.example.org/x.bufr4", "rel": "canonical"}],
}


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_validate_json_output_shape_and_exit_codes(wis2mon, tmp_path):
    bad = dict(VALID, id="not-a-uuid")
    ndjson = write(tmp_path, "m.ndjson", json.dumps(VALID) + "\n\n" + json.dumps(bad) + "\n")
    r = wis2mon("validate", "--format", "json", ndjson)
    assert r.returncode == 1
    lines = json_lines(r.stdout)
    assert [l["source"] for l in lines] == [f"{ndjson}:1", f"{ndjson}:3"]
    assert set(lines[0]) == {"source", "valid", "errors", "warnings"}
    assert lines[0]["valid"] is True and lines[0]["errors"] == []
    assert lines[1]["valid"] is False
    assert lines[1]["errors"] == [{"path": "/id", "rule": "id.uuid", "message": lines[1]["errors"][0]["message"]}]

    good = write(tmp_path, "one.json", json.dumps(VALID, indent=2))  # one pretty-printed message
    r = wis2mon("validate", "--format", "json", good)
    assert r.returncode == 0
    assert [l["source"] for l in json_lines(r.stdout)] == [f"{good}:1"]


def test_validate_text_output(wis2mon, tmp_path):
    f = write(tmp_path, "m.json", json.dumps(dict(VALID, type="Other")))
    r = wis2mon("validate", f)
    assert r.returncode == 1
    assert f"{f}:1: INVALID" in r.stdout
    assert "[type.feature]" in r.stdout


def test_validate_stdin_and_modes(wis2mon):
    v04 = dict(VALID)
    del v04["conformsTo"]
    v04["version"] = "v04"
    text = json.dumps(v04) + "\n"
    lenient = wis2mon("validate", "--format", "json", "-", stdin=text)
    assert lenient.returncode == 0
    out = json_lines(lenient.stdout)[0]
    assert out["source"] == "-:1"
    assert [w["rule"] for w in out["warnings"]] == ["version.deprecated"]
    assert wis2mon("validate", "--lenient", "-", stdin=text).returncode == 0
    # The schema allows version v04: deprecated in both modes, not an error in strict.
    strict = wis2mon("validate", "--strict", "--format", "json", "-", stdin=text)
    assert strict.returncode == 0
    assert [w["rule"] for w in json_lines(strict.stdout)[0]["warnings"]] == ["version.deprecated"]
    # A hex digest is a deviation: a warning when lenient, an error when strict.
    hexed = dict(VALID, properties=dict(VALID["properties"], integrity={"method": "sha256", "value": "ab" * 32}))
    hexed["properties"].pop("content", None)
    text = json.dumps(hexed) + "\n"
    assert wis2mon("validate", "--lenient", "-", stdin=text).returncode == 0
    strict = wis2mon("validate", "--strict", "--format", "json", "-", stdin=text)
    assert strict.returncode == 1
    assert json_lines(strict.stdout)[0]["errors"][0]["rule"] == "integrity.hex"


def test_validate_topic_option(wis2mon, tmp_path):
    f = write(tmp_path, "m.json", json.dumps(VALID))
    ok = wis2mon("validate", "--topic", "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop", f)
    assert ok.returncode == 0
    bad = wis2mon("validate", "--format", "json", "--topic", "origin/a/wis2/ch-meteoswiss/data/core/astrology/x", f)
    assert bad.returncode == 1
    assert json_lines(bad.stdout)[0]["errors"][0]["rule"] == "topic.discipline"


WME = {"id": "6e1c7f9f-dd6c-48d9-bbc4-aef0625f1fb8", "specversion": "1.0", "type": "int.wmo.wis.wme.event",
       "source": "xx-test-global-cache", "subject": "de-dwd", "time": "2026-11-30T12:00:00Z",
       "datacontenttype": "application/json",
       "dataschema": "https://schemas.wmo.int/wme/1.0.0/schemas/wis2-event-message-bundled.json",
       "data": {"conformsTo": ["http://wis.wmo.int/spec/wme/1/conf/monitoring-event-message-core"],
                "severity": "ERROR", "content": {"title": "Cannot download data granule"}}}


def test_validate_tells_monitoring_events_from_notifications(wis2mon, tmp_path):
    finer = dict(WME, type="int.wmo.wis.wme.event.item.download")
    no_severity = dict(WME, data={k: v for k, v in WME["data"].items() if k != "severity"})
    f = write(tmp_path, "mixed.ndjson", "\n".join(json.dumps(m) for m in (WME, VALID, finer, no_severity)) + "\n")
    r = wis2mon("validate", "--format", "json", f)
    assert r.returncode == 1
    got = json_lines(r.stdout)
    assert [g["valid"] for g in got] == [True, True, True, False]
    assert got[2]["warnings"][0]["rule"] == "wme.type.finer"
    assert got[3]["errors"][0]["rule"] == "wme.severity"
    strict = json_lines(wis2mon("validate", "--strict", "--format", "json", f).stdout)
    assert [g["valid"] for g in strict] == [True, True, False, False]


def test_validate_gives_pywis_pubsub_wme_test_messages_their_verdicts(wis2mon, refdata):
    ets = refdata / "wis2/ets/pywis-pubsub"
    verdicts = {"test_wmem_valid_scgc_logs.json": (0, None), "test_wmem_invalid.json": (1, "wme.severity"),
                "test_wmem_invalid_type.json": (1, "wme.type")}
    for name, (code, rule) in verdicts.items():
        r = wis2mon("validate", "--format", "json", ets / name)
        assert r.returncode == code, (name, r.stdout)
        if rule:
            assert [e["rule"] for e in json_lines(r.stdout)[0]["errors"]] == [rule], r.stdout


def test_validate_empty_file_is_not_all_valid(wis2mon, tmp_path):
    empty = tmp_path / "empty.ndjson"
    empty.write_text("")
    r = wis2mon("validate", "--format", "json", empty)
    assert r.returncode == 1
    line = json_lines(r.stdout)[0]
    assert line["source"] == f"{empty}:0" and line["valid"] is False
    assert line["errors"][0]["rule"] == "input.empty"


def test_validate_usage_and_io_errors(wis2mon, tmp_path):
    assert wis2mon("validate").returncode == 2
    assert wis2mon("validate", "--format", "xml", "x").returncode == 2
    assert wis2mon("validate", "--strict", "--lenient", "x").returncode == 2
    r = wis2mon("validate", tmp_path / "missing.json")
    assert r.returncode == 2
    assert "cannot open" in r.stderr
    assert wis2mon("no-such-command").returncode == 2
    assert wis2mon().returncode == 2
    assert wis2mon("--help").returncode == 0
    assert wis2mon("--version").stdout.startswith("wis2mon ")


def test_validate_hostile_input_never_crashes(wis2mon, tmp_path):
    cases = ["{", "[" * 100000, '{"id": "\udcff"}', "\x00\x01\x02", '{"a":' * 5000 + "1" + "}" * 5000, "1e99999"]
    f = tmp_path / "hostile.ndjson"
    with open(f, "wb") as out:
        out.write(b"\xff\xfe{}\n")
        for c in cases:
            out.write(c.encode("utf-8", "surrogatepass") + b"\n")
    r = wis2mon("validate", "--format", "json", f)
    assert r.returncode == 1
    assert all(not l["valid"] for l in json_lines(r.stdout))


def test_topic_validate_contract(wis2mon, tmp_path):
    good = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop"
    no_tables = {"WIS2MON_TOPIC_HIERARCHY": str(tmp_path / "no-bundle.zip")}
    r = wis2mon("topic", "validate", good, "origin/a/wis2/de-dwd/data/core/weather", env=no_tables)
    assert r.returncode == 1
    lines = json_lines(r.stdout)
    assert set(lines[0]) == {"topic", "valid", "errors", "warnings"}
    # Valid, and the output says the tables were not checked (there are none here).
    assert lines[0]["topic"] == good and lines[0]["valid"] is True and lines[0]["errors"] == []
    assert [w["rule"] for w in lines[0]["warnings"]] == ["topic.hierarchy_unchecked"]
    assert "not checked against the WIS2 Topic Hierarchy" in lines[0]["warnings"][0]["message"]
    assert lines[1]["errors"][0]["rule"] == "topic.depth"
    assert wis2mon("topic", "validate", good).returncode == 0
    assert wis2mon("topic", "validate", "--hierarchy", tmp_path / "nope", good).returncode == 2
    assert wis2mon("topic", "validate").returncode == 2


def test_topic_must_be_utf8_and_the_json_stays_valid(request):
    # A 0xFF byte in a level (given to the program as raw bytes): invalid in both modes, and
    # the JSON line is still valid UTF-8 that json.loads reads.
    topic = b"origin/a/wis2/de-dwd/data/core/weather/\xff"
    wis2mon_path = pathlib.Path(request.config.getoption("--wis2mon")).resolve()
    for mode in ([], ["--strict"]):
        r = subprocess.run([os.fsencode(str(wis2mon_path)), b"topic", b"validate", *[m.encode() for m in mode], topic],
                           capture_output=True, timeout=60)
        assert r.returncode == 1
        line = json.loads(r.stdout.decode("utf-8"))
        assert line["valid"] is False and line["errors"][0]["rule"] == "topic.utf8"


def test_topic_validate_with_official_hierarchy(wis2mon, refdata):
    h = refdata / "wis2/topic-hierarchy"
    unknown = "origin/a/wis2/xx-nowhere/data/core/weather/surface-based-observations/synop"
    lenient = wis2mon("topic", "validate", "--hierarchy", h, unknown)
    assert lenient.returncode == 0
    assert json_lines(lenient.stdout)[0]["warnings"][0]["rule"] == "topic.centre_id_unknown"
    strict = wis2mon("topic", "validate", "--strict", "--hierarchy", h, unknown)
    assert strict.returncode == 1
    ok = "cache/a/wis2/ca-eccc-msc/data/core/weather/surface-based-observations/synop"
    checked = wis2mon("topic", "validate", "--strict", "--hierarchy", h, ok)
    assert checked.returncode == 0
    assert json_lines(checked.stdout)[0]["warnings"] == []  # the tables were checked: nothing to say


def test_topic_match_contract(wis2mon):
    t = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop"
    assert wis2mon("topic", "match", "+/a/wis2/+/data/core/weather/surface-based-observations/#", t).returncode == 0
    assert wis2mon("topic", "match", "$share/g/origin/#", t).returncode == 0
    assert wis2mon("topic", "match", "cache/#", t).returncode == 1
    assert wis2mon("topic", "match", "a/#/b", t).returncode == 2
    assert wis2mon("topic", "match", "only-filter").returncode == 2


def test_sample_then_validate_counts_match(wis2mon, tmp_path):
    sample = tmp_path / "sample.ndjson"
    r = wis2mon("sample", "--count", 500, "--seed", 3, "--invalid", 0.1, "--out", sample)
    assert r.returncode == 0
    defects = int(r.stderr.split("(")[1].split()[0])
    v = wis2mon("validate", "--format", "json", sample)
    lines = json_lines(v.stdout)
    assert len(lines) == 500
    assert sum(not l["valid"] for l in lines) == defects
    assert v.returncode == (1 if defects else 0)


def test_sample_makes_real_traffic_that_replay_decodes_offline(wis2mon, tmp_path):
    sample = tmp_path / "s.ndjson"
    r = wis2mon("sample", "--count", 600, "--seed", 9, "--out", sample)
    assert r.returncode == 0, r.stderr
    assert "links point to http://127.0.0.1:8000" in r.stderr
    lines = sample.read_text().splitlines()
    docs = []
    for line in lines:
        try:
            docs.append(json.loads(line))
        except ValueError:
            pass  # a deliberately broken message (json.syntax)
    # Every line says where it was published; links never leave the machine.
    assert all(d["topic"].startswith("origin/a/wis2/") for d in docs)
    assert all(link["href"].startswith(("http://127.0.0.1:8000/", "file:///etc/"))
               for d in docs for link in d["links"])
    surface = [d for d in docs if "surface-based-observations" in d["topic"]]
    alerts = [d for d in docs if d["topic"].endswith("advisories-warnings")]
    assert len(surface) > 300 and len(alerts) > 80
    # The inline BUFR is real: ecCodes decodes it, and the station matches the notification.
    import base64
    bufr = tmp_path / "one.bufr4"
    bufr.write_bytes(base64.b64decode(surface[0]["properties"]["content"]["value"]))
    (obs,) = json_lines(wis2mon("decode", "bufr", bufr).stdout)
    assert obs["wigos_station_identifier"] == surface[0]["properties"]["wigos_station_identifier"]
    assert obs["observed_at"] == surface[0]["properties"]["datetime"]
    assert 250 <= obs["air_temperature"] <= 310
    # Replayed with the default pipelines: the BUFR and CAP pipelines decode it all, and
    # nothing is downloaded (a replay offline must not spend minutes retrying).
    db = tmp_path / "replay.db"
    r = wis2mon("replay", "--db", db, sample)
    assert r.returncode == 0, r.stderr
    assert "(0 failed)" in r.stdout + r.stderr, r.stdout + r.stderr
    valid = wis2mon("validate", "--format", "json", sample)
    verdicts = {v["source"]: v["valid"] for v in json_lines(valid.stdout)}
    valid_lines = {int(k.rsplit(":", 1)[1]) for k, ok in verdicts.items() if ok}
    valid_surface = sum(1 for i, line in enumerate(lines, 1)
                        if i in valid_lines and "surface-based-observations" in line)
    valid_alerts = sum(1 for i, line in enumerate(lines, 1) if i in valid_lines and "advisories-warnings" in line)
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM surface_obs").fetchone()[0] == valid_surface
    assert con.execute("SELECT count(*) FROM surface_obs WHERE air_temperature IS NULL").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM cap_alerts WHERE valid = 1").fetchone()[0] == valid_alerts


def test_sample_data_url_and_data_dir_serve_the_objects(wis2mon, tmp_path, serve):
    root, base = serve()
    sample = tmp_path / "s.ndjson"
    r = wis2mon("sample", "--count", 60, "--invalid", 0, "--data-url", base, "--data-dir", root, "--out", sample)
    assert r.returncode == 0, r.stderr
    import base64
    import hashlib
    for d in json_lines(sample.read_text()):
        assert "content" not in d["properties"]  # fetched from the data URL instead
        href = d["links"][0]["href"]
        assert href.startswith(base + "/")
        data = (root / href[len(base) + 1:]).read_bytes()
        assert len(data) == d["links"][0]["length"]
        assert base64.b64encode(hashlib.sha512(data).digest()).decode() == d["properties"]["integrity"]["value"]
    db = tmp_path / "replay.db"
    r = wis2mon("replay", "--db", db, sample)
    assert r.returncode == 0 and "(0 failed)" in r.stdout + r.stderr, r.stdout + r.stderr
    assert sqlite3.connect(db).execute("SELECT count(*) FROM surface_obs").fetchone()[0] == 42
    assert wis2mon("sample", "--data-url", "ftp://x", "--out", sample).returncode != 0


def test_sample_centre_ids_are_in_the_official_table(wis2mon, tmp_path, refdata):
    table = (refdata / "wis2/topic-hierarchy/topic-hierarchy/centre-id.csv").read_text().splitlines()
    official = {row.split(",", 1)[0] for row in table[1:]}
    sample = tmp_path / "s.ndjson"
    assert wis2mon("sample", "--count", 16, "--invalid", 0, "--out", sample).returncode == 0
    centres = {d["topic"].split("/")[3] for d in json_lines(sample.read_text())}
    assert len(centres) == 8 and centres <= official, centres - official


def test_sample_deviations_warn_when_lenient_and_fail_when_strict(wis2mon, tmp_path):
    sample = tmp_path / "sample.ndjson"
    r = wis2mon("sample", "--count", 400, "--seed", 5, "--invalid", 0, "--deviations", 0.25, "--out", sample)
    assert r.returncode == 0
    deviations = int(r.stderr.split("defect, ")[1].split()[0])
    assert deviations > 50
    lenient = json_lines(wis2mon("validate", "--format", "json", sample).stdout)
    assert all(l["valid"] for l in lenient)
    assert sum(bool(l["warnings"]) for l in lenient) == deviations
    strict = wis2mon("validate", "--strict", "--format", "json", sample)
    assert strict.returncode == 1
    assert sum(not l["valid"] for l in json_lines(strict.stdout)) == deviations


def test_official_examples_and_captures(wis2mon, refdata):
    examples = sorted((refdata / "wis2/wnm/examples").glob("*.json"))
    r = wis2mon("validate", "--format", "json", *examples)
    assert r.returncode == 0
    assert len(json_lines(r.stdout)) == len(examples)
    ets = refdata / "wis2/ets/pywis-pubsub"
    assert wis2mon("validate", ets / "test_valid.json").returncode == 0
    for bad in ["test_invalid.json", "test_invalid_datetime.json", "test_invalid_uuid.json", "test_malformed.json",
                "test_valid_checksum.json", "ci-example-message.json"]:
        assert wis2mon("validate", ets / bad).returncode == 1, bad
