"""Module-level functions that make tensors share PyTorch's signatures and meanings: each is
called here the way a PyTorch user calls it, and checked against torch's answer (shapes,
dtypes, values where they are deterministic, gradients; distributions for the random ones)."""
import numpy as np
import pytest

from tinygrad_attn import tensors as T
from tinygrad_attn.tensors import Tensor
from tinygrad_attn.tensors.creation import tensor

torch = pytest.importorskip("torch")

DTYPES = ["float16", "half", "float32", "float64", "double", "int32", "int64", "long", "bool"]


def dtype_name(dtype):
    """A torch or NumPy dtype as 'float32', 'int64', ..."""
    return str(dtype).replace("torch.", "")


def same(ours, theirs, exact=True):
    assert ours.shape == tuple(theirs.shape)
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    want = theirs.detach().numpy()
    if exact:
        np.testing.assert_array_equal(ours.data, want)
    else:
        np.testing.assert_allclose(ours.data, want, rtol=1e-6, atol=1e-7)


def torch_dtype(name):
    return getattr(torch, name)


# ---- sizes: ints or one sequence, everything else keyword-only ----
SIZES = [(16, 16), ((16, 16),), ([2, 3],), (3,), ((),), ([],), (0, 3), ((2, 1, 4),), (np.int64(3), 2),
         (torch.Size([2, 5]),)]


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "randn", "rand"])
@pytest.mark.parametrize("args", SIZES, ids=repr)
def test_size_is_given_as_ints_or_one_sequence_as_in_torch(name, args):
    ours, theirs = getattr(T, name)(*args), getattr(torch, name)(*args)
    assert ours.shape == tuple(theirs.shape)
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype) == "float32"
    assert not ours.requires_grad and ours.op is None
    if name in ("zeros", "ones"):
        same(ours, theirs)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "randn", "rand"])
def test_size_keyword_works_as_in_torch(name):
    assert getattr(T, name)(size=(2, 3)).shape == tuple(getattr(torch, name)(size=(2, 3)).shape)


def test_ones_16_16_is_a_matrix_not_a_vector_that_requires_grad():
    made = T.ones(16, 16)
    assert made.shape == (16, 16) and not made.requires_grad


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "randn", "rand"])
def test_requires_grad_is_keyword_only(name):
    with pytest.raises(TypeError, match=rf"{name}: size must be ints, got \(16, True\); requires_grad is keyword-only"):
        getattr(T, name)(16, True)
    made = getattr(T, name)(2, 3, requires_grad=True)
    assert made.requires_grad and made.op is None
    (made * 2).sum().backward()
    np.testing.assert_array_equal(made.grad, np.full((2, 3), 2, np.float32))


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_keyword_takes_the_engines_dtypes_as_torch_takes_its(name, dtype):
    ours = getattr(T, name)(2, 3, dtype=getattr(T, dtype))
    theirs = getattr(torch, name)(2, 3, dtype=torch_dtype(dtype))
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    if name != "empty":
        same(ours, theirs)


@pytest.mark.parametrize("dtype", [float, int, bool, "float64", np.int32])
def test_python_and_numpy_dtypes_are_accepted(dtype):
    theirs = torch.zeros(2, dtype=dtype) if dtype in (float, int, bool) else None
    ours = T.zeros(2, dtype=dtype)
    assert ours.dtype == np.dtype(dtype)
    if theirs is not None:
        assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)


def test_a_torch_dtype_is_accepted_too():
    assert T.ones(2, dtype=torch.long).dtype == T.long
    assert T.arange(3, dtype=torch.float64).dtype == T.float64


@pytest.mark.parametrize("call", [lambda m, d: m.ones(2, dtype=d, requires_grad=True),
                                  lambda m, d: m.zeros_like(m.ones(2), dtype=d, requires_grad=True),
                                  lambda m, d: m.arange(3, dtype=d, requires_grad=True)])
def test_only_floating_point_tensors_can_require_grad(call):
    with pytest.raises(RuntimeError, match="floating point"):
        call(torch, torch.long)
    with pytest.raises(TypeError, match="only floating-point tensors can require grad, got dtype int64"):
        call(T, T.long)


# ---- devices ----
@pytest.mark.parametrize("device", [None, "cpu", "cpu:0", T.device("cpu"), torch.device("cpu")],
                         ids=["None", "cpu", "cpu:0", "ta.device", "torch.device"])
def test_the_cpu_is_accepted_as_a_device(device):
    for made in (T.ones(2, device=device), T.randn(2, device=device), T.arange(2, device=device),
                 T.full((2,), 1.0, device=device), tensor([1.0], device=device), T.zeros_like(T.ones(1), device=device)):
        assert isinstance(made, Tensor) and made.shape in ((2,), (1,))


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", torch.device("cuda"), torch.device("meta")],
                         ids=["cuda", "cuda:0", "mps", "torch.cuda", "torch.meta"])
@pytest.mark.parametrize("name", ["ones", "randn", "randint"])
def test_another_device_is_a_clear_error_naming_the_function_and_the_device(name, device):
    args = (10, (2,)) if name == "randint" else (2,)
    kind = str(device).split(":")[0]
    message = rf"{name}: this engine runs on the CPU only, got device '{kind}.*to_torch" if kind != "meta" else \
        rf"{name}: unknown device 'meta'"
    with pytest.raises(ValueError, match=message):
        getattr(T, name)(*args, device=device)


def test_device_objects_look_like_torchs():
    for args in (("cpu",), ("cpu:0",), ("cpu", 0)):
        ours, theirs = T.device(*args), torch.device(*args)
        assert (repr(ours), str(ours), ours.type, ours.index) == (repr(theirs), str(theirs), theirs.type, theirs.index)
    assert T.device("cpu") == T.device("cpu") != T.device("cpu:0")
    assert T.ones(2).to(T.device("cpu")).shape == (2,)  # Tensor.to takes it


@pytest.mark.parametrize("name", ["cuda", "mps", "cuda:1"])
def test_a_gpu_device_points_to_to_torch(name):
    with pytest.raises(ValueError, match=rf"device: this engine runs on the CPU only, got device '{name}'.*to_torch\(\)"):
        T.device(name)


def test_an_unknown_device_is_named():
    with pytest.raises(RuntimeError):
        torch.device("gpu")
    with pytest.raises(ValueError, match="device: unknown device 'gpu'"):
        T.device("gpu")


# ---- dtypes ----
@pytest.mark.parametrize("name", DTYPES)
def test_dtype_names_mean_what_they_mean_in_torch(name):
    assert dtype_name(getattr(T, name)) == dtype_name(getattr(torch, name))


def test_dtypes_work_wherever_a_dtype_is_accepted():
    x = Tensor([1.5, 2.5], dtype=T.float64)
    assert x.dtype == T.float64 and x.dtype == np.float64
    assert x.to(T.long).dtype == T.int64 and x.astype(T.float32).dtype == T.float32
    assert tensor([1, 2], dtype=T.long).dtype == T.long and tensor([0, 1], dtype=T.bool).dtype == T.bool
    assert T.full((2,), 1, dtype=T.int32).dtype == T.int32


# ---- tensor(data) ----
DATA = [[1, 2], [1.0, 2.0], 3, 3.0, True, [True, False], [1, 2.5], [[1, 2], [3, 4]], [],
        np.zeros(2), np.zeros(2, np.float32), np.zeros(2, np.float16), np.zeros(2, np.int32),
        np.zeros(2, np.uint8), np.array(3.0), np.float64(2.0), np.int32(2), np.bool_(True)]


@pytest.mark.parametrize("data", DATA, ids=repr)
def test_tensor_gives_torchs_dtype(data):
    same(tensor(data), torch.tensor(data))


def test_tensor_takes_its_options_by_keyword_as_torch():
    with pytest.raises(TypeError):
        torch.tensor([1.0], True)
    with pytest.raises(TypeError):
        tensor([1.0], True)
    made = tensor([1.0, 2.0], requires_grad=True, name="w")
    assert made.requires_grad and made.name == "w" and made.dtype == T.float32
    copied = tensor(made)
    assert not copied.requires_grad and copied.data is not made.data


def test_tensor_refuses_requires_grad_on_integers():
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="tensor: only floating-point tensors can require grad, got dtype int64"):
        tensor([1, 2], requires_grad=True)


# ---- full ----
@pytest.mark.parametrize("fill", [7.0, 3, True, -2.5, np.float64(2.0), np.int32(2)], ids=repr)
def test_full_takes_its_dtype_from_the_fill_value_as_torch(fill):
    same(T.full((2, 3), fill), torch.full((2, 3), fill))


@pytest.mark.parametrize("dtype", ["float64", "long", "bool"])
def test_full_with_a_dtype(dtype):
    same(T.full((2,), 1.0, dtype=getattr(T, dtype)), torch.full((2,), 1.0, dtype=torch_dtype(dtype)))


def test_full_takes_a_one_element_tensor_as_the_value():
    same(T.full((2,), tensor(3.0)), torch.full((2,), torch.tensor(3.0)))


# ---- *_like ----
LIKE_INPUTS = [np.arange(6.0, dtype=np.float32).reshape(2, 3), np.arange(4.0).reshape(4, 1),
               np.array([[1, 2]]), np.array([True, False]), np.zeros((0, 2), np.float32)]


@pytest.mark.parametrize("array", LIKE_INPUTS, ids=lambda a: f"{a.dtype}{a.shape}")
@pytest.mark.parametrize("name, extra", [("zeros_like", ()), ("ones_like", ()), ("empty_like", ()),
                                         ("full_like", (2.7,)), ("full_like", (1,))])
def test_like_functions_copy_shape_and_dtype_as_torch(name, extra, array):
    ours = getattr(T, name)(Tensor(array, dtype=array.dtype), *extra)
    theirs = getattr(torch, name)(torch.from_numpy(array), *extra)
    if name == "empty_like":
        assert ours.shape == tuple(theirs.shape) and dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    else:
        same(ours, theirs)


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "randn_like", "rand_like", "empty_like"])
@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_like_functions_take_a_dtype(name, dtype):
    ours = getattr(T, name)(T.ones(2, 3), dtype=getattr(T, dtype))
    theirs = getattr(torch, name)(torch.ones(2, 3), dtype=torch_dtype(dtype))
    assert ours.shape == tuple(theirs.shape) and dtype_name(ours.dtype) == dtype_name(theirs.dtype)


@pytest.mark.parametrize("name", ["randn_like", "rand_like"])
def test_random_like_functions_need_a_float_dtype(name):
    with pytest.raises((RuntimeError, NotImplementedError)):
        getattr(torch, name)(torch.ones(2, dtype=torch.long))
    with pytest.raises(TypeError, match=rf"{name}: dtype must be a floating-point dtype, got int64"):
        getattr(T, name)(T.ones(2, dtype=T.long))


# ---- arange ----
ARANGES = [(5,), (0,), (1, 4), (0, 10, 3), (-1, -10, -3), (5.0,), (0, 1, 0.1), (1, 2.5, 0.5), (0.0, 1.0, 0.3),
           (10, 0, -1.5), (np.int64(4),), (True,), (0, 10, np.int64(3)), (-3.5, 2.25, 0.75)]


@pytest.mark.parametrize("args", ARANGES, ids=repr)
def test_arange_has_torchs_values_and_dtype(args):
    same(T.arange(*args), torch.arange(*args))


@pytest.mark.parametrize("args", [(0.5, 3.7, 1), (0, 3.7), (0.9, 3.2, 1.5), (-0.5, 3), (0, 7, 2.5)], ids=repr)
@pytest.mark.parametrize("dtype", ["long", "float64", "float32"])
def test_arange_with_a_dtype_follows_torch(args, dtype):
    same(T.arange(*args, dtype=getattr(T, dtype)), torch.arange(*args, dtype=torch_dtype(dtype)))


def test_arange_takes_one_element_tensors_keywords_and_requires_grad():
    same(T.arange(tensor(3)), torch.arange(torch.tensor(3)))
    same(T.arange(end=4), torch.arange(end=4))
    same(T.arange(start=1, end=7, step=2), torch.arange(start=1, end=7, step=2))
    made = T.arange(3.0, requires_grad=True)
    assert made.requires_grad and made.dtype == T.float32


@pytest.mark.parametrize("args, message", [((0, 5, 0), "arange: step must be nonzero"),
                                           ((5, 0), "arange: end=0 cannot be reached from start=5 with step=1"),
                                           ((0, 2.5, 0.5), None)])
def test_arange_refuses_what_torch_refuses(args, message):
    if message is None:  # an integer dtype truncates step 0.5 to 0
        args, kwargs, message = args, {"dtype": "long"}, "arange: step must be nonzero"
    else:
        kwargs = {}
    with pytest.raises((RuntimeError, ValueError)):
        torch.arange(*args, **{k: torch_dtype(v) for k, v in kwargs.items()})
    with pytest.raises(ValueError, match=message):
        T.arange(*args, **{k: getattr(T, v) for k, v in kwargs.items()})


# ---- tril / triu ----
TRIANGLES = [((3, 3), 0), ((3, 3), 1), ((3, 3), -1), ((3, 5), 0), ((3, 5), 2), ((5, 3), -2), ((2, 3, 4), 0),
             ((2, 3, 4), 1), ((4, 4), 10), ((4, 4), -10), ((0, 3), 0)]


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("shape, diagonal", TRIANGLES, ids=repr)
def test_triangles_match_torch_in_values_and_gradients(name, shape, diagonal):
    rng = np.random.default_rng(0)
    x_array, upstream = rng.standard_normal(shape), rng.standard_normal(shape)
    x, tx = Tensor(x_array, requires_grad=True), torch.tensor(x_array, requires_grad=True)
    out, tout = getattr(T, name)(x, diagonal), getattr(torch, name)(tx, diagonal)
    same(out, tout)
    out.backward(upstream)
    tout.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    assert out.op.name == "masked_fill"  # drawn as one masked_fill with a constant mask input
    source, mask = out.inputs
    assert source is x and not mask.requires_grad and mask.dtype == np.bool_ and mask.name == f"{name} mask"


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangles_take_the_diagonal_by_keyword_and_keep_int_and_bool_dtypes(name):
    for array in (np.arange(12).reshape(3, 4), np.ones((3, 3), dtype=bool)):
        same(getattr(T, name)(Tensor(array), diagonal=1), getattr(torch, name)(torch.from_numpy(array), diagonal=1))


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_a_triangle_of_plain_data_is_a_constant_tensor(name):
    data = [[1.0, 2.0], [3.0, 4.0]]
    out = getattr(T, name)(data)
    same(out, getattr(torch, name)(torch.tensor(data)))
    assert out.op is None and not out.requires_grad


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_a_triangle_needs_two_dims(name):
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        getattr(torch, name)(torch.ones(3))
    with pytest.raises(ValueError, match=rf"{name}: input must have at least 2 dims.*got shape \(3,\)"):
        getattr(T, name)(T.ones(3))
    with pytest.raises(TypeError, match=rf"{name}: diagonal must be an int, got 0.5"):
        getattr(T, name)(T.ones(3, 3), 0.5)


# ---- topk ----
@pytest.mark.parametrize("shape, k, dim", [((6,), 3, -1), ((6,), 6, 0), ((6,), 0, -1), ((3, 5), 2, -1), ((3, 5), 2, 0),
                                           ((2, 3, 4), 1, 1), ((2, 3, 4), 4, -1), ((4, 1), 1, 0)], ids=repr)
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_torch_in_values_indices_and_gradients(shape, k, dim, largest):
    rng = np.random.default_rng(1)
    x_array = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape)  # no ties
    x, tx = Tensor(x_array, requires_grad=True), torch.tensor(x_array, requires_grad=True)
    got, want = T.topk(x, k, dim=dim, largest=largest), torch.topk(tx, k, dim=dim, largest=largest)
    same(got.values, want.values)
    same(got.indices, want.indices)
    values, indices = got  # unpacks as a pair, like torch.return_types.topk
    assert values is got.values and indices is got.indices
    upstream = rng.standard_normal(want.values.shape)
    got.values.backward(upstream)
    want.values.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


def test_topk_counts_nan_as_the_largest_as_torch():
    data = [1.0, float("nan"), 2.0, -1.0]
    for largest in (True, False):
        got, want = T.topk(tensor(data), 2, largest=largest), torch.topk(torch.tensor(data), 2, largest=largest)
        np.testing.assert_array_equal(got.values.data, want.values.numpy())
        np.testing.assert_array_equal(got.indices.data, want.indices.numpy())


def test_topk_with_ties_gives_torchs_values_and_indices_of_them():
    data = np.array([1.0, 2.0, 2.0, 2.0, 0.0])
    got, want = T.topk(Tensor(data), 2), torch.topk(torch.tensor(data), 2)
    same(got.values, want.values)
    np.testing.assert_array_equal(data[got.indices.data], got.values.data)  # torch leaves which tie unspecified


def test_topk_of_ints_a_0d_tensor_and_plain_data():
    same(T.topk(tensor([3, 1, 2]), 2).values, torch.topk(torch.tensor([3, 1, 2]), 2).values)
    got, want = T.topk(tensor(3.0), 1), torch.topk(torch.tensor(3.0), 1)
    same(got.values, want.values)
    same(got.indices, want.indices)
    same(T.topk([[1.0, 3.0], [2.0, 0.0]], 1, dim=0).indices, torch.topk(torch.tensor([[1.0, 3.0], [2.0, 0.0]]), 1, dim=0).indices)


def test_topk_refuses_k_out_of_range_and_a_bad_dim():
    with pytest.raises(RuntimeError, match="out of range"):
        torch.topk(torch.ones(2), 3)
    with pytest.raises(ValueError, match=r"topk: k=3 is out of range for dim -1 of size 2 \(shape \(2,\)\)"):
        T.topk(T.ones(2), 3)
    with pytest.raises((ValueError, IndexError), match="topk"):
        T.topk(T.ones(2, 3), 1, dim=2)
    with pytest.raises(TypeError, match="topk: k must be an int, got 1.5"):
        T.topk(T.ones(2), 1.5)


# ---- random: shapes and dtypes as torch, ranges, reproducibility ----
def test_randn_and_rand_draw_their_distributions():
    g = T.Generator().manual_seed(0)  # seeded: a passing test always passes
    normal, uniform = T.randn(200_000, generator=g).data, T.rand(200_000, generator=g).data
    assert abs(normal.mean()) < 0.01 and abs(normal.std() - 1) < 0.01
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.005
    assert abs(uniform.var() - 1 / 12) < 0.002


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_rand_stays_below_one_in_every_float_dtype(dtype):
    drawn = T.rand(100_000, dtype=getattr(T, dtype), generator=T.Generator().manual_seed(0))
    assert dtype_name(drawn.dtype) == dtype_name(torch.rand(2, dtype=torch_dtype(dtype)).dtype)
    assert 0 <= drawn.data.min() and drawn.data.max() < 1


@pytest.mark.parametrize("name", ["randn", "rand"])
def test_random_floats_refuse_an_integer_dtype_as_torch(name):
    with pytest.raises((RuntimeError, NotImplementedError)):
        getattr(torch, name)(2, dtype=torch.long)
    with pytest.raises(TypeError, match=rf"{name}: dtype must be a floating-point dtype, got int64"):
        getattr(T, name)(2, dtype=T.long)


@pytest.mark.parametrize("draw", [lambda m, **g: m.randn(3, 4, **g), lambda m, **g: m.rand((5,), **g),
                                  lambda m, **g: m.randint(0, 100, (6,), **g),
                                  lambda m, **g: m.multinomial(m.ones(2, 10), 4, **g),
                                  lambda m, **g: m.randn_like(m.ones(2, 2), **g),
                                  lambda m, **g: m.rand_like(m.ones(3), **g)],
                         ids=["randn", "rand", "randint", "multinomial", "randn_like", "rand_like"])
def test_a_seed_or_a_generator_makes_draws_reproducible_and_the_shape_is_torchs(draw):
    T.manual_seed(5)
    first = draw(T).data
    T.manual_seed(5)
    np.testing.assert_array_equal(draw(T).data, first)
    assert first.shape == tuple(draw(torch).shape) and dtype_name(first.dtype) == dtype_name(draw(torch).dtype)
    g = T.Generator()
    g.manual_seed(7)
    mine = draw(T, generator=g).data
    T.manual_seed(5)
    g.manual_seed(7)
    np.testing.assert_array_equal(draw(T, generator=g).data, mine)
    np.testing.assert_array_equal(draw(T).data, first)  # drawing from g left the default generator alone
    assert draw(torch, generator=torch.Generator().manual_seed(7)).shape == mine.shape  # torch takes generator= too


def test_manual_seed_and_generators_behave_as_torchs():
    assert isinstance(T.manual_seed(3), T.Generator) and T.initial_seed() == torch.manual_seed(3).initial_seed()
    assert T.Generator().initial_seed() == torch.Generator().initial_seed()
    assert T.Generator().manual_seed(-1).initial_seed() == torch.Generator().manual_seed(-1).initial_seed()
    g = T.Generator()
    assert g.manual_seed(4) is g
    with pytest.raises(TypeError, match="manual_seed: seed must be an int, got 1.5"):
        T.manual_seed(1.5)
    with pytest.raises(TypeError, match="randn: generator must be a ta.Generator, got int"):
        T.randn(2, generator=3)


def test_manual_seed_still_seeds_nn_initialisation_and_the_old_rng_keyword():
    from tinygrad_attn.tensors.creation import default_rng, manual_seed  # the old home keeps working

    manual_seed(9)
    first = default_rng().standard_normal(3)
    T.manual_seed(9)
    np.testing.assert_array_equal(default_rng().standard_normal(3), first)
    np.testing.assert_array_equal(T.randn(4, rng=np.random.default_rng(2)).data,
                                  T.randn(4, generator=np.random.default_rng(2)).data)
    with pytest.raises(TypeError, match="randn: give generator= or rng=, not both"):
        T.randn(2, rng=np.random.default_rng(0), generator=T.Generator())


# ---- randint ----
@pytest.mark.parametrize("args, kwargs", [((10, (3,)), {}), ((3, 10, (2, 4)), {}), ((10,), {"size": (5,)}),
                                          ((), {"high": 10, "size": (2,)}), ((), {"low": 2, "high": 10, "size": (2,)}),
                                          ((2,), {"high": 10, "size": (3,)}), ((-5, 5, ()), {}),
                                          ((0, 10, (3,)), {"dtype": "float32"}), ((0, 10, [2, 2]), {})],
                         ids=repr)
def test_randint_takes_torchs_forms(args, kwargs):
    ours = T.randint(*args, **{k: getattr(T, v) if k == "dtype" else v for k, v in kwargs.items()})
    theirs = torch.randint(*args, **{k: torch_dtype(v) if k == "dtype" else v for k, v in kwargs.items()})
    assert ours.shape == tuple(theirs.shape) and dtype_name(ours.dtype) == dtype_name(theirs.dtype)


def test_randint_draws_every_value_of_low_to_high_excluded():
    drawn = T.randint(-2, 3, (10_000,), generator=T.Generator().manual_seed(0)).data
    theirs = torch.randint(-2, 3, (10_000,), generator=torch.Generator().manual_seed(0))
    assert set(np.unique(drawn)) == set(theirs.unique().tolist()) == {-2, -1, 0, 1, 2}
    counts = np.bincount(drawn + 2) / drawn.size
    np.testing.assert_allclose(counts, 0.2, atol=0.02)


@pytest.mark.parametrize("args", [(10, 3), (3, 10), (5, 5, (2,)), (10, 2.5, (2,))], ids=repr)
def test_randint_refuses_what_torch_refuses_with_a_clear_error(args):
    with pytest.raises((TypeError, RuntimeError)):
        torch.randint(*args)
    with pytest.raises((TypeError, ValueError), match=r"^randint: "):
        T.randint(*args)


# ---- multinomial ----
def _frequencies(samples, categories):
    return np.bincount(np.asarray(samples).ravel(), minlength=categories) / np.asarray(samples).size


def test_multinomial_with_replacement_draws_each_index_in_proportion():
    probs = np.array([[0.1, 0.0, 0.6, 0.3], [2.0, 1.0, 1.0, 0.0]])  # rows need not sum to 1
    ours = T.multinomial(Tensor(probs), 20_000, replacement=True, generator=T.Generator().manual_seed(0))
    theirs = torch.multinomial(torch.tensor(probs), 20_000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert ours.shape == tuple(theirs.shape) and dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    for row in range(2):
        want = _frequencies(theirs[row].numpy(), 4)
        got = _frequencies(ours.data[row], 4)
        np.testing.assert_allclose(got, probs[row] / probs[row].sum(), atol=0.015)
        np.testing.assert_allclose(got, want, atol=0.02)
        assert got[probs[row] == 0].sum() == 0  # a zero probability is never drawn


def test_multinomial_without_replacement_draws_ordered_pairs_as_torch():
    probs = np.array([0.6, 0.3, 0.1])
    trials = 20_000
    ours = T.multinomial(Tensor(np.tile(probs, (trials, 1))), 2, generator=T.Generator().manual_seed(1)).data
    theirs = torch.multinomial(torch.tensor(np.tile(probs, (trials, 1))), 2,
                               generator=torch.Generator().manual_seed(1)).numpy()
    assert (ours[:, 0] != ours[:, 1]).all()  # no index twice in a row
    pairs = lambda drawn: _frequencies(drawn[:, 0] * 3 + drawn[:, 1], 9)  # noqa: E731
    exact = np.array([p * q / (1 - p) if i != j else 0 for i, p in enumerate(probs) for j, q in enumerate(probs)])
    np.testing.assert_allclose(pairs(ours), exact, atol=0.015)
    np.testing.assert_allclose(pairs(ours), pairs(theirs), atol=0.02)


def test_multinomial_of_a_1d_input_and_its_zero_probabilities_without_replacement():
    got = T.multinomial([0.0, 1.0, 0.0], 1)
    want = torch.multinomial(torch.tensor([0.0, 1.0, 0.0]), 1)
    same(got, want)
    drawn = T.multinomial(tensor([1.0, 0.0, 0.0]), 3).data  # torch too draws the zeros once the rest is used up
    assert sorted(drawn.tolist()) == sorted(torch.multinomial(torch.tensor([1.0, 0.0, 0.0]), 3).tolist()) == [0, 1, 2]
    assert drawn[0] == 0


def test_multinomial_needs_no_gradient():
    probs = T.rand(2, 3, requires_grad=True)
    drawn = T.multinomial(probs, 2)
    assert not drawn.requires_grad and drawn.dtype == T.int64


@pytest.mark.parametrize("probs, num_samples, replacement, error, message", [
    ([-1.0, 2.0], 1, False, ValueError, r"probabilities must be finite and >= 0, got -1.0 in row 0"),
    ([1.0, float("inf")], 1, False, ValueError, r"probabilities must be finite and >= 0, got inf in row 0"),
    ([[1.0, 1.0], [0.0, 0.0]], 1, True, ValueError, r"row 1 sums to 0; every row needs a positive total"),
    ([1, 2], 1, False, TypeError, r"probabilities must be floating point, got dtype int64"),
    (np.ones((2, 2, 2)), 1, False, ValueError, r"input must be 1-D or 2-D .*got shape \(2, 2, 2\)"),
    ([1.0, 2.0], 3, False, ValueError, r"cannot draw 3 samples without replacement from 2 categories"),
    ([1.0, 2.0], 0, False, ValueError, r"num_samples must be positive, got 0"),
], ids=["negative", "inf", "zero-sum row", "ints", "3-D", "too many", "zero samples"])
def test_multinomial_refuses_what_torch_refuses_with_a_clear_error(probs, num_samples, replacement, error, message):
    with pytest.raises(RuntimeError):
        torch.multinomial(torch.tensor(probs), num_samples, replacement)
    with pytest.raises(error, match=rf"^multinomial: {message}"):
        T.multinomial(tensor(probs), num_samples, replacement)


# ---- bad input: a clear error naming the function and the argument, never NumPy's ----
@pytest.mark.parametrize("call, error, message", [
    (lambda: T.ones(2, "a"), TypeError, r"ones: size must be ints, got \(2, 'a'\)"),
    (lambda: T.zeros((2, "a")), TypeError, r"zeros: size must be ints, got \(2, 'a'\)"),
    (lambda: T.ones(2.0), TypeError, r"ones: size must be ints, got \(2.0,\)"),
    (lambda: T.ones((2, 3), 4), TypeError, r"ones: give the size as ints or as one sequence"),
    (lambda: T.empty(2, -1), ValueError, r"empty: size must be non-negative, got \(2, -1\)"),
    (lambda: T.randn(), TypeError, r"randn: missing the size"),
    (lambda: T.rand(2, size=(2,)), TypeError, r"rand: give the size once"),
    (lambda: T.ones(2, dtype="float33"), TypeError, r"ones: dtype must be a float, int or bool dtype .* got 'float33'"),
    (lambda: T.ones(2, dtype=np.complex64), TypeError, r"ones: dtype must be a float, int or bool dtype"),
    (lambda: T.full((2,), "x"), TypeError, r"full: fill_value must be a number, got 'x'"),
    (lambda: T.full((2,), float("nan"), dtype=T.long), ValueError, r"full: cannot fill a int64 tensor with nan"),
    (lambda: T.full_like(T.ones(2), None), TypeError, r"full_like: fill_value must be a number, got None"),
    (lambda: T.arange("a"), TypeError, r"arange: end must be a number, got 'a'"),
    (lambda: T.arange(), TypeError, r"arange: missing end"),
    (lambda: T.arange(0, float("inf")), ValueError, r"arange: end must be finite, got inf"),
    (lambda: T.zeros_like("abc"), TypeError, r"zeros_like: expected numbers"),
    (lambda: T.Generator(device="cuda"), ValueError, r"Generator: this engine runs on the CPU only"),
    (lambda: T.ones(2, device=3), TypeError, r"ones: device must be 'cpu' or ta.device\('cpu'\), got 3"),
    (lambda: tensor([[1, 2], [3]]), TypeError, r"tensor: cannot make a tensor from list"),
    (lambda: T.device(0), TypeError, r"device: expected a string such as 'cpu', got 0"),
], ids=lambda value: "" if callable(value) or isinstance(value, type) else value[:30])
def test_bad_arguments_give_a_clear_error_naming_the_function(call, error, message):
    with pytest.raises(error, match=message):
        call()
