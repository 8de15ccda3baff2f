"""The shipped Prometheus rules and Grafana dashboards against real servers (issue #22).

A monitor (`wis2mon run`) takes a known stream from a real mosquitto and a real data server;
its sinks are SQLite and a real InfluxDB (influxd 1.x, Debian's package), the observations
enriched with a station table. A real Prometheus (Debian's package) scrapes its /metrics every
second with the shipped rules loaded. Then every panel query and variable of both dashboards
is run against its server and must return data, the rules must evaluate without error, and
the alerts the stream provokes (dead letters, an integrity failure) must fire."""
import json
import pathlib
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARE = ROOT / "share" / "wis2mon"
# What Grafana puts in place of its macros and variables, for the test's window.
PROMETHEUS_MACROS = {"$__rate_interval": "1m", "$__interval": "15s", "$instance": ".*", "$centre": ".*"}
# The sample stream's data times are 2026-01-01: a window reaching back far enough.
INFLUX_MACROS = {"$timeFilter": "time > now() - 3650d", "$__interval": "1h", "$station": ".*"}


def http_json(url, data=None):
    with urllib.request.urlopen(url, data=data, timeout=30) as r:
        return json.load(r)


def wait_for(what, fn, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if fn():
                return
        except (OSError, LookupError, ValueError):  # not up yet, or not answering that yet
            pass
        time.sleep(0.25)
    raise AssertionError("timed out waiting for " + what)


@pytest.fixture
def influxd(tmp_path):
    exe = shutil.which("influxd")
    if not exe:
        pytest.skip("influxd not installed")
    folder = tmp_path / "influx"
    folder.mkdir()
    port, rpc = free_port(), free_port()
    conf = folder / "influxdb.conf"
    conf.write_text(f'reporting-enabled = false\nbind-address = "127.0.0.1:{rpc}"\n'
                    f'[meta]\n  dir = "{folder}/meta"\n'
                    f'[data]\n  dir = "{folder}/data"\n  wal-dir = "{folder}/wal"\n  query-log-enabled = false\n'
                    '[monitor]\n  store-enabled = false\n'
                    f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
                    '[logging]\n  level = "warn"\n')
    log = open(folder / "influxd.log", "w")
    proc = subprocess.Popen([exe, "-config", str(conf)], stdout=log, stderr=log)
    wait_for("influxd", lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1).status == 204)
    http_json(f"http://127.0.0.1:{port}/query", urllib.parse.urlencode({"q": "CREATE DATABASE wis2"}).encode())
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait()
    log.close()


def start_prometheus(folder, target):
    exe = shutil.which("prometheus")
    if not exe:
        pytest.skip("prometheus not installed")
    port = free_port()
    conf = folder / "prometheus.yml"
    conf.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    f"rule_files: [{SHARE / 'prometheus' / 'wis2mon-rules.yml'}]\n"
                    f"scrape_configs:\n  - job_name: wis2mon\n    static_configs: [{{targets: ['{target}']}}]\n")
    log = open(folder / "prometheus.log", "w")
    proc = subprocess.Popen([exe, f"--config.file={conf}", f"--storage.tsdb.path={folder / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    return proc, log, f"http://127.0.0.1:{port}"


def prom_query(base, expr):
    return http_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))


def influx_query(base, q):
    return http_json(f"{base}/query?" + urllib.parse.urlencode({"db": "wis2", "q": q}))


def substitute(text, macros):
    for k in sorted(macros, key=len, reverse=True):
        text = text.replace(k, macros[k])
    return text


def dashboard(name):
    return json.loads((SHARE / "grafana" / name).read_text())


def test_dashboards_are_provisionable_json():
    for name in ("wis2mon-monitor.json", "wis2mon-observations.json"):
        d = dashboard(name)
        assert d["uid"] and d["title"] and d["panels"]
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        variables = {v["name"] for v in d["templating"]["list"]}
        for p in d["panels"]:
            assert p["targets"], p["title"]
            assert p["datasource"]["uid"] == "${datasource}" and "datasource" in variables
    assert "path:" in (SHARE / "grafana" / "provisioning" / "wis2mon-dashboards.yml").read_text()


def test_rules_and_dashboard_queries_return_data_from_a_running_monitor(wis2mon, tmp_path, mosquitto, serve,
                                                                       influxd):
    root, base = serve()
    stream = tmp_path / "stream.ndjson"
    r = wis2mon("sample", "--count", 200, "--seed", 21, "--invalid", 0, "--data-url", base, "--data-dir", root,
                "--out", stream)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in stream.read_text().splitlines()]
    # Made to fail: one object whose digest is not the notification's, one link to nothing.
    obs = [m for m in lines if "/surface-based-observations/" in m["topic"]]
    obs[0]["properties"]["integrity"]["value"] = "A" + obs[0]["properties"]["integrity"]["value"][1:]
    obs[1]["links"][0]["href"] += ".missing"
    stream.write_text("".join(json.dumps(m) + "\n" for m in lines))
    # The enrichment table: a territory per station (by its WMO block).
    stations = sorted({m["properties"]["wigos_station_identifier"] for m in obs})
    (tmp_path / "stations.csv").write_text("wigos_station_identifier,territory\n" + "".join(
        f"{s},{'Germany' if s.split('-')[3].startswith('10') else 'Austria'}\n" for s in stations))

    metrics_port = free_port()
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(
        "monitor: {spool: spool.db}\n"
        f"metrics: {{port: {metrics_port}}}\n"
        f'brokers:\n  - {{name: gb, url: "mqtt://127.0.0.1:{mosquitto}", subscriptions: ["origin/a/wis2/#"]}}\n'
        "sinks:\n"
        "  - {name: db, type: sqlite, path: wis2mon.db}\n"
        f"  - {{name: influx, type: influxdb, url: {influxd}, database: wis2}}\n"
        f"  - {{name: obs_influx, type: influxdb, url: {influxd}, database: wis2,"
        " tags: [wigos_station_identifier, territory], time_field: observed_at}\n"
        "pipelines:\n"
        "  - {name: notifications, filters: ['#'], dedup: message_id, sinks: [db, influx]}\n"
        "  - name: surface_obs\n"
        "    filters: ['+/a/wis2/+/data/core/weather/surface-based-observations/#']\n"
        "    decoder: bufr\n    dedup: data_id_pubtime\n    sinks: [db, obs_influx]\n"
        "    enrich: {source: stations.csv, key: wigos_station_identifier, columns: [territory]}\n"
        "  - {name: cap, filters: ['+/a/wis2/+/data/core/weather/advisories-warnings/#'], decoder: cap,"
        " dedup: data_id_pubtime, sinks: [db, influx]}\n")
    log = open(tmp_path / "run.log", "w")
    monitor = subprocess.Popen([str(wis2mon.exe), "run", str(cfg)], cwd=tmp_path, stdout=log, stderr=log)
    prometheus = None
    try:
        wait_for("the monitor", lambda: http_json(f"http://127.0.0.1:{metrics_port}/api/brokers")["brokers"][0][
            "connected"])
        prometheus = start_prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
        prom = prometheus[2]
        wait_for("prometheus", lambda: http_json(f"{prom}/api/v1/targets")["data"]["activeTargets"][0]["health"] ==
                 "up")
        r = wis2mon("publish", "--broker", f"mqtt://127.0.0.1:{mosquitto}", stream)
        assert r.returncode == 0, r.stderr
        subprocess.run(["mosquitto_pub", "-p", str(mosquitto), "-q", "1", "-t",
                        "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop", "-m", "{}"],
                       check=True)

        def done():
            totals = http_json(f"http://127.0.0.1:{metrics_port}/api/summary")["totals"]
            sinks = totals["sinks"]
            return (totals["received"] == len(lines) + 1 and totals["in_progress"] == 0 and
                    all(s["queued"] == 0 for s in sinks.values()))
        wait_for("the stream", done, 120)
        totals = http_json(f"http://127.0.0.1:{metrics_port}/api/summary")["totals"]
        assert totals["download_failures"] == 2 and totals["invalid"] == 1
        assert all(s["rejected"] + s["out_of_retries"] == 0 for s in totals["sinks"].values()), totals["sinks"]
        time.sleep(8)  # several scrapes after the stream, for rate() and increase()

        # Every Prometheus panel query, and the variables' label queries, return series.
        checked = 0
        for p in dashboard("wis2mon-monitor.json")["panels"]:
            for t in p["targets"]:
                expr = substitute(t["expr"], PROMETHEUS_MACROS)
                answer = prom_query(prom, expr)
                assert answer["status"] == "success", (p["title"], answer)
                assert answer["data"]["result"], f"no data for panel '{p['title']}': {expr}"
                checked += 1
        for v in dashboard("wis2mon-monitor.json")["templating"]["list"]:
            if v["type"] == "query":
                metric, label = v["query"]["query"][len("label_values("):-1].split(", ")
                values = http_json(f"{prom}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": metric}))
                assert values["data"], v["name"]
        assert checked >= 14

        # Every InfluxQL panel query returns series; the station variable lists the stations.
        checked = 0
        for p in dashboard("wis2mon-observations.json")["panels"]:
            for t in p["targets"]:
                q = substitute(t["query"], INFLUX_MACROS)
                answer = influx_query(influxd, q)
                result = answer["results"][0]
                assert "error" not in result, (p["title"], result)
                assert result.get("series"), f"no data for panel '{p['title']}': {q}"
                checked += 1
        assert checked >= 8
        station_var = next(v for v in dashboard("wis2mon-observations.json")["templating"]["list"]
                           if v["name"] == "station")
        listed = influx_query(influxd, station_var["query"])["results"][0]["series"][0]["values"]
        # Each station once in the stream: all but the two whose object failed.
        assert {v[1] for v in listed} == set(stations) - {obs[0]["properties"]["wigos_station_identifier"],
                                                           obs[1]["properties"]["wigos_station_identifier"]}
        territories = influx_query(influxd, 'SHOW TAG VALUES FROM "surface_obs" WITH KEY = "territory"')
        assert {v[1] for v in territories["results"][0]["series"][0]["values"]} == {"Germany", "Austria"}

        # The rules evaluate without error, and the stream's failures fire theirs.
        groups = http_json(f"{prom}/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 7 and all(r["health"] == "ok" for r in rules), rules
        def alerts():
            return http_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
        try:
            wait_for("the alerts", lambda: {"Wis2monDeadLetters", "Wis2monIntegrityFailures"} <= {
                a["labels"]["alertname"] for a in alerts() if a["state"] == "firing"}, 30)
        except AssertionError:
            raise AssertionError(f"alerts: {alerts()}")
        firing = [a["labels"] for a in http_json(f"{prom}/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"]
        assert {"validate", "download"} <= {a.get("stage") for a in firing if a["alertname"] == "Wis2monDeadLetters"}
        assert obs[0]["topic"].split("/")[3] in {a.get("centre_id") for a in firing
                                                 if a["alertname"] == "Wis2monIntegrityFailures"}
        assert not {"Wis2monBrokerDown", "Wis2monSinkFailing"} & {a["alertname"] for a in firing}
    finally:
        monitor.terminate()
        monitor.wait(timeout=60)
        log.close()
        if prometheus:
            prometheus[0].terminate()
            prometheus[0].wait(timeout=30)
            prometheus[1].close()
