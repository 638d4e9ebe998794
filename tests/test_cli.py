"""The command line demo."""
import io

import numpy as np

from tinygrad_attn.cli import main
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, VALUES, worked_example


def test_demo_prints_scores_weights_output_and_gradients(capsys):
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out
    for heading in ("1. scores", "2. weights", "3. output", "4. backward", "dL/dq_A"):
        assert heading in printed


def test_demo_numbers_come_from_the_engine_and_match_numpy():
    result = worked_example(out=io.StringIO())
    keys = np.array(list(KEYS.values()))
    values = np.array(list(VALUES.values()))
    scores = keys @ np.array(QUERY_A)
    weights = np.exp(scores) / np.exp(scores).sum()
    assert [s.data for s in result["scores"]] == list(scores)
    np.testing.assert_allclose([o.data for o in result["output"]], weights @ values, rtol=1e-13)


def test_demo_draws_the_graph_it_computed(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    target = tmp_path / "example.svg"
    assert main(["demo", "--graph", str(target)]) == 0
    svg = ET.fromstring(target.read_bytes())
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for label in ("q_A[0]", "score_B", "weight_C", "loss"):
        assert label in texts
    assert str(target) in capsys.readouterr().out


def test_demo_refuses_an_unknown_graph_format_before_computing(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["demo", "--graph", "example.txt"])
    captured = capsys.readouterr()
    assert ".svg, .png or .pdf" in captured.err and "1. scores" not in captured.out
