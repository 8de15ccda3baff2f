"""The Python API against real parts: generated BUFR (ecCodes), a real HTTP server, real
SQLite files, the monitor engine."""

import hashlib
import json
import sqlite3
import subprocess
import sys
import threading

import pytest
from conftest import TOPIC, dumps, notification

import wis2mon
from wis2mon import _wis2mon


def test_version_and_package_files():
    assert wis2mon.__version__.count(".") == 2
    import importlib.resources as res

    files = {p.name for p in res.files("wis2mon").iterdir()}
    assert {"py.typed", "_wis2mon.pyi", "aws.py", "topic.py"} <= files


def test_notification_parse_valid_and_attributes():
    doc = notification(item="x1")
    n = wis2mon.Notification.parse(json.dumps(doc), mode="strict", topic=TOPIC)
    assert n.valid and n.errors == [] and n.is_json
    assert n.id == doc["id"]
    assert n.data_id == "de-dwd/data/core/weather/surface-based-observations/synop/x1"
    assert n.metadata_id == "urn:wmo:md:de-dwd:synop"
    assert n.pubtime == "2026-01-01T00:02:16Z"
    assert n.datetime == "2026-01-01T00:00:00Z"
    assert n.operation == "new"
    assert n.data_url == "https://example.org/data/1.bufr4"
    assert n.links[0]["rel"] == "canonical" and n.links[0]["length"] is None
    assert n.integrity is None
    assert n.topic == TOPIC
    assert n.to_dict() == doc
    assert n.get("metadata_id") == "urn:wmo:md:de-dwd:synop"
    assert n.get("nothing", 5) == 5
    # bytes, bytearray and memoryview work the same
    for data in (dumps(doc), bytearray(dumps(doc)), memoryview(dumps(doc))):
        assert wis2mon.Notification.parse(data).valid


def test_notification_invalid_is_data_not_an_exception():
    n = wis2mon.Notification.parse(b'{"type": "Feature"}')
    assert not n.valid
    rules = {e["rule"] for e in n.errors}
    assert rules and all(set(e) == {"path", "rule", "message"} for e in n.errors)
    assert n.data_id is None
    garbage = wis2mon.Notification.parse(b"\xff\xfe not json")
    assert not garbage.valid and not garbage.is_json
    with pytest.raises(wis2mon.ParseError):
        garbage.to_dict()
    with pytest.raises(wis2mon.InvalidArgumentError):
        wis2mon.Notification.parse(b"{}", mode="picky")
    with pytest.raises(TypeError):
        wis2mon.Notification.parse(12)


def test_strict_and_lenient_differ_on_a_real_traffic_habit():
    doc = notification()
    doc["properties"]["integrity"] = {"method": "sha256", "value": "00" * 32}  # hex, seen in real traffic
    assert wis2mon.Notification.parse(json.dumps(doc), mode="lenient").valid
    strict = wis2mon.Notification.parse(json.dumps(doc), mode="strict")
    assert not strict.valid


def test_topic_validate_and_match():
    r = wis2mon.topic.validate(TOPIC)
    assert r and r.valid and r.errors == []
    bad = wis2mon.topic.validate("origin/a/wis2/x")
    assert not bad and bad.errors
    assert wis2mon.topic.match("+/a/wis2/+/data/#", TOPIC)
    assert not wis2mon.topic.match("cache/a/wis2/#", TOPIC)
    assert wis2mon.topic.is_valid_filter("$share/g/#")
    with pytest.raises(wis2mon.InvalidArgumentError) as e:
        wis2mon.topic.match("a/#/b", TOPIC)
    assert isinstance(e.value, ValueError) and isinstance(e.value, wis2mon.Error)


def test_decode_bufr_generated_fixtures():
    one = _wis2mon._sample_synop_bufr(15, 15, name="BAIA MARE", air_temperature=283.45, pressure=98510)
    two = _wis2mon._sample_synop_bufr(10, 384, air_temperature=271.15)
    records = wis2mon.decode_bufr(one + b"garbage between" + two)
    assert [r["wigos_station_identifier"] for r in records] == ["0-20000-0-15015", "0-20000-0-10384"]
    r = records[0]
    assert r["air_temperature"] == 283.45
    assert r["station_pressure"] == 98510
    assert r["station_name"] == "BAIA MARE"
    assert r["observed_at"] == "2026-01-01T12:00:00Z"
    assert r["message_index"] == 1 and records[1]["message_index"] == 2
    assert r["visibility"] is None  # missing is None, never a sentinel


def test_decode_bufr_error_policies():
    good = _wis2mon._sample_synop_bufr(15, 15)
    broken = good[:-4] + b"XXXX"  # no end section
    mixed = good + broken + good
    included = wis2mon.decode_bufr(mixed)
    errors = [r for r in included if "error" in r]
    assert len(errors) == 1 and errors[0]["message_index"] == 2
    assert [r.get("message_index") for r in included] == [1, 2, 3]
    assert len(wis2mon.decode_bufr(mixed, errors="ignore")) == 2
    with pytest.raises(wis2mon.DecodeError) as e:
        wis2mon.decode_bufr(mixed, errors="raise")
    assert len(e.value.records) == 2 and len(e.value.errors) == 1
    nothing = wis2mon.decode_bufr(b"no bufr here")
    assert len(nothing) == 1 and "no BUFR message" in nothing[0]["error"]


CAP = b"""<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>KSTO1055887203</identifier>
<sender>KSTO@NWS.NOAA.GOV</sender><sent>2003-06-17T14:57:00-07:00</sent><status>Actual</status>
<msgType>Alert</msgType><scope>Public</scope><info><category>Met</category><event>SEVERE THUNDERSTORM</event>
<urgency>Immediate</urgency><severity>Severe</severity><certainty>Observed</certainty>
<area><areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY</areaDesc>
<polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon></area></info></alert>"""


def test_decode_cap():
    alert = wis2mon.decode_cap(CAP)
    assert alert["valid"] and alert["identifier"] == "KSTO1055887203"
    assert alert["sent_utc"] == "2003-06-17T21:57:00Z"
    assert alert["infos"][0]["areas"][0]["polygons"][0][0] == [38.47, -120.14]
    rows = wis2mon.decode_cap_records(CAP)
    assert [r["table"] for r in rows] == ["cap_alerts", "cap_areas"]
    hostile = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert>&x;</alert>'
    refused = wis2mon.decode_cap(hostile)
    assert not refused["valid"] and refused["errors"][0]["rule"] == "cap.document"
    assert refused["errors"][0]["path"] == "" and "DOCTYPE" in refused["errors"][0]["message"]
    assert "root:" not in json.dumps(refused)


def test_decode_cap_document_envelope_and_strict_mode():
    body = CAP
    second = body.replace(b"KSTO1055887203", b"KSTO-2").replace(b"14:57:00-07:00", b"14:57:00")
    empty = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>'
    envelope = (b'<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0">'
                + b"".join(b"<contentObject><xmlContent><embeddedXMLContent>" + a
                           + b"</embeddedXMLContent></xmlContent></contentObject>" for a in (body, second, empty))
                + b"</EDXLDistribution>")
    doc = wis2mon.decode_cap_document(envelope)
    assert doc["container"] == "EDXLDistribution" and not doc["valid"]
    assert [a["position"] for a in doc["alerts"]] == [1, 2, 3]
    assert [a["identifier"] for a in doc["alerts"]] == ["KSTO1055887203", "KSTO-2", ""]
    assert [a["valid"] for a in doc["alerts"]] == [True, True, False]
    assert doc["alerts"][2]["errors"] == [{"path": "alert", "rule": "cap.empty",
                                           "message": "the <alert> element is empty"}]
    offset = [w for w in doc["alerts"][1]["warnings"] if w["rule"] == "cap.zone_offset"]
    assert offset and offset[0]["path"] == "alert/sent" and "no zone offset; read as UTC" in offset[0]["message"]
    # The same shape as a Notification's issues: path, rule, message.
    n = wis2mon.Notification.parse(b"{}")
    assert set(n.errors[0]) == set(doc["alerts"][2]["errors"][0]) == {"path", "rule", "message"}
    rows = wis2mon.decode_cap_records(envelope)
    assert [(r["table"], r["identifier"]) for r in rows] == [
        ("cap_alerts", "KSTO1055887203"), ("cap_areas", "KSTO1055887203"),
        ("cap_alerts", "KSTO-2"), ("cap_areas", "KSTO-2")]
    strict = wis2mon.decode_cap_document(envelope, strict=True)
    assert not strict["alerts"][1]["valid"]
    assert any("no zone offset (CAP requires" in e["message"] and e["path"] == "alert/sent"
               for e in strict["alerts"][1]["errors"])
    assert wis2mon.decode_cap(envelope)["identifier"] == "KSTO1055887203"  # the first only
    assert not wis2mon.decode_cap(second, strict=True)["valid"]
    assert wis2mon.decode_cap(second)["valid"]


def test_downloader_sync_batch_integrity_and_faults(data_server):
    root, base, requests = data_server
    payload = _wis2mon._sample_synop_bufr(15, 15)
    (root / "obs.bufr4").write_bytes(payload)
    with wis2mon.Downloader(max_retries=1, connect_timeout=2) as d:
        r = d.fetch(f"{base}/obs.bufr4")
        assert r.ok and r.status == "ok" and r.http_code == 200 and r.data == payload
        n = wis2mon.Notification.parse(json.dumps(notification(url=f"{base}/obs.bufr4", data=payload)))
        assert d.fetch(n).data == payload  # verified against the notification's digest
        bad = wis2mon.Notification.parse(json.dumps(notification(url=f"{base}/obs.bufr4", data=b"other")))
        assert d.fetch(bad).status == "integrity_failed"
        assert d.fetch(f"{base}/missing").status == "not_found"
        fault = d.fetch(f"{base}/fault/x")
        assert fault.status == "http_error" and fault.http_code == 500 and len(fault.attempts) == 2  # retried once
        inline = wis2mon.Notification.parse(json.dumps(notification(url=f"{base}/never", data=payload, inline=True)))
        assert d.fetch(inline).url == "inline"
        before = len(requests)
        results = d.fetch_many([f"{base}/obs.bufr4"] * 30 + [f"{base}/missing", inline])
        assert [r.ok for r in results] == [True] * 30 + [False, True]
        assert len(requests) - before == 31  # inline content needs no request
    with pytest.raises(wis2mon.InvalidArgumentError):
        d.fetch(f"{base}/obs.bufr4")  # closed


def test_downloader_releases_the_gil(data_server):
    root, base, _ = data_server
    (root / "a").write_bytes(b"x" * 1000)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    with wis2mon.Downloader() as d:
        d.fetch_many([f"{base}/a"] * 200)
    stop.set()
    t.join()
    assert len(ticks) > 5  # Python ran while the downloads waited


def test_monitor_with_python_sinks_and_sqlite(tmp_path):
    db = tmp_path / "out.db"
    config = {
        "monitor": {"spool": str(tmp_path / "spool.db"), "status_interval": "0s"},
        "sinks": [{"name": "db", "type": "sqlite", "path": str(db)}],
        "pipelines": [{"name": "all", "filters": ["#"], "dedup": "data_id_pubtime", "sinks": ["db"]}],
    }
    seen, threads = [], set()
    with wis2mon.Monitor(config, sinks={"mine": lambda r: (seen.append(r), threads.add(threading.get_ident()))[0]}) as m:
        for i in range(30):
            m.push(TOPIC, notification(item=f"x{i % 25}"))  # five repeats
        m.push(TOPIC, b"not json")
        assert m.drain(30)
        stats = m.stats()
        text = m.metrics_text()
    assert m.closed
    assert threads == {threading.get_ident()}  # sinks ran on this thread
    assert len(seen) == 25 and {r["table"] for r in seen} == {"notifications"}
    assert stats["received"] == 31 and stats["invalid"] == 1 and stats["duplicates"] == 5
    assert 'wmo_wis2_gb_messages_received_total{centre_id="de-dwd"} 31' in text
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM notifications").fetchone()[0] == 25


def test_monitor_sink_exception_is_raised_from_poll_and_nothing_is_lost(tmp_path):
    config = {"monitor": {"spool": str(tmp_path / "spool.db"), "status_interval": "0s"},
              "pipelines": [{"name": "all", "filters": ["#"]}]}
    calls, delivered = [0], []

    def flaky(record):
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("sink down")
        delivered.append(record["data_id"])

    m = wis2mon.Monitor(config, sinks={"flaky": flaky})
    for i in range(10):
        m.push(TOPIC, notification(item=f"y{i}"))
    with pytest.raises(RuntimeError, match="sink down"):
        for _ in range(200):
            m.poll(0.05)
    assert m.drain(30)  # the failed record came back (Retry) and went through
    m.close()
    assert sorted(delivered) == sorted(f"de-dwd/data/core/weather/surface-based-observations/synop/y{i}" for i in range(10))


def test_monitor_sink_returning_false_rejects_to_dead_letters(tmp_path):
    config = {"monitor": {"spool": str(tmp_path / "spool.db"), "status_interval": "0s"},
              "pipelines": [{"name": "all", "filters": ["#"]}]}
    with wis2mon.Monitor(config, sinks={"picky": lambda r: not r["data_id"].endswith("z1")}) as m:
        for i in range(3):
            m.push(TOPIC, notification(item=f"z{i}"))
        assert m.drain(30)
    with sqlite3.connect(tmp_path / "spool.db") as c:
        rows = c.execute("SELECT sink FROM dead_letters").fetchall()
    assert rows == [("picky",)]


def test_monitor_config_errors_and_files(tmp_path):
    with pytest.raises(wis2mon.InvalidArgumentError, match="a/#/b"):
        wis2mon.Monitor({"pipelines": [{"name": "p", "filters": ["a/#/b"]}]})
    with pytest.raises(wis2mon.FileError):
        wis2mon.Monitor(tmp_path / "missing.yaml")
    cfg = tmp_path / "m.yaml"
    cfg.write_text(f"monitor:\n  spool: {tmp_path / 's.db'}\npipelines:\n  - name: p\n    filters: ['#']\n")
    with pytest.raises(wis2mon.InvalidArgumentError, match="no sinks"):
        with wis2mon.Monitor(cfg) as m:
            m.start()
    with wis2mon.Monitor(cfg, sinks={"s": lambda r: None}) as m:
        m.push(TOPIC, notification())
        assert m.drain(10)
        assert m.stats()["records"] == 1
    # A configured sink of type callback takes the callable; one of another type refuses it.
    configured = {"monitor": {"spool": str(tmp_path / "c.db"), "status_interval": "0s"},
                  "sinks": [{"name": "cb", "type": "callback"}, {"name": "db", "type": "sqlite", "path": str(tmp_path / "o.db")}],
                  "pipelines": [{"name": "p", "filters": ["#"], "sinks": ["cb"]}]}
    got = []
    with wis2mon.Monitor(configured, sinks={"cb": got.append}) as m:
        m.push(TOPIC, notification())
        assert m.drain(10)
    assert len(got) == 1
    with pytest.raises(wis2mon.InvalidArgumentError, match="not a callback sink"):
        wis2mon.Monitor(configured, sinks={"db": got.append})


def test_run_stops_on_ctrl_c(tmp_path):
    # A child process runs Monitor.run() forever; SIGINT must end it with KeyboardInterrupt.
    code = f"""
import signal, sys, wis2mon
# Python leaves SIGINT ignored when it starts with it ignored (a shell's background job): this
# test is about Ctrl-C reaching run(), so it asks for the default handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
m = wis2mon.Monitor({{"monitor": {{"spool": {str(tmp_path / 's.db')!r}, "status_interval": "0s"}},
                     "pipelines": [{{"name": "p", "filters": ["#"]}}]}}, sinks={{"s": print}})
print("running", flush=True)
try:
    m.run()
except KeyboardInterrupt:
    m.close()
    print("interrupted", flush=True)
    sys.exit(0)
"""
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "running"
    import signal, time

    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "interrupted" in out


def test_refdata_bufr_through_python(refdata):
    records = wis2mon.decode_bufr((refdata / "bufr" / "synop2bufr_ex1_WIGOS_0-20000-0-15015_20230321T120000.bufr4").read_bytes())
    assert records[0]["wigos_station_identifier"] == "0-20000-0-15015"
    assert records[0]["observed_at"] == "2023-03-21T12:00:00Z"


def test_monitor_run_with_a_real_mosquitto(tmp_path):
    # Monitor.run() subscribed to a mosquitto started here; the sink must see every message
    # published, on this thread, and run() must return after its duration.
    import shutil
    import socket
    import time

    if not shutil.which("mosquitto") or not shutil.which("mosquitto_pub"):
        pytest.skip("mosquitto is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        config = {
            "monitor": {"spool": str(tmp_path / "spool.db"), "status_interval": "0s",
                        "subscriptions": ["origin/a/wis2/#"]},
            "brokers": [{"name": "local", "url": f"mqtt://127.0.0.1:{port}"}],
            "pipelines": [{"name": "all", "filters": ["#"]}],
        }
        seen, threads = [], set()

        def sink(record):
            seen.append(record["data_id"])
            threads.add(threading.get_ident())

        lines = "\n".join(json.dumps(notification(item=f"m{i}")) for i in range(20)) + "\n"

        def publish():
            time.sleep(1.0)  # after the monitor subscribed
            subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", TOPIC, "-l"], input=lines, text=True,
                           check=True)

        publisher = threading.Thread(target=publish)
        with wis2mon.Monitor(config, sinks={"mine": sink}) as m:
            publisher.start()
            start = time.monotonic()
            m.run(duration=4.0)
            assert 3.5 <= time.monotonic() - start < 15
            publisher.join()
            m.drain(10)
        assert sorted(seen) == sorted(f"de-dwd/data/core/weather/surface-based-observations/synop/m{i}" for i in range(20))
        assert threads == {threading.get_ident()}
    finally:
        broker.terminate()
        broker.wait()


def test_downloader_keywords_are_the_config_files_download_keys():
    # One spelling and one unit: durations as seconds or "250ms"-style strings.
    with wis2mon.Downloader(connect_timeout="250ms", total_timeout=2.5, max_retries=0, verify_tls=True):
        pass
    with pytest.raises(wis2mon.InvalidArgumentError, match="unknown key 'connect_timeout_ms'"):
        wis2mon.Downloader(connect_timeout_ms=100)
    with pytest.raises(wis2mon.InvalidArgumentError, match="below the minimum 1"):
        wis2mon.Downloader(max_in_flight=0)


def test_monitor_lifecycle_errors_are_state_errors(tmp_path):
    m = wis2mon.Monitor({"monitor": {"spool": str(tmp_path / "s.db")},
                         "pipelines": [{"name": "all"}]}, sinks={"mine": lambda records: None})
    m.close()
    assert m.closed
    with pytest.raises(wis2mon.StateError):
        m.push("origin/a/wis2/x/data/core/weather", b"{}")


def test_topic_validate_takes_the_official_tables(refdata, monkeypatch):
    tables = refdata / "wis2/topic-hierarchy"
    unknown = "origin/a/wis2/xx-nowhere/data/core/weather/surface-based-observations/synop"
    monkeypatch.setenv("WIS2MON_TOPIC_HIERARCHY", str(refdata / "no-such-bundle.zip"))
    assert wis2mon.topic.validate(unknown).warnings == []  # no tables: only the form is checked
    lenient = wis2mon.topic.validate(unknown, hierarchy=tables)
    assert lenient.valid and [w["rule"] for w in lenient.warnings] == ["topic.centre_id_unknown"]
    assert not wis2mon.topic.validate(unknown, mode="strict", hierarchy=str(tables)).valid
    loaded = wis2mon.topic.load_hierarchy(str(tables))
    assert loaded.centre_count > 100 and loaded.sub_topic_count > 10
    assert not wis2mon.topic.validate(unknown, mode="strict", hierarchy=loaded).valid
    # By default the tables `wis2mon topics sync` saved, as on the command line.
    monkeypatch.setenv("WIS2MON_TOPIC_HIERARCHY", str(tables))
    assert [w["rule"] for w in wis2mon.topic.validate(unknown).warnings] == ["topic.centre_id_unknown"]
    with pytest.raises(wis2mon.errors.Error):
        wis2mon.topic.validate(unknown, hierarchy=refdata / "nope")


def test_validate_wme():
    event = {
        "id": "6e1c7f9f-dd6c-48d9-bbc4-aef0625f1fb8", "specversion": "1.0", "type": "int.wmo.wis.wme.event",
        "source": "xx-example-global-cache", "subject": "de-dwd", "time": "2026-11-30T06:00:00Z",
        "datacontenttype": "application/json",
        "dataschema": "https://schemas.wmo.int/wme/1.0.0/schemas/wis2-event-message-bundled.json",
        "data": {"conformsTo": ["http://wis.wmo.int/spec/wme/1/conf/monitoring-event-message-core"],
                 "severity": "WARNING", "content": {"title": "Station silent"}}}
    assert wis2mon.validate_wme(event, mode="strict")["valid"]
    assert wis2mon.validate_wme(json.dumps(event))["valid"]
    finer = dict(event, type="int.wmo.wis.wme.event.item.download")
    assert wis2mon.validate_wme(finer)["valid"] and wis2mon.validate_wme(finer)["warnings"]
    assert not wis2mon.validate_wme(finer, mode="strict")["valid"]
    no_severity = dict(event, data={k: v for k, v in event["data"].items() if k != "severity"})
    r = wis2mon.validate_wme(no_severity)
    assert not r["valid"] and any("severity" in e["message"] for e in r["errors"])


def test_availability_report(tmp_path):
    db = tmp_path / "wis2mon.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE availability (period_start, period, kind, unit, wigos_station_identifier, centre_id,"
                " country, name, expected, received, late, messages, latency_data_to_pubtime_s,"
                " latency_pubtime_to_receipt_s, last_seen)")
    for hour, got in (("06", 1), ("07", 0)):
        con.execute("INSERT INTO availability VALUES (?, 'hour', 'station', '0-20000-0-1', '0-20000-0-1', 'xx', 'XA',"
                    " 'One', 1, ?, 0, 0, NULL, NULL, '2026-11-30T06:02:00Z')", (f"2026-11-30T{hour}:00:00Z", got))
    con.commit()
    con.close()
    [day] = wis2mon.availability_report(db)
    assert (day["wigos_station_identifier"], day["expected"], day["received"], day["percentage"]) == (
        "0-20000-0-1", 2, 1, 50.0)
    assert day["silent_since"] == "2026-11-30T06:02:00Z" and day["period_start"] == "2026-11-30T00:00:00Z"
    hours = wis2mon.availability_report(str(db), period="hour", since="2026-11-30T07:00:00Z")
    assert [h["period_start"] for h in hours] == ["2026-11-30T07:00:00Z"]
    with pytest.raises(wis2mon.NotFoundError):
        wis2mon.availability_report(tmp_path / "none.db")
    with pytest.raises(wis2mon.InvalidArgumentError):
        wis2mon.availability_report(db, period="month")


def test_an_embedded_monitor_writes_no_file_it_was_not_given(tmp_path):
    """In a read-only, empty working directory: spool and dead letters stay in memory."""
    work = tmp_path / "ro"
    work.mkdir()
    script = (
        "import json, sys, wis2mon\n"
        "config = {'monitor': {'status_interval': '0s'}, 'pipelines': [{'name': 'all', 'filters': ['#']}]}\n"
        "with wis2mon.Monitor(config, sinks={'picky': lambda r: not r['data_id'].endswith('z1')}) as m:\n"
        "    for line in sys.stdin:\n"
        "        m.push(%r, line)\n"
        "    m.push(%r, 'not json')\n"
        "    assert m.drain(30)\n"
        "    s = m.stats()\n"
        "print(json.dumps({'rejected': s['sinks']['picky']['rejected'], 'dead': s['dead_letters']}))\n"
    ) % (TOPIC, TOPIC)
    lines = "".join(json.dumps(notification(item=f"z{i}")) + "\n" for i in range(3))
    work.chmod(0o555)
    try:
        r = subprocess.run([sys.executable, "-c", script], input=lines, capture_output=True, text=True, cwd=work,
                           timeout=120)
    finally:
        work.chmod(0o755)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == {"rejected": 1, "dead": 2}  # stats count sink rejections
    assert list(work.iterdir()) == []


def test_dead_letters_read_retried_and_purged_from_python():
    accept = {"all": False}

    def picky(record):
        return accept["all"] or not record["data_id"].endswith("z1")

    config = {"monitor": {"status_interval": "0s"},
              "pipelines": [{"name": "all", "filters": ["#"], "sinks": ["picky"]}],
              "sinks": [{"name": "picky", "type": "callback", "max_retries": 0}]}
    with wis2mon.Monitor(config, sinks={"picky": picky}) as m:
        for i in range(3):
            m.push(TOPIC, notification(item=f"z{i}"))
        m.push(TOPIC, "garbage")
        assert m.drain(30)
        letters = {d["sink"]: d for d in m.dead_letters()}
        assert set(letters) == {"picky", "validate"}
        assert letters["validate"]["record"]["payload"] == "garbage" and letters["validate"]["reason"]
        assert letters["picky"]["record"]["data_id"].endswith("z1") and letters["picky"]["status"] == "rejected"
        assert m.dead_letters(sink="picky")[0]["id"] == letters["picky"]["id"]
        accept["all"] = True
        assert m.retry_dead_letters("picky") == 1
        for _ in range(200):
            m.poll(0.02)
            if not m.dead_letters(sink="picky"):
                break
        assert m.dead_letters(sink="picky") == []
        assert m.purge_dead_letters() == 1
        assert m.dead_letters() == []
        with pytest.raises(wis2mon.InvalidArgumentError):
            m.dead_letters(limit=-1)


def test_decode_bufr_takes_bytes_or_a_path_never_a_str(tmp_path):
    bufr = _wis2mon._sample_synop_bufr(15, 15)
    (tmp_path / "obs.bufr4").write_bytes(bufr)
    from_path = wis2mon.decode_bufr(tmp_path / "obs.bufr4")
    assert from_path == wis2mon.decode_bufr(bufr) and from_path[0]["wigos_station_identifier"] == "0-20000-0-15015"
    with pytest.raises(TypeError):
        wis2mon.decode_bufr(str(tmp_path / "obs.bufr4"))
    with pytest.raises(wis2mon.FileError):
        wis2mon.decode_bufr(tmp_path / "missing.bufr4")



def test_every_public_class_method_and_property_has_a_docstring():
    import inspect

    missing = []
    for name in wis2mon.__all__:
        obj = getattr(wis2mon, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for member, value in vars(obj).items():
                if member.startswith("_"):
                    continue
                doc = value.__doc__ if isinstance(value, property) else getattr(obj, member).__doc__
                if callable(value) or isinstance(value, (property, staticmethod)):
                    text = (doc or "").strip()
                    # pybind writes the signature first: a docstring is what follows it.
                    if not text or (text.startswith(member + "(") and "\n\n" not in text):
                        missing.append(f"{name}.{member}")
    assert missing == []


def test_downloader_fetch_follows_the_strict_mode(data_server):
    # As `wis2mon fetch --strict`: a notification parsed strict (or fetch(strict=True)) must be
    # valid by the standard, and digests must be base64; lenient also takes a hex digest.
    root, base, _requests = data_server
    data = _wis2mon._sample_synop_bufr(15, 15)
    (root / "s.bufr4").write_bytes(data)
    doc = notification(item="s", url=f"{base}/s.bufr4", data=data)
    hexed = json.loads(json.dumps(doc))
    hexed["properties"]["integrity"]["value"] = hashlib.sha256(data).hexdigest()
    with wis2mon.Downloader(max_retries=0) as d:
        lenient = wis2mon.Notification.parse(json.dumps(hexed))
        assert lenient.valid and d.fetch(lenient).data == data
        with pytest.raises(wis2mon.InvalidArgumentError, match="strict fetch of a notification that is not valid"):
            d.fetch(wis2mon.Notification.parse(json.dumps(hexed), mode="strict"))
        with pytest.raises(wis2mon.InvalidArgumentError, match="integrity"):
            d.fetch(lenient, strict=True)
        good = wis2mon.Notification.parse(json.dumps(doc), mode="strict")
        assert good.valid and d.fetch(good).data == data
        assert [r.status for r in d.fetch_many([good, lenient])] == ["ok", "ok"]
        with pytest.raises(wis2mon.InvalidArgumentError):
            d.fetch_many([good, lenient], strict=True)
        # A URL: a hex digest verifies in lenient mode only.
        digest = ("sha256", hashlib.sha256(data).hexdigest())
        assert d.fetch(f"{base}/s.bufr4", integrity=digest).status == "ok"
        with pytest.raises(wis2mon.InvalidArgumentError, match="cannot be used to verify"):
            d.fetch(f"{base}/s.bufr4", integrity=digest, strict=True)
        with pytest.raises(wis2mon.InvalidArgumentError, match="Notification or a URL"):
            d.fetch(42)


def test_bad_arguments_raise_wis2mon_errors_or_type_errors_never_runtime_error(tmp_path):
    # Every public entry point, given values of the wrong type or range: the exception is a
    # wis2mon.Error (InvalidArgumentError is a ValueError too) or a TypeError, never pybind's
    # RuntimeError or another stray C++ exception.
    bad_values = [None, 42, -1, 3.5, object(), b"\xff\xfe", "", [], {"a": 1}, ("sha256",), ("a", "b", "c")]
    d = wis2mon.Downloader(max_retries=0, connect_timeout=1)
    calls = {
        "Notification.parse(data)": lambda v: wis2mon.Notification.parse(v),
        "Notification.parse(mode)": lambda v: wis2mon.Notification.parse(b"{}", mode=v),
        "Notification.parse(topic)": lambda v: wis2mon.Notification.parse(b"{}", topic=v),
        "topic.validate": lambda v: wis2mon.topic.validate(v),
        "topic.validate(mode)": lambda v: wis2mon.topic.validate(TOPIC, mode=v),
        "topic.match": lambda v: wis2mon.topic.match(v, TOPIC),
        "topic.is_valid_filter": lambda v: wis2mon.topic.is_valid_filter(v),
        "decode_bufr": lambda v: wis2mon.decode_bufr(v),
        "decode_cap": lambda v: wis2mon.decode_cap(v),
        "decode_cap_document(strict)": lambda v: wis2mon.decode_cap_document(CAP, strict=v),
        "validate_wme": lambda v: wis2mon.validate_wme(v),
        "validate_wme(mode)": lambda v: wis2mon.validate_wme("{}", mode=v),
        "Downloader(max_retries)": lambda v: wis2mon.Downloader(max_retries=v),
        "Downloader(total_timeout)": lambda v: wis2mon.Downloader(total_timeout=v),
        "Downloader.fetch": lambda v: d.fetch(v),
        "Downloader.fetch(integrity)": lambda v: d.fetch("http://127.0.0.1:9/x", integrity=v),
        "Downloader.fetch(strict)": lambda v: d.fetch("http://127.0.0.1:9/x", strict=v),
        "Downloader.fetch_many": lambda v: d.fetch_many(v),
        "availability_report": lambda v: wis2mon.availability_report(v),
        "Monitor(config)": lambda v: wis2mon.Monitor(v),
    }
    stray = []
    for name, call in calls.items():
        for v in bad_values:
            try:
                call(v)
            except (wis2mon.Error, TypeError):
                pass
            except Exception as e:  # noqa: BLE001 - what the test looks for
                stray.append(f"{name}({v!r}): {type(e).__module__}.{type(e).__name__}: {e}")
    d.close()
    assert not stray, "\n".join(stray)
    with pytest.raises(wis2mon.InvalidArgumentError, match="max_retries"):
        wis2mon.Downloader(max_retries=-1)


def test_object_storage_support_is_told_and_an_unsigned_build_refuses_an_s3_sink(tmp_path, monkeypatch):
    # The portable wheels' libcurl cannot sign S3 requests: such a sink is refused at once
    # with UnsupportedError; builds that can accept it (nothing is contacted before an upload).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    config = {"monitor": {"spool": str(tmp_path / "s.db")},
              "sinks": [{"name": "raw", "type": "ndjson", "url": "s3://wis2-raw/monitor",
                         "endpoint": "http://127.0.0.1:9", "root": str(tmp_path / "staging")}],
              "pipelines": [{"name": "all", "sinks": ["raw"]}]}
    assert isinstance(wis2mon.object_storage_supported(), bool)
    if wis2mon.object_storage_supported():
        m = wis2mon.Monitor(config)
        m.start()
        m.close()
        assert (tmp_path / "staging").is_dir()
    else:
        with pytest.raises(wis2mon.UnsupportedError, match="sign S3"):
            m = wis2mon.Monitor(config)
            m.start()
