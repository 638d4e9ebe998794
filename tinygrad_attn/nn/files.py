"""Weights on disk: the `.npz` archive `Module.save` writes, and `.safetensors` files.

    save_safetensors(model_or_state_dict, path)   every array under its state_dict key
    load_safetensors(path)                        {key: array}, for model.load_state_dict(...)

Safetensors goes through the `safetensors` package's NumPy API (an optional extra:
`pip install tinygrad_attn[safetensors]`); the format itself is not written here. Reading checks
the file before anything is loaded, and an error names the file and says what it looks like
(a `.npy`, a zip, a PyTorch pickle, a directory, ...), not what the parser tripped over.
"""
from __future__ import annotations

import os
import struct
import zipfile
import zlib
from typing import Any, Mapping

import numpy as np

__all__ = ["save_safetensors", "load_safetensors", "StateFile", "read_npz", "write_npz", "check_path"]

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_MAGIC = b"\x80"
SAFETENSORS_DTYPES = ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
                      "float16", "float32", "float64")


class StateFile(dict):
    """A state dict read from a file: a plain dict that remembers `.source`, so that a failed
    `load_state_dict` can name the file."""

    source: str = ""


def check_path(path: Any, where: str, reading: bool = True) -> str:
    """`path` as a str, checked: not empty, and (reading) an existing file, not a directory."""
    if isinstance(path, bool) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{where}: path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if path == "":
        raise ValueError(f"{where}: the path is empty; give the file's name, e.g. 'model.npz'")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{where}: {path!r} is a directory, expected a file")
    if reading and not os.path.exists(path):
        raise FileNotFoundError(f"{where}: no file at {path!r}")
    if not reading:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{where}: cannot write {path!r}: the folder {folder!r} does not exist")
    return path


def _head(path: str, size: int = 16) -> bytes:
    with open(path, "rb") as file:
        return file.read(size)


def _looks_like_safetensors(head: bytes, file_size: int) -> bool:
    """8 bytes of little-endian header length, then a JSON header starting with '{'."""
    if len(head) < 9:
        return False
    header_size = struct.unpack("<Q", head[:8])[0]
    return head[8:9] == b"{" and 8 + header_size <= file_size


def _what_it_is(path: str) -> str:
    """What a file looks like from its first bytes, in words."""
    head = _head(path)
    if not head:
        return "an empty file"
    if head.startswith(NPY_MAGIC):
        return "a single NumPy array (.npy, as np.save writes), not a set of named arrays"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive (an .npz from Module.save, or a PyTorch .pt checkpoint)"
    if _looks_like_safetensors(head, os.path.getsize(path)):
        return "a safetensors file (read it with nn.load_safetensors)"
    if head.startswith(PICKLE_MAGIC):
        return "a Python pickle (e.g. an old torch.save file: torch.load it, then pass its state dict)"
    return f"in no format this library reads (it starts with the bytes {head[:8]!r})"


def _zip_members(path: str, where: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            damaged = archive.testzip()  # checks every member's CRC: a truncated or altered file fails here
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError):
        damaged = "?"
    if damaged is not None:
        raise ValueError(f"{where}: {path!r} is damaged or truncated: it begins like the .npz archive Module.save "
                         f"writes, but its contents cannot be read back") from None
    return names


def read_npz(path: Any, where: str) -> StateFile:
    """{key: array} from an `.npz` archive written by `Module.save`, or a clear error naming the file."""
    path = check_path(path, where)
    if not _head(path).startswith(ZIP_MAGIC):
        raise ValueError(f"{where}: {path!r} is {_what_it_is(path)}; expected the .npz archive that Module.save "
                         f"writes")
    members = _zip_members(path, where)
    if any(name.endswith(".pkl") for name in members):
        raise ValueError(f"{where}: {path!r} is a PyTorch checkpoint (torch.save), not an .npz from Module.save: "
                         f"load it with torch.load and pass its state dict to load_state_dict")
    others = [name for name in members if not name.endswith(".npy")]
    if others:
        raise ValueError(f"{where}: {path!r} is a zip archive but not an .npz of arrays: it holds {others[:5]}")
    state = StateFile()
    state.source = path
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:
                try:
                    state[name] = archive[name]
                except ValueError:  # an object array: reading it would need pickle, which is refused
                    raise TypeError(f"{where}: {path!r}: array {name!r} holds Python objects, not numbers") from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError):
        raise ValueError(f"{where}: {path!r} is damaged or truncated: an array in it cannot be read") from None
    return state


def write_npz(state: Mapping[str, np.ndarray], path: Any, where: str) -> None:
    path = check_path(path, where, reading=False)
    with open(path, "wb") as file:
        np.savez(file, **state)


def _safetensors_numpy(where: str) -> Any:
    try:
        import safetensors.numpy  # optional: only these two functions need it
    except ModuleNotFoundError:
        raise ImportError(f"{where} needs the safetensors package: pip install tinygrad_attn[safetensors] "
                          f"(or pip install safetensors)") from None
    return safetensors


def _state_arrays(model_or_state_dict: Any, where: str) -> dict[str, np.ndarray]:
    from .module import Module, _as_array  # module.py imports this file: import it when called

    if isinstance(model_or_state_dict, Module):
        return model_or_state_dict.state_dict()
    if not isinstance(model_or_state_dict, Mapping):
        raise TypeError(f"{where}: expected an nn.Module or a dict of arrays keyed by name, got "
                        f"{type(model_or_state_dict).__name__}")
    arrays = {}
    for name, value in model_or_state_dict.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{where}: every key must be a non-empty str, got {name!r}")
        array = _as_array(value, where, name)
        if array.dtype.name not in SAFETENSORS_DTYPES:
            raise TypeError(f"{where}: {name!r} holds dtype {array.dtype}; a safetensors file holds "
                            f"{', '.join(SAFETENSORS_DTYPES)}")
        arrays[name] = array
    return arrays


def save_safetensors(model_or_state_dict: Any, path: str | os.PathLike) -> None:
    """Write a model's `state_dict()` (or a dict of arrays) to a `.safetensors` file at `path`.

    Tied weights are written under each of their names, as in the state dict, so the file loads
    with `load_state_dict` like any other."""
    where = "save_safetensors"
    safetensors = _safetensors_numpy(where)
    arrays = {name: np.ascontiguousarray(array) for name, array in _state_arrays(model_or_state_dict, where).items()}
    safetensors.numpy.save_file(arrays, check_path(path, where, reading=False))


def load_safetensors(path: str | os.PathLike) -> StateFile:
    """{key: array} from a `.safetensors` file, with each array's dtype and shape as the file
    gives them: `model.load_state_dict(nn.load_safetensors(path))` checks the names and shapes
    against the model and changes nothing if they differ."""
    where = "load_safetensors"
    safetensors = _safetensors_numpy(where)
    path = check_path(path, where)
    if not _looks_like_safetensors(_head(path), os.path.getsize(path)):
        raise ValueError(f"{where}: {path!r} is {_what_it_is(path)}; expected a safetensors file")
    state = StateFile()
    state.source = path
    try:
        with safetensors.safe_open(path, framework="np") as file:
            for name in file.keys():
                stored = file.get_slice(name).get_dtype()
                try:
                    state[name] = file.get_tensor(name)
                except TypeError:  # a dtype NumPy lacks (bfloat16, float8)
                    raise TypeError(f"{where}: {path!r}: {name!r} is stored as {stored}, which NumPy cannot hold; "
                                    f"convert it in PyTorch before saving (e.g. tensor.float())") from None
    except safetensors.SafetensorError:
        raise ValueError(f"{where}: {path!r} is damaged or truncated: its header or data cannot be read as a "
                         f"safetensors file") from None
    return state
