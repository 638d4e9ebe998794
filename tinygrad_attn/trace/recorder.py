"""Record what every attention op computes, by observing the graph (never by changing it).

    with record_attention() as rec:
        loss = F.cross_entropy(model(tokens).reshape(-1, V), targets.reshape(-1))
        loss.backward()
    rec[0].weights        # (B, H, T, T): where each query looks, per head
    rec[0].weights_grad   # dL/dweights = G·Vᵀ, after backward
    rec[0].scores_grad    # dL/dscores = W ◦ (dW − rowsum(dW ◦ W))

Every node made inside the block by `scaled_dot_product_attention`, `attention_weights` or
`packed_attention` (so `nn.MultiHeadAttention` and `nn.GPT` too) gets an `AttentionRecord`,
in the order they were made. Forward values are copied when the node is made; the gradients
are filled in when backward passes the node, from the gradient that arrived there, so run
backward inside the block. The recorder reads only the public node view (`op`, `inputs`,
`saved`, `scope`, `data`), through `core.observe`: the same nodes, the same numbers.
Only nodes in a graph are seen (under `no_grad()` an op records no graph, and nothing here).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..attention.masks import allowed_keys, mask_scores
from ..attention.packed import heads_of, split_heads
from ..core import observe
from ..ops.shapes import sum_to_shape

__all__ = ["record_attention", "AttentionRecorder", "AttentionRecord", "ATTENTION_OPS"]

ATTENTION_OPS = ("scaled_dot_product_attention", "attention_weights", "packed_attention")


@dataclass(repr=False, eq=False)
class AttentionRecord:
    """One call of an attention op, head by head (NumPy arrays, copied when the node was made).

    node          the graph node the op made (its output)
    op            the op's name: "scaled_dot_product_attention", "attention_weights" or "packed_attention"
    scope         the node's scope path (e.g. "GPT/blocks.0/attn"): which layer this was
    q, k, v       (..., T, d) per head; for packed attention (B, H, T, d_head); v is None for
                  attention_weights
    scale         the number the scores were multiplied by (1/√d unless given)
    allowed       bool, broadcastable to the scores: True where attention was allowed (None: everywhere)
    scores        (..., Tq, Tk): q kᵀ · scale, -inf where not allowed
    weights       (..., Tq, Tk): softmax of the scores over keys (what the op saved)
    output        (..., Tq, dv) per head: weights @ v (None for attention_weights)
    weights_grad  dL/dweights = G·Vᵀ, with G the gradient that reached the output; None until
                  backward has passed this node
    scores_grad   dL/dscores = W ◦ (dW − rowsum(dW ◦ W)); None until backward
    """

    node: Any
    op: str
    scope: str
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray | None
    scale: float
    allowed: np.ndarray | None
    scores: np.ndarray
    weights: np.ndarray
    output: np.ndarray | None
    weights_grad: np.ndarray | None = None
    scores_grad: np.ndarray | None = None

    @property
    def n_heads(self) -> int:
        """The number of heads (the axis before (Tq, Tk)); 1 when the weights have no such axis."""
        return self.weights.shape[-3] if self.weights.ndim >= 3 else 1

    @property
    def has_grads(self) -> bool:
        return self.weights_grad is not None

    def __repr__(self) -> str:
        where = f", scope={self.scope!r}" if self.scope else ""
        grads = "with grads" if self.has_grads else "no grads yet"
        return f"AttentionRecord({self.op}{where}, weights {self.weights.shape}, {grads})"


def copy_array(array: Any) -> np.ndarray | None:
    """An owned copy (a kernel may reuse its buffers later), or None."""
    return None if array is None else np.array(array)


def record_of(node: Any) -> AttentionRecord:
    """Read one attention node's inputs and saved values into a record (copies, so a reused
    buffer or a later in-place change cannot alter what was recorded)."""
    name, saved = node.op.name, node.saved
    if name == "packed_attention":
        q, k, v = split_heads(node.inputs[0].data, saved.n_heads)
        output = heads_of(node.data, saved.n_heads)
    elif name in ("scaled_dot_product_attention", "hard_attention"):  # q, k, v in; weights saved
        q, k, v = (x.data for x in node.inputs)
        output = node.data
    else:  # attention_weights: the weights are the output
        q, k = (x.data for x in node.inputs)
        v = output = None
    allowed = allowed_keys(saved.mask, saved.is_causal, q.shape[-2], k.shape[-2])
    scores = mask_scores(q @ np.swapaxes(k, -1, -2) * saved.scale, allowed)
    copy = copy_array
    return AttentionRecord(node=node, op=name, scope=node.scope, q=copy(q), k=copy(k), v=copy(v),
                           scale=float(saved.scale), allowed=copy(allowed), scores=scores,
                           weights=copy(saved.attn_weights), output=copy(output))


def fill_grads(record: AttentionRecord, upstream_grad: np.ndarray) -> None:
    """dL/dweights and dL/dscores from G, the gradient that arrived at the op's output."""
    W = record.weights
    if record.op == "attention_weights":
        dW = np.array(upstream_grad)
    else:
        G = heads_of(upstream_grad, record.n_heads) if record.op == "packed_attention" else upstream_grad
        dW = sum_to_shape(G @ np.swapaxes(record.v, -1, -2), W)  # summed over batch dims only v had
    record.weights_grad = dW
    if record.op == "hard_attention":  # what the op's rule sends: argmax is flat
        record.scores_grad = np.zeros_like(W)
    else:
        record.scores_grad = W * (dW - np.sum(dW * W, axis=-1, keepdims=True))


class Observing:
    """`with recorder:` listens through the core's observers (`_on_node`, `_on_step`) until the
    block ends; `_twice` is the error for entering it while it records."""

    _twice = "record_attention: this recorder is already recording"
    _observer: observe | None = None

    def _on_node(self, node: Any) -> None:
        pass

    def _on_step(self, step: Any) -> None:
        pass

    def __enter__(self):
        if self._observer is not None:
            raise RuntimeError(self._twice)
        self._observer = observe(on_node=self._on_node, on_step=self._on_step)
        self._observer.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        observer, self._observer = self._observer, None
        observer.__exit__(*exc_info)


class AttentionRecorder(Observing):
    """The records of one `with record_attention() as rec:` block: `rec.records` (a list, in
    the order the nodes were made), `len(rec)`, `rec[i]`, iteration, `rec.for_node(node)`,
    `rec.in_scope("blocks.0")`. Several forwards and backwards may run in one block; a second
    backward through the same node (retain_graph=True) replaces its gradients."""

    def __init__(self) -> None:
        self.records: list[AttentionRecord] = []
        self._by_id: dict[int, AttentionRecord] = {}

    # ---- observing ----
    def _on_node(self, node: Any) -> None:
        op = node.op
        if op is None or op.name not in ATTENTION_OPS or op.engine != "tensor":
            return
        record = record_of(node)
        self.records.append(record)
        self._by_id[node.id] = record

    def _on_step(self, step: Any) -> None:
        record = self._by_id.get(step.node.id)
        if record is not None and record.node is step.node:
            fill_grads(record, step.grad)

    # ---- reading ----
    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[AttentionRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> AttentionRecord:
        return self.records[index]

    def for_node(self, node: Any) -> AttentionRecord:
        """The record of one attention node (KeyError if it was not recorded here)."""
        record = self._by_id.get(node.id)
        if record is None or record.node is not node:
            raise KeyError(f"record_attention: no record of node {node.id} ({node.op_name})")
        return record

    def in_scope(self, scope: str) -> list[AttentionRecord]:
        """The records whose scope path contains `scope` as one of its parts (e.g. "blocks.0")."""
        return [r for r in self.records if scope in r.scope.split("/")]

    def __repr__(self) -> str:
        if not self.records:
            return "AttentionRecorder(no records)"
        lines = [f"AttentionRecorder({len(self.records)} record{'s' if len(self.records) != 1 else ''}):"]
        lines += [f"  [{i}] {record!r}" for i, record in enumerate(self.records)]
        return "\n".join(lines)


def record_attention() -> AttentionRecorder:
    """`with record_attention() as rec:` records every attention op made in the block (see above)."""
    return AttentionRecorder()
