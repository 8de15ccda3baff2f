"""The control API (issue #22): without the token every endpoint answers 401 and the refusal
is logged; with it, a subscription added at run time receives the next publish, survives a
restart, and stops once removed; a pipeline's filters change the routing at once; dead letters
are purged or retried. A real mosquitto; `wis2mon run` with a configuration file."""
import json
import pathlib
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port
from test_monitor_cli import message

TOKEN = "a-long-random-control-token"
DE = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop"
FR = "origin/a/wis2/fr-meteofrance/data/core/weather/surface-based-observations/synop"


def call(port, method, path, body=None, token=TOKEN):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body or b"{}")
        except ValueError:
            return e.code, {"error": body.decode(errors="replace")}


class Run:
    def __init__(self, exe, folder, broker_port, port):
        self.folder, self.port = folder, port
        self.log_path = folder / "run.log"
        cfg = folder / "monitor.yaml"
        cfg.write_text(
            "monitor: {spool: spool.db}\n"
            f'metrics: {{port: {port}, control_token: "${{WIS2MON_TEST_CONTROL_TOKEN}}"}}\n'
            f'brokers:\n  - {{name: gb, url: "mqtt://127.0.0.1:{broker_port}", subscriptions: ["{DE}"]}}\n'
            "sinks:\n  - {name: db, type: sqlite, path: wis2mon.db}\n"
            f'pipelines:\n  - {{name: obs, filters: ["{DE}"], sinks: [db]}}\n')
        log = open(self.log_path, "a")
        env = {"WIS2MON_TEST_CONTROL_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
        self.proc = subprocess.Popen([str(exe), "run", str(cfg)], cwd=folder, stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, body = call(port, "GET", "/api/brokers", token=None)
                if status == 200 and body["brokers"] and body["brokers"][0]["connected"]:
                    time.sleep(0.3)  # the subscription follows the connect
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("the monitor did not connect: " + self.log_path.read_text())

    def received(self, centre):
        _, summary = call(self.port, "GET", "/api/summary", token=None)
        return next((c["received"] for c in summary["centres"] if c["centre_id"] == centre), 0)

    def totals(self):
        return call(self.port, "GET", "/api/summary", token=None)[1]["totals"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def publish(port, topic, payload):
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-m", json.dumps(payload)], check=True)


def wait_until(fn, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.1)
    return fn()


ENDPOINTS = [("GET", "/api/control/subscriptions"), ("POST", "/api/control/subscriptions"),
             ("DELETE", "/api/control/subscriptions"), ("GET", "/api/control/pipelines"),
             ("POST", "/api/control/pipelines/obs/filters"), ("DELETE", "/api/control/pipelines/obs/filters"),
             ("POST", "/api/control/dead-letters/retry"), ("POST", "/api/control/dead-letters/purge"),
             ("GET", "/api/control/anything-else"), ("PUT", "/api/control")]


def test_control_api_needs_the_token_and_changes_subscriptions_filters_and_dead_letters(wis2mon, tmp_path, mosquitto):
    port = free_port()
    run = Run(wis2mon.exe, tmp_path, mosquitto, port)
    try:
        # 1. Without the token (or with another one), every endpoint: 401, and the refusal logged.
        for method, path in ENDPOINTS:
            for token in (None, "wrong", TOKEN + "x"):
                status, body = call(port, method, path, {"filter": "#"}, token=token)
                assert status == 401, (method, path, token, status)
                assert "bearer token" in body["error"]
        log = run.log_path.read_text()
        assert log.count("control API: refused") == 3 * len(ENDPOINTS)
        assert "(no token)" in log and "(wrong token)" in log
        assert TOKEN not in log  # never written out
        status, subs = call(port, "GET", "/api/control/subscriptions")
        assert status == 200 and subs["brokers"] == [{"name": "gb", "subscriptions": [DE], "configured": [DE]}]
        # The dump of the effective configuration masks the token.
        dump = wis2mon("config", "dump", run.folder / "monitor.yaml", env={"WIS2MON_TEST_CONTROL_TOKEN": TOKEN})
        assert dump.returncode == 0 and 'control_token: "********"' in dump.stdout and TOKEN not in dump.stdout

        # The curl lines of docs/dashboard.md work as written.
        docs = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "dashboard.md").read_text()
        block = re.search(r"```sh\n(.*?)```", docs, re.S).group(1)
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "WIS2MON_URL": f"http://127.0.0.1:{port}",
                                "WIS2MON_CONTROL_TOKEN": TOKEN})
        assert r.returncode == 0, r.stderr
        assert '"added":true' in r.stdout and '"removed":true' in r.stdout and '"purged":0' in r.stdout
        assert call(port, "GET", "/api/control/subscriptions")[1]["brokers"][0]["subscriptions"] == [DE]

        # 2. Not subscribed: a French message does not arrive.
        publish(mosquitto, FR, message(1))
        publish(mosquitto, DE, message(2))
        assert wait_until(lambda: run.received("de-dwd") == 1)
        time.sleep(0.5)
        assert run.received("fr-meteofrance") == 0
        # 3. Subscribed at run time: the next publish arrives.
        status, body = call(port, "POST", "/api/control/subscriptions", {"filter": FR})
        assert status == 200 and body == {"broker": "", "filter": FR, "added": True}
        publish(mosquitto, FR, message(3))
        assert wait_until(lambda: run.received("fr-meteofrance") == 1)
        # It reaches no pipeline until one takes it; a pipeline's filter added at run time routes it.
        assert wait_until(lambda: run.totals()["unrouted"] == 1)
        status, body = call(port, "POST", "/api/control/pipelines/obs/filters", {"filter": FR})
        assert status == 200 and body["added"] is True
        status, pipes = call(port, "GET", "/api/control/pipelines")
        assert pipes["pipelines"] == [{"name": "obs", "filters": [DE, FR], "configured": [DE]}]
        publish(mosquitto, FR, message(4))
        assert wait_until(lambda: run.received("fr-meteofrance") == 2)
        assert wait_until(lambda: run.totals()["records"] == 2)  # message 2 and message 4
        # Bad requests say why.
        assert call(port, "POST", "/api/control/subscriptions", {"filter": "a/#/b"})[0] == 400
        assert call(port, "POST", "/api/control/subscriptions", {"filter": FR, "broker": "nope"})[0] == 404
        assert call(port, "POST", "/api/control/pipelines/nope/filters", {"filter": FR})[0] == 404
        assert call(port, "POST", "/api/control/subscriptions", {"url": "mqtt://elsewhere"})[0] == 400
        assert call(port, "POST", "/api/control/subscriptions", {})[0] == 400

        # 4. A restart keeps both changes.
        run.stop()
        run = Run(wis2mon.exe, tmp_path, mosquitto, port)
        status, subs = call(port, "GET", "/api/control/subscriptions")
        assert subs["brokers"][0]["subscriptions"] == [DE, FR]
        assert call(port, "GET", "/api/control/pipelines")[1]["pipelines"][0]["filters"] == [DE, FR]
        publish(mosquitto, FR, message(5))
        assert wait_until(lambda: run.received("fr-meteofrance") == 1)
        assert wait_until(lambda: run.totals()["records"] == 1)

        # 5. Removed: the next publish no longer arrives (nor after a restart).
        status, body = call(port, "DELETE", "/api/control/subscriptions", {"filter": FR, "broker": "gb"})
        assert status == 200 and body["removed"] is True
        publish(mosquitto, FR, message(6))
        publish(mosquitto, DE, message(7))
        assert wait_until(lambda: run.received("de-dwd") == 1)
        time.sleep(0.5)
        assert run.received("fr-meteofrance") == 1
        run.stop()
        publish(mosquitto, FR, message(8))  # while it is away: the session no longer holds the filter
        run = Run(wis2mon.exe, tmp_path, mosquitto, port)
        assert call(port, "GET", "/api/control/subscriptions")[1]["brokers"][0]["subscriptions"] == [DE]
        publish(mosquitto, DE, message(9))
        assert wait_until(lambda: run.received("de-dwd") == 1)
        time.sleep(0.5)
        assert run.received("fr-meteofrance") == 0

        # 6. Dead letters: retried (back through the pipeline: invalid again), then purged.
        publish(mosquitto, DE, {"id": "not a notification"})
        assert wait_until(lambda: run.totals()["invalid"] == 1)
        status, body = call(port, "POST", "/api/control/dead-letters/retry", {"sink": "validate"})
        assert status == 200 and body == {"retried": 1}
        assert wait_until(lambda: run.totals()["invalid"] == 2)
        status, body = call(port, "POST", "/api/control/dead-letters/purge", {"sink": "validate"})
        assert status == 200 and body == {"purged": 1}
        assert call(port, "GET", "/api/dead-letters", token=None)[1]["dead_letters"] == []
    finally:
        run.stop()


def test_control_api_is_off_without_a_token_and_refuses_a_non_loopback_host(wis2mon, tmp_path, mosquitto):
    port = free_port()
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"monitor: {{spool: {tmp_path / 'spool.db'}}}\nmetrics: {{port: {port}}}\n"
                   f'brokers:\n  - {{name: gb, url: "mqtt://127.0.0.1:{mosquitto}"}}\n'
                   "sinks:\n  - {name: db, type: sqlite, path: wis2mon.db}\n"
                   'pipelines:\n  - {name: all, filters: ["#"], sinks: [db]}\n')
    proc = subprocess.Popen([str(wis2mon.exe), "run", str(cfg), "--duration", "3"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: _answers(port))
        status, body = call(port, "GET", "/api/control/subscriptions")
        assert status == 404 and "off" in body["error"]
    finally:
        proc.wait(timeout=60)
    remote = tmp_path / "remote.yaml"
    remote.write_text(cfg.read_text().replace(f"metrics: {{port: {port}}}",
                                              f'metrics: {{port: {port}, host: 0.0.0.0, control_token: "t"}}'))
    r = wis2mon("run", remote, "--duration", "1")
    assert r.returncode != 0 and "control_allow_remote" in r.stderr, r.stderr


def test_sensor_centre_endpoint_shows_a_running_role(wis2mon, tmp_path, mosquitto):
    """/api/sensor-centre (and the page's Sensor Centre part) with the Global Broker role on."""
    port = free_port()
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"monitor: {{spool: {tmp_path / 'spool.db'}, scgb: xx-example-sensor-centre}}\n"
                   f"metrics: {{port: {port}}}\n"
                   f'brokers:\n  - {{name: gb, url: "mqtt://127.0.0.1:{mosquitto}", global_broker: xx-example-gb,'
                   f' subscriptions: ["{DE}"]}}\n'
                   "sinks:\n  - {name: db, type: sqlite, path: wis2mon.db}\n"
                   'pipelines:\n  - {name: all, filters: ["#"], sinks: [db]}\n')
    proc = subprocess.Popen([str(wis2mon.exe), "run", str(cfg), "--duration", "6"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: _answers(port))
        assert wait_until(lambda: call(port, "GET", "/api/brokers", token=None)[1]["brokers"][0]["connected"])
        publish(mosquitto, DE, message(1))

        def figures():
            return call(port, "GET", "/api/sensor-centre", token=None)[1]
        assert wait_until(lambda: figures()["figures"].get("wmo_wis2_scgb_messages_received_total"))
        body = figures()
        assert body["roles"] == {"global_brokers": True, "global_caches": False, "availability": False}
        received = body["figures"]["wmo_wis2_scgb_messages_received_total"]
        # Per Global Broker (its centre-id), as the Global Monitor names them.
        assert any(s["labels"].get("centre_id") == "xx-example-gb" and s["labels"].get("report_by") ==
                   "xx-example-sensor-centre" and s["value"] == 1 for s in received), received
        assert body["findings"] == []
    finally:
        proc.wait(timeout=60)


def _answers(port):
    try:
        return call(port, "GET", "/api/summary", token=None)[0] == 200
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _need_mosquitto_pub():
    import shutil
    if not shutil.which("mosquitto_pub"):
        pytest.skip("mosquitto clients not installed")
