"""`wis2mon report availability`: its options and output contracts (table, JSON lines, CSV).

The database is written here with the columns the monitor's sqlite sink gives the
`availability` table (tests/unit/test_sensor_brokers.cpp runs the report on a database the
monitor itself wrote)."""
import csv
import io
import json
import sqlite3

import pytest

COLUMNS = ["period_start", "period", "kind", "unit", "wigos_station_identifier", "centre_id", "country", "name",
           "latitude", "longitude", "schedule", "expected", "received", "late", "percentage", "messages",
           "latency_data_to_pubtime_s", "latency_pubtime_to_receipt_s", "last_seen", "report_by"]


def write_db(path, rows):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE availability (%s)" % ", ".join(COLUMNS))
    for r in rows:
        db.execute("INSERT INTO availability (%s) VALUES (%s)" % (", ".join(r), ", ".join("?" * len(r))),
                   list(r.values()))
    db.commit()
    db.close()


def station(hour, wsi, expected, received, late=0, last_seen=None, centre="xx-centre", name="", country="XA"):
    return {"period_start": f"2026-11-{hour}:00:00Z", "period": "hour", "kind": "station", "unit": wsi,
            "wigos_station_identifier": wsi, "centre_id": centre, "name": name, "country": country,
            "expected": expected, "received": received, "late": late, "last_seen": last_seen}


def centre(hour, cid, expected, received, messages, to_pub, to_receipt):
    return {"period_start": f"2026-11-{hour}:00:00Z", "period": "hour", "kind": "centre", "unit": cid,
            "centre_id": cid, "expected": expected, "received": received, "late": 0, "messages": messages,
            "latency_data_to_pubtime_s": to_pub, "latency_pubtime_to_receipt_s": to_receipt}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "wis2mon.db"
    rows = []
    for h in ("30T06", "30T07", "30T08"):
        rows.append(station(h, "0-20000-0-00001", 1, 1, last_seen=f"2026-11-{h}:02:00Z", name="Alpha"))
        rows.append(station(h, "0-20000-0-00002", 1, 0 if h == "30T07" else 1, late=1 if h == "30T07" else 0,
                            last_seen=f"2026-11-{h}:05:00Z", name="Bravo"))
        rows.append(station(h, "0-20000-0-00003", 1, 0, name="Charlie", country="XB"))
        rows.append(centre(h, "xx-centre", 3, 2 if h != "30T07" else 1, 10, 60.0, 2.0))
    rows.append(station("24T06", "0-20000-0-00001", 1, 1, last_seen="2026-11-24T06:02:00Z"))  # the week before
    rows.append({"period_start": "2026-11-30T00:00:00Z", "period": "day", "kind": "station",
                 "unit": "0-20000-0-00001", "expected": 99, "received": 0})  # day rows are not read
    write_db(path, rows)
    return path


def lines(out):
    return [json.loads(line) for line in out.splitlines()]


def test_json_lines_per_station_and_centre_worst_first(wis2mon, db):
    r = wis2mon("report", "availability", "--db", db, "--format", "json", "--from", "2026-11-30")
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    by_id = {x.get("wigos_station_identifier") or x["centre_id"]: x for x in got}
    assert [x.get("wigos_station_identifier") or x["centre_id"] for x in got] == [
        "0-20000-0-00003", "xx-centre", "0-20000-0-00002", "0-20000-0-00001"]
    for x in got:
        assert x["period_start"] == "2026-11-30T00:00:00Z"
        assert {"expected", "received", "percentage", "period_start"} <= set(x)
    assert by_id["0-20000-0-00003"] == {
        "kind": "station", "wigos_station_identifier": "0-20000-0-00003", "centre_id": "xx-centre", "name": "Charlie",
        "country": "XB", "period": "day", "period_start": "2026-11-30T00:00:00Z", "expected": 3, "received": 0,
        "late": 0, "percentage": 0.0, "last_seen": "", "silent_since": "never"}
    assert by_id["0-20000-0-00002"]["late"] == 1 and by_id["0-20000-0-00002"]["percentage"] == 66.7
    assert by_id["0-20000-0-00002"]["silent_since"] == ""
    c = by_id["xx-centre"]
    assert (c["kind"], c["expected"], c["received"], c["messages"]) == ("centre", 9, 5, 30)
    assert (c["latency_data_to_pubtime_s"], c["latency_pubtime_to_receipt_s"]) == (60.0, 2.0)
    assert "wigos_station_identifier" not in c


def test_periods_and_ranges(wis2mon, db):
    hours = lines(wis2mon("report", "availability", "--db", db, "--format", "json", "--period", "hour",
                          "--from", "2026-11-30T07:00:00Z", "--to", "2026-11-30T08:00:00Z").stdout)
    assert {x["period_start"] for x in hours} == {"2026-11-30T07:00:00Z"}
    assert [x.get("wigos_station_identifier") or x["centre_id"] for x in hours][:2] == [
        "0-20000-0-00002", "0-20000-0-00003"]  # both 0 %, by id
    weeks = lines(wis2mon("report", "availability", "--db", db, "--format", "json", "--period", "week").stdout)
    alpha = [x for x in weeks if x.get("wigos_station_identifier") == "0-20000-0-00001"]
    # 2026-11-24 is a Tuesday, 2026-11-30 a Monday: two weeks.
    assert [(x["period_start"], x["expected"]) for x in alpha] == [
        ("2026-11-23T00:00:00Z", 1), ("2026-11-30T00:00:00Z", 3)]


def test_station_list_adds_stations_never_heard(wis2mon, db, tmp_path):
    stations = tmp_path / "stations.csv"
    stations.write_text("wigos_station_identifier,name,country,latitude,longitude,schedule\n"
                        "0-20000-0-00001,Alpha,XA,1,1,hourly\n"
                        "0-20000-0-00009,Nine,XC,2,2,synoptic\n")
    got = lines(wis2mon("report", "availability", "--db", db, "--format", "json", "--stations", stations,
                        "--from", "2026-11-30T00:00:00Z", "--to", "2026-11-30T09:00:00Z").stdout)
    nine = [x for x in got if x.get("wigos_station_identifier") == "0-20000-0-00009"]
    assert len(nine) == 1
    assert (nine[0]["expected"], nine[0]["received"], nine[0]["silent_since"]) == (2, 0, "never")  # 00 and 06 UTC
    assert nine[0]["name"] == "Nine" and nine[0]["country"] == "XC"


def test_table_and_csv(wis2mon, db):
    table = wis2mon("report", "availability", "--db", db, "--from", "2026-11-30")
    assert table.returncode == 0
    rows = table.stdout.splitlines()
    assert rows[0].split()[:4] == ["PERIOD", "KIND", "ID", "NAME"]
    assert "0-20000-0-00003" in rows[1] and "never" in rows[1]
    assert "62s" in [r for r in rows if "xx-centre" in r][0]  # latency: 60 s to pubtime + 2 s to receipt
    text = wis2mon("report", "availability", "--db", db, "--format", "csv", "--from", "2026-11-30").stdout
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [p["id"] for p in parsed] == ["0-20000-0-00003", "xx-centre", "0-20000-0-00002", "0-20000-0-00001"]
    assert parsed[2]["percentage"] == "66.7"


def test_errors(wis2mon, tmp_path, db):
    missing = wis2mon("report", "availability", "--db", tmp_path / "nope.db")
    assert missing.returncode == 2 and "no such database" in missing.stderr
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.commit()
    r = wis2mon("report", "availability", "--db", empty)
    assert r.returncode == 2 and "no availability rows" in r.stderr
    r = wis2mon("report", "availability", "--db", db, "--from", "yesterday")
    assert r.returncode == 2 and "not a date" in r.stderr
    r = wis2mon("report", "availability", "--db", db, "--period", "month")
    assert r.returncode == 2
    r = wis2mon("report", "availability", "--db", db, "--from", "2030-01-01")
    assert r.returncode == 0 and "no availability figures" in r.stdout


def test_the_documented_json_lines_have_the_real_keys(wis2mon, db):
    import pathlib
    import re
    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "sensor-centre.md").read_text()
    block = re.search(r"`--format json` prints one object per line:\n\n```json\n(.*?)```", doc, re.S).group(1)
    documented = {d["kind"]: set(d) for d in map(json.loads, block.splitlines())}
    real = {}
    for x in lines(wis2mon("report", "availability", "--db", db, "--format", "json").stdout):
        real.setdefault(x["kind"], set()).update(x)
    assert documented == real
