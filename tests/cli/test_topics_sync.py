"""wis2mon topics sync against a real HTTP server on loopback serving a bundle the test builds."""
import zipfile

import pytest

from conftest import json_lines

SYNOP = "origin/a/wis2/{}/data/core/weather/surface-based-observations/synop"


@pytest.fixture
def server(serve):
    root, base = serve()
    with zipfile.ZipFile(root / "wth-bundle.zip", "w") as z:
        z.writestr("wth-bundle/centre-id.csv", "Name,Description\nde-dwd,DWD\nfr-meteo-france,Meteo-France\n")
        z.writestr("wth-bundle/earth-system-discipline.csv",
                   "Name\nweather\nweather/surface-based-observations\nweather/surface-based-observations/synop\n")
    (root / "not-a-zip.zip").write_text("<html>oops</html>")
    return base


def test_sync_downloads_checks_and_installs(wis2mon, server, tmp_path):
    out = tmp_path / "cache" / "wth-bundle.zip"
    r = wis2mon("topics", "sync", "--url", f"{server}/wth-bundle.zip", "--out", out)
    assert r.returncode == 0, r.stderr
    assert out.exists()
    assert "2 centres" in r.stdout
    # The synced bundle is what topic validate uses by default.
    env = {"WIS2MON_TOPIC_HIERARCHY": str(out)}
    known = wis2mon("topic", "validate", "--strict", SYNOP.format("de-dwd"), env=env)
    assert known.returncode == 0
    unknown = wis2mon("topic", "validate", "--strict", SYNOP.format("jp-jma"), env=env)
    assert unknown.returncode == 1
    assert json_lines(unknown.stdout)[0]["errors"][0]["rule"] == "topic.centre_id_unknown"


def test_failed_sync_never_replaces_a_good_copy(wis2mon, server, tmp_path):
    out = tmp_path / "wth-bundle.zip"
    assert wis2mon("topics", "sync", "--url", f"{server}/wth-bundle.zip", "--out", out).returncode == 0
    good = out.read_bytes()
    missing = wis2mon("topics", "sync", "--url", f"{server}/missing.zip", "--out", out)
    assert missing.returncode == 2
    assert "download failed" in missing.stderr
    corrupt = wis2mon("topics", "sync", "--url", f"{server}/not-a-zip.zip", "--out", out)
    assert corrupt.returncode == 2
    assert "not a usable bundle" in corrupt.stderr
    assert out.read_bytes() == good
    assert not (tmp_path / "wth-bundle.zip.part").exists()


def test_sync_refuses_other_schemes(wis2mon, tmp_path):
    r = wis2mon("topics", "sync", "--url", "file:///etc/passwd", "--out", tmp_path / "x.zip")
    assert r.returncode == 2
    assert not (tmp_path / "x.zip").exists()
