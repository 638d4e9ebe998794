"""Wrong answers students write, one per known mistake, as a student would type them: the
exercise, the code, and what the checker's message must say (besides the place, which the
tests work out themselves from the reference)."""

MISTAKES = [
    ("softmax", "no max shift", """
def softmax(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)
""", ["is nan at", "subtract each row's max before exp"]),
    ("softmax", "normalised over the wrong axis", """
def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum(axis=0, keepdims=True)
""", ["normalise over the wrong axis"]),
    ("softmax", "forgot to normalise", """
def softmax(x):
    return np.exp(x - x.max(axis=-1, keepdims=True))
""", ["forget to divide by the row's sum"]),
    ("softmax", "sum without keepdims", """
def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1)
""", ["raised ValueError", "keepdims=True"]),
    ("softmax", "returns nothing", """
def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e / e.sum(axis=-1, keepdims=True)
""", ["came back as None", "without `return`"]),
    ("softmax", "changes its input", """
def softmax(x):
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x
""", ["changed its input"]),
    ("softmax_backward", "no row sum", """
def softmax_backward(y, upstream_grad):
    return y * upstream_grad
""", ["gradient for the scores (dL/dscores) is wrong at row", "forget to subtract the row sum"]),
    ("softmax_backward", "row sum over the wrong axis", """
def softmax_backward(y, upstream_grad):
    return y * (upstream_grad - (upstream_grad * y).sum(axis=0, keepdims=True))
""", ["runs over the last axis"]),
    ("softmax_backward", "the full Jacobian", """
def softmax_backward(y, upstream_grad):
    out = np.empty_like(y)
    flat_y, flat_g, flat_out = y.reshape(-1, y.shape[-1]), upstream_grad.reshape(-1, y.shape[-1]), out.reshape(-1, y.shape[-1])
    for i in range(flat_y.shape[0]):
        jacobian = np.diag(flat_y[i]) - np.outer(flat_y[i], flat_y[i])
        flat_out[i] = jacobian @ flat_g[i]
    return out
""", ["allocated", "Jacobian"]),
    ("cross_entropy", "summed instead of the mean", """
def cross_entropy(logits, targets):
    m = logits.max(axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))
    return float(np.sum(lse - logits[np.arange(len(targets)), targets]))
""", ["summed over the rows", "the mean"]),
    ("cross_entropy", "log of the softmax", """
def cross_entropy(logits, targets):
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p = p / p.sum(axis=-1, keepdims=True)
    return float(np.mean(-np.log(p[np.arange(len(targets)), targets])))
""", ["first wrong row is row 1 (target class 1", "underflows to 0"]),
    ("cross_entropy", "no shift in log-sum-exp", """
def cross_entropy(logits, targets):
    lse = np.log(np.exp(logits).sum(axis=-1))
    return float(np.mean(lse - logits[np.arange(len(targets)), targets]))
""", ["first wrong row is row 0 (target class 1", "log-sum-exp"]),
    ("attention", "no scale", """
def attention(q, k, v):
    s = q @ np.swapaxes(k, -1, -2)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    return (w / w.sum(axis=-1, keepdims=True)) @ v
""", ["attention output is wrong at query token", "divide the scores q·k by √d? Here d = 4"]),
    ("attention", "softmax over the queries", """
def attention(q, k, v):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    w = np.exp(s - s.max(axis=-2, keepdims=True))
    return (w / w.sum(axis=-2, keepdims=True)) @ v
""", ["sum to 1 over the keys"]),
    ("causal_softmax", "mask after the softmax", """
def causal_softmax(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w * np.tril(np.ones(scores.shape[-2:]))
""", ["causal attention weights are wrong at query token 0, key token 0", "after the softmax"]),
    ("causal_softmax", "the future kept, the past masked", """
def causal_softmax(scores):
    s = np.where(np.triu(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""", ["lets it see the future"]),
    ("masked_softmax", "fully masked rows give NaN", """
def masked_softmax(scores, mask):
    s = np.where(mask, scores, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""", ["are nan at query token 1, key token 0", "Query token 1 has no allowed key"]),
    ("masked_softmax", "a large negative fill", """
def masked_softmax(scores, mask):
    s = np.where(mask, scores, -1e9)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""", ["Query token 1 has no allowed key", "spread 1/T evenly"]),
    ("split_heads", "reshape without the transpose", """
def split_heads(x, n_heads):
    B, T, D = x.shape
    return x.reshape(B, n_heads, T, D // n_heads)
""", ["heads are wrong at batch 0, head 0, token 1, feature 0", "cuts the token axis into heads"]),
    ("split_heads", "interleaved features", """
def split_heads(x, n_heads):
    B, T, D = x.shape
    return x.reshape(B, T, D // n_heads, n_heads).transpose(0, 3, 1, 2)
""", ["contiguous features"]),
    ("merge_heads", "reshape without the transpose", """
def merge_heads(x):
    B, H, T, d = x.shape
    return x.reshape(B, T, H * d)
""", ["merged heads are wrong at batch 0, token 0, feature 2", "Swap the head and token axes first"]),
    ("attention_backward", "K transposed in dq", """
def attention_backward(q, k, v, upstream_grad):
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    w = np.exp(s - s.max(axis=-1, keepdims=True)); w /= w.sum(axis=-1, keepdims=True)
    dw = upstream_grad @ np.swapaxes(v, -1, -2)
    ds = w * (dw - (dw * w).sum(axis=-1, keepdims=True))
    return ds @ np.swapaxes(k, -1, -2) / np.sqrt(d), np.swapaxes(ds, -1, -2) @ q / np.sqrt(d), np.swapaxes(w, -1, -2) @ upstream_grad
""", ["dL/dq is wrong at query token 0, feature 0", "you used Kᵀ"]),
    ("attention_backward", "W not transposed in dv", """
def attention_backward(q, k, v, upstream_grad):
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    w = np.exp(s - s.max(axis=-1, keepdims=True)); w /= w.sum(axis=-1, keepdims=True)
    dw = upstream_grad @ np.swapaxes(v, -1, -2)
    ds = w * (dw - (dw * w).sum(axis=-1, keepdims=True))
    return ds @ k / np.sqrt(d), np.swapaxes(ds, -1, -2) @ q / np.sqrt(d), w @ upstream_grad
""", ["dL/dv is wrong at key token 0, feature of v 0", "transpose them"]),
    ("attention_backward", "no row sum", """
def attention_backward(q, k, v, upstream_grad):
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    w = np.exp(s - s.max(axis=-1, keepdims=True)); w /= w.sum(axis=-1, keepdims=True)
    dw = upstream_grad @ np.swapaxes(v, -1, -2)
    ds = w * dw
    return ds @ k / np.sqrt(d), np.swapaxes(ds, -1, -2) @ q / np.sqrt(d), np.swapaxes(w, -1, -2) @ upstream_grad
""", ["dL/dq is wrong at", "subtract the row sum"]),
    ("grad_w_q", "no scale", """
def grad_w_q(x, w_q, w_k, w_v, upstream_grad):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    d = q.shape[-1]
    s = q @ k.T / np.sqrt(d)
    w = np.exp(s - s.max(axis=-1, keepdims=True)); w /= w.sum(axis=-1, keepdims=True)
    dw = upstream_grad @ v.T
    ds = w * (dw - (dw * w).sum(axis=-1, keepdims=True))
    return x.T @ (ds @ k)
""", ["dL/dW_q is wrong at row (input feature) 0, column (query feature) 0", "comes back in dL/dq"]),
    ("grad_w_q", "transposed result", """
def grad_w_q(x, w_q, w_k, w_v, upstream_grad):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    d = q.shape[-1]
    s = q @ k.T / np.sqrt(d)
    w = np.exp(s - s.max(axis=-1, keepdims=True)); w /= w.sum(axis=-1, keepdims=True)
    dw = upstream_grad @ v.T
    ds = w * (dw - (dw * w).sum(axis=-1, keepdims=True))
    return (ds @ k / np.sqrt(d)).T @ x
""", ["has shape (2, 4), but it should have shape (4, 2)", "dL/dW_q = xᵀ·dL/dq"]),
    ("linear_backward", "bias gradient not summed", """
def linear_backward(x, weight, bias, upstream_grad):
    rows_g = upstream_grad.reshape(-1, weight.shape[0])
    return upstream_grad @ weight, rows_g.T @ x.reshape(-1, weight.shape[1]), upstream_grad
""", ["dL/dbias has shape (4, 2), but it should have shape (2,)", "summed over those axes"]),
    ("linear_backward", "bias summed over one axis only", """
def linear_backward(x, weight, bias, upstream_grad):
    rows_g = upstream_grad.reshape(-1, weight.shape[0])
    return upstream_grad @ weight, rows_g.T @ x.reshape(-1, weight.shape[1]), upstream_grad.sum(axis=0)
""", ["case 2 of 3", "dL/dbias has shape (5, 4), but it should have shape (4,)", "upstream_grad.sum(axis=(0, 1))"]),
    ("layer_norm_backward", "mean and variance treated as constants", """
def layer_norm_backward(x, gamma, upstream_grad, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return upstream_grad * gamma / np.sqrt(var + eps), (upstream_grad * x_hat).sum(axis=0), upstream_grad.sum(axis=0)
""", ["dL/dx is wrong at row 0, feature 0", "treated the mean and the variance as constants"]),
    ("layer_norm_backward", "gamma gradient not summed", """
def layer_norm_backward(x, gamma, upstream_grad, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv
    gh = upstream_grad * gamma
    dx = inv * (gh - gh.mean(axis=-1, keepdims=True) - x_hat * (gh * x_hat).mean(axis=-1, keepdims=True))
    return dx, upstream_grad * x_hat, upstream_grad.sum(axis=0)
""", ["dL/dgamma has shape (3, 4), but it should have shape (4,)", "shared by every row"]),
    ("tanh_backward", "the input instead of the output", """
def tanh_backward(ctx, upstream_grad):
    a = ctx.inputs[0].data
    return (upstream_grad * (1.0 - a * a),)
""", ["at a = 0.5 with upstream gradient 1, your tanh backward sends 0.75", "You used the input a"]),
    ("tanh_backward", "no chain rule", """
def tanh_backward(ctx, upstream_grad):
    return (1.0 - ctx.data ** 2,)
""", ["at a = -2 with upstream gradient 0.3", "forget the chain rule"]),
    ("tanh_backward", "a bare number", """
def tanh_backward(ctx, upstream_grad):
    return upstream_grad * (1.0 - ctx.data ** 2)
""", ["as a tuple", "`return (grad,)`"]),
]
