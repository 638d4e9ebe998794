"""The bad-input catalogue, part 2: calls on state (backward, hooks, in-place writes of saved data,
optimizers) and the command line. Each failing entry with `state` also proves that nothing
changed; entries and the runner are those of test_bad_inputs.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, Value, optim
from tinygrad_attn.cli import main
from test_bad_inputs import bad, ok, params, run_entry


def leaf(*values):
    return Tensor(np.array(values, dtype=np.float32), requires_grad=True, name="w")


def twice(loss):
    loss.backward()
    loss.backward()


def graph_then(change, use_output=False):
    """w -> w*w (or exp) -> sum; `change` runs under no_grad before backward (PyTorch: RuntimeError)."""
    w = leaf(1.0, 2.0)
    mid = w.exp() if use_output else w * w
    loss = mid.sum()
    with ta.no_grad():
        change(w, mid)
    loss.backward()
    return w


def sgd_by_hand(w):
    original = w
    with ta.no_grad():
        w -= 0.5
    return original, w


def with_hook(result):
    def run():
        w = leaf(1.0, 2.0)
        y = w * 2.0

        def bad_hook(g):
            return result(g) if callable(result) else result

        y.register_hook(bad_hook)
        y.sum().backward()
        return w
    return run


def stepped(name, grad=None):
    """An optimizer over two parameters: the first with a good grad, the second with `grad`."""
    def make():
        a, b = leaf(1.0, 2.0), leaf(3.0, 4.0)
        a.grad, b.grad = np.ones(2, np.float32), grad
        return [a, b, getattr(optim, name)([a, b], lr=0.1)]
    return make


def step(state):
    state[2].step()


BACKWARD = [
    bad("backward", "backward twice", lambda: twice((leaf(1.0) * 2).sum()), RuntimeError,
        r"backward: the graph through 'sum' was already freed .*retain_graph=True", "Tensor.backward"),
    bad("backward", "backward_steps twice", lambda: [list(s.backward_steps()) for s in [(leaf(1.0) * 2).sum()] * 2], RuntimeError,
        r"backward: the graph through 'sum' was already freed", "Tensor.backward_steps"),
    bad("backward", "grad omitted for many elements", lambda: (leaf(1.0, 2.0) * 2).backward(), RuntimeError,
        r"backward: grad can be omitted only for a one-element tensor, this one has shape \(2,\)"),
    bad("backward", "grad of the wrong shape", lambda: (leaf(1.0, 2.0) * 2).backward(np.ones(3)), ValueError,
        r"backward: grad has shape \(3,\) but the tensor has shape \(2,\)"),
    bad("backward", "grad of str", lambda: (leaf(1.0, 2.0) * 2).backward("a"), TypeError,
        r"backward: grad must be a Tensor, a NumPy array or a number .*\(2,\), got str"),
    bad("backward", "grad of complex", lambda: (leaf(1.0, 2.0) * 2).backward(np.array([1j, 1j])), TypeError,
        r"backward: grad: expected numbers .*complex128"),
    bad("backward", "grad of objects", lambda: (leaf(1.0, 2.0) * 2).backward(np.array([None, None])), TypeError,
        r"backward: grad: cannot make a tensor from ndarray: it holds a NoneType"),
    bad("backward", "grad of a ragged list", lambda: (leaf(1.0, 2.0) * 2).backward([[1.0], [1.0, 2.0]]), TypeError,
        r"backward: grad: cannot make a tensor from list: it is ragged"),
    ok("backward", "an int grad is cast to the tensor's dtype (PyTorch)",
       lambda: (lambda w: ((w * 2).backward(np.array([1, 2])), w.grad)[1])(leaf(1.0, 2.0)),
       lambda grad: grad.dtype == np.float32 and grad.tolist() == [2.0, 4.0]),
    bad("backward", "backward of a tensor without grad", lambda: ta.ones(2).sum().backward(), RuntimeError,
        r"backward: this tensor does not require grad"),
    bad("backward", "retain_grad without grad", lambda: ta.ones(2).retain_grad(), RuntimeError,
        r"retain_grad: this tensor does not require grad", "Tensor.retain_grad"),
    bad("backward", "Value backward grad of str", lambda: (Value(2.0) * 3).backward("a"), TypeError,
        r"backward: grad must be a number, got str"),
    bad("backward", "saved values after backward", lambda: (lambda y: (y.sum().backward(), y.saved))(leaf(1.0).exp()),
        RuntimeError, r"saved: 'exp' released what it saved when backward passed"),
]

HOOKS = [
    bad("hooks", "register_hook of a non-callable", lambda: leaf(1.0).register_hook(3), TypeError,
        r"register_hook: expected a callable, got int", "Tensor.register_hook"),
    bad("hooks", "register_hook without grad", lambda: ta.ones(1).register_hook(lambda g: g), RuntimeError,
        r"register_hook: this node does not require grad"),
    bad("hooks", "hook returns a list", with_hook([1.0, 1.0]), TypeError,
        r"backward: hook .*bad_hook registered on the mul node .*returned a list"),
    bad("hooks", "hook returns the wrong shape", with_hook(np.ones(3, np.float32)), RuntimeError,
        r"backward: hook .*bad_hook .*returned a gradient of shape \(3,\), but the gradient has shape \(2,\)"),
    bad("hooks", "hook returns ints", with_hook(np.array([1, 2])), TypeError,
        r"backward: hook .*bad_hook .*returned a gradient of dtype int64"),
    bad("hooks", "hook returns a str", with_hook("grad"), TypeError, r"backward: hook .*bad_hook .*returned a str"),
    bad("hooks", "hook changes its argument in place", with_hook(lambda g: g.__imul__(10)), RuntimeError,
        r"backward: hook .*bad_hook registered on the mul node .*changed the gradient in place"),
    bad("hooks", "Value hook returns a list", lambda: (lambda b: (b.register_hook(lambda g: [1.0]), b.backward()))(Value(1.0) * 2),
        TypeError, r"backward: hook .* returned a list"),
    ok("hooks", "hook returning None keeps the gradient", with_hook(None), lambda w: w.grad.tolist() == [2.0, 2.0]),
]

# PyTorch: "one of the variables needed for gradient computation has been modified by an inplace operation"
INPLACE_MESSAGE = r"backward: one of the tensors needed for gradient computation has been modified by an inplace operation"
INPLACE = [
    bad("inplace", "fill_ of a weight between forward and backward", lambda: graph_then(lambda w, _: w.fill_(0.0)),
        RuntimeError, INPLACE_MESSAGE + r": its input 0 \(shape \(2,\)\) of 'mul' .*changed by fill_", "Tensor.fill_"),
    bad("inplace", "w -= lr * grad between forward and backward", lambda: graph_then(lambda w, _: w.__isub__(0.1)),
        RuntimeError, INPLACE_MESSAGE + r".*changed by sub_"),
    bad("inplace", "setitem of a weight", lambda: graph_then(lambda w, _: w.__setitem__(0, 5.0)), RuntimeError,
        INPLACE_MESSAGE + r".*changed by setitem", "Tensor.__setitem__"),
    bad("inplace", "copy_ into a weight", lambda: graph_then(lambda w, _: w.copy_([3.0, 4.0])), RuntimeError,
        INPLACE_MESSAGE + r".*changed by copy_", "Tensor.copy_"),
    bad("inplace", "zero_ of a saved output", lambda: graph_then(lambda _, y: y.zero_(), use_output=True), RuntimeError,
        INPLACE_MESSAGE + r": its output \(shape \(2,\)\) of 'exp'", "Tensor.zero_"),
    bad("inplace", "normal_ of a weight", lambda: graph_then(lambda w, _: w.normal_()), RuntimeError,
        INPLACE_MESSAGE + r".*normal_", "Tensor.normal_"),
    bad("inplace", "uniform_ of a weight", lambda: graph_then(lambda w, _: w.uniform_()), RuntimeError,
        INPLACE_MESSAGE + r".*uniform_", "Tensor.uniform_"),
    bad("inplace", "an optimizer step between forward and backward",
        lambda: (lambda w: (lambda loss: (setattr(w, "grad", np.ones(2, np.float32)), optim.SGD([w], lr=0.1).step(),
                                          loss.backward()))((w * w).sum()))(leaf(1.0, 2.0)),
        RuntimeError, INPLACE_MESSAGE + r".*SGD.step"),
    ok("inplace", "a write after backward is fine", lambda: (lambda w: ((w * w).sum().backward(), w.fill_.__self__)[1])(
        leaf(1.0)), lambda w: w.grad.tolist() == [2.0]),
    ok("inplace", "w -= ... under no_grad stays the same leaf, in place (PyTorch)", lambda: sgd_by_hand(leaf(1.0)),
       lambda pair: pair[0] is pair[1] and pair[1].is_leaf and pair[1].requires_grad and pair[1].data.tolist() == [0.5]),
    bad("inplace", "w -= ... on a leaf in grad mode (PyTorch refuses)", lambda s: s.__isub__(1.0), RuntimeError,
        r"sub_: a leaf tensor that requires grad cannot be changed in place while grad mode is on", "Tensor.__iadd__",
        state=lambda: leaf(1.0, 2.0)),
    bad("inplace", "fill_ of a leaf in grad mode", lambda s: s.fill_(0.0), RuntimeError,
        r"fill_: cannot change a tensor that requires grad in place while grad mode is on", state=lambda: leaf(1.0, 2.0)),
    bad("inplace", "+= that would grow the tensor", lambda s: s.__iadd__(ta.ones(2, 2)), ValueError,
        r"add_: the result has shape \(2, 2\) but the tensor has shape \(2,\)", state=lambda: ta.ones(2)),
    bad("inplace", "+= a float into an int tensor", lambda s: s.__iadd__(1.5), TypeError,
        r"add_: the result has dtype float32, which cannot be stored in place in a tensor of dtype int64",
        state=lambda: ta.tensor([1, 2])),
    bad("inplace", "fill_ with None", lambda s: s.fill_(None), TypeError, r"fill_: the value must be a real number, got NoneType",
        state=lambda: ta.ones(2)),
    bad("inplace", "fill_ with a tensor of many", lambda s: s.fill_(ta.ones(2)), ValueError,
        r"fill_: the value must be a number or a one-element tensor, got a tensor of shape \(2,\)", state=lambda: ta.ones(2)),
    bad("inplace", "fill_ an int tensor with nan", lambda s: s.fill_(float("nan")), ValueError,
        r"fill_: cannot store \[nan\] in a tensor of dtype int64", state=lambda: ta.tensor([1, 2])),
    bad("inplace", "copy_ of objects", lambda s: s.copy_(np.array([None, None])), TypeError,
        r"copy_: cannot make a tensor from ndarray: it holds a NoneType", state=lambda: ta.ones(2)),
    bad("inplace", "copy_ of the wrong shape", lambda s: s.copy_(ta.ones(3)), ValueError,
        r"copy_: source of shape \(3,\) does not broadcast to \(2,\)", state=lambda: ta.ones(2)),
    bad("inplace", "setitem of a str", lambda s: s.__setitem__(0, "a"), TypeError, r"setitem: expected numbers",
        state=lambda: ta.ones(2)),
    bad("inplace", "setitem of the wrong shape", lambda s: s.__setitem__(slice(None), np.ones(3)), ValueError,
        r"setitem: a value of shape \(3,\) does not broadcast to the selected part \(2,\)", state=lambda: ta.ones(2)),
    bad("inplace", "setitem out of range", lambda s: s.__setitem__(5, 1.0), IndexError,
        r"setitem: index 5 does not fit a tensor of shape \(2,\)", state=lambda: ta.ones(2)),
    bad("inplace", "normal_ with std nan", lambda s: s.normal_(0.0, float("nan")), ValueError, r"normal_: std must be finite",
        state=lambda: ta.ones(2)),
    bad("inplace", "normal_ with a str mean", lambda s: s.normal_("a"), TypeError, r"normal_: mean must be a real number",
        state=lambda: ta.ones(2)),
    bad("inplace", "uniform_ to inf", lambda s: s.uniform_(0.0, float("inf")), ValueError, r"uniform_: high must be finite",
        state=lambda: ta.ones(2)),
    bad("inplace", "uniform_ low above high", lambda s: s.uniform_(2.0, 1.0), ValueError, r"uniform_: low 2.0 is above high 1.0",
        state=lambda: ta.ones(2)),
]

OPTIMIZERS = [
    bad("optim", f"{name} of a non-tensor", (lambda n: lambda: getattr(optim, n)([3], lr=0.1))(name), TypeError,
        rf"{name}: params\[0\] is a int, expected a Tensor", f"optim.{name}")
    for name in ("SGD", "Adam", "AdamW")
] + [
    bad("optim", "SGD of a tensor without grad", lambda: optim.SGD([ta.ones(1)], lr=0.1), ValueError,
        r"SGD: params\[0\] \(shape \(1,\)\) must be a leaf tensor with requires_grad=True"),
    bad("optim", "SGD of a non-leaf", lambda: optim.SGD([leaf(1.0) * 2], lr=0.1), ValueError,
        r"SGD: params\[0\] \(shape \(1,\)\) must be a leaf tensor"),
    bad("optim", "SGD of an array", lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, r"SGD: params\[0\] is a ndarray"),
    bad("optim", "SGD of a set", lambda: optim.SGD({leaf(1.0)}, lr=0.1), TypeError, r"SGD: params must be an ordered collection"),
    bad("optim", "SGD of nothing", lambda: optim.SGD([], lr=0.1), ValueError, r"SGD: got an empty parameter list"),
    bad("optim", "SGD lr -1", lambda: optim.SGD([leaf(1.0)], lr=-1), ValueError, r"SGD: lr must be >= 0.0, got -1.0"),
    bad("optim", "SGD lr str", lambda: optim.SGD([leaf(1.0)], lr="0.1"), TypeError, r"SGD: lr must be a number, got '0.1'"),
    bad("optim", "SGD momentum -1", lambda: optim.SGD([leaf(1.0)], lr=0.1, momentum=-1), ValueError, r"SGD: momentum must be >= 0"),
    bad("optim", "Adam betas (1.0, 0.9)", lambda: optim.Adam([leaf(1.0)], betas=(1.0, 0.9)), ValueError, r"Adam: .*beta"),
    bad("optim", "Adam betas a number", lambda: optim.Adam([leaf(1.0)], betas=0.9), TypeError,
        r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"),
    bad("optim", "Adam eps -1", lambda: optim.Adam([leaf(1.0)], eps=-1), ValueError, r"Adam: eps must be >= 0"),
    bad("optim", "AdamW weight_decay -1", lambda: optim.AdamW([leaf(1.0)], weight_decay=-1), ValueError,
        r"AdamW: weight_decay must be >= 0"),
    bad("optim", "a group without params", lambda: optim.SGD([{"lr": 0.1}], lr=0.1), ValueError,
        r"SGD: parameter group 0 has no 'params' entry"),
] + [
    bad("optim", f"{name} step with a list grad", step, TypeError,
        rf"{name}.step: parameter param_groups\[0\]\['params'\]\[1\] \('w'\) of shape \(2,\) has a .grad of type list",
        state=stepped(name, [0.1, 0.2]))
    for name in ("SGD", "Adam", "AdamW")
] + [
    bad("optim", f"{name} step with a grad of the wrong shape", step, ValueError,
        rf"{name}.step: parameter w has shape \(2,\) but its grad has shape \(3,\)", state=stepped(name, np.ones(3, np.float32)))
    for name in ("SGD", "Adam", "AdamW")
] + [
    bad("optim", f"{name} step with a complex grad", step, TypeError,
        rf"{name}.step: .*has a .grad of dtype complex64; expected floating point", state=stepped(name, np.ones(2, np.complex64)))
    for name in ("SGD", "Adam")
] + [
    bad("optim", "Adam step with an int grad", step, TypeError,
        r"Adam.step: .*has a .grad of dtype int64", state=stepped("Adam", np.ones(2, np.int64))),
    bad("optim", "SGD step with a Tensor grad", step, TypeError, r"SGD.step: .*of type Tensor.*use its .data",
        state=stepped("SGD", ta.ones(2))),
    bad("optim", "lr set to a str later", lambda s: (s[2].param_groups[0].__setitem__("lr", "x"), s[2].step()), TypeError,
        r"SGD: lr must be a number, got 'x'", state=stepped("SGD", np.ones(2, np.float32))),
]


def cli(*argv):
    def run():
        try:
            main(list(argv))
        except SystemExit as exit_:
            return exit_.code
        return 0
    return run


def cli_fails(*argv):
    return lambda code: code == 2


CLI_ENTRIES = [
    ok("cli", "unknown option", cli("demo", "--bogus"), cli_fails()),
    ok("cli", "unknown command", cli("frobnicate"), cli_fails()),
    ok("cli", "--graph without a file", cli("demo", "--graph"), cli_fails()),
    ok("cli", "--graph of an unknown format", cli("demo", "--graph", "x.txt"), cli_fails()),
    ok("cli", "--graph into a missing folder", cli("demo", "--graph", "/nonexistent-folder/x.svg"), cli_fails()),
]

STATE_CATALOGUE = BACKWARD + HOOKS + INPLACE + OPTIMIZERS + CLI_ENTRIES


@pytest.mark.parametrize("entry", params(STATE_CATALOGUE))
def test_bad_input(entry):
    run_entry(entry)


# ---- the command line: exit code 2, a message naming the problem, no traceback, nothing computed ----
@pytest.mark.parametrize("argv, words", [
    (["demo", "--bogus"], "unrecognized arguments: --bogus"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["demo", "--graph", "x.txt"], ".svg, .png or .pdf"),
    (["demo", "--graph", "/nonexistent-folder/x.svg"], "the folder '/nonexistent-folder' does not exist"),
])
def test_cli_bad_arguments_exit_2_with_a_message(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    captured = capsys.readouterr()
    assert exit_.value.code == 2
    assert words in captured.err and "Traceback" not in captured.err
    assert "1. scores" not in captured.out  # refused before computing


def test_cli_refuses_a_graph_path_under_a_file_or_that_is_a_folder(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    folder = tmp_path / "graph.svg"
    folder.mkdir()
    for target, words in ((blocker / "x.svg", "does not exist"), (folder, "it is a folder")):
        with pytest.raises(SystemExit) as exit_:
            main(["demo", "--graph", str(target)])
        assert exit_.value.code == 2 and words in capsys.readouterr().err
