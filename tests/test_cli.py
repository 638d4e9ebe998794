"""The command line demo."""
import io

import numpy as np

from tinygrad_attn.cli import KEYS, QUERY_A, VALUES, main, worked_example


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
