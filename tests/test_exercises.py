"""The exercises: every reference solution passes its own check; every starter, every answer
with nothing written, and every known wrong answer fails, with a message that names the math
and the place. The references are checked here against finite differences of their forwards
(no engine, no torch), so a check can never pass by agreeing with a wrong reference."""
import linecache
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from exercise_mistakes import MISTAKES
from tinygrad_attn.exercises import EXERCISES, check
from tinygrad_attn.ops import patched
from tinygrad_attn.teach.exercises.base import place

ROOT = Path(__file__).resolve().parent.parent


def _defined(source, name):
    """The student's function, compiled as a notebook cell is (its lines readable in tracebacks)."""
    filename = f"<student {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = {"np": np}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - a student's answer
    return namespace[EXERCISES[name].function]


def test_there_are_at_least_ten_exercises_covering_the_brief():
    assert len(EXERCISES) >= 10
    for name in ["softmax", "softmax_backward", "attention", "attention_backward", "causal_softmax", "split_heads",
                 "merge_heads", "grad_w_q", "layer_norm_backward", "cross_entropy", "tanh_backward",
                 "masked_softmax", "linear_backward"]:
        assert name in EXERCISES
    for exercise in EXERCISES.values():
        assert exercise.statement and exercise.title and len(exercise.cases()) >= 2


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_reference_solution_passes_its_check(name):
    result = check(name, EXERCISES[name].reference)
    assert result.passed, result.message
    assert f"passes all {len(EXERCISES[name].cases())} cases" in result.message


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_reference_solution_source_alone_passes(name):
    """What the notebook's solution cell holds (the reference's own source, with only NumPy
    around it) passes: the solution needs nothing from the package."""
    source = EXERCISES[name].solution()
    assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source
    assert check(name, _defined(source, name)).passed


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_starter_fails_saying_it_is_not_written_and_where(name):
    starter = EXERCISES[name].starter()
    assert "raise NotImplementedError()" in starter
    result = check(name, _defined(starter, name))
    assert not result.passed
    assert "is not written yet: it still raises NotImplementedError" in result.message
    line = starter.splitlines().index("    raise NotImplementedError()") + 1
    assert f"line {line}: `raise NotImplementedError()`" in result.message


NOTHING_WRITTEN = {
    "returns zeros": "def {f}(*args, **kwargs):\n    return np.zeros_like(np.asarray(args[0], dtype=float))",
    "returns its first input": "def {f}(*args, **kwargs):\n    return args[0]",
    "returns None": "def {f}(*args, **kwargs):\n    pass",
    "returns three zeros": "def {f}(*args, **kwargs):\n    return tuple(np.zeros_like(np.asarray(a, dtype=float)) "
                           "for a in args[:3])",
}


@pytest.mark.parametrize("name", list(EXERCISES))
@pytest.mark.parametrize("kind", list(NOTHING_WRITTEN))
def test_an_answer_with_nothing_written_fails(name, kind):
    source = NOTHING_WRITTEN[kind].format(f=EXERCISES[name].function)
    result = check(name, _defined(source, name))
    assert not result.passed and result.message.startswith("Not yet: on case 1 of"), result.message


@pytest.mark.parametrize("name, label, source, phrases", MISTAKES, ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_a_known_mistake_fails_with_the_math_and_the_place(name, label, source, phrases):
    with np.errstate(all="ignore"):
        result = check(name, _defined(source, name))
    assert not result.passed
    for phrase in phrases:
        assert phrase in result.message, f"{phrase!r} not in: {result.message}"


def _first_wrong_place(exercise, fn):
    """Worked out here, apart from the checker: the first case whose output differs, and the
    first wrong index in it, named with the checker's axis names."""
    for number, case in enumerate(exercise.cases(), 1):
        with np.errstate(all="ignore"):
            got = np.asarray(fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in case.args]), dtype=float)
        expected = np.asarray(exercise.reference(*case.args), dtype=float)
        if got.shape != expected.shape:
            return number, None
        wrong = ~np.isclose(got, expected, atol=1e-6, rtol=1e-5)
        if wrong.any():
            return number, tuple(int(i) for i in np.argwhere(wrong)[0])
    return None, None


SINGLE_ARRAY = [m for m in MISTAKES if m[0] in ("softmax", "softmax_backward", "attention", "causal_softmax",
                                                "masked_softmax", "split_heads", "merge_heads", "grad_w_q")
                and "Jacobian" not in m[1] and "keepdims" not in m[1] and "returns nothing" not in m[1]
                and "changes" not in m[1]]


@pytest.mark.parametrize("name, label, source, phrases", SINGLE_ARRAY, ids=[f"{m[0]}-{m[1]}" for m in SINGLE_ARRAY])
def test_the_place_named_is_the_first_wrong_number(name, label, source, phrases):
    exercise, fn = EXERCISES[name], _defined(source, name)
    number, index = _first_wrong_place(exercise, fn)
    with np.errstate(all="ignore"):
        result = check(name, fn)
    assert f"on case {number} of" in result.message
    if index is not None:
        ndim = len(index)
        axes = {2: ("row", "column"), 3: ("batch", "row", "column")}.get(ndim)
        if name in ("attention", "causal_softmax", "masked_softmax"):
            last = "feature" if name == "attention" else "key token"
            axes = ("batch", "query token", last)[-ndim:] if ndim <= 3 else ("batch", "head", "query token", last)
        elif name == "split_heads":
            axes = ("batch", "head", "token", "feature")
        elif name == "merge_heads":
            axes = ("batch", "token", "feature")
        elif name == "grad_w_q":
            axes = ("row (input feature)", "column (query feature)")
        assert f" at {place(index, axes)}" in result.message, result.message


def test_the_issues_example_message_for_a_forgotten_row_sum():
    result = check("softmax_backward", lambda y, upstream_grad: y * upstream_grad)
    assert "your gradient for the scores (dL/dscores) is wrong at row 0, column 0: expected" in result.message
    assert "Did you forget to subtract the row sum Σₖ yₖ gₖ?" in result.message


def test_the_check_calls_the_students_function_on_every_case():
    calls = []

    def softmax(x):
        calls.append(x.shape)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    assert check("softmax", softmax).passed
    assert len(calls) == len(EXERCISES["softmax"].cases())


def test_no_check_leans_on_the_engine_it_is_teaching():
    """With the engine's own softmax and attention broken, the references still pass their checks
    (they are plain NumPy) and a wrong answer still fails: no check computes its expected
    numbers with the library on the student's behalf."""
    def broken(*args, **kwargs):
        raise AssertionError("a check used the engine's op")

    with patched("softmax", forward=broken), patched("scaled_dot_product_attention", forward=broken), \
            patched("log_softmax", forward=broken), patched("cross_entropy", forward=broken), \
            patched("layer_norm", forward=broken):
        for name in EXERCISES:
            if name != "tanh_backward":  # that one runs the student's rule inside the engine, on purpose
                assert check(name, EXERCISES[name].reference).passed, name
        assert not check("softmax", lambda x: x).passed


def test_a_non_function_is_refused_kindly():
    result = check("softmax", "def softmax(x): ...")
    assert not result.passed and "check needs your function itself" in result.message


def test_an_unknown_exercise_is_named_with_the_list():
    with pytest.raises(KeyError, match="no exercise called 'sofmax'; the exercises are: softmax, softmax_backward"):
        check("sofmax", lambda x: x)


# ---- the references against finite differences of their forwards ----
def _numeric_gradient(f, x, upstream, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        moved = x.copy()
        moved[index] += eps
        plus = np.sum(f(moved) * upstream)
        moved[index] -= 2 * eps
        minus = np.sum(f(moved) * upstream)
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def test_softmax_backward_reference_matches_finite_differences():
    ref = EXERCISES["softmax_backward"].reference
    softmax = EXERCISES["softmax"].reference
    s, g = np.random.default_rng(0).standard_normal((2, 3, 4)), np.random.default_rng(1).standard_normal((2, 3, 4))
    np.testing.assert_allclose(ref(softmax(s), g), _numeric_gradient(softmax, s, g), atol=1e-8)


def test_attention_backward_reference_matches_finite_differences():
    attention, backward = EXERCISES["attention"].reference, EXERCISES["attention_backward"].reference
    rng = np.random.default_rng(2)
    q, k, v, g = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3)), \
        rng.standard_normal((2, 3, 3))
    dq, dk, dv = backward(q, k, v, g)
    np.testing.assert_allclose(dq, _numeric_gradient(lambda x: attention(x, k, v), q, g), atol=1e-8)
    np.testing.assert_allclose(dk, _numeric_gradient(lambda x: attention(q, x, v), k, g), atol=1e-8)
    np.testing.assert_allclose(dv, _numeric_gradient(lambda x: attention(q, k, x), v, g), atol=1e-8)


def test_grad_w_q_reference_matches_finite_differences():
    attention = EXERCISES["attention"].reference
    rng = np.random.default_rng(3)
    x, w_q, w_k, w_v, g = (rng.standard_normal(s) for s in [(3, 4), (4, 2), (4, 2), (4, 2), (3, 2)])
    numeric = _numeric_gradient(lambda w: attention(x @ w, x @ w_k, x @ w_v), w_q, g)
    np.testing.assert_allclose(EXERCISES["grad_w_q"].reference(x, w_q, w_k, w_v, g), numeric, atol=1e-8)


def test_layer_norm_backward_reference_matches_finite_differences():
    rng = np.random.default_rng(4)
    x, gamma, beta, g = rng.standard_normal((2, 3, 5)), rng.standard_normal(5), rng.standard_normal(5), \
        rng.standard_normal((2, 3, 5))

    def layer_norm(x, gamma, beta):
        mean = x.mean(-1, keepdims=True)
        return gamma * (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-5) + beta

    dx, dgamma, dbeta = EXERCISES["layer_norm_backward"].reference(x, gamma, g)
    np.testing.assert_allclose(dx, _numeric_gradient(lambda a: layer_norm(a, gamma, beta), x, g), atol=1e-7)
    np.testing.assert_allclose(dgamma, _numeric_gradient(lambda a: layer_norm(x, a, beta), gamma, g), atol=1e-7)
    np.testing.assert_allclose(dbeta, _numeric_gradient(lambda a: layer_norm(x, gamma, a), beta, g), atol=1e-7)


def test_linear_backward_reference_matches_finite_differences():
    rng = np.random.default_rng(5)
    x, w, b, g = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5), \
        rng.standard_normal((2, 3, 5))
    dx, dw, db = EXERCISES["linear_backward"].reference(x, w, b, g)
    np.testing.assert_allclose(dx, _numeric_gradient(lambda a: a @ w.T + b, x, g), atol=1e-8)
    np.testing.assert_allclose(dw, _numeric_gradient(lambda a: x @ a.T + b, w, g), atol=1e-8)
    np.testing.assert_allclose(db, _numeric_gradient(lambda a: x @ w.T + a, b, g), atol=1e-8)


def test_the_forward_references_match_their_definitions_on_small_numbers():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 1])
    probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(EXERCISES["softmax"].reference(z), probs)
    assert EXERCISES["cross_entropy"].reference(z, t) == pytest.approx(-np.mean(np.log(probs[np.arange(4), t])))
    x = rng.standard_normal((2, 3, 6))
    heads = EXERCISES["split_heads"].reference(x, 3)
    np.testing.assert_array_equal(heads[1, 2, 0], x[1, 0, 4:6])  # head 2 of token 0 is features 4, 5
    np.testing.assert_array_equal(EXERCISES["merge_heads"].reference(heads), x)
    scores = rng.standard_normal((3, 3))
    w = EXERCISES["causal_softmax"].reference(scores)
    assert np.all(w[np.triu_indices(3, 1)] == 0) and np.allclose(w.sum(-1), 1)
    kept = np.exp(scores) * np.tril(np.ones((3, 3)))  # below the diagonal too: the softmax over allowed keys
    np.testing.assert_allclose(w, kept / kept.sum(-1, keepdims=True))
    q, k, v = (rng.standard_normal(shape) for shape in [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
    e = np.exp(q @ np.swapaxes(k, -1, -2) / 2.0)  # √d = 2: the attention exercise's forward, written out
    np.testing.assert_allclose(EXERCISES["attention"].reference(q, k, v), (e / e.sum(-1, keepdims=True)) @ v)
    masked = EXERCISES["masked_softmax"].reference(np.zeros((2, 3)), np.array([[True, False, True], [False] * 3]))
    np.testing.assert_array_equal(masked, [[0.5, 0.0, 0.5], [0.0, 0.0, 0.0]])


# ---- from a terminal ----
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tinygrad_attn.exercises", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_cli_lists_every_exercise_and_bug():
    listed = _cli("list")
    assert listed.returncode == 0
    for name, exercise in EXERCISES.items():
        assert f"  {name}" in listed.stdout and exercise.title in listed.stdout
    assert "bias_not_summed" in listed.stdout


def test_cli_checks_a_students_file(tmp_path):
    starter = tmp_path / "softmax_backward.py"
    assert _cli("starter", "softmax_backward", str(starter)).returncode == 0
    failed = _cli("check", "softmax_backward", str(starter))
    assert failed.returncode == 1 and "it still raises NotImplementedError (in softmax_backward, line" in failed.stdout
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def softmax_backward(y, upstream_grad):\n    return y * upstream_grad\n")
    failed = _cli("check", "softmax_backward", str(wrong))
    assert failed.returncode == 1 and "forget to subtract the row sum" in failed.stdout
    right = tmp_path / "right.py"
    right.write_text("import numpy as np\n\ndef softmax_backward(y, upstream_grad):\n"
                     "    return y * (upstream_grad - (y * upstream_grad).sum(-1, keepdims=True))\n")
    passed = _cli("check", "softmax_backward", str(right))
    assert passed.returncode == 0 and "passes all 5 cases" in passed.stdout


def test_cli_refuses_unknown_names_and_missing_files(tmp_path):
    unknown = _cli("check", "nope", str(tmp_path / "x.py"))
    assert unknown.returncode == 2 and "no exercise or bug called 'nope'" in unknown.stderr
    missing = _cli("check", "softmax", str(tmp_path / "x.py"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    other = tmp_path / "other.py"
    other.write_text("def soft_max(x):\n    return x\n")
    assert "defines no function called 'softmax'" in _cli("check", "softmax", str(other)).stderr


def test_the_readme_quotes_a_real_check_message():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exercises and the bug zoo", 1)[1].split("\n## ", 1)[0]
    quoted = " ".join(section.split("```\nNot yet:", 1)[1].split("```", 1)[0].split())
    message = check("softmax_backward", lambda y, upstream_grad: y * upstream_grad).message
    assert "Not yet: " + quoted == " ".join(message.split())


# ---- the scale 1/√d divided by d, a constant factor named, an answer right only to float32 ----
def _attention_backward_dividing_by_d(q, k, v, upstream_grad):
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    dw = upstream_grad @ np.swapaxes(v, -1, -2)
    ds = w * (dw - (dw * w).sum(-1, keepdims=True))
    return ds @ k / d, np.swapaxes(ds, -1, -2) @ q / d, np.swapaxes(w, -1, -2) @ upstream_grad


def test_dividing_by_d_instead_of_its_root_is_named_in_attention_backward():
    result = check("attention_backward", _attention_backward_dividing_by_d)
    assert not result.passed
    assert "your dL/dq is wrong at query token 0, feature 0" in result.message
    assert "You divided by d = 3; the forward scaled the scores by 1/√d = 1/1.732" in result.message


def test_dividing_by_d_instead_of_its_root_is_named_in_grad_w_q():
    def grad_w_q(x, w_q, w_k, w_v, upstream_grad):
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        _, _, _ = q, k, v
        dq, _, _ = _attention_backward_dividing_by_d(q, k, v, upstream_grad)
        return x.T @ dq

    result = check("grad_w_q", grad_w_q)
    assert not result.passed and "You divided by d = 2; the scores were scaled by 1/√d = 1/1.414" in result.message


def test_a_constant_factor_is_named_when_no_known_mistake_matches():
    def softmax_backward(y, upstream_grad):
        return 3 * y * (upstream_grad - (y * upstream_grad).sum(-1, keepdims=True))

    result = check("softmax_backward", softmax_backward)
    assert "Every number is 3 times the right one, which is 3: a constant factor" in result.message
    result = check("attention", lambda q, k, v: EXERCISES["attention"].reference(q, k, v) / np.sqrt(5))
    assert "times the right one, which is 1/√5" in result.message


def test_an_answer_right_only_to_float32_is_told_to_keep_float64():
    def layer_norm_backward(x, gamma, upstream_grad, eps=1e-5):
        x, gamma, upstream_grad = (a.astype(np.float32) for a in (x, gamma, upstream_grad))
        return EXERCISES["layer_norm_backward"].reference(x, gamma, upstream_grad, eps)

    result = check("layer_norm_backward", layer_norm_backward)
    assert not result.passed and "rows far from 0 (mean 1000)" in result.message
    assert "Your answer is float32 and agrees with the right one to float32 precision" in result.message
    assert "keep your arrays float64" in result.message
    # a float32 answer that is wrong by more than rounding gets the math, not the precision note
    result = check("softmax", lambda x: np.exp(x).astype(np.float32))
    assert not result.passed and "float32 precision" not in result.message
