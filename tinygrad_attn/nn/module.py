"""`Module`, `Parameter` and the containers `ModuleList`, `ModuleDict`, `Sequential`: how layers
hold their weights and buffers and name them.

A `Module` registers every `Parameter` and sub-`Module` assigned to one of its attributes, in
the order they are assigned, and every tensor given to `register_buffer(name, tensor)` (state
that is saved but not learned, e.g. a running count or a fixed mask). That registry gives
`named_parameters()` its dotted names (`blocks.0.attn.qkv_proj.weight`), `state_dict()` its
keys, and each parameter and buffer its `.name`, so graphs and the backward stepper can say
which weight a node is. The rules are PyTorch's: a plain tensor assigned over a parameter, or
a number over a sub-module, is refused; None keeps the slot (a layer without bias).

Calling a module runs `forward` inside `core.scope(name)`, where `name` is the module's
attribute name under its parent (`blocks.0`, `attn`) or, for the outermost module, its class
name in lower case (`gpt`). Every node made inside is tagged with the path, e.g.
`gpt/blocks.0/attn`, which the graph renderer uses to group and collapse nodes by module.
"""
from __future__ import annotations

import html
import os
from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

import numpy as np

from ..core import place_in_scope, scope
from ..tensors import Tensor
from ..tensors.creation import default_rng
from ..tensors.dtypes import to_arguments
from . import files

__all__ = ["Parameter", "Module", "ModuleList", "ModuleDict", "Sequential", "as_generator", "LoadResult",
           "load_tensors"]


def as_generator(rng: Any, where: str) -> np.random.Generator:
    """A NumPy Generator from a seed, a Generator, or None (the one `ta.manual_seed` sets).

    An object holding a NumPy Generator as `.rng` (the engine's `ta.Generator`) works too.
    """
    if rng is None:
        return default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(getattr(rng, "rng", None), np.random.Generator):
        return rng.rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{where}: rng must be None, an int seed or a np.random.Generator, got {type(rng).__name__}")


def check_size(where: str, name: str, value: Any, minimum: int = 1) -> int:
    """A layer size as an int >= minimum, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


class Parameter(Tensor):
    """A tensor that is a module's weight: a leaf with requires_grad=True.

    Assigning one to a module attribute registers it; its `.name` becomes its dotted path.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, name: str | None = None):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=False, name=name)
        if self.data.dtype.kind != "f":
            raise TypeError(f"Parameter: weights must be floating point, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor"):]


class LoadResult(NamedTuple):
    """What `load_state_dict(..., strict=False)` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _as_array(value: Any, where: str, name: str) -> np.ndarray:
    """A state_dict value (our Tensor, a NumPy array, a torch tensor, a list) as an array."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor: no torch import needed
        try:
            return value.detach().cpu().numpy()
        except TypeError:  # a dtype NumPy lacks, e.g. bfloat16
            raise TypeError(f"{where}: {name!r} holds a torch {value.dtype} tensor, which NumPy cannot hold; "
                            f"convert it first, e.g. tensor.float()") from None
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}: {name!r} is not an array ({type(value).__name__}: {error})") from None


STATE_DICT_STYLES = (None, "nanogpt")

# key beginnings that say which layout a state dict is in, for the hint in a failed load
_LAYOUT_HINTS = (
    ("transformer.", "these are nanoGPT's names: load_state_dict(d, style='nanogpt') reads them into an nn.GPT"),
    ("_orig_mod.", "a torch.compile'd model's names: strip the '_orig_mod.' prefix from the keys"),
    ("module.", "a DataParallel model's names: strip the 'module.' prefix from the keys"),
)


def load_tensors(own: Mapping[str, Tensor], state_dict: Mapping[str, Any], strict: bool, where: str) -> LoadResult:
    """Copy `state_dict`'s arrays into the tensors `own` names, or change nothing and raise.

    Every check (missing, unexpected and misshaped keys, dtypes, tied weights given two different
    values) runs before the first copy, so a failed load leaves the model as it was."""
    missing = [name for name in own if name not in state_dict]
    unexpected = [name for name in state_dict if name not in own]
    problems = []
    if strict and missing:
        problems.append(f"missing keys {missing}")
    if strict and unexpected:
        problems.append(f"unexpected keys {unexpected}")
    arrays = {}
    for name, value in state_dict.items():
        if name not in own:
            continue
        array = _as_array(value, where, name)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{where}: {name!r} holds dtype {array.dtype}, expected numbers")
        if array.shape != own[name].data.shape:
            problems.append(f"{name!r} has shape {array.shape} but the model's has shape {own[name].data.shape}")
        else:
            arrays[name] = array
    first_name: dict[int, str] = {}
    for name in arrays:  # a tensor held under two names (tied weights) can take only one value
        other = first_name.setdefault(id(own[name]), name)
        if other != name and not np.array_equal(arrays[other], arrays[name]):
            problems.append(f"{other!r} and {name!r} are one tied weight in this model but hold different values")
    if problems:
        hints = [hint for start, hint in _LAYOUT_HINTS
                 if strict and any(isinstance(key, str) and key.startswith(start) for key in unexpected)]
        raise RuntimeError(f"{where}: " + "; ".join(problems) + " (nothing was loaded)"
                           + "".join(f"; {hint}" for hint in hints[:1]))
    for name, array in arrays.items():
        target = own[name]
        if not target.data.flags.writeable:
            target.data = target.data.copy()
        np.copyto(target.data, array, casting="unsafe")  # in place: optimizers keep their references
    return LoadResult(missing, unexpected)


class Module:
    """Base class of layers and models: subclass it, assign layers and `Parameter`s in
    `__init__` (after `super().__init__()`), and write `forward`.

    `model(x)` calls `forward(x)` inside a named scope; `.training` says whether the module is
    in training mode (`train()` / `eval()`), which layers such as dropout read.
    """

    training: bool
    _is_container = False  # ModuleList, ModuleDict: items take their scope name from it ("blocks.0")

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_path", "")  # dotted path from the outermost module
        object.__setattr__(self, "_scope_name", None)  # None: outermost, use the class name
        object.__setattr__(self, "_scope_base", "")  # scope path of the module whose forward calls this one

    # ---- registration ----
    def __setattr__(self, name: str, value: Any) -> None:
        registry = self.__dict__.get("_parameters")
        if registry is None:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__, before assigning "
                f"attribute {name!r}"
            )
        modules, buffers = self.__dict__["_modules"], self.__dict__["_buffers"]
        # a replacement keeps its place in the order (as in PyTorch)
        if isinstance(value, Parameter):
            self._forget(name, keep=registry)
            registry[name] = value
            self._label(name, value)
        elif isinstance(value, Module):
            self._forget(name, keep=modules)
            modules[name] = value
            value._relabel(self._child_path(name), self._child_scope(name), self._child_scope_base())
        elif name in registry:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter "
                                f"{name!r} (an nn.Parameter or None expected)")
            registry[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as child module "
                                f"{name!r} (an nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as buffer "
                                f"{name!r} (a Tensor or None expected)")
            buffers[name] = value
            if value is not None:
                self._label(name, value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def _forget(self, name: str, keep: dict | None = None) -> None:
        """Take `name` out of every registry but `keep`."""
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent_buffers.discard(name)

    def _label(self, name: str, tensor: Tensor) -> None:
        tensor.name = self._child_path(name)
        place_in_scope(tensor, self.scope_path)  # drawn inside their module's cluster

    def _check_new_name(self, kind: str, name: Any, registry: dict) -> None:
        where = type(self).__name__
        if not isinstance(name, str):
            raise TypeError(f"{where}: {kind} name must be a str, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f"{where}: {kind} name can't contain '.', got {name!r}")
        if not name:
            raise KeyError(f"{where}: {kind} name can't be the empty string")
        if name not in registry and (hasattr(self, name) and name not in self._parameters
                                     and name not in self._buffers and name not in self._modules):
            raise KeyError(f"{where}: attribute {name!r} already exists")

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Keep `tensor` as state that is saved but not learned: an attribute, in `buffers()` and
        (unless `persistent=False`) in `state_dict()`, but not in `parameters()`."""
        if "_buffers" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before register_buffer")
        self._check_new_name("buffer", name, self._buffers)
        if name in self._parameters or name in self._modules:
            raise KeyError(f"{type(self).__name__}: attribute {name!r} already exists (as a "
                           f"{'parameter' if name in self._parameters else 'module'})")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{type(self).__name__}.register_buffer: cannot register {type(tensor).__name__} as "
                            f"buffer {name!r} (a Tensor or None expected)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)
        if tensor is not None:
            self._label(name, tensor)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` (or None: an empty slot, as a layer without bias) under `name`."""
        self._check_new_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}.register_parameter: cannot assign {type(param).__name__} as "
                            f"parameter {name!r} (an nn.Parameter or None expected)")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = None  # so that assigning None below keeps the slot
        setattr(self, name, param)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register `module` (or None) as the child `name`, as assigning it would."""
        self._check_new_name("module", name, self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {type(module).__name__} is not a Module")
        self._forget(name, keep=self._modules)
        self._modules[name] = None
        setattr(self, name, module)

    register_module = add_module

    def _child_path(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def _child_scope(self, name: str) -> str:
        return f"{self.scope_name}.{name}" if self._is_container else name

    def _child_scope_base(self) -> str:
        return self._scope_base if self._is_container else self.scope_path  # a container opens no scope

    def _relabel(self, path: str, scope_name: str | None, scope_base: str) -> None:
        """Give this module and everything under it their names and scopes from the outermost module."""
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_scope_name", scope_name)
        object.__setattr__(self, "_scope_base", scope_base)
        for registry in (self._parameters, self._buffers):
            for name, tensor in registry.items():
                if tensor is not None:
                    self._label(name, tensor)
        for name, child in self._modules.items():
            if child is not None:
                child._relabel(self._child_path(name), self._child_scope(name), self._child_scope_base())

    @property
    def scope_name(self) -> str:
        """The scope this module's forward runs in: its attribute name, or its class name if outermost."""
        return self._scope_name or type(self).__name__.lower()

    @property
    def scope_path(self) -> str:
        """The full scope of this module's nodes when the outermost module is called, e.g. `gpt/blocks.0/attn`."""
        return f"{self._scope_base}/{self.scope_name}" if self._scope_base else self.scope_name

    # ---- calling ----
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with scope(self._scope_name or type(self).__name__.lower()):
            return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, ...) in the subclass")

    # ---- walking the tree ----
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for this module ("" or `prefix`) and every module under it, depth first."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        seen: set[int] = set()
        for module_name, module in modules:
            for name, tensor in getattr(module, registry).items():
                if tensor is not None and id(tensor) not in seen:
                    seen.add(id(tensor))
                    yield (f"{module_name}.{name}" if module_name else name), tensor

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), each module's own parameters first, in the order assigned.

        A parameter shared by two modules is listed once, under its first name.
        `recurse=False`: this module's own parameters only.
        """
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) for every buffer registered with `register_buffer`, persistent or not."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self) -> int:
        """How many numbers the model learns."""
        return sum(param.data.size for param in self.parameters())

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call `fn(module)` on every sub-module (children first) and then on this one; returns self.

        The usual use is initialising weights: `model.apply(init_weights)`.
        """
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}.apply: fn must be callable, got {type(fn).__name__}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- gradients and modes ----
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: `.grad` becomes None (the default, as in PyTorch),
        or, with `set_to_none=False`, an existing gradient is filled with zeros."""
        for param in self.parameters():
            param.zero_grad(set_to_none)

    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active) for this module and all under it; returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode (dropout off) for this module and all under it; returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Switch gradients of every parameter on or off (freezing a layer); returns self."""
        for param in self.parameters():
            param.requires_grad = bool(requires_grad)
        return self

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> "Module":
        """`to(dtype)`, `to("cpu")` or `to(device, dtype)`, as in PyTorch: cast every parameter
        and floating-point buffer to a floating dtype (e.g. float64 for gradient checks); the
        device can only be the CPU. Returns self.

        Do it before making an optimizer: the optimizer's state follows the parameters' dtype.
        """
        dtype = to_arguments(args, dtype, device, f"{type(self).__name__}.to")
        if dtype is None:
            return self
        target = np.dtype(dtype)
        if target.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: parameters must stay floating point, got dtype {target}")
        for param in self.parameters():
            param.data = param.data.astype(target)
            param.grad = None
        for buffer in self.buffers():
            if buffer.data.dtype.kind == "f":
                buffer.data = buffer.data.astype(target)
        return self

    def double(self) -> "Module":
        """Every parameter and floating-point buffer as float64 (`to(float64)`)."""
        return self.to(np.float64)

    def float(self) -> "Module":
        """Every parameter and floating-point buffer as float32 (`to(float32)`)."""
        return self.to(np.float32)

    # ---- saving and loading ----
    def _state_tensors(self) -> dict[str, Tensor]:
        """What `state_dict` holds: per module (depth first) its parameters, then its persistent buffers.

        A parameter shared by two modules (tied weights) is held under each of its names, as in
        PyTorch's state_dict (`named_parameters()` lists it once)."""
        state: dict[str, Tensor] = {}
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[prefix + name] = param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    state[prefix + name] = buffer
        return state

    def _state_tensors_in_style(self, style: str | None, where: str) -> dict[str, Tensor]:
        """The state under the key names of `style` (a model that has another library's names overrides this)."""
        if style is None:
            return self._state_tensors()
        if style in STATE_DICT_STYLES:
            raise TypeError(f"{where}: style={style!r} maps nn.GPT's weights to nanoGPT's names; "
                            f"{type(self).__name__} is not an nn.GPT")
        raise ValueError(f"{where}: style must be one of {list(STATE_DICT_STYLES)}, got {style!r}")

    def _state_dict_in_style(self, state_dict: Mapping[str, Any], style: str) -> Mapping[str, Any]:
        """A state dict given in `style` without the keys that style saves but no model loads."""
        return state_dict

    def state_dict(self, style: str | None = None) -> dict[str, np.ndarray]:
        """{dotted name: a copy of the array}: every parameter (in `named_parameters()` order within
        each module) and every persistent buffer, module by module as in PyTorch.

        `style="nanogpt"` (nn.GPT only): nanoGPT's key names (`transformer.h.0.attn.c_attn.weight`, ...),
        so the dict loads into nanoGPT's model."""
        tensors = self._state_tensors_in_style(style, f"{type(self).__name__}.state_dict")
        return {name: tensor.data.copy() for name, tensor in tensors.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        style: str | None = None) -> LoadResult:
        """Copy arrays into the parameters and persistent buffers by name (cast to each one's dtype).

        With `strict` (the default) every entry must be given and nothing else. A missing or
        unexpected key (when strict) or a wrong shape raises a RuntimeError naming the keys before
        anything is changed. `style="nanogpt"` (nn.GPT only) reads nanoGPT's key names.
        """
        return self._load(state_dict, strict, style, f"{type(self).__name__}.load_state_dict")

    def _load(self, state_dict: Mapping[str, Any], strict: bool, style: str | None, where: str) -> LoadResult:
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: expected a dict of arrays keyed by parameter name, got {type(state_dict).__name__}")
        source = getattr(state_dict, "source", "")
        if isinstance(state_dict, files.StateFile) and source:  # read from a file: the error names it
            where = f"{where} from {source!r}"
        own = self._state_tensors_in_style(style, where)
        if style is not None:
            state_dict = self._state_dict_in_style(state_dict, style)
        return load_tensors(own, state_dict, strict, where)

    def save(self, path: str | os.PathLike) -> None:
        """Write `state_dict()` to an `.npz` file at exactly `path`."""
        files.write_npz(self.state_dict(), path, f"{type(self).__name__}.save")

    def load(self, path: str | os.PathLike) -> "Module":
        """Load what `save(path)` wrote (strictly: the same names and shapes); returns self.

        A file that is not such an archive, or holds other names or shapes, raises an error naming
        the file (and the keys) before anything is changed."""
        where = f"{type(self).__name__}.load"
        self._load(files.read_npz(path, where), True, None, where)
        return self

    # ---- PyTorch ----
    def to_torch(self) -> Any:
        """An equivalent `torch.nn.Module` with the same weights (copies), dtype, `requires_grad` and
        training mode, for nn.GPT, TransformerBlock, MultiHeadAttention, MLP, Linear, LayerNorm,
        Embedding, Dropout, GELU, ReLU, Sequential, ModuleList, ModuleDict and compositions of
        them; its state_dict has the same keys as ours. Needs PyTorch (`pip install tinygrad_attn[torch]`)."""
        from . import torch_bridge  # torch_bridge imports torch only when called: torch stays optional
        return torch_bridge.to_torch(self)

    @classmethod
    def from_torch(cls, torch_module: Any) -> "Module":
        """The way back from `to_torch()`: our module for a torch.nn.Linear, LayerNorm, Embedding,
        Dropout, GELU, ReLU, Sequential, ModuleList, ModuleDict, a module that `to_torch()` made,
        or a nanoGPT-style GPT (`transformer.wte`, `transformer.h`, `lm_head`), with its weights."""
        from . import torch_bridge
        module = torch_bridge.from_torch(torch_module)
        if not isinstance(module, cls):
            raise TypeError(f"{cls.__name__}.from_torch: a torch {type(torch_module).__name__} becomes an "
                            f"nn.{type(module).__name__}, not an nn.{cls.__name__} (nn.Module.from_torch takes any)")
        return module

    # ---- printing ----
    def extra_repr(self) -> str:
        """The settings shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        children = [(name, child) for name, child in self._modules.items() if child is not None]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = [f"  {extra}"] if extra else []
        for name, child in children:
            child_lines = repr(child).split("\n")
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def summary(self) -> str:
        """One line: the class, how many parameters (and their dtypes) and submodules."""
        params = list(self.parameters())
        count = sum(int(p.data.size) for p in params)
        dtypes = ", ".join(sorted({str(p.dtype) for p in params})) or "none"
        submodules = sum(1 for _ in self.modules()) - 1
        return (f"{type(self).__name__}: {count:,} parameter{'s' if count != 1 else ''} ({dtypes}) "
                f"in {len(params)} tensor{'s' if len(params) != 1 else ''}, {submodules} submodule{'s' if submodules != 1 else ''}")

    def _repr_html_(self) -> str:
        """In Jupyter: the one-line summary, and the full tree (what print() shows) folded under it."""
        return (f"<details><summary><code>{html.escape(self.summary())}</code></summary>"
                f'<pre style="margin:0.3em 0 0 1em">{html.escape(repr(self))}</pre></details>')




def _index_of(where: str, index: Any, size: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -size <= index < size:
        raise IndexError(f"{where}: index {index!r} is out of range for {size} modules")
    return int(index) % size


def _slice_of(container: Module, index: slice, renumber: bool) -> Module:
    """A container of the same kind holding the sliced items under their keys (a Sequential) or
    numbered afresh (a ModuleList), as in PyTorch. The items keep their own names and scopes:
    they still belong to the original container."""
    part = type(container).__new__(type(container))
    Module.__init__(part)
    for position, name in enumerate(list(container._modules)[index]):
        key = str(position) if renumber else name
        part._modules[key] = container._modules[name]
        object.__setattr__(part, key, container._modules[name])
    return part


class _IndexedModules(Module):
    """What ModuleList and Sequential share: `c[i]`, `c[a:b]` (renumbered or under the same keys),
    `len(c)` and iteration, in the order the modules were added."""

    _renumber = True  # does a slice number its items afresh (ModuleList) or keep their keys?

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return _slice_of(self, index, renumber=self._renumber)
        return list(self._modules.values())[_index_of(type(self).__name__, index, len(self._modules))]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))


class ModuleList(_IndexedModules):
    """A list of modules whose parameters are registered as `0.weight`, `1.weight`, ...

    It has no forward: loop over it and call the items. Each item runs in scope
    `<list name>.<index>`, e.g. `blocks.0`. A slice is a ModuleList of the same modules.
    """

    _is_container = True

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        for module in modules or ():
            self.append(module)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for module in modules:
            self.append(module)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(); loop over it and call each module")

    def __repr__(self) -> str:
        """As PyTorch prints one: a run of modules that print alike is shown once, `(0-11): 12 x Block(...)`."""
        runs: list[list[Any]] = []  # [first index, last index, repr]
        for index, child in enumerate(self._modules.values()):
            text = repr(child)
            if runs and runs[-1][2] == text:
                runs[-1][1] = index
            else:
                runs.append([index, index, text])
        if not runs:
            return "ModuleList()"
        lines = []
        for first, last, text in runs:
            label = f"({first}): " if first == last else f"({first}-{last}): {last - first + 1} x "
            lines.append("  " + label + "\n  ".join(text.split("\n")))
        return "ModuleList(\n" + "\n".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules, registered under their keys (`heads.copy.weight`), in insertion order.

    It has no forward: look modules up by key and call them. Each runs in scope
    `<dict name>.<key>`. Keys are strings without '.', and may not hide an attribute
    (`keys`, `training`, ...), as in PyTorch.
    """

    _is_container = True

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module under key {key!r}; keys are {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: the value of key {key!r} must be a Module, got {type(module).__name__}")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # a clear KeyError when missing
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> list[str]:
        return list(self._modules)

    def values(self) -> list[Module]:
        return list(self._modules.values())

    def items(self) -> list[tuple[str, Module]]:
        return list(self._modules.items())

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        try:
            pairs = list(pairs)
        except TypeError:
            raise TypeError(f"ModuleDict.update: expected a mapping or pairs (key, module), got "
                            f"{type(modules).__name__}") from None
        for position, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"ModuleDict.update: item {position} must be a pair (key, module), got {pair!r}")
            self[pair[0]] = pair[1]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(); look a module up by key and call it")


class Sequential(_IndexedModules):
    """Modules called one after another: `Sequential(a, b, c)(x)` is `c(b(a(x)))`.

    Registered as `0`, `1`, ... (or under the keys of an OrderedDict), so names read
    `mlp.0.weight`; each runs in its own scope inside the Sequential's (`mlp/0`).
    """

    _renumber = False  # a slice keeps the items' keys, as in PyTorch

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for key, module in modules[0].items():
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: {key!r} must be a Module, got {type(module).__name__}")
                self.add_module(key, module)
            return
        for position, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {position} must be a Module, got {type(module).__name__}")
            self.add_module(str(position), module)

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self._modules)), module)
        return self

    def forward(self, input: Any) -> Any:  # noqa: A002  (PyTorch's name)
        for module in self:
            input = module(input)
        return input
