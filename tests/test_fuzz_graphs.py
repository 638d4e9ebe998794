"""Random expression graphs over the op registry, built the same way in the engine and in
PyTorch: every node's value and every input's gradient must agree with PyTorch float64, the
kernel path with the reference path, smooth graphs with finite differences, and float32 graphs
with large inputs with float64 within float32's rounding.

The programs are plain data (`fuzz_programs.py`): random shapes with broadcasting, op sequences
that reuse nodes and give them several consumers, masks, `is_causal`, `return_weights`, every
registry usage. Hypothesis draws them and shrinks a failure; CI runs a bounded number with
`derandomize=True`; `scripts/fuzz_graphs.py` runs the same programs for as long as asked.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import fuzz_programs as fp
import tinygrad_attn as ta

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

_settings = hypothesis.settings(deadline=None, derandomize=True, database=None)
_weights = [3 if name in ("attention", "usage") else 1 for name in fp.STEP_NAMES]  # the script's mix
_names = [name for name, weight in zip(fp.STEP_NAMES, _weights) for _ in range(weight)]
_step = st.tuples(st.sampled_from(_names), st.integers(0, 999), st.integers(0, 999), st.integers(0, 999),
                  st.integers(0, 999))


def _programs(family: str, max_steps: int, scales=(1.0,)):
    return st.builds(
        lambda shapes, steps, seed, scale, retain: fp.make_program(family, shapes, steps, seed, scale, retain),
        st.lists(st.sampled_from(fp.SHAPES), min_size=1, max_size=3),
        st.lists(_step, min_size=1, max_size=max_steps),
        st.integers(0, 2**31 - 1),
        st.sampled_from(scales),
        st.one_of(st.just(0), st.integers(1, 999)),
    )


def _assert_agrees(program: dict) -> None:
    found = fp.check(program)
    assert not found, "\n".join(str(m) for m in found) + f"\nreplay: {fp.replay_command(program)}"


@hypothesis.settings(_settings, max_examples=250)
@hypothesis.given(program=_programs("graph", 8))
def test_random_graphs_match_torch_and_the_reference_ops(program):
    _assert_agrees(program)


@hypothesis.settings(_settings, max_examples=120)
@hypothesis.given(program=_programs("fd", 4))
def test_random_smooth_graphs_match_finite_differences(program):
    _assert_agrees(program)


@hypothesis.settings(_settings, max_examples=150)
@hypothesis.given(program=_programs("large32", 8, scales=(30.0, 300.0, 1e4)))
def test_random_float32_graphs_with_large_inputs_stay_close_to_float64(program):
    _assert_agrees(program)


def test_the_graph_check_catches_a_wrong_backward():
    # A check that cannot fail proves nothing: a softmax backward without the row sum must be caught.
    program = fp.make_program("graph", [(2, 3)], [("softmax", 0, 1, 0, 0)], seed=3)
    assert fp.check(program) == []

    def forgets_the_row_sum(ctx, upstream_grad):
        return (ctx.data * upstream_grad,)

    with ta.ops.patched("softmax", backward=forgets_the_row_sum):
        found = fp.check(program)
    assert found, "the fuzz check missed a planted softmax bug"


def test_the_script_shrinks_a_failure_to_a_replayable_program():
    program = fp.make_program("graph", [(2, 3), (3,)], [("softmax", 0, 1, 0, 0), ("binary", 0, 1, 2, 5),
                                                       ("unary", 1, 0, 0, 7)], seed=3)

    def forgets_the_row_sum(ctx, upstream_grad):
        return (ctx.data * upstream_grad,)

    with ta.ops.patched("softmax", backward=forgets_the_row_sum):
        small = fp.shrink(program, lambda p: bool(fp.check(p)))
        assert fp.check(small)
    assert len(small["steps"]) <= len(program["steps"]) and any(s[0] == "softmax" for s in small["steps"])
    assert "--replay" in fp.replay_command(small)


def test_every_tensor_op_of_the_registry_can_be_drawn():
    drawn = {entry.name for entry in fp.USAGES}
    every = {op.name for op in ta.ops.all_ops("tensor")}
    assert every - drawn == set(), f"ops the fuzzer never draws: {sorted(every - drawn)}"


def test_a_program_round_trips_through_json_and_replays_the_same():
    program = fp.draw(np.random.default_rng(5), "graph")
    again = json.loads(json.dumps(program))
    assert again == program
    first, second = fp.run(program, fp.Ours()), fp.run(again, fp.Ours())
    assert [label for label, _ in first.nodes] == [label for label, _ in second.nodes]
    for (_, a), (_, b) in zip(first.nodes, second.nodes):
        np.testing.assert_array_equal(a.data, b.data)
