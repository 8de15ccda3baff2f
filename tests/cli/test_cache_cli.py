"""wis2mon cache end to end with real parts on loopback: two upstream mosquitto brokers carrying
the same stream, a data server (Python's http.server) holding the objects, the cache with its
own mosquitto and its built-in data server, and a subscriber there."""
import base64
import hashlib
import json
import pathlib
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import json_lines
from test_monitor_cli import free_port


def start_mosquitto(folder):
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if shutil.which("/usr/sbin/mosquitto") else None)
    if not exe or not shutil.which("mosquitto_sub"):
        pytest.skip("mosquitto not installed")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([exe, "-c", str(folder / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc, port


def test_cache_republishes_each_item_once_pointing_at_its_own_verified_copy(wis2mon, tmp_path, serve):
    procs = []
    try:
        up1, p1 = start_mosquitto(tmp_path / "gb1")
        up2, p2 = start_mosquitto(tmp_path / "gb2")
        own, p3 = start_mosquitto(tmp_path / "gc")
        procs += [up1, up2, own]
        root, base = serve()
        sample = tmp_path / "s.ndjson"
        r = wis2mon("sample", "--count", 60, "--invalid", 0, "--data-url", base, "--data-dir", root, "--out", sample)
        assert r.returncode == 0, r.stderr
        items = json_lines(sample.read_text())
        http_port, metrics_port = free_port(), free_port()
        # A config file for what has no flag (the spool and dedup files in this test's folder);
        # the flags override the rest of it.
        config = tmp_path / "cache.yaml"
        config.write_text(f"""monitor: {{spool: {tmp_path / 'spool.db'}}}
dedup: {{store: {tmp_path / 'dedup.db'}, ttl: 48h}}
sinks:
  - {{name: out, type: mqtt, url: "mqtt://127.0.0.1:1", topic_field: topic, payload_field: message}}
pipelines:
  - name: gc
    filters: ["origin/a/wis2/#", "cache/a/wis2/#"]
    global_cache: xx-from-config
    global_cache_store: {tmp_path / 'elsewhere'}
    global_cache_base_url: http://unused.example.org
    sinks: [out]
""")
        cmd = ["cache", config, "--base-url", f"http://127.0.0.1:{http_port}", "--broker", f"mqtt://127.0.0.1:{p1}", "--broker", f"mqtt://127.0.0.1:{p2}", "--publish",
               f"mqtt://127.0.0.1:{p3}", "--store", tmp_path / "store", "--http-port", http_port, "--centre-id",
               "xx-test-global-cache", "--metrics-port", metrics_port, "--duration", 15]
        reader = subprocess.Popen(["mosquitto_sub", "-p", str(p3), "-q", "1", "-t", "cache/#", "-v", "-C",
                                   str(len(items)), "-W", "25"], stdout=subprocess.PIPE, text=True)
        result = {}
        runner = threading.Thread(target=lambda: result.update(r=wis2mon(*cmd)))
        runner.start()
        # Until both brokers are connected (and subscribed: a moment more).
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=1) as response:
                    if json.loads(response.read())["brokers_connected"] == 2:
                        break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(0.5)
        for port in (p1, p2):  # the same stream on both brokers, as Global Brokers carry it
            r = wis2mon("publish", "--broker", f"mqtt://127.0.0.1:{port}", sample)
            assert r.returncode == 0, r.stderr
        out, _ = reader.communicate(timeout=30)
        got = [line.split(" ", 1) for line in out.splitlines()]
        # Each item exactly once, on the cache topic matching the one it came on.
        assert len(got) == len(items), out[:2000]
        by_id = {(m["properties"]["data_id"], m["properties"]["pubtime"]): m for m in items}
        seen = set()
        for topic, payload in got:
            m = json.loads(payload)
            key = (m["properties"]["data_id"], m["properties"]["pubtime"])
            assert key in by_id and key not in seen
            seen.add(key)
            original = by_id[key]
            assert topic == "cache" + original["topic"][len("origin"):]
            assert m["id"] != original["id"]
            assert m["properties"]["global-cache"] == "xx-test-global-cache"
            href = m["links"][0]["href"]
            assert href.startswith(f"http://127.0.0.1:{http_port}/")
            # All other fields as received.
            restored = json.loads(payload)
            restored["id"] = original["id"]
            restored["links"][0]["href"] = original["links"][0]["href"]
            del restored["properties"]["global-cache"]
            assert restored == original
            # The copy is served, and its bytes match the integrity value.
            with urllib.request.urlopen(href, timeout=5) as response:
                body = response.read()
                assert response.headers["Content-Type"] == original["links"][0]["type"]
            digest = base64.b64encode(hashlib.sha512(body).digest()).decode()
            assert digest == original["properties"]["integrity"]["value"]
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert "wmo_wis2_gc_downloaded_total{" in metrics
        runner.join()
        r = result["r"]
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("120 messages"), r.stdout  # 60 from each broker
        assert "60 duplicates" in r.stdout
    finally:
        for p in procs:
            p.terminate()
            p.wait()


def test_cache_killed_mid_stream_then_restarted_republishes_every_item(wis2mon, tmp_path, serve, pytestconfig):
    exe = str(pathlib.Path(pytestconfig.getoption("--wis2mon")).resolve())
    procs = []
    try:
        up, p1 = start_mosquitto(tmp_path / "gb")
        own, p3 = start_mosquitto(tmp_path / "gc")
        procs += [up, own]
        root, base = serve()
        sample = tmp_path / "s.ndjson"
        assert wis2mon("sample", "--count", 300, "--invalid", 0, "--data-url", base, "--data-dir", root, "--out",
                       sample).returncode == 0
        items = json_lines(sample.read_text())
        got_file = tmp_path / "got.txt"
        reader = subprocess.Popen(["mosquitto_sub", "-p", str(p3), "-q", "1", "-t", "cache/#", "-v", "-W", "60"],
                                  stdout=open(got_file, "w"), text=True)
        procs.append(reader)
        config = tmp_path / "cache.yaml"
        config.write_text(f"""monitor: {{spool: {tmp_path / 'spool.db'}}}
dedup: {{store: {tmp_path / 'dedup.db'}, ttl: 48h}}
sinks:
  - {{name: out, type: mqtt, url: "mqtt://127.0.0.1:{p3}", topic_field: topic, payload_field: message}}
pipelines:
  - name: gc
    filters: ["origin/a/wis2/#", "cache/a/wis2/#"]
    global_cache: xx-test-global-cache
    global_cache_store: {tmp_path / 'store'}
    global_cache_base_url: http://127.0.0.1:1
    sinks: [out]
""")
        metrics_port = free_port()
        cmd = [exe, "cache", str(config), "--broker", f"mqtt://127.0.0.1:{p1}", "--http-port", "0",
               "--metrics-port", str(metrics_port)]

        def connected():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=1) as response:
                    return json.loads(response.read())["brokers_connected"] == 1
            except OSError:
                return False

        def republished():
            keys = set()
            for line in got_file.read_text().splitlines():
                m = json.loads(line.split(" ", 1)[1])
                keys.add((m["properties"]["data_id"], m["properties"]["pubtime"]))
            return keys

        log = open(tmp_path / "cache.log", "w")
        cache = subprocess.Popen(cmd + ["--duration", "60"], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 15
        while not connected() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert wis2mon("publish", "--broker", f"mqtt://127.0.0.1:{p1}", sample).returncode == 0
        deadline = time.time() + 20
        while len(republished()) < 30 and time.time() < deadline:
            time.sleep(0.02)
        cache.kill()  # SIGKILL mid-stream
        cache.wait()
        before = len(republished())
        assert 0 < before < len(items), before
        print("republished before the kill:", before)
        # Restarted on the same spool, dedup file and store: the broker kept the rest (the
        # cache's session persists), the spool what was taken but not yet republished.
        cache = subprocess.Popen(cmd + ["--duration", "25"], stdout=subprocess.PIPE, stderr=log, text=True)
        deadline = time.time() + 25
        wanted = {(m["properties"]["data_id"], m["properties"]["pubtime"]) for m in items}
        while republished() != wanted and time.time() < deadline:
            time.sleep(0.2)
        cache.send_signal(15)
        cache.communicate(timeout=30)
        assert republished() == wanted  # every item at least once, none lost
        # The store is consistent: every object there is whole (matches an item's digest),
        # and no temporary file was left visible.
        digests = {m["properties"]["integrity"]["value"] for m in items}
        files = [f for f in (tmp_path / "store").rglob("*") if f.is_file() and not f.name.startswith(".")]
        assert len(files) == len(items)
        for f in files:
            assert base64.b64encode(hashlib.sha512(f.read_bytes()).digest()).decode() in digests, f
    finally:
        for p in procs:
            p.terminate()
            p.wait()
