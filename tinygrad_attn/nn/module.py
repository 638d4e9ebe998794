"""`Module`, `Parameter` and `ModuleList`: how layers hold their weights and name them.

A `Module` registers every `Parameter` and sub-`Module` assigned to one of its attributes, in
the order they are assigned. That registry gives `named_parameters()` its dotted names
(`blocks.0.attn.qkv_proj.weight`), `state_dict()` its keys, and each parameter its `.name`, so
graphs and the backward stepper can say which weight a node is.

Calling a module runs `forward` inside `core.scope(name)`, where `name` is the module's
attribute name under its parent (`blocks.0`, `attn`) or, for the outermost module, its class
name in lower case (`gpt`). Every node made inside is tagged with the path, e.g.
`gpt/blocks.0/attn`, which the graph renderer uses to group and collapse nodes by module.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

import numpy as np

from ..core import place_in_scope, scope
from ..tensors import Tensor
from ..tensors.creation import default_rng

__all__ = ["Parameter", "Module", "ModuleList", "as_generator", "LoadResult"]


def as_generator(rng: int | np.random.Generator | None, where: str) -> np.random.Generator:
    """A NumPy Generator from a seed, a Generator, or None (the one `ta.manual_seed` sets)."""
    if rng is None:
        return default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
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


class Module:
    """Base class of layers and models: subclass it, assign layers and `Parameter`s in
    `__init__` (after `super().__init__()`), and write `forward`.

    `model(x)` calls `forward(x)` inside a named scope; `.training` says whether the module is
    in training mode (`train()` / `eval()`), which layers such as dropout read.
    """

    training: bool
    _is_container = False  # ModuleList: its items take their scope name from it ("blocks.0")

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
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
        modules = self.__dict__["_modules"]
        # a replacement keeps its place in the order (as in PyTorch); anything else leaves the registries
        if isinstance(value, Parameter):
            modules.pop(name, None)
            registry[name] = value
            value.name = self._child_path(name)
            place_in_scope(value, self.scope_path)
        elif isinstance(value, Module):
            registry.pop(name, None)
            modules[name] = value
            value._relabel(self._child_path(name), self._child_scope(name), self._child_scope_base())
        else:
            registry.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

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
        for name, param in self._parameters.items():
            param.name = self._child_path(name)
            place_in_scope(param, self.scope_path)  # weights are drawn inside their module's cluster
        for name, child in self._modules.items():
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
                        for child_name, child in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), each module's own parameters first, in the order assigned.

        A parameter shared by two modules is listed once, under its first name.
        """
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def num_parameters(self) -> int:
        """How many numbers the model learns."""
        return sum(param.data.size for param in self.parameters())

    # ---- gradients and modes ----
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (`.grad` becomes None)."""
        for param in self.parameters():
            param.grad = None

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

    def to(self, dtype: Any) -> "Module":
        """Cast every parameter to a floating dtype (e.g. np.float64 for gradient checks); returns self.

        Do it before making an optimizer: the optimizer's state follows the parameters' dtype.
        """
        target = np.dtype(dtype)
        if target.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: parameters must stay floating point, got dtype {target}")
        for param in self.parameters():
            param.data = param.data.astype(target)
            param.grad = None
        return self

    # ---- saving and loading ----
    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: a copy of the parameter's array}, in `named_parameters()` order."""
        return {name: param.data.copy() for name, param in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copy arrays into the parameters by name (cast to each parameter's dtype).

        With `strict` (the default) every parameter must be given and nothing else; a missing
        or unexpected key or a wrong shape raises before any parameter is changed.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: expected a dict of arrays keyed by parameter name, got {type(state_dict).__name__}")
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
            raise KeyError(f"{where}: " + "; ".join(problems))
        arrays = {}
        for name, value in state_dict.items():
            if name not in own:
                continue
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.dtype.kind not in "fiu":
                raise TypeError(f"{where}: {name!r} holds dtype {array.dtype}, expected numbers")
            if array.shape != own[name].data.shape:
                raise ValueError(
                    f"{where}: {name!r} has shape {array.shape} but the parameter has shape {own[name].data.shape}"
                )
            arrays[name] = array
        for name, array in arrays.items():
            np.copyto(own[name].data, array, casting="unsafe")  # in place: optimizers keep their references
        return LoadResult(missing, unexpected)

    def save(self, path: str | os.PathLike) -> None:
        """Write `state_dict()` to an `.npz` file at exactly `path`."""
        with open(path, "wb") as file:
            np.savez(file, **self.state_dict())

    def load(self, path: str | os.PathLike) -> "Module":
        """Load parameters saved by `save(path)` (strictly: the same names and shapes); returns self."""
        with np.load(path, allow_pickle=False) as archive:
            self.load_state_dict({name: archive[name] for name in archive.files})
        return self

    # ---- printing ----
    def extra_repr(self) -> str:
        """The settings shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [f"  {extra}"] if extra else []
        for name, child in self._modules.items():
            child_lines = repr(child).split("\n")
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules whose parameters are registered as `0.weight`, `1.weight`, ...

    It has no forward: loop over it and call the items. Each item runs in scope
    `<list name>.<index>`, e.g. `blocks.0`.
    """

    _is_container = True

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        for module in modules or ():
            self.append(module)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int) -> Module:
        if isinstance(index, slice):
            raise TypeError("ModuleList: slicing is not supported; index one item at a time")
        size = len(self._modules)
        if not isinstance(index, (int, np.integer)) or not -size <= index < size:
            raise IndexError(f"ModuleList: index {index!r} is out of range for {size} modules")
        return self._modules[str(int(index) % size)]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(); loop over it and call each module")
