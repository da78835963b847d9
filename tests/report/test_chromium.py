"""Open the built index.html from disk in headless Chromium: it renders, every image loads,
the console stays silent, and nothing is fetched from the network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]

# Test-only: appended to a copy of the page to count images that failed to decode.
PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.from(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var d = document.createElement("pre"); d.id = "probe";
  d.textContent = "IMAGES=" + imgs.length + " BROKEN=" + bad.length;
  document.body.appendChild(d);
});
</script>
"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90,
                          env={**os.environ, "HOME": str(tmp)})


@pytest.fixture
def page(built_report: Path) -> Path:
    return built_report / "index.html"


def test_opens_from_disk_with_all_images_and_a_silent_console(page: Path, tmp_path):
    shot = tmp_path / "index.png"
    res = _chromium(tmp_path, "--window-size=1200,2600", f"--screenshot={shot}",
                    "--virtual-time-budget=5000", page.resolve().as_uri())
    assert shot.is_file() and shot.stat().st_size > 20_000, res.stderr[-2000:]
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console
    failed = [ln for ln in res.stderr.splitlines()
              if re.search(r"net::ERR_|Failed to load resource", ln)]
    assert not failed, failed

    probe = tmp_path / "probe.html"
    shutil.copy(page, probe)
    with open(probe, "a", encoding="utf-8") as fh:
        fh.write(PROBE)
    (tmp_path / "figures").symlink_to(page.parent / "figures")
    res = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    m = re.search(r"IMAGES=(\d+) BROKEN=(\d+)", res.stdout)
    assert m, res.stderr[-2000:]
    n_svg = len(list((page.parent / "figures").glob("*.svg")))
    assert (int(m.group(1)), int(m.group(2))) == (n_svg, 0)
