"""Looking inside a computation without changing it: recorders built on `core.observe`.

    recorder.py   record_attention(): q, k, v, scores, weights of every attention op, and
                  after backward dL/dweights and dL/dscores, per head
    lens.py       the attention lens, trace(): the recorder's numbers per layer and head with
                  token labels, the gradients that reached q, k, v, the projections' head slices
                  and the token embeddings, and one query row explained (drawn by viz/lens.py)
"""
from . import lens
from .recorder import ATTENTION_OPS, AttentionRecord, AttentionRecorder, record_attention

__all__ = ["record_attention", "AttentionRecorder", "AttentionRecord", "ATTENTION_OPS", "lens"]
