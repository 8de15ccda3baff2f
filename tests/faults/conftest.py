"""The fault-injection suite (issue #16): the wis2mon program against real parts started here
(mosquitto with persistence, a tmpfs that fills up, a hostile HTTP server), checked against a
reference run of the same stream through `wis2mon replay`.

    pytest tests/faults --wis2mon build/src/cli/wis2mon
"""
import json
import os
import pathlib
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest


def pytest_addoption(parser):
    parser.addoption("--wis2mon", default="build/src/cli/wis2mon", help="path to the wis2mon program")


@pytest.fixture(scope="session")
def wis2mon(request):
    exe = pathlib.Path(request.config.getoption("--wis2mon")).resolve()
    assert exe.exists(), f"wis2mon not built at {exe}"
    return str(exe)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def accepts(port):
    """Something listens on this loopback port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_for(predicate, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def query(db, sql):
    """Rows of a query on a SQLite file; [] while the file or table does not exist yet."""
    if not pathlib.Path(db).exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def count(db, sql):
    rows = query(db, sql)
    return rows[0][0] if rows else 0


class Broker:
    """mosquitto on a free loopback port, with persistence it can actually write (it drops
    to the user mosquitto when started as root), so a restart keeps sessions."""

    def __init__(self, folder):
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
        if not exe or not shutil.which("mosquitto_pub"):
            pytest.skip("mosquitto not installed")
        self.exe = exe
        self.dir = pathlib.Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {self.dir}/\nmax_queued_messages 0\n")
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "mosquitto.log", "a"))
        assert wait_for(lambda: accepts(self.port), 10), "mosquitto does not start"

    def stop(self):
        self.proc.terminate()  # SIGTERM: it saves its sessions
        self.proc.wait(timeout=20)

    def publish(self, messages):
        """messages: (topic, payload) pairs; one mosquitto_pub per topic keeps each topic's order."""
        by_topic = {}
        for topic, payload in messages:
            by_topic.setdefault(topic, []).append(payload)
        for topic, payloads in by_topic.items():
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-t", topic, "-l"],
                           input="\n".join(payloads) + "\n", text=True, check=True, timeout=120)


@pytest.fixture
def broker():
    # Not under pytest's tmp_path: its parents are private to root, and mosquitto (running as
    # the user mosquitto) could not reach its persistence file there.
    folder = tempfile.mkdtemp(prefix="wis2mon-faults-broker-")
    b = Broker(folder)
    yield b
    if b.proc and b.proc.poll() is None:
        b.proc.terminate()
        b.proc.wait(timeout=20)
    shutil.rmtree(folder, ignore_errors=True)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class ReplayService:
    """A WIS2 Global Replay service stand-in: pygeoapi (the OGC API - Features reference
    server, from PyPI) serving a collection of notifications from a TinyDB file, with
    `pubtime` as its time field. WIS2MON_PYGEOAPI names the program; absent: skipped."""

    def __init__(self, folder, features, collection="wis2-notification-messages"):
        exe = os.environ.get("WIS2MON_PYGEOAPI") or shutil.which("pygeoapi")
        if not exe:
            pytest.skip("pygeoapi not installed (pip install pygeoapi; scripts/test.sh does)")
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "grep.tinydb"
        data.write_text(json.dumps({"_default": {str(i + 1): f for i, f in enumerate(features)}}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = folder / "pygeoapi.yml"
        cfg.write_text(f"""server:
  bind: {{host: 127.0.0.1, port: {self.port}}}
  url: {self.url}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {{default_items: 100, max_items: 1000}}
  map:
    url: "https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png"
    attribution: none
logging: {{level: ERROR}}
metadata:
  identification: {{title: GREP stand-in, description: test, keywords: [wis2], keywords_type: theme,
                   terms_of_service: https://example.org, url: https://example.org}}
  license: {{name: CC-BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}}
  provider: {{name: test, url: https://example.org}}
  contact: {{name: test, email: test@example.org, url: https://example.org, role: pointOfContact}}
resources:
  {collection}:
    type: collection
    title: WIS2 notification messages
    description: what the brokers carried
    keywords: [wis2]
    links: []
    extents:
      spatial: {{bbox: [-180, -90, 180, 90], crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84}}
    providers:
      - type: feature
        name: TinyDB
        data: {data}
        id_field: id
        time_field: pubtime
""")
        openapi = folder / "openapi.yml"
        env = dict(os.environ, PYGEOAPI_CONFIG=str(cfg), PYGEOAPI_OPENAPI=str(openapi))
        subprocess.run([exe, "openapi", "generate", str(cfg), "--output-file", str(openapi)], env=env, check=True,
                       capture_output=True, timeout=120)
        self.proc = subprocess.Popen([exe, "serve"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(folder / "pygeoapi.log", "w"))
        ok = wait_for(lambda: accepts(self.port), 60, 0.2)
        assert ok, (folder / "pygeoapi.log").read_text()[-2000:]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
