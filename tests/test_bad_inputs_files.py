"""Loading weights from bad files and bad dicts: a clear error that names the file, the keys and
the shapes, in the library's words (no zipfile, NumPy or safetensors parser message alone), and
a model left exactly as it was.

Covers `Module.load` (.npz), `Module.load_state_dict` and `nn.load_safetensors`.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from tinygrad_attn import nn

# words of the parsers underneath that must not be all a learner sees
PARSER_WORDS = ("BadZipFile", "zipfile", "allow_pickle", "header too large", "SafetensorError", "Errno",
                "not understood", "incomplete metadata", "pickled data")


def small_model() -> nn.Module:
    return nn.GPT(vocab_size=7, block_size=4, d_model=8, n_heads=2, n_layers=1, d_ff=16, rng=0)


@pytest.fixture
def model():
    return small_model()


def check_unchanged(model, before):
    after = model.state_dict()
    assert list(after) == list(before)
    for name, array in before.items():
        np.testing.assert_array_equal(after[name], array, err_msg=name)


def check_message(error, *parts):
    message = str(error.value)
    for part in parts:
        assert part in message, f"{part!r} not in: {message}"
    for word in PARSER_WORDS:
        assert word not in message, f"parser word {word!r} in: {message}"


def save_npz(path, state):
    with open(path, "wb") as file:
        np.savez(file, **state)
    return path


def wrong_state(model):
    """A state dict with one key missing, one extra and one misshaped."""
    state = {name: array + 1 for name, array in model.state_dict().items()}
    del state["head.bias"]
    state["head.extra"] = np.ones(2, np.float32)
    state["ln_f.weight"] = np.ones(9, np.float32)
    return state


KEY_PARTS = ("missing keys ['head.bias']", "unexpected keys ['head.extra']",
             "'ln_f.weight' has shape (9,) but the model's has shape (8,)", "nothing was loaded")


# ---- missing, unexpected and misshaped keys ----
def test_load_state_dict_names_missing_unexpected_and_misshaped_keys(model):
    before = model.state_dict()
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(wrong_state(model))
    check_message(error, "GPT.load_state_dict", *KEY_PARTS)
    check_unchanged(model, before)


def test_load_names_the_file_and_the_keys(model, tmp_path):
    before = model.state_dict()
    path = save_npz(tmp_path / "wrong.npz", wrong_state(model))
    with pytest.raises(RuntimeError) as error:
        model.load(path)
    check_message(error, "GPT.load", str(path), *KEY_PARTS)
    check_unchanged(model, before)


def test_load_safetensors_names_the_file_and_the_keys(model, tmp_path):
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    before = model.state_dict()
    path = tmp_path / "wrong.safetensors"
    nn.save_safetensors(wrong_state(model), path)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(nn.load_safetensors(path))
    check_message(error, "GPT.load_state_dict", str(path), *KEY_PARTS)
    check_unchanged(model, before)


def test_a_tied_weight_given_two_values_is_refused():
    model = nn.GPT.nanogpt(vocab_size=7, block_size=4, n_layer=1, n_head=2, n_embd=8, rng=0)
    before = model.state_dict()
    state = {name: array + 1 for name, array in before.items()}
    state["head.weight"] = state["head.weight"] + 1
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    check_message(error, "'tok_emb.weight' and 'head.weight' are one tied weight", "different values")
    check_unchanged(model, before)


def test_nanogpt_names_without_the_style_get_a_hint(model):
    state = {name.replace("tok_emb", "transformer.wte"): array for name, array in model.state_dict().items()}
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    check_message(error, "unexpected keys ['transformer.wte.weight']", "style='nanogpt'")


# ---- wrong dtypes ----
@pytest.mark.parametrize("bad", [np.array(["a"] * 7), np.ones(7, np.complex64)], ids=["strings", "complex"])
def test_load_state_dict_refuses_non_numbers_by_name(model, bad):
    before = model.state_dict()
    state = model.state_dict()
    state["head.bias"] = bad
    with pytest.raises(TypeError) as error:
        model.load_state_dict(state)
    check_message(error, "'head.bias' holds dtype", "expected numbers")
    check_unchanged(model, before)


def test_load_refuses_an_npz_of_strings_by_name(model, tmp_path):
    before = model.state_dict()
    state = model.state_dict()
    state["head.bias"] = np.array(["x"] * 7)
    with pytest.raises(TypeError) as error:
        model.load(save_npz(tmp_path / "strings.npz", state))
    check_message(error, "'head.bias' holds dtype <U1", str(tmp_path / "strings.npz"))
    check_unchanged(model, before)


def test_load_refuses_an_npz_of_python_objects(model, tmp_path):
    before = model.state_dict()
    state = model.state_dict()
    state["head.bias"] = np.array([{"a": 1}] * 7, dtype=object)
    path = tmp_path / "objects.npz"
    with open(path, "wb") as file:
        np.savez(file, **state)  # savez pickles object arrays; loading refuses pickle
    with pytest.raises(TypeError) as error:
        model.load(path)
    check_message(error, str(path), "'head.bias' holds Python objects, not numbers")
    check_unchanged(model, before)


def test_save_safetensors_refuses_dtypes_the_format_lacks(tmp_path):
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    with pytest.raises(TypeError) as error:
        nn.save_safetensors({"w": np.ones(3, np.complex64)}, tmp_path / "c.safetensors")
    check_message(error, "save_safetensors", "'w' holds dtype complex64")
    with pytest.raises(TypeError, match="every key must be a non-empty str"):
        nn.save_safetensors({3: np.ones(3)}, tmp_path / "k.safetensors")
    with pytest.raises(TypeError, match="expected an nn.Module or a dict of arrays"):
        nn.save_safetensors([np.ones(3)], tmp_path / "l.safetensors")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_a_bfloat16_safetensors_file_is_refused_by_name(model, tmp_path):
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    torch = pytest.importorskip("torch", reason="torch writes the bfloat16 file")
    from safetensors.torch import save_file

    path = tmp_path / "bf16.safetensors"
    save_file({"head.bias": torch.zeros(7, dtype=torch.bfloat16)}, str(path))
    with pytest.raises(TypeError) as error:
        nn.load_safetensors(path)
    check_message(error, str(path), "'head.bias' is stored as BF16, which NumPy cannot hold")


# ---- corrupted or wrong files ----
def npy_file(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.ones(3))
    return path


def random_bytes(tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    return path


def truncated_npz(tmp_path):
    path = tmp_path / "cut.npz"
    small_model().save(path)
    path.write_bytes(path.read_bytes()[:-100])
    return path


def damaged_npz(tmp_path):
    path = tmp_path / "damaged.npz"
    small_model().save(path)
    data = bytearray(path.read_bytes())
    data[200:260] = bytes(60)  # inside the first array's bytes: the zip's checksum no longer matches
    path.write_bytes(bytes(data))
    return path


def empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    return path


def safetensors_file(tmp_path):
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    path = tmp_path / "weights.safetensors"
    nn.save_safetensors(small_model(), path)
    return path


def truncated_safetensors(tmp_path):
    path = safetensors_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-40])
    return path


def npz_file(tmp_path):
    path = tmp_path / "weights.npz"
    small_model().save(path)
    return path


LOAD_CASES = {
    "npy": (npy_file, ValueError, "a single NumPy array (.npy"),
    "random bytes": (random_bytes, ValueError, "in no format this library reads"),
    "truncated npz": (truncated_npz, ValueError, "damaged or truncated"),
    "damaged npz": (damaged_npz, ValueError, "damaged or truncated"),
    "empty file": (empty_file, ValueError, "an empty file"),
    "safetensors": (safetensors_file, ValueError, "a safetensors file (read it with nn.load_safetensors)"),
}


@pytest.mark.parametrize("case", list(LOAD_CASES))
def test_load_names_a_wrong_or_damaged_file(model, tmp_path, case):
    make, kind, words = LOAD_CASES[case]
    path = make(tmp_path)
    before = model.state_dict()
    with pytest.raises(kind) as error:
        model.load(path)
    check_message(error, "GPT.load", str(path), words)
    check_unchanged(model, before)


SAFETENSORS_CASES = {
    "npy": (npy_file, ValueError, "a single NumPy array (.npy"),
    "random bytes": (random_bytes, ValueError, "in no format this library reads"),
    "truncated": (truncated_safetensors, ValueError, "damaged or truncated"),
    "npz": (npz_file, ValueError, "a zip archive (an .npz from Module.save"),
    "empty file": (empty_file, ValueError, "an empty file"),
}


@pytest.mark.parametrize("case", list(SAFETENSORS_CASES))
def test_load_safetensors_names_a_wrong_or_damaged_file(tmp_path, case):
    pytest.importorskip("safetensors", reason="the safetensors extra is not installed")
    make, kind, words = SAFETENSORS_CASES[case]
    path = make(tmp_path)
    with pytest.raises(kind) as error:
        nn.load_safetensors(path)
    check_message(error, "load_safetensors", str(path), words, "expected a safetensors file"
                  if case != "truncated" else "safetensors")


def test_load_names_a_pytorch_checkpoint(model, tmp_path):
    torch = pytest.importorskip("torch", reason="torch writes the checkpoint")
    path = tmp_path / "ckpt.pt"
    torch.save({name: torch.from_numpy(array) for name, array in model.state_dict().items()}, path)
    before = model.state_dict()
    with pytest.raises(ValueError) as error:
        model.load(path)
    check_message(error, str(path), "a PyTorch checkpoint (torch.save)", "torch.load")
    check_unchanged(model, before)


def loaders():
    yield "load", lambda path: small_model().load(path)
    try:
        importlib.import_module("safetensors.numpy")
    except ModuleNotFoundError:  # the extra is optional: its case is left out without it
        return
    yield "load_safetensors", nn.load_safetensors


@pytest.mark.parametrize("name, loader", list(loaders()), ids=[name for name, _ in loaders()])
def test_paths_that_are_not_files(tmp_path, name, loader):
    with pytest.raises(IsADirectoryError) as error:
        loader(tmp_path)
    check_message(error, str(tmp_path), "is a directory, expected a file")
    missing = tmp_path / "nowhere" / "model.bin"
    with pytest.raises(FileNotFoundError) as error:
        loader(missing)
    check_message(error, f"no file at {str(missing)!r}")
    with pytest.raises(ValueError) as error:
        loader("")
    check_message(error, "the path is empty")
    with pytest.raises(TypeError) as error:
        loader(None)
    check_message(error, "path must be a str or os.PathLike, got NoneType")
    with pytest.raises(TypeError):
        loader(3)  # an int would open a file descriptor: refused


def test_saving_into_a_missing_folder_or_a_directory(model, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        model.save(tmp_path / "nowhere" / "m.npz")
    check_message(error, "GPT.save", "the folder", "does not exist")
    with pytest.raises(IsADirectoryError):
        model.save(tmp_path)
