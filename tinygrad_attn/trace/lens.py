"""The attention lens: what every attention call computed, head by head, and which gradients
came back through it. Data only (NumPy arrays and text); `tinygrad_attn.viz.lens` draws it.

    with trace(model, tokens=["I", "went", ...]) as lens:    # or trace() around any code
        loss = F.cross_entropy(model(ids).reshape(-1, V), targets.reshape(-1))
        loss.backward()
    h = lens.head(layer=0, head=1)   # tokens, q, k, v, scores, weights, output, and after
                                     # backward: weights_grad, scores_grad, q/k/v_grad, and the
                                     # head's slice of the gradient that reached W_q, W_k, W_v
    lens.explain(layer=0, head=1, query=-1)    # one query row's numbers, worked out in words
    lens.embedding_grad()            # dL/d(token embedding) per position

What is read, and how: every node made inside the block by an attention op
(`scaled_dot_product_attention`, `attention_weights` with the matmul that applies its weights,
`packed_attention` inside `nn.MultiHeadAttention` and `nn.GPT`, `hard_attention`) is read
through `core.observe` when it is made (inputs, saved weights: copies), and again when
backward passes it (the gradient G that reached its output, and what it sent to q, k, v).
The projection a q, k or v came from is found by walking the graph back through reshapes,
transposes and indexing to a `linear` (nn.Linear: W is (out, in), a head owns rows of it) or a
`matmul` with a weight leaf (x @ W: a head owns columns); the gradient that reached that leaf
in this backward is kept, and each head gets its slice. The model computes exactly what it
computes unobserved: the same nodes, the same numbers, the same gradients.

Conventions: a 4-D q is (batch, heads, T, d), 3-D is (batch, T, d) with one head, 2-D is
(T, d). Layer i is the i-th attention call made in the block (run one forward in it). Under
`no_grad()` an op records no graph, so the lens sees no attention call at all, forward or
backward: run the forward with gradients on. A second backward through the same graph
(retain_graph=True) replaces the gradients.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..attention.packed import heads_of, split_heads
from ..nn.module import Module
from .recorder import ATTENTION_OPS, AttentionRecord, Observing, copy_array as _copy, fill_grads, record_of

__all__ = ["trace", "Lens", "AttentionCall", "HeadTrace", "Explanation", "EmbeddingTrace", "LENS_OPS"]

LENS_OPS = ATTENTION_OPS + ("hard_attention",)
_MOVES = ("reshape", "transpose", "getitem")  # ops that only move channels around


# ---- where each channel of q, k, v came from ----
@dataclass(eq=False)
class Projection:
    """The weight leaf a q, k or v was projected by, and which of its channels each head uses.

    layout "rows" (F.linear / nn.Linear, W (out, in)) or "columns" (x @ W, W (in, out));
    channels[h] lists head h's rows or columns of W, in the order of its d channels.
    """

    weight: Any
    layout: str
    channels: list[np.ndarray]

    @property
    def name(self) -> str:
        return self.weight.name or f"weight {self.weight.shape}"

    def head_slice(self, grad: np.ndarray, head: int) -> np.ndarray:
        index = self.channels[head]
        return grad[index, :] if self.layout == "rows" else grad[:, index]


def _replay(move: Any, index: np.ndarray) -> np.ndarray:
    """Apply a reshape/transpose/getitem node's move to an array of channel numbers."""
    name = move.op.name
    if name == "reshape":
        return index.reshape(move.data.shape)
    if name == "transpose":
        inverse = move.saved.inverse
        return np.transpose(index, np.argsort(inverse) if inverse else None)
    return index[move.saved.index]


def _source_channels(node: Any) -> tuple[Any, str, np.ndarray] | None:
    """(weight leaf, layout, channel number of each element of node), or None if node is not a
    projection seen through moves."""
    chain = []
    while node.op is not None and node.op.name in _MOVES:
        chain.append(node)
        node = node.inputs[0]
    if node.op is None or node.op.name not in ("linear", "matmul") or len(node.inputs) < 2:
        return None
    weight = node.inputs[1]
    if not (weight.is_leaf and weight.requires_grad and weight.data.ndim == 2):
        return None
    layout = "rows" if node.op.name == "linear" else "columns"
    index = np.broadcast_to(np.arange(node.data.shape[-1]), node.data.shape)
    try:
        for move in reversed(chain):
            index = _replay(move, index)
    except (RuntimeError, IndexError, ValueError):  # a move's saves already released
        return None
    return weight, layout, index


def _projection(source: tuple | None, lead: tuple[int, ...]) -> Projection | None:
    """Split the channel numbers of a (..., T, d) input into heads (each head: one set of channels)."""
    if source is None:
        return None
    weight, layout, index = source
    index = _as_heads(index, lead)
    channels = []
    for h in range(index.shape[1]):
        first = index[0, h, 0]
        if not np.all(index[:, h] == first):
            return None  # channels not shared by every position: not a per-head projection
        channels.append(np.array(first))
    return Projection(weight, layout, channels)


def _batch_heads(lead: tuple[int, ...]) -> tuple[int, int]:
    """(batch, heads) for the leading dims of the scores: (), (B,), (B, H) or (..., H)."""
    if len(lead) == 0:
        return 1, 1
    if len(lead) == 1:
        return lead[0], 1
    return int(np.prod(lead[:-1])), lead[-1]


def _as_heads(array: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """(..., r, c) broadcast to the scores' leading dims and viewed as (batch, heads, r, c)."""
    full = np.broadcast_to(array, tuple(lead) + array.shape[-2:])
    return full.reshape(_batch_heads(lead) + array.shape[-2:])


# ---- one attention call, one head ----
@dataclass(eq=False)
class AttentionCall:
    """One attention op made in the block (layer `layer`): its record and the gradients around it.

    record        the AttentionRecord (q, k, v, scale, allowed, scores, weights, output, and after
                  backward weights_grad, scores_grad); hard attention's scores_grad is exactly 0
    output_grad   G = dL/doutput, the gradient that reached the output (None until backward)
    q_grad, k_grad, v_grad   what the op sent back to its q, k, v (per head)
    projections   {"q": Projection, "k": ..., "v": ...} where one was found
    """

    layer: int
    record: AttentionRecord
    matmul: Any = None  # for `attention_weights`: the matmul applying the weights to v
    output_grad: np.ndarray | None = None
    q_grad: np.ndarray | None = None
    k_grad: np.ndarray | None = None
    v_grad: np.ndarray | None = None
    projections: dict[str, Projection] = field(default_factory=dict)

    @property
    def op(self) -> str:
        return self.record.op

    @property
    def scope(self) -> str:
        return self.record.scope

    @property
    def lead(self) -> tuple[int, ...]:
        return self.record.scores.shape[:-2]

    @property
    def n_heads(self) -> int:
        return _batch_heads(self.lead)[1]

    @property
    def n_batch(self) -> int:
        return _batch_heads(self.lead)[0]

    @property
    def has_grads(self) -> bool:
        return self.record.weights_grad is not None

    def __repr__(self) -> str:
        where = f" {self.scope!r}" if self.scope else ""
        return (f"AttentionCall(layer {self.layer}: {self.op}{where}, {self.n_heads} head(s), "
                f"weights {self.record.weights.shape}, {'with grads' if self.has_grads else 'no grads yet'})")


@dataclass(eq=False)
class HeadTrace:
    """One head of one call, one batch row: every array 2-D, rows are queries, columns keys.

    q (Tq, d), k (Tk, d), v (Tk, dv), scores and weights (Tq, Tk) (scores: q·k·scale, -inf where
    not allowed), allowed (Tq, Tk) bool, output (Tq, dv); after backward output_grad (Tq, dv),
    weights_grad and scores_grad (Tq, Tk), q_grad, k_grad, v_grad, and the head's slices of the
    gradient that reached the projections, w_q_grad / w_k_grad / w_v_grad (named by w_names).
    """

    layer: int
    head: int
    batch: int
    op: str
    scope: str
    query_tokens: list[str]
    key_tokens: list[str]
    scale: float
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray | None
    scores: np.ndarray
    weights: np.ndarray
    allowed: np.ndarray
    output: np.ndarray | None
    output_grad: np.ndarray | None = None
    weights_grad: np.ndarray | None = None
    scores_grad: np.ndarray | None = None
    q_grad: np.ndarray | None = None
    k_grad: np.ndarray | None = None
    v_grad: np.ndarray | None = None
    w_q_grad: np.ndarray | None = None
    w_k_grad: np.ndarray | None = None
    w_v_grad: np.ndarray | None = None
    w_names: dict[str, str] = field(default_factory=dict)

    @property
    def has_grads(self) -> bool:
        return self.weights_grad is not None

    @property
    def is_hard(self) -> bool:
        return self.op == "hard_attention"

    def where(self) -> str:
        """"layer 0, head 1" (and the batch row when it is not the first)."""
        return f"layer {self.layer}, head {self.head}" + (f", batch {self.batch}" if self.batch else "")

    def __repr__(self) -> str:
        return f"HeadTrace({self.where()}, {self.op}, {len(self.query_tokens)}×{len(self.key_tokens)})"


def _head_of(call: AttentionCall, head: int, batch: int, query_tokens: list[str], key_tokens: list[str],
             param_grads: dict[int, np.ndarray]) -> HeadTrace:
    rec, lead = call.record, call.lead

    def pick(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else np.array(_as_heads(array, lead)[batch, head])

    allowed = np.ones(rec.scores.shape[-2:], dtype=bool) if rec.allowed is None else pick(
        np.broadcast_to(rec.allowed, rec.scores.shape))
    trace = HeadTrace(call.layer, head, batch, rec.op, rec.scope, query_tokens, key_tokens, rec.scale,
                      pick(rec.q), pick(rec.k), pick(rec.v), pick(rec.scores), pick(rec.weights), allowed,
                      pick(rec.output), pick(call.output_grad), pick(rec.weights_grad), pick(rec.scores_grad),
                      pick(call.q_grad), pick(call.k_grad), pick(call.v_grad))
    for part, projection in call.projections.items():
        trace.w_names[part] = projection.name
        grad = param_grads.get(id(projection.weight))
        if grad is not None:
            setattr(trace, f"w_{part}_grad", projection.head_slice(grad, head))
    return trace


# ---- one query row, explained ----
def number(x: float) -> str:
    """+0.1234, or +1.80e-35 for a sliver too small for four decimals, and exactly 0 as "0"."""
    if x == 0:
        return "0"
    return f"{x:+.2e}" if abs(x) < 1e-3 else f"{x:+.4f}"


def plain(x: float) -> str:
    """A weight or a size: `number` without the sign."""
    return number(x).lstrip("+")


def minus(x: float) -> str:
    """"− 3.5230" (or "+ 1.2000" for a negative x): subtracting x, written for reading."""
    return f"− {plain(x)}" if x >= 0 else f"+ {plain(-x)}"


def _listed(items: list[str]) -> str:
    if not items:
        return "no key"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def vector(xs: Sequence[float]) -> str:
    return "[" + ", ".join(f"{x:g}" if float(x).is_integer() else number(x) for x in xs) + "]"


@dataclass(eq=False)
class Explanation:
    """Why one query's scores get the gradients they get (arrays over the allowed keys).

    g             dL/doutput of this query (dv,)
    values        v_j of each key (Tk, dv)
    weights       w_j;  weights_grad  dL/dw_j = g · v_j
    mean          Σ_k w_k dL/dw_k (the weighted average of dL/dw: the value the query gets now)
    scores_grad   dL/dscore_j = w_j (dL/dw_j − mean)  (exactly 0 for hard attention)
    weight_change how each weight moves for a small step of the scores against their gradient,
                  per unit of step: −w_j (dL/ds_j − Σ_k w_k dL/ds_k)
    more, less    the key whose score a step raises most / lowers most (None when all are 0)
    """

    where: str
    query: str
    keys: list[str]
    hard: bool
    g: np.ndarray
    values: np.ndarray
    weights: np.ndarray
    weights_grad: np.ndarray
    mean: float
    scores_grad: np.ndarray
    weight_change: np.ndarray
    more: str | None
    less: str | None

    def trade(self, more: str, less: str) -> float:
        """dL per ε of weight moved from key `less` to key `more` (positive: the loss would rise)."""
        index: dict[str, int] = {}
        for j, key in enumerate(self.keys):
            index.setdefault(key, j)  # a label used twice: its first key
        for key in (more, less):
            if key not in index:
                raise ValueError(f"Explanation.trade: no key {key!r}; the keys are {self.keys}")
        return float(self.weights_grad[index[more]] - self.weights_grad[index[less]])

    def trade_text(self, more: str, less: str) -> str:
        change = self.trade(more, less)
        verdict = "lower the loss: it helps" if change < 0 else "raise the loss: the opposite move helps"
        return (f"Moving a little weight ε from {less} to {more} (a bit more of {more}'s value, a bit less of "
                f"{less}'s) changes the loss by ε·(dL/dw_{more} − dL/dw_{less}) = ε·({number(change)}): "
                f"it would {verdict}.")

    def lines(self) -> list[str]:
        q = self.query
        out = [f"Query {q} ({self.where}){' — hard attention' if self.hard else ''}: "
               f"the gradient that reached its output is g = dL/doutput_{q} = {vector(self.g)}."]
        out.append("1. dL/dweight_j = g · v_j: how much the loss rises per unit of extra weight on key j's value.")
        for key, v, dw in zip(self.keys, self.values, self.weights_grad):
            out.append(f"   {key}: g · {vector(v)} = {number(dw)}")
        if self.hard:
            chosen = self.keys[int(np.argmax(self.weights))] if self.weights.any() else None
            out.append(f"2. Hard attention: the weights are one-hot{f' at {chosen}' if chosen else ''}. "
                       "argmax is flat (a small change of any score does not change the winner), so "
                       "dL/dscore_j = 0 exactly for every key, and no gradient reaches the query or any key.")
            out.append("3. No small step on the scores changes where " + q + " looks; only "
                       + (f"{chosen}'s value learns (dL/dv_{chosen} = g)." if chosen else "nothing learns."))
            return out
        out.append(f"2. The weights sum to one, so each key is compared with the weighted average "
                   f"Σ_k w_k·dL/dw_k = {number(self.mean)} (what {q} gets now): "
                   f"dL/dscore_j = w_j·(dL/dw_j {minus(self.mean)}).")
        for key, w, dw, ds in zip(self.keys, self.weights, self.weights_grad, self.scores_grad):
            out.append(f"   {key}: {plain(w)} × ({number(dw)} {minus(self.mean)}) = {number(ds)}")
        if self.more is None:
            out.append("3. Every dL/dscore is 0: no small step on the scores changes the loss.")
            return out
        up = [f"{k} ({number(ds)})" for k, ds in zip(self.keys, self.scores_grad) if ds < 0]
        down = [f"{k} ({number(ds)})" for k, ds in zip(self.keys, self.scores_grad) if ds > 0]
        out.append(f"3. A negative dL/dscore means raising that score lowers the loss. So a small gradient step "
                   f"raises the score of {_listed(up)} and lowers the score of {_listed(down)}: {q} would attend a bit "
                   f"more to {self.more} (more of its value {vector(self.values[int(np.argmin(self.scores_grad))])}) "
                   f"and a bit less to {self.less}.")
        out.append("   To first order the weights change per unit step by " + ", ".join(
            f"{k} {number(c)}" for k, c in zip(self.keys, self.weight_change)) + ".")
        for k, ds, c in zip(self.keys, self.scores_grad, self.weight_change):
            if ds > 0 and c > 0:
                out.append(f"   ({k}'s weight still rises a little although its score falls: {self.less} gives "
                           f"up more weight than {k}'s lower score costs it.)")
                break  # one such note is enough
        allowed = self.weights > 0
        if allowed.any():
            j = int(np.argmin(np.where(allowed, self.weights, np.inf)))
            out.append(f"   Even the least attended key, {self.keys[j]} (weight {plain(self.weights[j])}), has "
                       f"dL/dscore {number(self.scores_grad[j])}: soft attention keeps every key learning.")
        return out

    @property
    def text(self) -> str:
        return "\n".join(self.lines())

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def explain_head(trace: HeadTrace, query: int = -1) -> Explanation:
    """Work out one query row of a head: dL/dw = g·v, then the softmax backward (see Explanation)."""
    where = f"explain ({trace.where()})"
    if not trace.has_grads or trace.output_grad is None or trace.v is None:
        raise ValueError(f"{where}: no gradients yet; run backward inside the `with trace(...)` block")
    rows = trace.weights.shape[0]
    if isinstance(query, bool) or not isinstance(query, (int, np.integer)) or not -rows <= query < rows:
        raise ValueError(f"{where}: query must be an int in [-{rows}, {rows}), got {query!r}")
    keep = trace.allowed[query]
    keys = [t for t, a in zip(trace.key_tokens, keep) if a]
    w, v, g = trace.weights[query][keep], trace.v[keep], trace.output_grad[query]
    dw = v @ g
    mean = float(np.sum(w * dw))
    ds = np.zeros_like(w) if trace.is_hard else w * (dw - mean)
    change = -w * (ds - np.sum(w * ds))
    moving = np.any(ds != 0)
    return Explanation(trace.where(), trace.query_tokens[query], keys, trace.is_hard, g, v, w, dw, mean, ds,
                       change, keys[int(np.argmin(ds))] if moving else None,
                       keys[int(np.argmax(ds))] if moving else None)


# ---- embeddings ----
@dataclass(eq=False)
class EmbeddingTrace:
    """One `embedding` lookup made in the block: ids (..., T), the vectors it returned, and after
    backward the gradient that reached each looked-up vector (..., T, dim)."""

    node: Any
    name: str
    ids: np.ndarray
    vectors: np.ndarray
    grad: np.ndarray | None = None


# ---- the lens ----
class Lens(Observing):
    """The calls of one `with trace(...) as lens:` block; see the module docstring.

    lens.calls (list, layer order), len(lens), lens[i], lens.head(layer, head, batch),
    lens.explain(layer, head, query, batch), lens.embeddings, lens.embedding_grad(batch),
    lens.param_grads (weight name -> the gradient that reached it in the last backward),
    lens.tokens / lens.query_tokens (labels: a list of str, one list per batch row, or a
    function id -> str applied to the token ids of the first embedding lookup; default: positions).
    """

    _twice = "lens.trace: this lens is already recording"

    def __init__(self, model: Any = None, tokens: Any = None, query_tokens: Any = None):
        if model is not None and not isinstance(model, Module):
            raise TypeError(f"lens.trace: model must be an nn.Module or None, got {type(model).__name__}")
        self.model = model
        self.tokens = tokens
        self.query_tokens = query_tokens
        self.calls: list[AttentionCall] = []
        self.embeddings: list[EmbeddingTrace] = []
        self._by_id: dict[int, tuple[Any, Any]] = {}  # node id -> (node, what it is to the lens)
        self._weights: dict[int, Any] = {}  # id -> weight leaf whose gradient is kept
        self._grads: dict[int, np.ndarray] = {}
        self._model_params = None if model is None else {id(p) for p in model.parameters()}

    # ---- observing ----
    def _remember(self, node: Any, what: Any) -> None:
        self._by_id[node.id] = (node, what)

    def _lookup(self, node: Any) -> Any:
        found = self._by_id.get(node.id)
        return found[1] if found is not None and found[0] is node else None

    def _on_node(self, node: Any) -> None:
        op = node.op
        if op is None or op.engine != "tensor":
            return
        if op.name in LENS_OPS:
            self._add_call(node)
        elif op.name == "embedding":
            weight = node.inputs[1]
            self.embeddings.append(EmbeddingTrace(node, weight.name or "embedding", _copy(node.saved.ids),
                                                  _copy(node.data)))
            self._remember(node, self.embeddings[-1])
            self._weights[id(weight)] = weight
        elif op.name == "matmul":
            call = self._lookup(node.inputs[0])
            if isinstance(call, AttentionCall) and call.op == "attention_weights" and call.matmul is None:
                call.matmul = node  # weights @ v: the rest of scaled_dot_product_attention(return_weights=True)
                call.record.v, call.record.output = _copy(node.inputs[1].data), _copy(node.data)
                self._remember(node, ("matmul", call))

    def _add_call(self, node: Any) -> None:
        record = record_of(node)
        call = AttentionCall(len(self.calls), record)
        lead = record.scores.shape[:-2]
        if record.op == "packed_attention":
            source = _source_channels(node.inputs[0])
            if source is not None:
                weight, layout, index = source
                parts = split_heads(index, node.saved.n_heads)
                for part, channels in zip("qkv", parts):
                    call.projections[part] = _projection((weight, layout, channels), lead)
        else:
            for part, inp in zip("qkv", node.inputs):
                call.projections[part] = _projection(_source_channels(inp), lead)
        call.projections = {p: proj for p, proj in call.projections.items() if proj is not None}
        weights = [proj.weight for proj in call.projections.values()]
        if self._model_params is not None and weights and not any(id(w) in self._model_params for w in weights):
            return  # an attention call of some other model
        for weight in weights:
            self._weights[id(weight)] = weight
        self.calls.append(call)
        self._remember(node, call)

    def _on_step(self, step: Any) -> None:
        node = step.node
        if node.op is None:
            if self._weights.get(id(node)) is node:
                self._grads[id(node)] = _copy(step.grad)
            return
        what = self._lookup(node)
        if what is None:
            return
        if isinstance(what, EmbeddingTrace):
            what.grad = _copy(step.grad)
        elif isinstance(what, tuple):  # the matmul after attention_weights: G, and dV
            call = what[1]
            call.output_grad = _copy(step.grad)
            call.v_grad = _copy(step.sent[1])
        else:
            self._fill_call(what, step)

    def _fill_call(self, call: AttentionCall, step: Any) -> None:
        record = call.record
        if record.op == "attention_weights":
            fill_grads(record, step.grad)
            call.q_grad, call.k_grad = (_copy(g) for g in step.sent)
            return
        if record.op == "packed_attention":
            n_heads = record.n_heads
            call.output_grad = heads_of(np.array(step.grad), n_heads)
            call.q_grad, call.k_grad, call.v_grad = split_heads(np.array(step.sent[0]), n_heads)
        else:
            call.output_grad = _copy(step.grad)
            call.q_grad, call.k_grad, call.v_grad = (_copy(g) for g in step.sent)
        fill_grads(record, step.grad)

    # ---- reading ----
    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self):
        return iter(self.calls)

    def __getitem__(self, layer: int) -> AttentionCall:
        return self._call(layer, "lens")

    def _call(self, layer: int, where: str) -> AttentionCall:
        if not self.calls:
            raise ValueError(f"{where}: no attention call was recorded. Was the forward run inside the "
                             "`with trace(...)` block, with gradients on (under no_grad() an op records no graph)?")
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(self.calls):
            raise ValueError(f"{where}: layer must be an int in [0, {len(self.calls)}), got {layer!r}")
        return self.calls[layer]

    @property
    def param_grads(self) -> dict[str, np.ndarray]:
        """The gradient that reached each watched weight (projections, embeddings) in the last backward."""
        return {self._weights[i].name or f"weight {i}": g for i, g in self._grads.items()}

    def token_ids(self, batch: int = 0) -> np.ndarray | None:
        """The ids of the first embedding lookup (in nn.GPT: tok_emb), for one batch row."""
        if not self.embeddings:
            return None
        ids = self.embeddings[0].ids
        return ids if ids.ndim < 2 else ids[batch]

    def embedding_grad(self, batch: int = 0) -> np.ndarray | None:
        """dL/d(token embedding) per position (T, dim): the gradient that reached the vectors of
        the first embedding lookup; None before backward or without one."""
        if not self.embeddings or self.embeddings[0].grad is None:
            return None
        grad = self.embeddings[0].grad
        return grad if grad.ndim < 3 else grad[batch]

    def labels(self, count: int, batch: int = 0, queries: bool = False) -> list[str]:
        """`count` labels for the keys (or the queries) of batch row `batch`."""
        kind = "query_tokens" if queries and self.query_tokens is not None else "tokens"
        given = self.query_tokens if kind == "query_tokens" else self.tokens
        if callable(given):
            ids = self.token_ids(batch)
            if ids is not None and len(ids) == count:
                return [str(given(int(i))) for i in ids]
            given = None
        if given is None:
            return [str(t) for t in range(count)]
        rows = given[batch] if len(given) and not isinstance(given[0], str) else given
        labels = [str(t) for t in rows]
        if len(labels) != count:
            if queries and kind == "tokens":
                return [str(t) for t in range(count)]  # fewer queries than keys and no query labels
            raise ValueError(f"lens: {kind} has {len(labels)} labels but the attention has {count} "
                             f"{'queries' if queries else 'keys'}")
        return labels

    def head(self, layer: int = 0, head: int = 0, batch: int = 0) -> HeadTrace:
        """One head of one layer, for one batch row (see HeadTrace)."""
        call = self._call(layer, "lens.head")
        for name, value, size in (("head", head, call.n_heads), ("batch", batch, call.n_batch)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
                raise ValueError(f"lens.head: {name} must be an int in [0, {size}) for layer {layer}, got {value!r}")
        tq, tk = call.record.scores.shape[-2:]
        return _head_of(call, head, batch, self.labels(tq, batch, queries=True), self.labels(tk, batch),
                        self._grads)

    def explain(self, layer: int = 0, head: int = 0, query: int = -1, batch: int = 0) -> Explanation:
        """One query row's numbers worked out in words (default: the last query, which sees
        every key under a causal mask)."""
        return explain_head(self.head(layer, head, batch), query)

    def __repr__(self) -> str:
        if not self.calls:
            return "Lens(no attention calls recorded)"
        return "\n".join([f"Lens({len(self.calls)} attention call{'s' if len(self.calls) != 1 else ''}):"]
                         + [f"  {call!r}" for call in self.calls])


def trace(model: Any = None, tokens: Sequence[str] | Callable[[int], str] | None = None,
          query_tokens: Sequence[str] | None = None) -> Lens:
    """`with trace(model, tokens=[...]) as lens:` records every attention call made in the block
    (only the model's own when a model is given). `tokens`: the key labels (and query labels
    when there are as many queries), one list per batch row, or a decode function id -> str;
    `query_tokens` when the queries differ from the keys. Default labels: positions 0, 1, ..."""
    return Lens(model, tokens, query_tokens)
