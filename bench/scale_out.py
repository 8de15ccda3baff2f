#!/usr/bin/env python3
"""Two monitors with a shared subscription against one, on the same stream (issue #21).

    python3 bench/scale_out.py --wis2mon build/src/cli/wis2mon [--items 20000]

Starts a PostgreSQL (Debian's, initdb into a temporary folder; as root it runs as the
postgres user), two mosquitto brokers and the monitors (`wis2mon run`), all on loopback. Each
item is published once to each broker (two brokers carrying the same stream, as Global
Brokers do); the monitors subscribe to both with `$share/wis2mon/...`, share one PostgreSQL
sink and dedup store. Measured: the stream is queued at the brokers for the monitors' persistent sessions while
they are stopped; the clock runs from their start until PostgreSQL holds every item (the
monitors' rate, not the publisher's).
Prints one JSON line; the same items in the same run for one monitor and for two.
"""
import argparse
import glob
import json
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


class Postgres:
    def __init__(self, work):
        bindir = pathlib.Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
        self.data = pathlib.Path(tempfile.mkdtemp(prefix="wis2mon-bench-pg-"))
        as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
            as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(self.data / "d"), "-U", "wis2mon", "--auth=trust",
                        "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
        port = free_port()
        self.proc = subprocess.Popen([*as_user, str(bindir / "postgres"), "-D", str(self.data / "d"), "-p", str(port),
                                      "-k", str(self.data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        for _ in range(300):
            if subprocess.run([str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0:
                break
            time.sleep(0.1)
        self.url = f"postgresql://wis2mon@127.0.0.1:{port}/postgres"

    def query(self, sql):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", self.url, "-c", sql], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


def run(exe, work, items, monitors, source, shared_dedup=True):
    """Seconds until PostgreSQL holds every item, with `monitors` processes (dedup in
    PostgreSQL, or each monitor's own in memory)."""
    pg = Postgres(work)
    brokers = []
    procs = []
    try:
        for b in range(2):
            port = free_port()
            conf = work / f"mosquitto-{monitors}-{int(shared_dedup)}-{b}.conf"
            conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
            brokers.append((subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL), port))
            wait_port(port)
        configs = []
        for m in range(monitors):
            d = work / f"run{monitors}-{int(shared_dedup)}-m{m}"
            d.mkdir()
            cfg = d / "monitor.yaml"
            cfg.write_text(
                f"monitor: {{spool: {d / 'spool.db'}, subscriptions: [\"$share/wis2mon/origin/a/wis2/#\"]}}\n"
                + (f'dedup: {{store: "{pg.url}"}}\n' if shared_dedup else "")
                + "brokers:\n" + "".join(f'  - {{name: gb{i}, url: "mqtt://127.0.0.1:{p}"}}\n'
                                       for i, (_, p) in enumerate(brokers))
                + f'sinks:\n  - {{name: pg, type: postgresql, url: "{pg.url}"}}\n'
                "pipelines:\n  - {name: notifications, filters: [\"#\"], dedup: data_id_pubtime, sinks: [pg]}\n")
            configs.append((cfg, d / "log"))

        def start_all():
            for cfg, log in configs:
                procs.append((subprocess.Popen([exe, "run", str(cfg)], stdout=log.open("a"), stderr=subprocess.STDOUT),
                              log))
            deadline = time.time() + 60
            for _, log in configs:
                while log.read_text().count("connected to tcp://") < 2 * (len(procs) // len(configs)):
                    if time.time() > deadline:
                        raise SystemExit("a monitor did not connect: " + log.read_text()[-2000:])
                    time.sleep(0.1)

        # Sessions and shared subscriptions made, monitors stopped: the stream is then queued at
        # the brokers for them (persistent sessions), and the clock runs from their start until
        # PostgreSQL holds every item, so the monitors' own rate is measured, not the publisher's.
        start_all()
        time.sleep(1.0)
        for p, _ in procs:
            p.terminate()
            p.wait()
        pubs = [subprocess.Popen([exe, "publish", "--broker", f"mqtt://127.0.0.1:{p}", str(source)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _, p in brokers]
        for p in pubs:
            if p.wait() != 0:
                raise SystemExit("publish failed")
        t0 = time.perf_counter()
        start_all()
        while True:
            n = pg.query("SELECT count(*) FROM notifications")
            if n is not None and int(n) >= items:
                break
            if time.perf_counter() - t0 > float(os.environ.get("SCALE_OUT_TIMEOUT", "600")):
                raise SystemExit(f"timed out with {n} of {items} items; " +
                                 " | ".join(log.read_text()[-600:] for _, log in configs))
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        return elapsed
    finally:
        for p, _ in procs:
            p.terminate()
            p.wait()
        for p, _ in brokers:
            p.terminate()
            p.wait()
        pg.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wis2mon", default="build/src/cli/wis2mon")
    ap.add_argument("--items", type=int, default=20000)
    args = ap.parse_args()
    exe = str(pathlib.Path(args.wis2mon).resolve())
    work = pathlib.Path(tempfile.mkdtemp(prefix="wis2mon-bench-scale-"))
    try:
        source = work / "items.ndjson"
        subprocess.run([exe, "sample", "--count", str(args.items), "--invalid", "0", "--seed", "5", "--out",
                        str(source)], check=True, capture_output=True)
        # The sample repeats some data_ids with a newer pubtime (updates): the table ends with
        # one row per data_id.
        rows = len({json.loads(line)["properties"]["data_id"] for line in source.open()})
        one = run(exe, work, rows, 1, source)
        two = run(exe, work, rows, 2, source)
        # The cost of sharing the dedup state: one monitor with its own (in memory).
        alone = run(exe, work, rows, 1, source, shared_dedup=False)
        print(json.dumps({"items": args.items, "rows": rows, "copies_per_item": 2, "one_monitor_items_per_s": round(args.items / one),
                          "two_monitors_items_per_s": round(args.items / two), "two_vs_one": round(one / two, 2),
                          "one_monitor_own_dedup_items_per_s": round(args.items / alone)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
