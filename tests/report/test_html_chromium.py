"""The HTML report rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fiubench.report.build import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)"
)


def _chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120,
        )


def test_report_renders_with_tables_and_plots(db: Path, tmp_path: Path) -> None:
    index = write_report(db, tmp_path / "report", methods=["ga", "kl"])
    url = index.resolve().as_uri()

    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # The browser parsed the tables and the inlined plots into its DOM.
    assert '<table class="results" id="main_forget5">' in html
    assert '<table class="results" id="learning">' in html
    assert '<th scope="row">GA</th>' in html
    assert html.count('<img class="plot"') == 2
    assert 'src="data:image/png;base64,' in html

    shot = tmp_path / "report.png"
    res = _chromium(f"--screenshot={shot}", "--window-size=1400,3000", url)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A page with tables and two plots compresses far worse than a blank one (~10 kB).
    assert shot.stat().st_size > 50_000
    keep = Path(tempfile.gettempdir()) / "fiubench_report_screenshot.png"
    shutil.copyfile(shot, keep)  # for a human to look at
