"""Options and fixtures for the CLI contract tests (run by ctest, or by hand:
pytest tests/cli --wis2mon build/src/cli/wis2mon --refdata ../shared/refdata)."""
import http.server
import json
import pathlib
import subprocess
import threading

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
