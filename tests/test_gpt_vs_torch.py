"""The GPT and the attention classifier against the same models written in PyTorch.

The PyTorch models below are written here from torch.nn modules and torch ops, with the same
parameter names, so one state_dict loads into both. With the same weights and batch, the loss,
every parameter gradient and the parameters after AdamW steps must agree.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinygrad_attn import nn, optim
from tinygrad_attn.train import token_cross_entropy

torch = pytest.importorskip("torch")
tnn = torch.nn

VOCAB, BLOCK, D_MODEL, HEADS, LAYERS, D_FF = 11, 8, 16, 4, 2, 32
IGNORE = -100


class TorchAttention(tnn.Module):
    def __init__(self, d_model: int, n_heads: int, causal: bool):
        super().__init__()
        self.n_heads, self.causal = n_heads, causal
        self.qkv_proj = tnn.Linear(d_model, 3 * d_model)
        self.out_proj = tnn.Linear(d_model, d_model)

    def forward(self, x, key_mask=None):
        batch, time, width = x.shape
        d_head = width // self.n_heads
        q, k, v = self.qkv_proj(x).split(width, dim=-1)
        q, k, v = (t.view(batch, time, self.n_heads, d_head).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d_head)
        allowed = torch.ones(time, time, dtype=torch.bool)
        if self.causal:
            allowed = torch.tril(allowed)
        if key_mask is not None:
            allowed = allowed & key_mask[:, None, None, :]
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        merged = (weights @ v).transpose(1, 2).reshape(batch, time, width)
        return self.out_proj(merged)


class TorchMLP(tnn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.fc1 = tnn.Linear(d_model, d_ff)
        self.fc2 = tnn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.fc2(tnn.functional.gelu(self.fc1(x), approximate="tanh"))


class TorchBlock(tnn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.ln1 = tnn.LayerNorm(d_model)
        self.attn = TorchAttention(d_model, n_heads, causal=True)
        self.ln2 = tnn.LayerNorm(d_model)
        self.mlp = TorchMLP(d_model, d_ff)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TorchGPT(tnn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = tnn.Embedding(VOCAB, D_MODEL)
        self.pos_emb = tnn.Embedding(BLOCK, D_MODEL)
        self.blocks = tnn.ModuleList(TorchBlock(D_MODEL, HEADS, D_FF) for _ in range(LAYERS))
        self.ln_f = tnn.LayerNorm(D_MODEL)
        self.head = tnn.Linear(D_MODEL, VOCAB)

    def forward(self, idx):
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class TorchClassifier(tnn.Module):
    def __init__(self, vocab: int, block: int, d_model: int, n_heads: int, n_classes: int):
        super().__init__()
        self.tok_emb = tnn.Embedding(vocab, d_model)
        self.pos_emb = tnn.Embedding(block, d_model)
        self.ln = tnn.LayerNorm(d_model)
        self.attn = TorchAttention(d_model, n_heads, causal=False)
        self.ln_f = tnn.LayerNorm(d_model)
        self.head = tnn.Linear(d_model, n_classes)

    def forward(self, idx, key_mask):
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1]))
        return self.head(self.ln_f(x + self.attn(self.ln(x), key_mask)))


def batch(seed: int, rows: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, size=(rows, BLOCK))
    targets = rng.integers(0, VOCAB, size=(rows, BLOCK))
    targets[:, : BLOCK // 2] = IGNORE  # as in the sequence tasks: only the answer is scored
    return tokens, targets


def random_weights(model: nn.Module, seed: int) -> dict[str, np.ndarray]:
    """Perturb every parameter (LayerNorm gains and biases too) so every backward term matters."""
    rng = np.random.default_rng(seed)
    return {name: array + 0.1 * rng.standard_normal(array.shape).astype(array.dtype)
            for name, array in model.state_dict().items()}


def twin_gpts(dtype) -> tuple[nn.GPT, TorchGPT]:
    ours = nn.GPT(VOCAB, BLOCK, D_MODEL, HEADS, LAYERS, D_FF, rng=0)
    ours.load_state_dict(random_weights(ours, seed=1))
    ours.to(dtype)
    theirs = TorchGPT().to(torch.float64 if dtype == np.float64 else torch.float32)
    theirs.load_state_dict({name: torch.tensor(array) for name, array in ours.state_dict().items()})
    return ours, theirs


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want|: the error relative to the size of the array."""
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def torch_loss(model, tokens, targets):
    logits = model(torch.tensor(tokens))
    return tnn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(targets).reshape(-1),
                                        ignore_index=IGNORE)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-4), (np.float64, 1e-9)])
def test_gpt_loss_and_every_gradient_match_torch(dtype, tolerance):
    ours, theirs = twin_gpts(dtype)
    tokens, targets = batch(seed=2)
    loss = token_cross_entropy(ours(tokens), targets)
    loss.backward()
    reference = torch_loss(theirs, tokens, targets)
    reference.backward()
    assert loss.dtype == dtype
    assert relative_error(np.array(loss.item()), np.array(reference.item())) <= tolerance
    their_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(their_params)
    for name, param in ours.named_parameters():
        assert param.grad.dtype == dtype, name
        error = relative_error(param.grad, their_params[name].grad.numpy())
        assert error <= tolerance, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-4), (np.float64, 1e-9)])
def test_gpt_parameters_match_torch_after_three_adamw_steps(dtype, tolerance):
    ours, theirs = twin_gpts(dtype)
    settings = dict(lr=1e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.1)
    our_optimizer = optim.AdamW(ours.parameters(), **settings)
    their_optimizer = torch.optim.AdamW(theirs.parameters(), **settings)
    for step in range(3):
        tokens, targets = batch(seed=10 + step)
        our_optimizer.zero_grad()
        token_cross_entropy(ours(tokens), targets).backward()
        our_optimizer.step()
        their_optimizer.zero_grad()
        torch_loss(theirs, tokens, targets).backward()
        their_optimizer.step()
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert param.data.dtype == dtype, name
        got, want = param.data, their_params[name].detach().numpy()
        if name.endswith("attn.qkv_proj.bias"):
            # The key bias adds the same number to every score of a row, which softmax ignores:
            # its exact gradient is 0. In float32 both engines get rounding noise (~1e-9) instead,
            # and Adam divides by √v, turning any noise into a step of up to lr. So that slice
            # may differ by a few lr; the query and value parts must match like everything else.
            keys = slice(D_MODEL, 2 * D_MODEL)
            np.testing.assert_allclose(got[keys], want[keys], atol=3 * 3 * settings["lr"], rtol=0)
            got, want = np.delete(got, np.r_[keys]), np.delete(want, np.r_[keys])
        error = relative_error(got, want)
        assert error <= tolerance, f"{name}: relative error {error:.2e}"


def test_attention_classifier_with_padding_matches_torch_in_float64():
    vocab, block = 9, 7
    ours = nn.AttentionClassifier(vocab, block, D_MODEL, HEADS, 2, pad_id=0, rng=3)
    ours.load_state_dict(random_weights(ours, seed=4))
    ours.to(np.float64)
    theirs = TorchClassifier(vocab, block, D_MODEL, HEADS, 2).double()
    theirs.load_state_dict({name: torch.tensor(array) for name, array in ours.state_dict().items()})
    rng = np.random.default_rng(5)
    tokens = rng.integers(1, vocab, size=(3, block))
    tokens[0, 4:] = 0  # padding
    tokens[2, 2:] = 0
    targets = np.where(tokens == 0, IGNORE, rng.integers(0, 2, size=tokens.shape))
    loss = token_cross_entropy(ours(tokens), targets)
    loss.backward()
    logits = theirs(torch.tensor(tokens), torch.tensor(tokens != 0))
    reference = tnn.functional.cross_entropy(logits.reshape(-1, 2), torch.tensor(targets).reshape(-1),
                                             ignore_index=IGNORE)
    reference.backward()
    assert abs(loss.item() - reference.item()) <= 1e-9 * abs(reference.item())
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        error = relative_error(param.grad, their_params[name].grad.numpy())
        assert error <= 1e-9, f"{name}: relative error {error:.2e}"
