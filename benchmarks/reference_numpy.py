"""Hand-written NumPy forward and backward passes: the "limit for a NumPy engine" baseline.

No autograd here: every backward formula is derived by hand and written next to the code
in a one-line comment. Everything stays float32 (Python float constants are "weak" under
NumPy 2's promotion rules, so they never upcast a float32 array).

Speed tricks, all plain NumPy:
- every large intermediate lives in a ``Workspace`` buffer that is reused from step to step
  and written with ``out=``, so a steady-state step allocates almost nothing big (big
  allocations are served by mmap and cost page faults on every step otherwise);
- all parameters live in one flat float32 buffer (and all gradients in another), so AdamW
  is a handful of vectorised passes over ~112k numbers;
- matmuls write straight into strided views (q/k/v are views of the fused qkv output, the
  attention output is written already in (batch, time, heads, head) order, dq/dk/dv are
  written straight into the fused dqkv gradient), so there are no transposed copies;
- attention scores are kept transposed, (keys, queries) per head, because NumPy reduces
  along a non-last axis (softmax max and sum over keys) several times faster;
- row and column sums are matmuls with a ones vector (BLAS beats ``ndarray.sum`` here);
- the causal mask is one cached additive -inf matrix;
- softmax backward uses rowsum(dA * A) == rowsum(dY * Y), a (.., T, head) reduction instead
  of a (.., T, T) one.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from benchmarks.workloads import (
    GPT_CONFIG,
    GPTConfig,
    attention_inputs,
    gpt_batch,
    gpt_init_params,
    gpt_param_shapes,
    w0_inputs,
)

FLOAT = np.float32
GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715


class Workspace:
    """Named float32 scratch arrays that are allocated once and reused on every call."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The (uninitialised) buffer called ``name``, (re)allocated if its shape changed."""
        array = self.arrays.get(name)
        if array is None or array.shape != shape:
            array = np.empty(shape, dtype=FLOAT)
            self.arrays[name] = array
        return array

    def ones(self, *shape: int) -> np.ndarray:
        """A cached float32 array of ones."""
        name = "ones" + str(shape)
        array = self.arrays.get(name)
        if array is None:
            array = np.ones(shape, dtype=FLOAT)
            self.arrays[name] = array
        return array

    def causal_bias_t(self, seq_len: int) -> np.ndarray:
        """Additive causal mask for transposed scores (key, query): -inf where key > query, else 0."""
        name = f"causal_bias_t{seq_len}"
        array = self.arrays.get(name)
        if array is None:
            array = np.tril(np.full((seq_len, seq_len), -np.inf, dtype=FLOAT), k=-1)
            self.arrays[name] = array
        return array


# ------------------------------------------------------------------- causal attention


def attention_forward(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, y_out: np.ndarray, ws: Workspace, tag: str
) -> tuple[np.ndarray, np.ndarray]:
    """Causal softmax attention over (batch, heads, T, head) inputs (any strides), into ``y_out``.

    Returns ``(probs_t, q_scaled)`` for the backward pass: the attention probabilities
    transposed to (batch, heads, key, query), and q / sqrt(head).
    """
    seq_len = q.shape[-2]
    q_scaled = np.multiply(q, 1.0 / math.sqrt(q.shape[-1]), out=ws.get(tag + ".q_scaled", q.shape))
    scores_t = ws.get(tag + ".probs_t", q.shape[:-2] + (seq_len, seq_len))
    np.matmul(k, np.swapaxes(q_scaled, -1, -2), out=scores_t)  # S^T = k (q / sqrt(d))^T
    scores_t += ws.causal_bias_t(seq_len)
    scores_t -= scores_t.max(axis=-2, keepdims=True)
    probs_t = np.exp(scores_t, out=scores_t)
    col_sums = np.matmul(ws.ones(1, seq_len), probs_t)
    probs_t *= np.reciprocal(col_sums, out=col_sums)  # A = softmax(S) over keys
    np.matmul(np.swapaxes(probs_t, -1, -2), v, out=y_out)  # Y = A V
    return probs_t, q_scaled


def attention_backward(
    grad_y: np.ndarray,
    y: np.ndarray,
    probs_t: np.ndarray,
    q_scaled: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    grad_q: np.ndarray,
    grad_k: np.ndarray,
    grad_v: np.ndarray,
    ws: Workspace,
) -> None:
    """Backward of ``attention_forward``: writes dq, dk, dv into the given arrays (any strides)."""
    scale = 1.0 / math.sqrt(q_scaled.shape[-1])
    np.matmul(probs_t, grad_y, out=grad_v)  # dV = A^T dY
    # rowsum(dA * A) = sum_j A_ij (dY_i . V_j) = dY_i . Y_i
    row_dot = np.einsum("...td,...td->...t", grad_y, y)[..., None, :]
    grad_scores_t = ws.get("attention.grad_scores_t", probs_t.shape)
    np.matmul(v, np.swapaxes(grad_y, -1, -2), out=grad_scores_t)  # dA^T = V dY^T
    grad_scores_t -= row_dot
    grad_scores_t *= probs_t  # dS = A * (dA - rowsum(dA * A)); masked entries have A = 0
    np.matmul(np.swapaxes(grad_scores_t, -1, -2), k, out=grad_q)
    grad_q *= scale  # dq = dS k / sqrt(d)
    np.matmul(grad_scores_t, q_scaled, out=grad_k)  # dk = dS^T (q / sqrt(d))


def attention_fwd_bwd(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, grad_out: np.ndarray, ws: Workspace | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """W2: causal attention forward, then the backward of ``sum(out * grad_out)``.

    Returns ``(out, dq, dk, dv)``. With a ``ws`` the results are workspace buffers that the
    next call overwrites.
    """
    ws = ws if ws is not None else Workspace()
    y = ws.get("w2.y", q.shape)
    probs_t, q_scaled = attention_forward(q, k, v, y, ws, "w2")
    grad_q, grad_k, grad_v = (ws.get(name, q.shape) for name in ("w2.dq", "w2.dk", "w2.dv"))
    attention_backward(grad_out, y, probs_t, q_scaled, k, v, grad_q, grad_k, grad_v, ws)
    return y, grad_q, grad_k, grad_v


# ------------------------------------------------------------------- layer building blocks


def layernorm_forward(
    x: np.ndarray, gain: np.ndarray, shift: np.ndarray, eps: float,
    out: np.ndarray, x_hat: np.ndarray, ws: Workspace,
) -> np.ndarray:
    """LayerNorm of (rows, C) ``x`` over C into ``out``; fills ``x_hat`` and returns rstd (rows, 1)."""
    n_cols = x.shape[-1]
    mean = x @ ws.ones(n_cols)
    mean *= 1.0 / n_cols
    np.subtract(x, mean[:, None], out=x_hat)
    variance = np.einsum("ij,ij->i", x_hat, x_hat)
    variance *= 1.0 / n_cols
    variance += eps
    rstd = np.reciprocal(np.sqrt(variance, out=variance), out=variance)[:, None]
    x_hat *= rstd  # x_hat = (x - mean) / sqrt(var + eps)
    np.multiply(x_hat, gain, out=out)
    out += shift  # out = x_hat * g + b
    return rstd


def layernorm_backward(
    grad_out: np.ndarray, x_hat: np.ndarray, rstd: np.ndarray, gain: np.ndarray,
    grad_gain: np.ndarray, grad_shift: np.ndarray, grad_x: np.ndarray, ws: Workspace,
) -> None:
    """Backward of ``layernorm_forward``: writes dg, db and dx."""
    n_rows, n_cols = x_hat.shape
    np.einsum("ij,ij->j", grad_out, x_hat, out=grad_gain)  # dg = sum_rows(dout * x_hat)
    np.matmul(ws.ones(n_rows), grad_out, out=grad_shift)  # db = sum_rows(dout)
    grad_x_hat = np.multiply(grad_out, gain, out=grad_x)  # dx_hat = dout * g
    mean_grad = grad_x_hat @ ws.ones(n_cols)
    mean_grad *= 1.0 / n_cols
    mean_grad_xhat = np.einsum("ij,ij->i", grad_x_hat, x_hat)
    mean_grad_xhat *= 1.0 / n_cols
    # dx = rstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
    correction = np.multiply(x_hat, mean_grad_xhat[:, None], out=ws.get("layernorm.scratch", x_hat.shape))
    correction += mean_grad[:, None]
    grad_x -= correction
    grad_x *= rstd


def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = x @ weight + bias`` with weight of shape (in, out)."""
    np.matmul(x, weight, out=out)
    out += bias
    return out


def linear_backward(
    grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
    grad_weight: np.ndarray, grad_bias: np.ndarray, grad_x: np.ndarray | None, ws: Workspace,
) -> None:
    """Backward of ``linear_forward``: writes dW, db and (if ``grad_x`` is given) dx."""
    np.matmul(x.T, grad_out, out=grad_weight)  # dW = x^T dout
    np.matmul(ws.ones(grad_out.shape[0]), grad_out, out=grad_bias)  # db = sum_rows(dout)
    if grad_x is not None:
        np.matmul(grad_out, weight.T, out=grad_x)  # dx = dout W^T


def gelu_tanh_forward(x: np.ndarray, out: np.ndarray, x_squared: np.ndarray, gate: np.ndarray) -> None:
    """GELU, tanh approximation, into ``out``: x * s with s = 0.5 (1 + tanh(c (x + k x^3))).

    Keeps ``x_squared`` and the gate ``s`` for the backward pass.
    """
    np.multiply(x, x, out=x_squared)
    np.multiply(x_squared, GELU_C * GELU_K, out=gate)
    gate += GELU_C
    gate *= x  # u = c (x + k x^3)
    np.tanh(gate, out=gate)
    gate *= 0.5
    gate += 0.5  # s = 0.5 (1 + tanh(u))
    np.multiply(x, gate, out=out)


def gelu_tanh_backward(
    grad_out: np.ndarray, x: np.ndarray, x_squared: np.ndarray, gate: np.ndarray,
    grad_x: np.ndarray, ws: Workspace,
) -> None:
    """Backward of ``gelu_tanh_forward`` into ``grad_x``."""
    # with t = tanh(u) = 2s - 1:  dgelu/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 k x^2)
    #                                      = s (1 + 2 c x (1 - s) (1 + 3 k x^2))
    np.multiply(x_squared, 6.0 * GELU_C * GELU_K, out=grad_x)
    grad_x += 2.0 * GELU_C
    grad_x *= x
    grad_x *= np.subtract(1.0, gate, out=ws.get("gelu.scratch", x.shape))
    grad_x += 1.0
    grad_x *= gate
    grad_x *= grad_out  # dx = dout * dgelu/dx


def cross_entropy_forward_backward(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy over rows; returns ``(loss, dlogits)``, computed in place in ``logits``."""
    n_rows = logits.shape[0]
    rows = np.arange(n_rows)
    logits -= logits.max(axis=1, keepdims=True)
    target_logits = logits[rows, targets]
    probs = np.exp(logits, out=logits)
    row_sums = probs.sum(axis=1)
    loss = float(np.log(row_sums).sum() - target_logits.sum()) / n_rows  # L = mean(logsumexp(z) - z_y)
    probs *= np.reciprocal(row_sums, out=row_sums)[:, None]
    probs[rows, targets] -= 1.0
    probs *= 1.0 / n_rows  # dz = (softmax(z) - onehot(y)) / N
    return loss, probs


# ------------------------------------------------------------------- GPT model and AdamW


class FlatParams:
    """All parameters in one float32 buffer and their gradients in another, with named views."""

    def __init__(self, shapes: list[tuple[str, tuple[int, ...]]]) -> None:
        sizes = [math.prod(shape) for _, shape in shapes]
        self.data = np.zeros(sum(sizes), dtype=FLOAT)
        self.grad = np.zeros(sum(sizes), dtype=FLOAT)
        self.values: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        offset = 0
        for (name, shape), size in zip(shapes, sizes):
            self.values[name] = self.data[offset:offset + size].reshape(shape)
            self.grads[name] = self.grad[offset:offset + size].reshape(shape)
            offset += size

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy parameter values in by name."""
        for name, view in self.values.items():
            view[...] = arrays[name]


class GPTNumpy:
    """The W1 GPT with a hand-written backward pass."""

    def __init__(self, params: dict[str, np.ndarray], config: GPTConfig = GPT_CONFIG) -> None:
        self.config = config
        self.params = FlatParams(gpt_param_shapes(config))
        self.params.load(params)
        self.ws = Workspace()

    def forward_backward(self, tokens: np.ndarray, targets: np.ndarray) -> float:
        """Mean next-token cross-entropy; fills ``self.params.grad`` (overwriting, not adding)."""
        cfg, ws = self.config, self.ws
        p, g = self.params.values, self.params.grads
        batch, seq_len = tokens.shape
        n_rows, n_heads, head = batch * seq_len, cfg.n_heads, cfg.head_size
        c, hidden, eps = cfg.d_model, cfg.mlp_hidden, cfg.layernorm_eps
        rows_c, rows_h = (n_rows, c), (n_rows, hidden)
        flat_tokens = tokens.reshape(-1)

        # ---- forward
        x = np.take(p["wte"], flat_tokens, axis=0, out=ws.get("x", rows_c))
        x.reshape(batch, seq_len, c)[...] += p["wpe"][:seq_len]  # x = wte[tokens] + wpe[positions]
        rstds: list[tuple[np.ndarray, np.ndarray]] = []
        for layer in range(cfg.n_layers):
            pre = f"h{layer}."
            ln1_out, ln1_xhat = ws.get(pre + "ln1_out", rows_c), ws.get(pre + "ln1_xhat", rows_c)
            ln1_rstd = layernorm_forward(x, p[pre + "ln1_g"], p[pre + "ln1_b"], eps, ln1_out, ln1_xhat, ws)
            qkv = linear_forward(ln1_out, p[pre + "w_qkv"], p[pre + "b_qkv"], ws.get(pre + "qkv", (n_rows, 3 * c)))
            qkv_heads = qkv.reshape(batch, seq_len, 3, n_heads, head)
            q, k, v = (qkv_heads[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (B, H, T, hs) views
            attn_y = ws.get(pre + "attn_y", (batch, seq_len, n_heads, head))
            attention_forward(q, k, v, attn_y.transpose(0, 2, 1, 3), ws, pre + "attn")
            proj = linear_forward(attn_y.reshape(rows_c), p[pre + "w_proj"], p[pre + "b_proj"],
                                  ws.get("proj_out", rows_c))
            x += proj  # x1 = x0 + proj(attn(ln1(x0)))
            ln2_out, ln2_xhat = ws.get(pre + "ln2_out", rows_c), ws.get(pre + "ln2_xhat", rows_c)
            ln2_rstd = layernorm_forward(x, p[pre + "ln2_g"], p[pre + "ln2_b"], eps, ln2_out, ln2_xhat, ws)
            fc_pre = linear_forward(ln2_out, p[pre + "w_fc"], p[pre + "b_fc"], ws.get(pre + "fc_pre", rows_h))
            fc_act = ws.get(pre + "fc_act", rows_h)
            gelu_tanh_forward(fc_pre, fc_act, ws.get(pre + "fc_pre_sq", rows_h), ws.get(pre + "fc_gate", rows_h))
            x += linear_forward(fc_act, p[pre + "w_fc2"], p[pre + "b_fc2"], ws.get("proj_out", rows_c))
            rstds.append((ln1_rstd, ln2_rstd))  # x2 = x1 + fc2(gelu(fc(ln2(x1))))
        lnf_out, lnf_xhat = ws.get("lnf_out", rows_c), ws.get("lnf_xhat", rows_c)
        lnf_rstd = layernorm_forward(x, p["lnf_g"], p["lnf_b"], eps, lnf_out, lnf_xhat, ws)
        logits = linear_forward(lnf_out, p["w_head"], p["b_head"], ws.get("logits", (n_rows, cfg.vocab_size)))
        loss, grad_logits = cross_entropy_forward_backward(logits, targets.reshape(-1))

        # ---- backward
        grad_ln_out, grad_ln_in = ws.get("grad_ln_out", rows_c), ws.get("grad_ln_in", rows_c)
        grad_x = ws.get("grad_x", rows_c)
        linear_backward(grad_logits, lnf_out, p["w_head"], g["w_head"], g["b_head"], grad_ln_out, ws)
        layernorm_backward(grad_ln_out, lnf_xhat, lnf_rstd, p["lnf_g"], g["lnf_g"], g["lnf_b"], grad_x, ws)
        grad_hidden, grad_fc_pre = ws.get("grad_hidden", rows_h), ws.get("grad_fc_pre", rows_h)
        grad_qkv = ws.get("grad_qkv", (n_rows, 3 * c))
        grad_qkv_heads = grad_qkv.reshape(batch, seq_len, 3, n_heads, head)
        grad_q, grad_k, grad_v = (grad_qkv_heads[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
        for layer in reversed(range(cfg.n_layers)):
            pre = f"h{layer}."
            ln1_rstd, ln2_rstd = rstds[layer]
            # MLP branch: dx1 = dx2 + ln2_backward(fc_backward(gelu_backward(fc2_backward(dx2))))
            linear_backward(grad_x, ws.get(pre + "fc_act", rows_h), p[pre + "w_fc2"],
                            g[pre + "w_fc2"], g[pre + "b_fc2"], grad_hidden, ws)
            gelu_tanh_backward(grad_hidden, ws.get(pre + "fc_pre", rows_h), ws.get(pre + "fc_pre_sq", rows_h),
                               ws.get(pre + "fc_gate", rows_h), grad_fc_pre, ws)
            linear_backward(grad_fc_pre, ws.get(pre + "ln2_out", rows_c), p[pre + "w_fc"],
                            g[pre + "w_fc"], g[pre + "b_fc"], grad_ln_out, ws)
            layernorm_backward(grad_ln_out, ws.get(pre + "ln2_xhat", rows_c), ln2_rstd, p[pre + "ln2_g"],
                               g[pre + "ln2_g"], g[pre + "ln2_b"], grad_ln_in, ws)
            grad_x += grad_ln_in
            # attention branch: dx0 = dx1 + ln1_backward(qkv_backward(attn_backward(proj_backward(dx1))))
            attn_y = ws.get(pre + "attn_y", (batch, seq_len, n_heads, head))
            grad_attn_y = ws.get("grad_attn_y", (batch, seq_len, n_heads, head))
            linear_backward(grad_x, attn_y.reshape(rows_c), p[pre + "w_proj"],
                            g[pre + "w_proj"], g[pre + "b_proj"], grad_attn_y.reshape(rows_c), ws)
            qkv_heads = ws.get(pre + "qkv", (n_rows, 3 * c)).reshape(batch, seq_len, 3, n_heads, head)
            k, v = (qkv_heads[:, :, i].transpose(0, 2, 1, 3) for i in (1, 2))
            probs_t = ws.get(pre + "attn.probs_t", (batch, n_heads, seq_len, seq_len))
            q_scaled = ws.get(pre + "attn.q_scaled", (batch, n_heads, seq_len, head))
            attention_backward(grad_attn_y.transpose(0, 2, 1, 3), attn_y.transpose(0, 2, 1, 3), probs_t,
                               q_scaled, k, v, grad_q, grad_k, grad_v, ws)
            linear_backward(grad_qkv, ws.get(pre + "ln1_out", rows_c), p[pre + "w_qkv"],
                            g[pre + "w_qkv"], g[pre + "b_qkv"], grad_ln_out, ws)
            layernorm_backward(grad_ln_out, ws.get(pre + "ln1_xhat", rows_c), ln1_rstd, p[pre + "ln1_g"],
                               g[pre + "ln1_g"], g[pre + "ln1_b"], grad_ln_in, ws)
            grad_x += grad_ln_in
        # embeddings: dwte = onehot(tokens)^T dx (a scatter-add as one matmul); dwpe = sum_batch(dx)
        onehot = ws.get("onehot", (n_rows, cfg.vocab_size))
        np.equal(flat_tokens[:, None], np.arange(cfg.vocab_size), out=onehot)
        np.matmul(onehot.T, grad_x, out=g["wte"])
        np.matmul(ws.ones(batch), grad_x.reshape(batch, seq_len * c), out=g["wpe"][:seq_len].reshape(-1))
        if seq_len < cfg.context:
            g["wpe"][seq_len:] = 0.0
        return loss


class AdamW:
    """PyTorch's AdamW (decoupled weight decay) over one flat parameter buffer."""

    def __init__(self, params: FlatParams, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float) -> None:
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = lr, beta1, beta2, eps, weight_decay
        self.exp_avg = np.zeros_like(params.data)
        self.exp_avg_sq = np.zeros_like(params.data)
        self.scratch = np.empty_like(params.data)
        self.step_count = 0

    def step(self) -> None:
        """One update from the gradients currently in ``params.grad``."""
        self.step_count += 1
        t = self.step_count
        p, grad, m, v, tmp = self.params.data, self.params.grad, self.exp_avg, self.exp_avg_sq, self.scratch
        p *= 1.0 - self.lr * self.weight_decay  # p <- p (1 - lr wd)
        m *= self.beta1
        np.multiply(grad, 1.0 - self.beta1, out=tmp)
        m += tmp  # m <- b1 m + (1 - b1) g
        v *= self.beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - self.beta2
        v += tmp  # v <- b2 v + (1 - b2) g^2
        bias_correction1 = 1.0 - self.beta1 ** t
        bias_correction2 = 1.0 - self.beta2 ** t
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / math.sqrt(bias_correction2)
        tmp += self.eps  # denom = sqrt(v) / sqrt(bc2) + eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / bias_correction1
        p -= tmp  # p <- p - (lr / bc1) m / denom


def gpt_train_step(model: GPTNumpy, optimizer: AdamW, tokens: np.ndarray, targets: np.ndarray) -> float:
    """W1: forward + backward + AdamW update; returns the loss before the update."""
    loss = model.forward_backward(tokens, targets)
    optimizer.step()
    return loss


def make_gpt(seed: int, config: GPTConfig = GPT_CONFIG, randomize_all: bool = False) -> tuple[GPTNumpy, AdamW]:
    """Model and optimiser initialised from the shared W1 weights."""
    model = GPTNumpy(gpt_init_params(seed, config, randomize_all=randomize_all), config)
    optimizer = AdamW(model.params, lr=config.lr, beta1=config.beta1, beta2=config.beta2,
                      eps=config.adam_eps, weight_decay=config.weight_decay)
    return model, optimizer


# ------------------------------------------------------------------- runner entry points


def w0_numpy(seed: int) -> Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """W0: ``c = a * b + a`` and its backward with an all-ones upstream gradient; returns (c, da, db)."""
    a, b = w0_inputs(seed)
    upstream = np.ones_like(a)

    def step() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = a * b
        c += a
        grad_a = upstream * b
        grad_a += upstream  # da = g * b + g
        grad_b = upstream * a  # db = g * a
        return c, grad_a, grad_b

    return step


def w1_numpy(seed: int) -> Callable[[], float]:
    """W1: one GPT train step per call; returns the loss before the update."""
    model, optimizer = make_gpt(seed)
    tokens, targets = gpt_batch(seed)

    def step() -> float:
        return gpt_train_step(model, optimizer, tokens, targets)

    return step


def w2_numpy(seed: int) -> Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """W2: causal attention forward + backward per call; returns (out, dq, dk, dv) (reused buffers)."""
    q, k, v, upstream = attention_inputs(seed)
    ws = Workspace()

    def step() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return attention_fwd_bwd(q, k, v, upstream, ws)

    return step


def w4_numpy(seed: int) -> Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """W4 by hand: ``c = sum(relu(a * w + w))`` with w (4,) broadcast, dc/da and dc/dw."""
    a, b = w0_inputs(seed)
    w = b[0].copy()

    def step() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h = a * w
        h += w
        active = (h > 0).astype(a.dtype)  # relu's slope, for an all-ones upstream gradient
        c = np.maximum(h, 0).sum()
        grad_a = active * w
        grad_w = (active * a).sum(axis=0) + active.sum(axis=0)
        return np.asarray(c), grad_a, grad_w

    return step
