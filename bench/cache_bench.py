#!/usr/bin/env python3
"""Global Cache benchmark (issue #18), run by bench/cache.sh in a venv holding paho-mqtt and
wis2downloader from PyPI. Real parts on loopback: an upstream mosquitto (the Global Broker),
bench/data_server.py (the centres' data server: 85 KB objects after a fixed delay), and the
consumer under test.

Two measurements, printed as one JSON object:

- "compare": the same stream of N notifications (85 KB objects, sha512 integrity) published
  at once to the upstream broker, consumed by `wis2mon cache` (download, verify, store,
  republish on its own mosquitto, acknowledged) and by wis2downloader (download, verify,
  store; it does not republish), one after the other, each on a fresh broker. Throughput is
  N / (publish start -> the last item done).
- "load": the WIS2 Global Cache performance test load (2,000 notifications per minute of
  85 KB objects) at `--rate-factor` times that rate for `--seconds`, with a data server delay
  that keeps up to ~1,000 downloads in flight. Every notification must come back republished;
  the lag (published -> republished) percentiles and the cache's peak memory are reported.

Usage: cache_bench.py WIS2MON_EXE WORKDIR [--compare-items 3000] [--compare-delay-ms 0,50]
       [--w2d-workers 16] [--rate-factor 10] [--seconds 60] [--load-delay-ms 3000]
"""
import argparse
import base64
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import paho.mqtt.client as mqtt

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data_server import object_bytes  # noqa: E402  (the objects the data server serves)

SIZE = 85 * 1024
TOPIC = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto(folder):
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(folder / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc, port


def start_data_server(delay_ms):
    proc = subprocess.Popen([sys.executable, str(HERE / "data_server.py"), "--delay-ms", str(delay_ms), "--size",
                             str(SIZE)], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


class Digests:
    """sha512 of each object, computed once per object number."""

    def __init__(self):
        self.cache = {}

    def __call__(self, n):
        if n not in self.cache:
            self.cache[n] = base64.b64encode(hashlib.sha512(object_bytes(n, SIZE)).digest()).decode()
        return self.cache[n]


def notification(n, base, digest, run):
    return json.dumps({
        "id": str(uuid.uuid4()), "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"], "type": "Feature",
        "geometry": None,
        "properties": {"data_id": f"de-dwd/data/core/weather/surface-based-observations/synop/{run}/obj-{n}.bin",
                       "pubtime": "2026-11-30T06:00:00Z", "datetime": "2026-11-30T06:00:00Z",
                       "integrity": {"method": "sha512", "value": digest}},
        "links": [{"href": f"{base}/obj/{n}", "rel": "canonical", "type": "application/octet-stream",
                   "length": SIZE}]})


class Collector:
    """Subscribes to a broker and keeps each message's arrival time by data_id."""

    def __init__(self, port, topic):
        self.arrivals = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def on_message(self, client, userdata, msg):
        now = time.time()
        data_id = json.loads(msg.payload)["properties"]["data_id"]
        with self.lock:
            self.arrivals.setdefault(data_id, now)

    def count(self):
        with self.lock:
            return len(self.arrivals)

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def publish(port, messages, rate=0.0):
    """Publishes (QoS 1) at `rate` per second (0: as fast as the broker takes them); returns
    the publish time of each message by data_id."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent = {}
    start = time.time()
    for i, (data_id, payload) in enumerate(messages):
        if rate > 0:
            due = start + i / rate
            if due > time.time():
                time.sleep(due - time.time())
        sent[data_id] = time.time()
        client.publish(TOPIC, payload, qos=1)
    client.loop_stop()
    client.disconnect()
    return sent, start


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else None


def peak_rss_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def run_cache(exe, work, base, messages, rate=0.0, timeout=600, fsync=False):
    """wis2mon cache on a fresh upstream and own broker; returns its figures."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    up, up_port = start_mosquitto(work / "gb")
    own, own_port = start_mosquitto(work / "gc")
    metrics_port = free_port()
    # One data server stands for the many centres a Global Cache downloads from: its
    # per-host connection limit is raised to the in-flight limit (default 16 per host).
    (work / "cache.yaml").write_text(f"""monitor: {{spool: {work / 'spool.db'}}}
dedup: {{store: {work / 'dedup.db'}, ttl: 48h}}
download: {{max_in_flight: 1000, max_per_host: 1000}}
sinks:
  - {{name: out, type: mqtt, url: "mqtt://127.0.0.1:{own_port}", topic_field: topic, payload_field: message,
      batch_max_age: 100ms}}
pipelines:
  - name: gc
    filters: ["origin/a/wis2/#", "cache/a/wis2/#"]
    global_cache: xx-bench-global-cache
    global_cache_store: {work / 'store'}
    global_cache_base_url: http://127.0.0.1:1
    store_fsync: {str(fsync).lower()}
    sinks: [out]
""")
    cache = subprocess.Popen([exe, "cache", str(work / "cache.yaml"), "--broker", f"mqtt://127.0.0.1:{up_port}",
                              "--http-port", "0", "--metrics-port", str(metrics_port), "--duration", str(timeout)],
                             stdout=subprocess.PIPE, stderr=open(work / "cache.log", "w"), text=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=1) as r:
                    if json.loads(r.read())["brokers_connected"] == 1:
                        break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(0.5)
        collector = Collector(own_port, "cache/#")
        sent, start = publish(up_port, messages, rate)
        deadline = time.time() + timeout
        while collector.count() < len(messages) and time.time() < deadline and cache.poll() is None:
            time.sleep(0.05)
        collector.stop()
        rss = peak_rss_mb(cache.pid)
        cache.send_signal(signal.SIGTERM)
        summary, _ = cache.communicate(timeout=60)
        lags = [collector.arrivals[k] - sent[k] for k in collector.arrivals if k in sent]
        done = collector.count()
        last = max(collector.arrivals.values()) if collector.arrivals else start
        stored = sum(1 for f in (work / "store").rglob("*") if f.is_file() and not f.name.startswith("."))
        return {"items": len(messages), "republished": done, "stored": stored, "lost": len(messages) - done,
                "seconds": round(last - start, 2), "per_s": round(done / max(last - start, 1e-9), 1),
                "publish_seconds": round(max(sent.values()) - start, 2),
                "lag_p50_s": round(percentile(lags, 50), 3), "lag_p99_s": round(percentile(lags, 99), 3),
                "lag_max_s": round(max(lags), 3), "peak_rss_mb": rss, "summary": summary.strip().splitlines()}
    finally:
        if cache.poll() is None:
            cache.kill()
        for p in (up, own):
            p.terminate()
            p.wait()


W2D_DRIVER = r"""
import json, logging, sys, threading, time
from pathlib import Path
from wis2downloader.downloader import DownloadWorker
from wis2downloader.log import LOGGER
from wis2downloader.queue import SimpleQueue
from wis2downloader.subscriber import MQTTSubscriber
port, folder, count, workers, timeout = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
LOGGER.setLevel(logging.WARNING)  # its INFO line per message would be its own cost, not the work's
saved, lock = [], threading.Lock()

class Counted(DownloadWorker):
    def save_file(self, data, target, filename, filesize, download_start):
        super().save_file(data, target, filename, filesize, download_start)
        with lock:
            saved.append(time.time())

queue = SimpleQueue()
for _ in range(workers):
    threading.Thread(target=Counted(queue, folder, 0).start, daemon=True).start()
sub = MQTTSubscriber("127.0.0.1", port, "", "", "tcp", queue, "")
threading.Thread(target=sub.start, daemon=True).start()
sub.add_subscription("origin/a/wis2/#", "$TOPIC")
time.sleep(0.5)
print("ready", flush=True)
deadline = time.time() + timeout
while time.time() < deadline:
    with lock:
        if len(saved) >= count:
            break
    time.sleep(0.05)
with lock:
    print(json.dumps({"saved": len(saved), "last": max(saved) if saved else None}), flush=True)
"""


def run_wis2downloader(work, messages, workers, timeout=600):
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    up, up_port = start_mosquitto(work / "gb")
    try:
        proc = subprocess.Popen([sys.executable, "-c", W2D_DRIVER, str(up_port), str(work / "downloads"),
                                 str(len(messages)), str(workers), str(timeout)], stdout=subprocess.PIPE,
                                stderr=open(work / "w2d.log", "w"), text=True)
        assert proc.stdout.readline().strip() == "ready"
        sent, start = publish(up_port, messages)
        result = json.loads(proc.stdout.readline())
        proc.wait(timeout=30)
        last = result["last"] or start
        return {"items": len(messages), "stored": result["saved"], "lost": len(messages) - result["saved"],
                "seconds": round(last - start, 2), "per_s": round(result["saved"] / max(last - start, 1e-9), 1),
                "workers": workers}
    finally:
        up.terminate()
        up.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wis2mon")
    ap.add_argument("work", type=pathlib.Path)
    ap.add_argument("--compare-items", type=int, default=3000)
    ap.add_argument("--compare-delay-ms", default="0,50", help="server delays, comma-separated")
    ap.add_argument("--w2d-workers", type=int, default=16)
    ap.add_argument("--rate-factor", type=float, default=10)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--load-delay-ms", type=float, default=3000)
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    a = ap.parse_args()
    digest = Digests()
    out = {"object_bytes": SIZE}
    if not a.skip_compare:
        out["compare"] = []
        for delay in (float(d) for d in a.compare_delay_ms.split(",")):
            server, base = start_data_server(delay)
            try:
                def stream(run):
                    return [(f"de-dwd/data/core/weather/surface-based-observations/synop/{run}/obj-{n}.bin",
                             notification(n, base, digest(n), run)) for n in range(a.compare_items)]
                print(f"compare: {a.compare_items} items, {delay} ms server delay", file=sys.stderr)
                w2d = run_wis2downloader(a.work / "w2d", stream("w2d"), a.w2d_workers)
                print(f"  wis2downloader: {w2d}", file=sys.stderr)
                gc = run_cache(a.wis2mon, a.work / "gc", base, stream("gc"))
                print(f"  wis2mon cache: {gc}", file=sys.stderr)
                gc_fsync = run_cache(a.wis2mon, a.work / "gc-fsync", base, stream("gcf"), fsync=True)
                print(f"  wis2mon cache, store_fsync: {gc_fsync}", file=sys.stderr)
                out["compare"].append({"delay_ms": delay, "wis2mon_cache": gc, "wis2mon_cache_fsync": gc_fsync,
                                       "wis2downloader": w2d,
                                       "ratio": round(gc["per_s"] / w2d["per_s"], 2) if w2d["per_s"] else None,
                                       "ratio_fsync": round(gc_fsync["per_s"] / w2d["per_s"], 2) if w2d["per_s"]
                                       else None})
            finally:
                server.terminate()
    if not a.skip_load:
        rate = 2000 / 60 * a.rate_factor
        count = int(rate * a.seconds)
        server, base = start_data_server(a.load_delay_ms)
        try:
            print(f"load: {count} items at {rate:.1f}/s, {a.load_delay_ms} ms server delay "
                  f"(~{rate * a.load_delay_ms / 1000:.0f} downloads in flight)", file=sys.stderr)
            messages = [(f"de-dwd/data/core/weather/surface-based-observations/synop/load/obj-{n}.bin",
                         notification(n, base, digest(n), "load")) for n in range(count)]
            gc = run_cache(a.wis2mon, a.work / "load", base, messages, rate=rate)
            print(f"  wis2mon cache: {gc}", file=sys.stderr)
            out["load"] = {"rate_factor": a.rate_factor, "rate_per_s": round(rate, 1), "delay_ms": a.load_delay_ms,
                           "in_flight_expected": round(rate * a.load_delay_ms / 1000), "wis2mon_cache": gc}
        finally:
            server.terminate()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
