"""wis2mon cache end to end with real parts on loopback: two upstream mosquitto brokers carrying
the same stream, a data server (Python's http.server) holding the objects, the cache with its
own mosquitto and its built-in data server, and a subscriber there."""
import base64
import http.server
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


def cache_config(tmp_path, sink_url, store, base_url, centre="xx-test-global-cache", extra=""):
    """A config file for what has no flag (spool and dedup files in the test's folder); the
    flags a test passes override the rest."""
    config = tmp_path / "cache.yaml"
    config.write_text(f"""monitor: {{spool: {tmp_path / 'spool.db'}}}
dedup: {{store: {tmp_path / 'dedup.db'}, ttl: 48h}}
sinks:
  - {{name: out, type: mqtt, url: "{sink_url}", topic_field: topic, payload_field: message}}
pipelines:
  - name: gc
    filters: ["origin/a/wis2/#", "cache/a/wis2/#"]
    global_cache: {centre}
    global_cache_store: {store}
    global_cache_base_url: {base_url}
    sinks: [out]
{extra}""")
    return config


def wait_connected(metrics_port, brokers, timeout=15):
    """Until the cache's /health says every broker is connected (and a moment for the
    subscriptions)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=1) as response:
                if json.loads(response.read())["brokers_connected"] == brokers:
                    time.sleep(0.5)
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


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
        config = cache_config(tmp_path, "mqtt://127.0.0.1:1", tmp_path / "elsewhere", "http://unused.example.org",
                              centre="xx-from-config")
        cmd = ["cache", config, "--base-url", f"http://127.0.0.1:{http_port}", "--broker", f"mqtt://127.0.0.1:{p1}", "--broker", f"mqtt://127.0.0.1:{p2}", "--publish",
               f"mqtt://127.0.0.1:{p3}", "--store", tmp_path / "store", "--http-port", http_port, "--centre-id",
               "xx-test-global-cache", "--metrics-port", metrics_port, "--duration", 15]
        reader = subprocess.Popen(["mosquitto_sub", "-p", str(p3), "-q", "1", "-t", "cache/#", "-v", "-C",
                                   str(len(items)), "-W", "25"], stdout=subprocess.PIPE, text=True)
        result = {}
        runner = threading.Thread(target=lambda: result.update(r=wis2mon(*cmd)))
        runner.start()
        assert wait_connected(metrics_port, 2)
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
        config = cache_config(tmp_path, f"mqtt://127.0.0.1:{p3}", tmp_path / "store", "http://127.0.0.1:1")
        metrics_port = free_port()
        cmd = [exe, "cache", str(config), "--broker", f"mqtt://127.0.0.1:{p1}", "--http-port", "0",
               "--metrics-port", str(metrics_port)]

        def republished():
            keys = set()
            for line in got_file.read_text().splitlines():
                m = json.loads(line.split(" ", 1)[1])
                keys.add((m["properties"]["data_id"], m["properties"]["pubtime"]))
            return keys

        log = open(tmp_path / "cache.log", "w")
        cache = subprocess.Popen(cmd + ["--duration", "60"], stdout=subprocess.DEVNULL, stderr=log)
        assert wait_connected(metrics_port, 1)
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


class FaultyDataServer:
    """A data server with the faults a cache meets: /ok/ serves, /slow/ answers after 3 s,
    /404/ is missing, /trunc/ announces the whole length and closes halfway."""

    def __init__(self):
        self.objects = {}
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                kind, _, name = self.path.lstrip("/").partition("/")
                body = outer.objects.get(name)
                if kind == "404" or body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if kind == "slow":
                    time.sleep(3)
                self.send_response(200)
                self.send_header("Content-Type", "application/bufr")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if kind == "trunc":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()


SYNOP = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop"


def notification(n, name, href, body, pubtime="2026-11-30T06:02:00Z", topic=SYNOP, cache=True, length=None,
                 digest_of=None):
    """A WIS2 Notification Message for one object (integrity of digest_of, else of body)."""
    digest = base64.b64encode(hashlib.sha512(digest_of if digest_of is not None else body).digest()).decode()
    props = {"data_id": f"de-dwd/data/core/weather/surface-based-observations/synop/{name}.bufr4",
             "pubtime": pubtime, "datetime": "2026-11-30T06:00:00Z",
             "integrity": {"method": "sha512", "value": digest}}
    if not cache:
        props["cache"] = False
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [8.5, 47.38, 100]}, "properties": props,
            "links": [{"href": href, "rel": "canonical", "type": "application/bufr",
                       "length": length if length is not None else len(body)}],
            "topic": topic}


def test_cache_with_a_faulty_data_server_republishes_what_it_verified_and_reports_the_rest(wis2mon, tmp_path,
                                                                                           pytestconfig):
    exe = str(pathlib.Path(pytestconfig.getoption("--wis2mon")).resolve())
    procs = []
    data = FaultyDataServer()
    try:
        up1, p1 = start_mosquitto(tmp_path / "gb1")
        up2, p2 = start_mosquitto(tmp_path / "gb2")
        own, p3 = start_mosquitto(tmp_path / "gc")
        procs += [up1, up2, own]
        bodies = {f"ok{i}": f"BUFR object {i} ".encode() * 50 + b"7777" for i in range(10)}
        bodies.update({k: f"BUFR {k} ".encode() * 40 + b"7777" for k in ("slow", "gone", "bad", "trunc", "nocache",
                                                                        "big", "rec", "ok0v2")})
        data.objects.update(bodies)
        b = data.base
        stream = [notification(0, "slow", f"{b}/slow/slow", bodies["slow"])]  # first: must not hold up the rest
        stream += [notification(1 + i, f"ok{i}", f"{b}/ok/ok{i}", bodies[f"ok{i}"]) for i in range(10)]
        stream += [
            notification(20, "gone", f"{b}/404/gone", bodies["gone"]),
            notification(21, "bad", f"{b}/ok/bad", bodies["bad"], digest_of=b"something else"),
            notification(22, "trunc", f"{b}/trunc/trunc", bodies["trunc"]),
            notification(23, "nocache", f"{b}/ok/nocache", bodies["nocache"], cache=False),
            notification(24, "big", f"{b}/ok/big", bodies["big"], length=5_000_000),
            notification(25, "rec", f"{b}/ok/rec", bodies["rec"],
                         topic="origin/a/wis2/de-dwd/data/recommended/weather/surface-based-observations/synop"),
        ]
        # An update of ok0 (newer pubtime, new bytes), published once the rest is through.
        update = notification(26, "ok0", f"{b}/ok/ok0v2", bodies["ok0v2"], pubtime="2026-11-30T06:09:00Z")
        # Numbers as publishers write them (Python would reformat them): their text must come
        # back unchanged.
        def lines(messages):
            return "".join(json.dumps(m).replace("[8.5, 47.38, 100]", "[8.50, 47.380, 1E2]") + "\n" for m in messages)

        (tmp_path / "stream.ndjson").write_text(lines(stream))
        (tmp_path / "update.ndjson").write_text(lines([update]))
        config = cache_config(tmp_path, f"mqtt://127.0.0.1:{p3}", tmp_path / "store", "http://127.0.0.1:1",
                              extra="    global_cache_max_object_bytes: 1000000\n")
        http_port, metrics_port = free_port(), free_port()
        got_file = tmp_path / "got.txt"
        reader = subprocess.Popen(["mosquitto_sub", "-p", str(p3), "-q", "1", "-t", "cache/#", "-t", "monitor/#",
                                   "-v", "-W", "60"], stdout=open(got_file, "w"), text=True)
        procs.append(reader)
        cache = subprocess.Popen([exe, "cache", str(config), "--broker", f"mqtt://127.0.0.1:{p1}", "--broker",
                                  f"mqtt://127.0.0.1:{p2}", "--http-port", str(http_port), "--base-url",
                                  f"http://127.0.0.1:{http_port}", "--metrics-port", str(metrics_port),
                                  "--duration", "40"], stdout=subprocess.PIPE, stderr=open(tmp_path / "log", "w"),
                                 text=True)
        procs.append(cache)
        assert wait_connected(metrics_port, 2)

        def received():
            out = []
            for line in got_file.read_text().splitlines():
                topic, payload = line.split(" ", 1)
                out.append((topic, json.loads(payload)))
            return out

        def wait_for(count, timeout=30):
            deadline = time.time() + timeout
            while len(received()) < count and time.time() < deadline:
                time.sleep(0.1)
            return received()

        for port in (p1, p2):
            assert wis2mon("publish", "--broker", f"mqtt://127.0.0.1:{port}", tmp_path / "stream.ndjson").returncode == 0
        # 10 ok + slow (cached), nocache and big (republished uncached), big's monitoring event.
        got = wait_for(14)
        time.sleep(1)
        assert wis2mon("publish", "--broker", f"mqtt://127.0.0.1:{p1}", tmp_path / "update.ndjson").returncode == 0
        got = wait_for(15)
        time.sleep(2)  # nothing more comes
        got = received()
        raw = [line.split(" ", 1)[1] for line in got_file.read_text().splitlines() if line.startswith("cache/")]
        assert raw and all('"coordinates":[8.50,47.380,1E2]' in r for r in raw), raw[:2]
        republished = [(t, m) for t, m in got if t.startswith("cache/")]
        events = [(t, m) for t, m in got if t.startswith("monitor/")]
        names = [m["properties"]["data_id"].rsplit("/", 1)[1][: -len(".bufr4")] for _, m in republished]
        assert sorted(names) == sorted([f"ok{i}" for i in range(10)] + ["slow", "nocache", "big", "ok0"]), names
        # The slow download held up nothing: every ok item came before it.
        assert names.index("slow") > max(names.index(f"ok{i}") for i in range(1, 10))
        by_name = {}
        for topic, m in republished:
            name = m["properties"]["data_id"].rsplit("/", 1)[1][: -len(".bufr4")]
            by_name.setdefault(name, []).append(m)
            assert topic == "cache" + SYNOP[len("origin"):]
        for name in [f"ok{i}" for i in range(1, 10)] + ["slow"]:
            (m,) = by_name[name]
            assert m["properties"]["global-cache"] == "xx-test-global-cache"
            with urllib.request.urlopen(m["links"][0]["href"], timeout=5) as response:
                assert response.read() == bodies[name]
        # cache false and declined: the original href, no global-cache, a new id.
        for name in ("nocache", "big"):
            (m,) = by_name[name]
            original = next(o for o in stream if o["properties"]["data_id"] == m["properties"]["data_id"])
            assert m["id"] != original["id"]
            restored = dict(m, id=original["id"], topic=original["topic"])
            assert restored == original
        # ok0 and its update: the object at the cache's href is the new one.
        first, second = sorted(by_name["ok0"], key=lambda m: m["properties"]["pubtime"])
        assert first["links"][0]["href"] == second["links"][0]["href"]
        with urllib.request.urlopen(second["links"][0]["href"], timeout=5) as response:
            assert response.read() == bodies["ok0v2"]
        # One monitoring event, for the declined item, to its centre; valid against the WME schema.
        assert [t for t, _ in events] == ["monitor/a/wis2/de-dwd"]
        event = events[0][1]
        assert event["subject"] == "de-dwd" and event["source"] == "xx-test-global-cache"
        assert event["data"]["links"][0]["href"] == f"{b}/ok/big"
        schema_file = pathlib.Path(pytestconfig.getoption("--refdata")) / "wis2/wme/wis2-event-message-bundled.json"
        if schema_file.exists():
            jsonschema = pytest.importorskip("jsonschema")
            jsonschema.validate(event, json.loads(schema_file.read_text()),
                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        else:
            print("reference data absent: the WME schema check was skipped")
        # Nothing fetched for the recommended, uncached or declined items; the recommended one
        # was not republished at all.
        assert not [r for r in data.requests if r.rsplit("/", 1)[1] in ("rec", "nocache", "big")]
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            metrics = response.read().decode()

        def value(name):
            return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                       if line.startswith(name + "{") and 'centre_id="de-dwd"' in line
                       and 'report_by="xx-test-global-cache"' in line)  # gc.csv's labels

        assert value("wmo_wis2_gc_downloaded_total") >= 12
        assert value("wmo_wis2_gc_integrity_failed_total") >= 1
        assert value("wmo_wis2_gc_downloaded_errors_total") >= 3  # 404, wrong checksum, truncated
        cache.send_signal(15)
        out, _ = cache.communicate(timeout=30)
        assert cache.returncode == 0, (tmp_path / "log").read_text()[-2000:]
        assert "global cache: 12 cached, 2 republished uncached (1 declined)" in out, out
    finally:
        data.close()
        for p in procs:
            p.terminate()
            p.wait()


def test_demo_cache_numbers_match(wis2mon, tmp_path):
    if not shutil.which("mosquitto") and not pathlib.Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto not installed")
    r = wis2mon("demo", "cache", "--stations", "30", "--dir", tmp_path / "demo")
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "all numbers match what was published" in r.stdout
    # 30 observations, 20 CAP warnings, 60 metadata records: each republished once, verified.
    assert "consumer downloads verified   110" in r.stdout, r.stdout
    files = [f for f in (tmp_path / "demo" / "store").rglob("*") if f.is_file() and not f.name.startswith(".")]
    assert len(files) == 110


def test_the_program_raises_its_descriptor_limit_for_many_downloads(pytestconfig, tmp_path):
    import resource
    exe = str(pathlib.Path(pytestconfig.getoption("--wis2mon")).resolve())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 512:
        pytest.skip(f"hard descriptor limit {hard}: nothing to raise to")
    proc = subprocess.Popen([exe, "cache", "--broker", "mqtt://127.0.0.1:1", "--http-port", "0", "--metrics-port",
                             "0", "--duration", "5"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
    try:
        time.sleep(1)
        limits = pathlib.Path(f"/proc/{proc.pid}/limits").read_text()
        line = next(l for l in limits.splitlines() if l.startswith("Max open files"))
        raised = int(line.split()[3])
        assert raised == (65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)), line
    finally:
        proc.terminate()
        proc.wait()
