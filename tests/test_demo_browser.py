"""The demo's report in a real browser: Debian's headless Chromium opens DIR/index.html from
file:// with every host name unresolvable, takes a screenshot, and clicks the stepper.

The stepper inside the report honours `#test-next=3` (as its own page does, see
test_stepper_browser.py): it clicks Next three times and writes what it saw into the page,
which `--dump-dom` prints. Chromium's console (stderr) must stay silent, and its network log
must hold no request made by the page (the browser's own background requests, which come from
no page, are told apart by their origin). Only the system browser is used; without it the
tests are skipped, saying so.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tinygrad_attn.cli import main
from tinygrad_attn.viz import find_dot

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no system Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed"),
]


def chromium(page: Path, tmp: Path, *, fragment: str = "", screenshot: Path | None = None) -> dict:
    """Open `page` headless, offline; return the DOM, the console lines and the page's own requests."""
    netlog = tmp / "net.json"
    command = [
        CHROMIUM if shutil.which(CHROMIUM) else "chromium", "--headless", "--disable-gpu", "--no-sandbox",
        f"--user-data-dir={tmp / 'profile'}", "--no-first-run", "--disable-background-networking",
        "--disable-extensions", "--hide-scrollbars", "--window-size=1300,3000", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", "--host-resolver-rules=MAP * ~NOTFOUND", f"--log-net-log={netlog}",
        f"--screenshot={screenshot}" if screenshot else "--dump-dom", page.resolve().as_uri() + fragment,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    return {"dom": done.stdout, "console": [line for line in done.stderr.splitlines() if ":CONSOLE" in line],
            "requests": page_requests(netlog)}


def page_requests(netlog: Path) -> list[str]:
    """Every URL a file:// page asked the network for (the browser's own requests have other origins)."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    return [event["params"]["url"] for event in log["events"]
            if names.get(event["type"]) == "URL_REQUEST_START_JOB"
            and str(event["params"].get("network_isolation_key", "")).startswith("file://")]


def stepper_result(dom: str) -> dict | None:
    found = re.search(r'<pre id="stepper-test-result">(.*?)</pre>', dom, re.S)
    return json.loads(html.unescape(found.group(1))) if found else None


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser") / "report"
    assert main(["demo", "--out", str(folder), "--steps", "20"]) == 0
    return folder / "index.html"


def test_the_report_loads_offline_and_its_stepper_clicks_without_errors(report, tmp_path):
    seen = chromium(report, tmp_path, fragment="#test-next=3")
    result = stepper_result(seen["dom"])
    assert result is not None, f"the stepper wrote no result; console: {seen['console']}"
    assert result["frame"] == 3 and result["text"].startswith("step 4/70")
    assert result["after"] != result["before"]
    assert result["errors"] == [] and seen["console"] == []
    assert seen["requests"] == []
    assert result["scrollWidth"] <= result["pageWidth"]  # nothing pushes the page sideways
    assert all(f'id="{section}"' in seen["dom"] for section in ("example", "graph", "stepper", "attention", "loss"))


def test_a_screenshot_of_the_report_shows_a_page(report, tmp_path):
    shot = tmp_path / "report.png"
    seen = chromium(report, tmp_path, screenshot=shot)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1300, 3000)
    assert len(data) > 100_000, "a blank page compresses to a few kB; this page holds tables, a graph and text"
    assert seen["console"] == [] and seen["requests"] == []


def test_the_browser_checks_would_see_a_network_load_and_a_script_error(report, tmp_path):
    """The checks above can fail: the same page with a remote image and a broken script is caught."""
    broken = report.parent / "broken.html"
    broken.write_text(report.read_text(encoding="utf-8").replace(
        "</main>", '<img src="http://example.com/logo.png"></main>'
                   "<script>window.addEventListener('load', function () { notAFunction(); });</script>"),
        encoding="utf-8")
    seen = chromium(broken, tmp_path, fragment="#test-next=1")
    assert seen["requests"] == ["http://example.com/logo.png"]
    result = stepper_result(seen["dom"])
    assert any("notAFunction" in line for line in seen["console"]) or any(
        "notAFunction" in e for e in (result or {}).get("errors", []))
