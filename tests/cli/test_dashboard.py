"""The dashboard in a real headless browser (issue #22): Debian's chromium driven by Playwright
(the Python package, told to use /usr/bin/chromium: it downloads no browser). The monitor runs
on a known stream through a real mosquitto and a real data server; the page's numbers must be
the stream's. Run by ctest as `dashboard` with the Python that has Playwright
(WIS2MON_BROWSER_PYTHON, set up by scripts/test.sh); skipped where there is none, unless
WIS2MON_BROWSER_REQUIRED=1 (CI) makes that a failure."""
import collections
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from conftest import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags a closed network needs: no background connections, no component updates.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def need_browser():
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright Python package is not installed"
    if not missing and not os.path.exists(CHROMIUM):
        missing = "chromium is not installed"
    if missing:
        if os.environ.get("WIS2MON_BROWSER_REQUIRED") == "1":
            pytest.fail(missing + " (WIS2MON_BROWSER_REQUIRED=1)")
        pytest.skip(missing)


def artifact_dir(tmp_path):
    folder = pathlib.Path(os.environ.get("WIS2MON_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.load(r)


class Monitor:
    """`wis2mon run` on one broker with the built-in configuration and the endpoint on a free port."""

    def __init__(self, wis2mon, folder, broker_port):
        self.port = free_port()
        self.log = open(folder / "run.log", "w")
        self.proc = subprocess.Popen(
            [str(wis2mon.exe), "run", "--broker", f"mqtt://127.0.0.1:{broker_port}", "--subscribe", "origin/a/wis2/#",
             "--db", "wis2mon.db", "--metrics-port", str(self.port)],
            cwd=folder, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if get_json(self.port, "/api/brokers")["brokers"][0]["connected"]:
                    return
            except (OSError, KeyError, IndexError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError("the monitor did not connect: " + (folder / "run.log").read_text())

    def wait_for(self, received, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            totals = get_json(self.port, "/api/summary")["totals"]
            if totals["received"] >= received and totals["in_progress"] == 0 and totals["spool_stored"] == 0:
                return totals
            time.sleep(0.2)
        raise AssertionError(f"the monitor took fewer than {received} messages in {timeout} s")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        finally:
            self.log.close()


def publish(wis2mon, port, stream):
    r = wis2mon("publish", "--broker", f"mqtt://127.0.0.1:{port}", stream)
    assert r.returncode == 0, r.stderr


def publish_raw(port, topic, payload):
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-m", payload], check=True)


def expected_of(stream, data_dir):
    """What the page must show, read from the stream and its data (not from the monitor)."""
    lines = [json.loads(line) for line in stream.read_text().splitlines()]
    per_centre = collections.Counter(m["topic"].split("/")[3] for m in lines)
    stations = {m["properties"]["wigos_station_identifier"] for m in lines
                if "/surface-based-observations/" in m["topic"]}
    alerts = set()
    for m in lines:
        if not m["topic"].endswith("/advisories-warnings"):
            continue
        href = next(link["href"] for link in m["links"] if link["rel"] == "canonical")
        root = ET.parse(data_dir / href.split("/", 3)[3]).getroot()
        assert root.findtext(CAP + "msgType") == "Alert" and root.find(f"{CAP}info/{CAP}expires") is None
        alerts.add(root.findtext(CAP + "identifier"))
    return lines, per_centre, stations, alerts


def open_page(browser, port, problems, viewport=None):
    page = browser.new_page(viewport=viewport or {"width": 1400, "height": 1000})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    # Anything not served by the monitor itself is a request leaving the machine.
    page.on("request", lambda r: None if r.url.startswith(f"http://127.0.0.1:{port}/")
            else problems.append(f"request elsewhere: {r.url}"))
    page.goto(f"http://127.0.0.1:{port}/?refresh=300")
    return page


def wait_js(page, expression, timeout=30):
    """Polls a JavaScript expression until it is true (page.wait_for_function evaluates its
    predicate with eval(), which the page's Content-Security-Policy rightly refuses)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if page.evaluate(expression):
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {expression}")


def text_of(page, selector):
    return page.inner_text(selector).strip()


def wait_text(page, selector, expected, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if page.locator(selector).count() and text_of(page, selector) == expected:
            return
        time.sleep(0.1)
    shown = text_of(page, selector) if page.locator(selector).count() else "(absent)"
    raise AssertionError(f"{selector}: {shown!r}, expected {expected!r}")


def n(value):
    return f"{value:,}"


DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"


def documented_examples():
    """(path, example) of each `GET /api/...` paragraph of docs/dashboard.md followed by a JSON block."""
    text = DOCS.read_text()
    return [(m.group(1), json.loads(m.group(2)))
            for m in re.finditer(r"^`GET (/api/[a-z-]+)[^`]*`:(?:(?!`GET ).)*?```json\n(.*?)```", text, re.S | re.M)]


def assert_shape(example, actual, where):
    """Every member the example shows is in the answer, with the same kind of value."""
    if isinstance(example, dict):
        assert isinstance(actual, dict), where
        for key, value in example.items():
            if isinstance(actual, dict) and key not in actual and where.endswith((".figures", ".values", ".record",
                                                                                  ".records_per_table", ".sinks")):
                continue  # members named by the data (a table, a sink, a field)
            assert key in actual, f"{where}: no member '{key}' (docs/dashboard.md shows it)"
            assert_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), where
        if example and actual:
            assert_shape(example[0], actual[0], where + "[0]")
    elif example is not None and actual is not None:
        kinds = (bool,) if isinstance(example, bool) else (int, float) if isinstance(example, (int, float)) else (str,)
        assert isinstance(actual, kinds) and not (kinds != (bool,) and isinstance(actual, bool)), where


def test_dashboard_shows_the_stream_and_follows_it(wis2mon, tmp_path, mosquitto, serve):
    need_browser()
    from playwright.sync_api import sync_playwright

    root, base = serve()
    stream = tmp_path / "stream.ndjson"
    r = wis2mon("sample", "--count", 300, "--seed", 11, "--invalid", 0, "--data-url", base, "--data-dir", root,
                "--out", stream)
    assert r.returncode == 0, r.stderr
    lines, per_centre, stations, alerts = expected_of(stream, root)
    monitor = Monitor(wis2mon, tmp_path, mosquitto)
    try:
        publish(wis2mon, mosquitto, stream)
        broken = "origin/a/wis2/xx-broken/data/core/weather/surface-based-observations/synop"
        for i in range(5):
            publish_raw(mosquitto, broken, json.dumps({"id": f"not-a-uuid-{i}"}))
        per_centre["xx-broken"] += 5
        monitor.wait_for(len(lines) + 5)

        problems = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = open_page(browser, monitor.port, problems)
            wait_js(page, "window.wis2mon && window.wis2mon.refreshes > 0")
            wait_text(page, "#total-received", n(len(lines) + 5))
            assert text_of(page, "#total-invalid") == "5"
            for centre, count in per_centre.items():
                assert text_of(page, f'tr[data-centre="{centre}"] td.received') == n(count), centre
            assert text_of(page, 'tr[data-centre="xx-broken"] td.invalid') == "5"
            assert text_of(page, "#centre-count") == n(len(per_centre))
            # Every station is drawn on the map, and every alert is listed.
            assert text_of(page, "#station-count") == n(len(stations))
            assert page.get_attribute("#map", "data-stations") == str(len(stations))
            assert text_of(page, "#alert-count") == n(len(alerts))
            assert page.locator("#alerts tbody tr").count() == len(alerts)
            assert "not-a-uuid" in text_of(page, "#invalid") or "id 'not-a-uuid" in text_of(page, "#dead-letters")
            assert text_of(page, "#brokers tbody tr td.up") == "up"
            # The BUFR and CAP items are fetched; discovery metadata is not (the built-in configuration).
            assert text_of(page, "#total-downloads") == n(sum(1 for m in lines if not m["topic"].endswith("/metadata")))

            # Hovering a station shows its values.
            listed = get_json(monitor.port, "/api/stations")["stations"]
            page.locator("#map").scroll_into_view_if_needed()
            box = page.locator("#map").bounding_box()
            def position(s):
                return (box["x"] + (s["lon"] + 180) / 360 * box["width"], box["y"] + (90 - s["lat"]) / 180 * box["height"])
            lonely = next(s for s in listed if all(
                abs(position(s)[0] - position(o)[0]) + abs(position(s)[1] - position(o)[1]) > 16
                for o in listed if o is not s))
            page.mouse.move(*position(lonely))
            page.wait_for_selector("#map-tip:not([hidden])")
            tip = text_of(page, "#map-tip")
            assert lonely["id"] in tip and "air temperature" in tip, tip
            # Colouring by a field names its range.
            page.select_option("#colour-by", "air_temperature")
            assert "°C" in text_of(page, "#map-scale")

            # The page holds itself to this server (and the page kept to it: no violation above).
            with urllib.request.urlopen(f"http://127.0.0.1:{monitor.port}/", timeout=10) as r:
                assert "default-src 'none'" in r.headers["Content-Security-Policy"]
                assert "connect-src 'self'" in r.headers["Content-Security-Policy"]
            # The answers have the members docs/dashboard.md shows.
            examples = documented_examples()
            assert len(examples) >= 9
            for path, example in examples:
                assert_shape(example, get_json(monitor.port, path), path)

            screenshot = artifact_dir(tmp_path) / "dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10000

            # More messages arrive: the page follows without a reload.
            later = tmp_path / "later.ndjson"
            r = wis2mon("sample", "--count", 90, "--seed", 12, "--centres", 9, "--invalid", 0, "--data-url", base,
                        "--data-dir", root, "--out", later)
            assert r.returncode == 0, r.stderr
            more = [m for m in (json.loads(x) for x in later.read_text().splitlines())
                    if m["topic"].split("/")[3] == "xx-sample-9"]
            later.write_text("".join(json.dumps(m) + "\n" for m in more))
            publish(wis2mon, mosquitto, later)
            for i in range(4):
                publish_raw(mosquitto, broken, json.dumps({"id": f"later-{i}"}))
            wait_text(page, "#total-received", n(len(lines) + 5 + len(more) + 4))
            wait_text(page, 'tr[data-centre="xx-sample-9"] td.received', n(len(more)))
            wait_text(page, "#total-invalid", "9")
            wait_text(page, 'tr[data-centre="xx-broken"] td.invalid', "9")
            browser.close()
        assert problems == []
    finally:
        monitor.stop()


def test_dashboard_with_10000_stations_and_500_centres(wis2mon, tmp_path, mosquitto):
    """Responsiveness at scale: the figures go to the artifacts (dashboard-scale.json) and
    docs/benchmarks.md; the test asserts what is drawn, not how fast."""
    need_browser()
    from playwright.sync_api import sync_playwright

    stream = tmp_path / "stream.ndjson"
    # 7 of every 10 messages are surface observations: 14,300 messages reach all 10,000 stations.
    r = wis2mon("sample", "--count", 14300, "--seed", 5, "--invalid", 0, "--stations", 10000, "--centres", 500,
                "--out", stream)
    assert r.returncode == 0, r.stderr
    lines = stream.read_text().splitlines()
    monitor = Monitor(wis2mon, tmp_path, mosquitto)
    # Each refresh: nine requests, the tables, the chart and the map redrawn; five of them timed.
    refresh_times = """async () => {
        const times = [];
        let last = window.wis2mon.refreshes;
        while (times.length < 5) {
          await new Promise((r) => setTimeout(r, 50));
          if (window.wis2mon.refreshes > last) { last = window.wis2mon.refreshes; times.push(window.wis2mon.lastRefreshMs); }
        }
        return times;
    }"""
    try:
        problems = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = open_page(browser, monitor.port, problems, {"width": 1600, "height": 1200})
            # The baseline: the same page on the same monitor before any message.
            wait_js(page, "window.wis2mon && window.wis2mon.refreshes >= 2", 120)
            empty_ms = page.evaluate(refresh_times)
            publish(wis2mon, mosquitto, stream)
            monitor.wait_for(len(lines), timeout=600)
            wait_text(page, "#station-count", "10,000", timeout=60)
            assert page.get_attribute("#map", "data-stations") == "10000"
            assert text_of(page, "#centre-count") == "500"
            assert page.locator("#centres tbody tr").count() == 500
            refresh_ms = page.evaluate(refresh_times)
            # Hover over the map: the nearest station's values.
            page.locator("#map").scroll_into_view_if_needed()
            box = page.locator("#map").bounding_box()
            hover_ms = []
            for k in range(20):
                page.mouse.move(box["x"] + box["width"] * (0.05 + 0.045 * k), box["y"] + box["height"] * 0.5)
                hover_ms.append(page.evaluate("window.wis2mon.lastHoverMs"))
            # Typing in the centre filter: the table follows at once.
            started = time.time()
            page.fill("#centre-filter", "xx-sample-49")
            wait_js(page, "document.querySelectorAll('#centres tbody tr').length === 11")
            filter_ms = (time.time() - started) * 1000
            recolour_ms = page.evaluate("""() => {
                const t0 = performance.now();
                const s = document.getElementById('colour-by');
                s.value = 'air_temperature';
                s.dispatchEvent(new Event('change'));
                return performance.now() - t0;
            }""")
            browser.close()
        median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        figures = {"stations": 10000, "centres": 500, "refresh_ms": refresh_ms, "refresh_ms_empty": empty_ms,
                   "refresh_ratio_to_empty": round(median(refresh_ms) / max(median(empty_ms), 0.1), 1),
                   "hover_ms_max": max(hover_ms), "centre_filter_ms": filter_ms, "recolour_map_ms": recolour_ms}
        (artifact_dir(tmp_path) / "dashboard-scale.json").write_text(json.dumps(figures, indent=1) + "\n")
        print("dashboard at scale:", json.dumps(figures))
        assert problems == []
    finally:
        monitor.stop()
