"""Looking inside a computation without changing it: recorders built on `core.observe`.

    recorder.py   record_attention(): q, k, v, scores, weights of every attention op, and
                  after backward dL/dweights and dL/dscores, per head
"""
from .recorder import ATTENTION_OPS, AttentionRecord, AttentionRecorder, record_attention

__all__ = ["record_attention", "AttentionRecorder", "AttentionRecord", "ATTENTION_OPS"]
