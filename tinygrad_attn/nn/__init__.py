"""Layers and models built from Tensor ops: `Module`, `Linear`, `MultiHeadAttention`, `GPT`, ...

    module.py       Module, Parameter, ModuleList: registering, naming, saving weights
    layers.py       Linear, Embedding, LayerNorm, Dropout, GELU, ReLU
    multihead.py    MultiHeadAttention and the AttentionRecord it keeps when recording
    transformer.py  MLP, TransformerBlock, GPT, AttentionClassifier
"""
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU
from .module import Module, ModuleList, Parameter
from .multihead import AttentionRecord, MultiHeadAttention
from .transformer import GPT, MLP, AttentionClassifier, TransformerBlock

__all__ = [
    "Module", "ModuleList", "Parameter",
    "Linear", "Embedding", "LayerNorm", "Dropout", "GELU", "ReLU",
    "MultiHeadAttention", "AttentionRecord",
    "MLP", "TransformerBlock", "GPT", "AttentionClassifier",
]
