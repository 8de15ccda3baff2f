"""wis2mon fetch: the command-line contract of issue #3, against a real HTTP server on loopback."""
import base64
import hashlib
import json
import uuid

import pytest

from conftest import json_lines


@pytest.fixture
def www(serve):
    return serve()


def notification(data_id, href, data, global_cache=None, digest=None, inline=False):
    props = {
        "data_id": data_id,
        "pubtime": "2026-01-01T00:02:11Z",
        "datetime": "2026-01-01T00:00:00Z",
        "integrity": {"method": "sha512",
                      "value": digest or base64.b64encode(hashlib.sha512(data).digest()).decode()},
    }
    if global_cache:
        props["global-cache"] = global_cache
    if inline:
        props["content"] = {"encoding": "base64", "value": base64.b64encode(data).decode(), "size": len(data)}
    return {
        "id": str(uuid.uuid4()),
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "type": "Feature",
        "geometry": None,
        "properties": props,
        "links": [{"href": href, "rel": "canonical", "type": "application/bufr", "length": len(data)}],
    }


def write_ndjson(path, messages):
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def test_fetch_stores_verified_objects(wis2mon, www, tmp_path):
    root, base = www
    data = bytes(range(256)) * 40
    (root / "a.bufr4").write_bytes(data)
    f = write_ndjson(tmp_path / "n.ndjson", [notification("de-dwd/data/core/weather/a.bufr4", f"{base}/a.bufr4", data)])
    out = tmp_path / "cache"
    r = wis2mon("fetch", "--out", out, f)
    assert r.returncode == 0, r.stderr
    [line] = json_lines(r.stdout)
    assert set(line) == {"source", "data_id", "status", "url", "bytes", "sha512", "path"}
    assert line["source"] == f"{f}:1"
    assert line["status"] == "ok"
    assert line["url"] == f"{base}/a.bufr4"
    assert line["bytes"] == len(data)
    assert line["sha512"] == base64.b64encode(hashlib.sha512(data).digest()).decode()
    stored = out / "de-dwd/data/core/weather/a.bufr4"
    assert line["path"] == str(stored)
    assert stored.read_bytes() == data


def test_fetch_failures_store_nothing(wis2mon, www, tmp_path):
    root, base = www
    data = b"x" * 1000
    (root / "corrupt.bin").write_bytes(b"y" * 1000)
    msgs = [
        notification("c/missing", f"{base}/missing.bin", data),
        notification("c/corrupt", f"{base}/corrupt.bin", data),
        dict(notification("c/invalid", f"{base}/x", data), id="not-a-uuid"),
    ]
    out = tmp_path / "cache"
    r = wis2mon("fetch", "--out", out, write_ndjson(tmp_path / "n.ndjson", msgs))
    assert r.returncode == 1
    lines = json_lines(r.stdout)
    assert [l["status"] for l in lines] == ["not_found", "integrity_failed", "invalid_notification"]
    assert all(set(l) == {"source", "data_id", "status", "url", "bytes", "sha512", "path"} for l in lines)
    assert "integrity_failed" in r.stderr and "id.uuid" in r.stderr  # the reasons, on stderr
    assert all(l["path"] is None and l["sha512"] is None and l["url"] is None for l in lines)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_fetch_prefers_a_cache_copy_and_falls_back(wis2mon, www, tmp_path):
    root, base = www
    data = b"synop" * 300
    (root / "origin.bin").write_bytes(data)
    (root / "gc.bin").write_bytes(data)
    item = "de-dwd/data/core/weather/synop/x"
    msgs = [notification(item, f"{base}/origin.bin", data),
            notification(item, f"{base}/gc.bin", data, global_cache="jp-jma-global-cache")]
    f = write_ndjson(tmp_path / "n.ndjson", msgs)
    cache_first = json_lines(wis2mon("fetch", f).stdout)
    assert [l["url"] for l in cache_first] == [f"{base}/gc.bin"] * 2  # one download serves both lines
    origin_first = json_lines(wis2mon("fetch", "--prefer", "origin", f).stdout)
    assert [l["url"] for l in origin_first] == [f"{base}/origin.bin"] * 2
    (root / "gc.bin").unlink()  # the cache lost its copy: fall back to the origin
    fallback = wis2mon("fetch", f)
    assert fallback.returncode == 0
    assert [l["url"] for l in json_lines(fallback.stdout)] == [f"{base}/origin.bin"] * 2


def test_fetch_inline_content_needs_no_network(wis2mon, tmp_path):
    data = b"BUFR" + bytes(200) + b"7777"
    msg = notification("de-dwd/data/core/weather/inline.bufr4", "http://127.0.0.1:1/never", data, inline=True)
    out = tmp_path / "cache"
    r = wis2mon("fetch", "--out", out, write_ndjson(tmp_path / "n.ndjson", [msg]))
    assert r.returncode == 0, r.stdout + r.stderr
    [line] = json_lines(r.stdout)
    assert line["status"] == "ok" and line["url"] is None and line["bytes"] == len(data)
    assert (out / "de-dwd/data/core/weather/inline.bufr4").read_bytes() == data


def test_fetch_hex_digest_only_when_lenient(wis2mon, www, tmp_path):
    root, base = www
    data = b"hex" * 100
    (root / "h.bin").write_bytes(data)
    f = write_ndjson(tmp_path / "n.ndjson",
                     [notification("x/h", f"{base}/h.bin", data, digest=hashlib.sha512(data).hexdigest())])
    assert json_lines(wis2mon("fetch", "--lenient", f).stdout)[0]["status"] == "ok"
    strict = wis2mon("fetch", "--strict", f)
    assert strict.returncode == 1
    assert json_lines(strict.stdout)[0]["status"] == "invalid_notification"


def test_fetch_usage_errors(wis2mon, tmp_path):
    assert wis2mon("fetch").returncode == 2
    assert wis2mon("fetch", "--prefer", "nearest", "x").returncode == 2
    assert wis2mon("fetch", tmp_path / "missing.ndjson").returncode == 2
