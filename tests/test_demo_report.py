"""The demo's report (DIR/index.html): self-contained, every file it names beside it, and every
number it shows equal to an independent float64 NumPy computation of the worked example."""
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tinygrad_attn.cli import bank_run, main
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, TARGET, TEXT_SAYS, VALUES
from tinygrad_attn.viz import find_dot
from tinygrad_attn.viz.report import external_references

pytestmark = pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed")
STEPS = 40  # short training: the tests check that the page shows what the engine computed, not how well


class Page(HTMLParser):
    """Collects every element's attributes, the text of each `data-name` element, and any text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.named, self._open = [], {}, []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._open.append((tag, attrs.get("data-name"), attrs.get("class", ""), []))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, name, cls, text = self._open.pop()
            if name is not None:
                self.named[name] = ("".join(text).strip(), cls)
            if self._open:
                self._open[-1][3].extend(text)
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1][3].append(data)


def numbers(text):
    """'[0.9068, −1.0295]' -> [0.9068, -1.0295]."""
    return [float(x) for x in re.findall(r"[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?", text.replace("−", "-"))]


def reference(query, keys, values, target):
    """The worked example by hand, float64 NumPy: forward and every gradient of Σ (out - target)²."""
    q, K, V, t = (np.asarray(x, dtype=np.float64) for x in (query, keys, values, target))
    scores = K @ q
    weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    out = weights @ V
    d_out = 2 * (out - t)
    d_weights = V @ d_out
    d_scores = weights * (d_weights - weights @ d_weights)
    return {"scores": scores, "weights": weights, "output": out, "loss": np.array([((out - t) ** 2).sum()]),
            "dL/dweights": d_weights, "dL/dscores": d_scores, "dL/dq_A": K.T @ d_scores,
            **{f"dL/dk_{n}": d_scores[i] * q for i, n in enumerate("ABC"[:len(K)])},
            **{f"dL/dv_{n}": weights[i] * d_out for i, n in enumerate("ABC"[:len(K)])},
            "shortcut_weights": scores / scores.sum(), "output_with_shortcut": (scores / scores.sum()) @ V}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "report"
    assert main(["demo", "--out", str(folder), "--steps", str(STEPS)]) == 0
    text = (folder / "index.html").read_text(encoding="utf-8")
    return folder, text, Page(text)


def test_every_file_the_page_names_is_beside_it(report):
    folder, text, page = report
    named = external_references(text)
    assert named, "the page links its graph and stepper pages"
    for address in named:
        assert "://" not in address and not address.startswith("//"), address
        assert (folder / address).is_file(), f"index.html names {address}, which is not in {folder}"
    for name in ("graph.svg", "stepper.html"):
        assert (folder / name).is_file()


def test_nothing_is_loaded_from_the_network(report):
    _, text, page = report
    for tag, attrs in page.tags:
        for key, value in attrs.items():
            if value and re.match(r"\s*(https?:|//)", value):
                assert key.startswith("xmlns"), f"<{tag} {key}={value!r}> would load from the network"
        assert not (tag == "script" and attrs.get("src")), "scripts are inline"
        assert not (tag == "link" and "stylesheet" in (attrs.get("rel") or "")), "styles are inline"
    assert not re.search(r"url\(\s*['\"]?\s*(https?:|//)", text) and "@import" not in text


def test_the_check_for_network_loads_can_fail():
    page = ('<img src="https://example.org/x.png"><style>@import "//cdn.example/x.css"; '
            'div { background: url(http://example.org/y.png) }</style><a href="#top">top</a>')
    assert external_references(page) == ["https://example.org/x.png", "//cdn.example/x.css", "http://example.org/y.png"]


def test_the_worked_example_shows_the_engines_numbers(report):
    _, _, page = report
    expected = reference(QUERY_A, list(KEYS.values()), list(VALUES.values()), TARGET)
    for name, want in expected.items():
        assert name in page.named, f"the page shows no {name}"
        shown = numbers(page.named[name][0])
        np.testing.assert_allclose(shown, want, atol=5.1e-5, rtol=0, err_msg=name)
    for i, token in enumerate("ABC"):
        assert numbers(page.named[f"key_{token}"][0]) == list(KEYS[token])
        assert numbers(page.named[f"value_{token}"][0]) == list(VALUES[token])
    assert numbers(page.named["query"][0]) == list(QUERY_A)


def test_the_texts_numbers_are_quoted_and_corrected(report):
    _, text, page = report
    for stage in ("scores", "weights", "output"):
        assert TEXT_SAYS[stage][1].replace("'", "&#x27;") in text  # the sentence, quoted
    # The text's weights are its scores over their sum, and its output those weights applied to the
    # values: both right; only B's score (4; q·k_B is 2) is wrong.
    said_scores, said_weights, said_output = (np.array(TEXT_SAYS[k][0]) for k in ("scores", "weights", "output"))
    np.testing.assert_allclose(said_weights, said_scores / said_scores.sum())
    np.testing.assert_allclose(said_output, said_weights @ np.array(list(VALUES.values())), atol=1e-12)
    np.testing.assert_allclose(numbers(page.named["output_with_text_weights"][0]), said_output, atol=5e-5)
    row = re.search(r"<tr><td>scores q·k</td>(.*?)</tr>", text, re.S).group(1)
    assert 'class="num wrong">[1, 4, 5]' in row and "B: 4 ✗ is 2" in row
    assert "q·k_B = 1·3 + 2·(−1) + (−1)·(−1) = 2" in row


def test_the_training_figures_are_what_the_engine_computed(report):
    _, text, page = report
    steps = int(page.named["steps"][0])  # STEPS, unless a busy machine hit the demo's time limit
    again = bank_run(steps, progress=False)  # seeded: the same run as the demo's
    assert page.named["accuracy_before"][0] == f"{again.accuracy_before:.1%}"
    assert page.named["accuracy_after"][0] == f"{again.accuracy_after:.1%}"
    for k in range(len(again.banks)):
        assert page.named[f"predicted_after_{k}"][0].startswith(again.predicted_after[k])
    assert 'aria-label="training loss per step"' in text and f">{steps}</text>" in text
    # each bank's bars: the after-training labels are the lens's weights of that bank's row
    weights = again.lens_after.head(0, 0).weights[again.banks[0]]
    label = f"{weights.max():.2f}"
    assert f'fill="#2166ac">{label}</text>' in text


def test_the_report_sections_are_all_there(report):
    _, text, page = report
    ids = {attrs.get("id") for tag, attrs in page.tags if tag == "section"}
    assert ids == {"example", "graph", "stepper", "attention", "loss"}
    assert text.count('class="tas-stepper"') == 1 and 'data-standalone="1"' in text
    assert text.count("<svg") >= 1 + 1 + 4 + 4 + 1  # graph, stepper, bars, heatmaps, loss curve


def test_the_learners_numbers_make_their_own_report(tmp_path):
    folder = tmp_path / "own"
    query, keys, values, target = (1.0, 0.5), [(1.0, 1.0), (0.0, 2.0)], [(1.0,), (2.0,)], (0.0,)
    assert main(["demo", "--out", str(folder), "--steps", "0", "--query", "1,0.5", "--keys", "1,1;0,2",
                 "--values", "1;2", "--target", "0"]) == 0
    text = (folder / "index.html").read_text(encoding="utf-8")
    page = Page(text)
    assert "What the text says" not in text and "your numbers" in text
    assert {attrs.get("id") for tag, attrs in page.tags if tag == "section"} == {"example", "graph", "stepper"}
    expected = reference(query, keys, values, target)
    for name in ("scores", "weights", "output", "dL/dq_A", "dL/dk_B", "dL/dv_A", "shortcut_weights"):
        np.testing.assert_allclose(numbers(page.named[name][0]), expected[name], atol=5.1e-5, rtol=0, err_msg=name)
