"""Options and fixtures for the CLI contract tests (run by ctest, or by hand:
pytest tests/cli --wis2mon build/src/cli/wis2mon --refdata ../shared/refdata)."""
import http.server
import json
import pathlib
import shutil
import socket
import subprocess
import threading
import time

import pytest


def pytest_addoption(parser):
    parser.addoption("--wis2mon", default="build/src/cli/wis2mon", help="path to the wis2mon program")
    parser.addoption("--refdata", default="../shared/refdata", help="reference data folder")


@pytest.fixture(scope="session")
def wis2mon(request):
    exe = pathlib.Path(request.config.getoption("--wis2mon")).resolve()
    assert exe.exists(), f"wis2mon not built at {exe}"

    def run(*args, stdin=None, env=None):
        full_env = None
        if env is not None:
            import os
            full_env = dict(os.environ, **env)
        return subprocess.run([str(exe), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120,
                              env=full_env)

    run.exe = exe
    return run


@pytest.fixture(scope="session")
def refdata(request):
    path = pathlib.Path(request.config.getoption("--refdata"))
    if not (path / "wis2").is_dir():
        pytest.skip("reference data absent")
    return path


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def serve(tmp_path):
    """Serves a folder over HTTP on a free loopback port: serve() -> (folder, base URL)."""
    servers = []

    def start():
        root = tmp_path / f"www{len(servers)}"
        root.mkdir()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def log_message(self, *a):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return root, f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()


@pytest.fixture
def postgres():
    """A real PostgreSQL server (Debian's postgresql: initdb, then postgres) on a free loopback
    port, data in a temporary folder; as root it runs as the postgres user (PostgreSQL refuses root).
    Yields (url, psql(sql) -> output lines)."""
    import glob
    import os
    import pwd
    import shutil
    import socket
    import time

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    bindir = pathlib.Path(bins[-1]).parent
    import tempfile

    # Not under tmp_path: pytest's folders are private to root, and the server runs as postgres.
    data = pathlib.Path(tempfile.mkdtemp(prefix="wis2mon-pg-"))
    as_user = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(data, pw.pw_uid, pw.pw_gid)
        as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data / "data"), "-U", "wis2mon", "--auth=trust",
                    "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*as_user, str(bindir / "postgres"), "-D", str(data / "data"), "-p", str(port), "-k",
                               str(data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql://wis2mon@127.0.0.1:{port}/postgres"
    for _ in range(300):
        if subprocess.run([str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0:
            break
        time.sleep(0.1)

    def psql(sql):
        r = subprocess.run([shutil.which("psql") or str(bindir / "psql"), "-X", "-q", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", url, "-c", sql], capture_output=True, text=True, check=True)
        return r.stdout.splitlines()

    yield url, psql
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def s3proxy(tmp_path):
    """A real S3-compatible server: S3Proxy ($WIS2MON_S3PROXY, the jar scripts/test.sh fetches;
    see tests/unit/s3_server.hpp for why) over its filesystem backend, checking SigV4 signatures,
    on a free loopback port, with one bucket. Yields (endpoint, bucket, credentials env, objects())
    where objects() maps each stored key to its bytes (read from the backend's folder)."""
    import os
    import shutil
    import socket
    import time
    import urllib.request

    jar = os.environ.get("WIS2MON_S3PROXY", "")
    if not jar or not os.path.exists(jar) or not shutil.which("java"):
        pytest.skip("S3Proxy is not installed (scripts/test.sh sets WIS2MON_S3PROXY)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "s3data"
    bucket = "wis2mon-cli"
    (data / bucket).mkdir(parents=True)  # the filesystem backend: a folder is a bucket
    conf = tmp_path / "s3proxy.conf"
    conf.write_text(f"s3proxy.endpoint=http://127.0.0.1:{port}\ns3proxy.authorization=aws-v2-or-v4\n"
                    "s3proxy.identity=cli-key\ns3proxy.credential=cli-secret\n"
                    f"jclouds.provider=filesystem\njclouds.filesystem.basedir={data}\n")
    log = open(tmp_path / "s3proxy.log", "w")
    server = subprocess.Popen(["java", "-Xmx256m", "-jar", jar, "--properties", str(conf)], stdout=log,
                              stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(endpoint + "/", timeout=1)
        except urllib.error.HTTPError:
            break  # answered (403: no signature): up
        except OSError:
            time.sleep(0.1)
    env = {"AWS_ACCESS_KEY_ID": "cli-key", "AWS_SECRET_ACCESS_KEY": "cli-secret", "AWS_REGION": "us-east-1"}

    def objects():
        root = data / bucket
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    yield endpoint, bucket, env, objects
    server.terminate()
    server.wait(timeout=30)
    log.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_mosquitto(tmp_path, name):
    """A mosquitto on a free loopback port: (process, port); skips when it is not installed."""
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if shutil.which("/usr/sbin/mosquitto") else None)
    if not exe or not shutil.which("mosquitto_pub"):
        pytest.skip("mosquitto not installed")
    port = free_port()
    conf = tmp_path / f"{name}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


@pytest.fixture
def mosquitto(tmp_path):
    proc, port = start_mosquitto(tmp_path, "mosquitto")
    yield port
    proc.terminate()
    proc.wait()
