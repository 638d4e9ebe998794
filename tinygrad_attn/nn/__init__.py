"""Layers and models built from Tensor ops: `Module`, `Linear`, `MultiHeadAttention`, `GPT`, ...

    module.py       Module, Parameter, ModuleList: registering, naming, saving weights
    layers.py       Linear, Embedding, LayerNorm, Dropout, GELU, ReLU
    multihead.py    MultiHeadAttention (one packed_attention op; see trace/ for looking inside)
    transformer.py  MLP, TransformerBlock, GPT, AttentionClassifier
"""
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU
from .module import Module, ModuleList, Parameter
from .multihead import MultiHeadAttention
from .transformer import GPT, MLP, AttentionClassifier, TransformerBlock

__all__ = [
    "Module", "ModuleList", "Parameter",
    "Linear", "Embedding", "LayerNorm", "Dropout", "GELU", "ReLU",
    "MultiHeadAttention",
    "MLP", "TransformerBlock", "GPT", "AttentionClassifier",
]
