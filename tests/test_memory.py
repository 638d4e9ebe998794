"""Backward releases what ops saved, and a training loop does not grow in memory."""
import os
import resource
import sys
import weakref

import numpy as np

import tinygrad_attn as ta
from tinygrad_attn import Tensor


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
