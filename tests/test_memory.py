"""Backward releases what ops saved, a graph dies with its root, a training loop does not grow
in memory, and every cache is bounded and emptied by `ta.release_memory()`."""
import ast
import gc
import os
import pathlib
import resource
import sys
import weakref

import numpy as np
import pytest

import tinygrad_attn as ta
from tinygrad_attn import Tensor, functional as F, nn, optim
from tinygrad_attn.kernels import pool


def _non_leaves(root):
    seen, stack, found = {id(root)}, [root], []
    while stack:
        node = stack.pop()
        if not node.is_leaf:
            found.append(node)
        for inp in node.inputs:
            if id(inp) not in seen:
                seen.add(id(inp))
                stack.append(inp)
    return found


def _small_graph():
    x = Tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4), requires_grad=True)
    mask = np.array([[True, False, False, False]] * 3)
    hidden = (x @ x.T).tanh().masked_fill(mask[:, :3], -1e4)
    return (hidden.log_softmax() * hidden.max(axis=1, keepdims=True) + x.var(axis=0).sum()).mean()


def test_backward_releases_every_ops_saved_values():
    root = _small_graph()
    nodes = _non_leaves(root)
    assert len(nodes) >= 8
    root.backward()
    assert all(node.is_freed for node in nodes), [n.op_name for n in nodes if not n.is_freed]


def test_retain_graph_keeps_the_saved_values():
    root = _small_graph()
    nodes = _non_leaves(root)
    saved_before = [dict(vars(node.saved)) for node in nodes]
    root.backward(retain_graph=True)
    assert not any(node.is_freed for node in nodes)
    for node, before in zip(nodes, saved_before):  # the very same objects, by name
        after = vars(node.saved)
        assert after.keys() == before.keys() and all(after[k] is v for k, v in before.items()), node.op_name


def test_released_arrays_are_garbage_collected():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    spread = x.var(axis=1)  # saves the centred input x - mean
    saved = weakref.ref(spread.saved.centered)
    spread.sum().backward()
    assert saved() is None


def _rss_bytes() -> int:
    """Resident set size now (Linux), else the peak so far (which also grows with a leak)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def test_training_loop_memory_stays_flat():
    rng = np.random.default_rng(0)
    inputs = Tensor(rng.standard_normal((16, 8)))
    targets = rng.integers(0, 4, 16)
    picked = np.eye(4, dtype=bool)[targets]  # one-hot of the targets
    first = Tensor(rng.standard_normal((8, 32)) * 0.3, requires_grad=True)
    bias = Tensor(np.zeros(32), requires_grad=True)
    second = Tensor(rng.standard_normal((32, 4)) * 0.3, requires_grad=True)
    params = (first, bias, second)

    def train_step() -> float:
        hidden = (inputs @ first + bias).relu()
        log_probs = (hidden @ second).log_softmax(axis=-1)
        loss = -log_probs.masked_fill(~picked, 0.0).sum(axis=-1).mean()
        loss.backward()
        with ta.no_grad():
            for param in params:
                param.data -= 0.05 * param.grad
                param.zero_grad()
        return loss.item()

    losses = [train_step() for _ in range(200)]  # warm-up: allocator pools and caches fill
    after_warm_up = _rss_bytes()
    losses += [train_step() for _ in range(800)]
    growth = _rss_bytes() - after_warm_up
    assert losses[-1] < losses[0]  # it did train
    assert growth < 2 * 2**20, f"RSS grew by {growth / 2**20:.2f} MB over 800 steps (from {after_warm_up / 2**20:.1f} MB)"


# ---- a GPT training loop, graphs without backward, and every cache ----
def _tiny_gpt():
    model = nn.GPT(vocab_size=8, block_size=8, d_model=16, n_heads=2, n_layers=1, d_ff=32, rng=0)
    idx = np.random.default_rng(0).integers(0, 8, (4, 8))
    return model, ta.tensor(idx), ta.tensor(np.roll(idx, -1, axis=1).reshape(-1))


def _gpt_loss(model, idx, targets):
    logits = model(idx)
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets)


def test_gpt_training_rss_stays_flat_over_1000_steps():
    model, idx, targets = _tiny_gpt()
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    losses = np.empty(1000)  # preallocated: a growing list of floats would itself be 32 bytes a step

    def train_step(index: int) -> None:
        loss = _gpt_loss(model, idx, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses[index] = loss.item()

    for index in range(200):  # warm-up: the buffer pool, the optimizer's state and malloc's arenas fill
        train_step(index)
    after_warm_up = _rss_bytes()
    for index in range(200, 1000):
        train_step(index)
    at_end = _rss_bytes()
    growth = at_end - after_warm_up
    assert losses[-1] < 0.1 * losses[0]  # it did train (a fixed batch is learnt by heart)
    report = (f"RSS {after_warm_up / 2**20:.2f} MB after warm-up, {at_end / 2**20:.2f} MB after 1000 steps "
              f"(growth {growth / 2**20:+.3f} MB, {100 * growth / after_warm_up:+.2f} %)")
    assert growth <= 0.05 * after_warm_up, report
    assert growth < 2 * 2**20, report  # and absolutely small: 2 KB a step would already fail this


def _graph_with_weakrefs(kernels: bool):
    """A GPT loss with weak references to intermediate tensors and to arrays their ops saved."""
    model, idx, targets = _tiny_gpt()
    with ta.use_kernels(kernels):
        loss = _gpt_loss(model, idx, targets)
    refs = []
    for node in _non_leaves(loss):
        refs.append(weakref.ref(node))
        refs.extend(weakref.ref(value) for value in vars(node.saved).values() if isinstance(value, np.ndarray))
    assert len(refs) > 20
    return model, loss, refs


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])
def test_a_graph_is_freed_when_its_root_goes_out_of_scope_without_backward(kernels):
    gc.collect()
    gc.disable()  # reference counting alone must free it: a reference cycle would keep it until a gc pass
    try:
        model, loss, refs = _graph_with_weakrefs(kernels)
        assert all(ref() is not None for ref in refs)
        del loss
        alive = [ref() for ref in refs if ref() is not None]
        assert not alive, f"{len(alive)} of {len(refs)} graph objects outlived their root: {alive[:3]!r:.300}"
        assert all(p.grad is None for p in model.parameters())
    finally:
        gc.enable()
    if kernels:  # the pooled buffers the graph's arrays lived in are free for reuse again
        pool._pool().drop_unused()
        assert pool.pooled_bytes() == 0


def test_a_graph_kept_by_retain_graph_is_freed_with_its_root():
    gc.collect()
    gc.disable()
    try:
        model, loss, refs = _graph_with_weakrefs(True)
        loss.backward(retain_graph=True)
        del loss
        assert not [ref() for ref in refs if ref() is not None]
    finally:
        gc.enable()


# Every cache the package keeps, with its cap; the scan below fails when a new one appears unlisted.
CACHES = {
    "kernels/pool.py: _ones_cache": "64 vectors and ONES_CACHE_MAX_BYTES",
    "kernels/pool.py: _local.pool (buffer pool)": "DEFAULT_MAX_POOLED_BYTES per thread",
    "kernels/attention.py: _bias_cache": "CAUSAL_BIAS_CACHE_MAX_BYTES",
    "kernels/attention.py: _largest_safe_score": "lru_cache(maxsize=32) of floats",
    "viz/render.py: _search_dot": "lru_cache(maxsize=1): one path; not engine memory",
    "viz/render.py: _output_formats": "lru_cache(maxsize=8): sets of format names; not engine memory",
    "nn/torch_bridge.py: torch_classes": "lru_cache of a function without arguments: one namespace of classes",
}


def test_every_cache_in_the_package_is_listed_with_its_cap():
    package = pathlib.Path(ta.__file__).parent
    found = set()
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = path.relative_to(package).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if ast.unparse(target) in ("functools.lru_cache", "lru_cache", "functools.cache", "cache"):
                        found.add(f"{relative}: {node.name}")
        for node in tree.body:  # module-level containers named like a cache or a pool
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and not target.id.isupper() \
                        and any(word in target.id.lower() for word in ("cache", "pool")):  # not a cap's constant
                    found.add(f"{relative}: {target.id}")
    listed = {name.split(" (")[0] for name in CACHES} | {"kernels/pool.py: _local.pool"}
    unlisted = {name for name in found if name not in listed}
    assert not unlisted, f"caches without a listed cap: {sorted(unlisted)}"


def test_the_ones_cache_is_bounded_in_count_and_bytes():
    pool.release_ones()
    for n in range(1, 200):  # beyond the 64 vectors it keeps
        pool.ones(n, np.float32)
    assert len(pool._ones_cache) <= 64
    big = pool.ONES_CACHE_MAX_BYTES // 8 // 3 + 1  # three of these float64 vectors exceed the cap
    for offset in range(5):
        vector = pool.ones(big + offset, np.float64)
        assert vector.shape == (big + offset,) and not vector.flags.writeable and (vector == 1).all()
        assert pool.ones_cache_bytes() <= pool.ONES_CACHE_MAX_BYTES
    too_big = pool.ones(pool.ONES_CACHE_MAX_BYTES // 8 + 1, np.float64)  # larger than the cap: never kept
    assert (too_big == 1).all() and pool.ones_cache_bytes() <= pool.ONES_CACHE_MAX_BYTES
    assert pool.release_ones() > 0 and pool.ones_cache_bytes() == 0


def test_release_memory_empties_every_engine_cache():
    from tinygrad_attn.kernels import attention as attention_kernels

    model, idx, targets = _tiny_gpt()
    with ta.use_kernels(True):
        _gpt_loss(model, idx, targets).backward()
        x = ta.tensor(np.random.default_rng(1).standard_normal((1, 1, 512, 8)).astype(np.float32),
                      requires_grad=True)
        F.scaled_dot_product_attention(x, x, x, is_causal=True).sum().backward()
    del x
    held = {"ones": pool.ones_cache_bytes(), "pool": pool.pooled_bytes(),
            "causal biases": attention_kernels.causal_bias_cache_bytes(),
            "safe scores": attention_kernels._largest_safe_score.cache_info().currsize}
    assert all(held.values()), held  # the run above filled every one of them
    freed = ta.release_memory()
    assert freed >= held["ones"] + held["causal biases"]
    assert pool.ones_cache_bytes() == 0 and pool.pooled_bytes() == 0
    assert attention_kernels.causal_bias_cache_bytes() == 0
    assert attention_kernels._largest_safe_score.cache_info().currsize == 0
    assert ta.release_memory() == 0
