"""The saved stepper page in a real browser: Debian's headless Chromium, opened from file://.

The page honours `#test-next=3`: once loaded it clicks Next three times itself and writes what it
saw (the highlighted boxes before and after, the frame, any script errors, sizes) into a
`<pre id="stepper-test-result">`, which `--dump-dom` prints. Chromium's console log (stderr)
is read too, so an error from any script on the page fails the test. Only the system browser
is used, never a downloaded one; without it the tests are skipped, saying so.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tinygrad_attn import Value
from tinygrad_attn.scalar import dot, softmax, sum_values, weighted_sum
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, TARGET, VALUES
from tinygrad_attn.viz import BackwardStepper, find_dot
from tinygrad_attn.viz.stepper_page import frame_events

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no system Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed"),
]


def worked_example_loss() -> Value:
    query = [Value(x, name=f"q_A[{i}]") for i, x in enumerate(QUERY_A)]
    keys = {t: [Value(x, name=f"k_{t}[{i}]") for i, x in enumerate(KEYS[t])] for t in KEYS}
    values = {t: [Value(x, name=f"v_{t}[{i}]") for i, x in enumerate(VALUES[t])] for t in KEYS}
    output = weighted_sum(softmax([dot(query, keys[t]) for t in KEYS]), [values[t] for t in KEYS])
    loss = sum_values([(o - t) ** 2 for o, t in zip(output, TARGET)])
    loss.name = "loss"
    return loss


def open_in_chromium(page: Path, fragment: str, profile: Path) -> tuple[dict | None, list[str]]:
    """Load `page` headless; return the page's self-test result and the console's messages."""
    command = [
        CHROMIUM if shutil.which(CHROMIUM) else "chromium", "--headless", "--disable-gpu", "--no-sandbox",
        f"--user-data-dir={profile}", "--no-first-run", "--window-size=1200,900", "--enable-logging=stderr",
        "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri() + fragment,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    found = re.search(r'<pre id="stepper-test-result">(.*?)</pre>', done.stdout, re.S)
    return (json.loads(html.unescape(found.group(1))) if found else None), console


def test_clicking_next_three_times_moves_the_highlight_without_errors(tmp_path):
    stepper = BackwardStepper(worked_example_loss())
    page = tmp_path / "steps.html"
    stepper.save(page)
    result, console = open_in_chromium(page, "#test-next=3", tmp_path / "profile")
    assert result is not None, f"the page wrote no result; console: {console}"
    frames = frame_events(stepper)["frames"]
    assert result["before"] == " ".join(frames[0]["cur"])
    assert result["after"] == " ".join(frames[3]["cur"]) != result["before"]
    assert result["frame"] == 3 and result["text"].startswith("step 4/70")
    assert result["errors"] == [] and console == []
    # The graph fits the width: no sideways scrolling of the page.
    assert result["svgWidth"] <= result["boxWidth"] + 1
    assert result["scrollWidth"] <= result["pageWidth"]


def test_a_script_error_on_the_page_would_be_seen(tmp_path):
    """The check above can fail: the same page with a broken script is caught."""
    stepper = BackwardStepper(worked_example_loss())
    page = tmp_path / "broken.html"
    stepper.save(page)
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>window.addEventListener('load', function () { notAFunction(); });</script></body>"),
        encoding="utf-8")
    result, console = open_in_chromium(page, "#test-next=1", tmp_path / "profile")
    assert result is not None and result["frame"] == 1
    assert any("notAFunction" in line for line in console) or any("notAFunction" in e for e in result["errors"])


def test_a_collapsed_stepper_page_steps_group_by_group(tmp_path):
    np = pytest.importorskip("numpy")
    from tinygrad_attn import Tensor, nn
    from tinygrad_attn import functional as F

    model = nn.GPT(vocab_size=7, block_size=6, d_model=8, n_heads=2, n_layers=2, d_ff=16, rng=0)
    ids = np.array([[1, 2, 3, 4]])
    loss = F.cross_entropy(model(ids).reshape(-1, 7), Tensor(np.array([2, 3, 4, 5])))
    stepper = BackwardStepper(loss, collapse=2)
    page = tmp_path / "gpt.html"
    stepper.save(page)
    result, console = open_in_chromium(page, "#test-next=3", tmp_path / "profile")
    frames = frame_events(stepper)["frames"]
    assert result is not None and result["after"] == " ".join(frames[3]["cur"])
    assert result["errors"] == [] and console == []
