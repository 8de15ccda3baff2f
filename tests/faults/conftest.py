"""The fault-injection suite (issue #16): the wis2mon program against real parts started here
(mosquitto with persistence, a tmpfs that fills up, a hostile HTTP server), checked against a
reference run of the same stream through `wis2mon replay`.

    pytest tests/faults --wis2mon build/src/cli/wis2mon
"""
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
        assert wait_for(self._accepts, 10), "mosquitto does not start"

    def _accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

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
