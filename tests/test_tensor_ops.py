"""Every usage of every op in the registry: gradients against finite differences, values and
gradients against PyTorch, and checks that no op or API name is left out."""
import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor
from tinygrad_attn.gradcheck import gradcheck
from tinygrad_attn.ops import all_ops
from tinygrad_attn.ops.samples import all_usages, render_markdown, spelling

TABLE = all_usages()

CASES = [(entry, index, sample) for entry in TABLE for index, sample in enumerate(entry.samples)]
CASE_IDS = [f"{entry.id}#{index}" for entry, index, _ in CASES]

# The Tensor section of the API contract: operators (as dunders), methods, and module functions.
TENSOR_API = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
    "exp", "log", "sqrt", "tanh", "relu", "sigmoid", "sum", "mean", "max", "var",
    "reshape", "transpose", "T", "swapaxes", "__getitem__", "softmax", "log_softmax", "masked_fill",
    "ta.concatenate", "ta.stack", "ta.where",
)

# Relative tolerance per dtype; the absolute part is the same fraction of the array's largest |value|.
RTOL = {np.float64: 1e-9, np.float32: 1e-5}


def _inputs(entry, index, sample, dtype):
    return [Tensor(array, requires_grad=True) for array in sample.arrays(dtype, entry.seed(index))]


def _assert_close(actual, expected, dtype, what):
    rtol = RTOL[dtype]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0), err_msg=what)


# ---- (a) finite differences ----
@pytest.mark.parametrize("entry, index, sample", CASES, ids=CASE_IDS)
def test_op_gradient_matches_finite_differences(entry, index, sample):
    if not sample.smooth:
        pytest.skip(f"{entry.id}: not differentiable at this sample ({sample.note}); compared with PyTorch instead")
    inputs = _inputs(entry, index, sample, np.float64)
    assert gradcheck(lambda *tensors: entry.call(*tensors, **sample.kwargs), inputs, atol=1e-6, rtol=1e-5)


# ---- (b) PyTorch ----
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("entry, index, sample", CASES, ids=CASE_IDS)
def test_op_matches_pytorch_values_and_gradients(entry, index, sample, dtype):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: comparisons with it are skipped")
    arrays = sample.arrays(dtype, entry.seed(index))
    engine_inputs = [Tensor(array, requires_grad=True) for array in arrays]
    torch_inputs = [torch.tensor(array, requires_grad=True) for array in arrays]

    out = entry.call(*engine_inputs, **sample.kwargs)
    expected = entry.reference(torch, *torch_inputs, **sample.kwargs)
    assert out.shape == tuple(expected.shape), f"{entry.id}: shape {out.shape} != PyTorch's {tuple(expected.shape)}"
    assert out.dtype == np.dtype(str(expected.dtype).removeprefix("torch.")), f"{entry.id}: dtype differs"
    _assert_close(out.data, expected.detach().numpy(), dtype, f"{entry.id}: forward values")

    # The same upstream gradient into both graphs.
    upstream = np.random.default_rng(entry.seed(index) + 1).standard_normal(out.shape).astype(out.dtype)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream.copy()))
    for position, (mine, theirs) in enumerate(zip(engine_inputs, torch_inputs)):
        grad = np.zeros_like(mine.data) if mine.grad is None else mine.grad
        assert grad.shape == mine.shape and grad.dtype == mine.dtype, f"{entry.id}: grad {position} shape/dtype"
        reference = np.zeros_like(mine.data) if theirs.grad is None else theirs.grad.numpy()
        _assert_close(grad, reference, dtype, f"{entry.id}: gradient of input {position}")


def test_tied_maxima_share_the_gradient_evenly():
    scores = Tensor(np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, -1.0, 0.0]]), requires_grad=True)
    scores.max(axis=1).backward(np.array([3.0, 1.0]))
    np.testing.assert_array_equal(scores.grad, [[0.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.0, 0.0]])


def test_log_softmax_of_huge_logits_is_exact_and_finite():
    logits = Tensor(np.array([1e4, 0.0, -1e4]), requires_grad=True)
    out = logits.log_softmax()
    # log Σ exp = 1e4 + log(1 + e^-1e4 + e^-2e4) = 1e4 exactly in float64
    np.testing.assert_array_equal(out.data, [0.0, -1e4, -2e4])
    out.backward(np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(logits.grad, [0.0, 0.0, 0.0], atol=1e-300)


# ---- (c) nothing is left out ----
def test_every_tensor_op_has_a_usage():
    covered = {id(entry.op) for entry in TABLE}
    missing = sorted(op.name for op in all_ops("tensor") if id(op) not in covered)
    assert not missing, f"tensor ops without a usage (declare one with OP.usage(...) beside the op): {missing}"


def test_every_usage_names_a_registered_op():
    registered = {id(op) for op in all_ops("tensor")}
    unknown = sorted({entry.name for entry in TABLE if id(entry.op) not in registered})
    assert not unknown, f"usages of ops that are not in the registry: {unknown}"


def test_every_tensor_api_name_has_a_table_entry():
    for name in TENSOR_API:  # the list itself must name things that exist
        owner = ta if name.startswith("ta.") else Tensor
        assert hasattr(owner, name.removeprefix("ta.")), f"{name} is not in the library"
    covered = {entry.api for entry in TABLE}
    missing = [name for name in TENSOR_API if name not in covered]
    assert not missing, f"API names without an entry in the op table: {missing}"


def test_every_entry_has_samples_and_a_unique_id():
    ids = [entry.id for entry in TABLE]
    assert len(ids) == len(set(ids))
    assert all(entry.samples for entry in TABLE)


# ---- (d) the op reference ----
def test_markdown_reference_lists_every_entry_with_its_formula():
    table = render_markdown()
    lines = table.strip().splitlines()
    assert lines[0] == "| op | call | formula | sample shapes | notes |"
    assert len(lines) == 2 + len(TABLE)
    for entry, line in zip(TABLE, lines[2:]):
        assert line.startswith(f"| {entry.name} | `{spelling(entry.api)}")
        assert entry.op.formula in line
        assert all(sample.describe() in line for sample in entry.samples)
        assert entry.note in line
