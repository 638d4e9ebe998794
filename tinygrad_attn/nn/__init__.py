"""Layers and models built from Tensor ops: `Module`, `Linear`, `MultiHeadAttention`, `GPT`, ...

    module.py       Module, Parameter, ModuleList, ModuleDict, Sequential: registering, naming,
                    buffers, saving weights
    init.py         nn.init: PyTorch's initialisation rules (normal_, xavier_uniform_, kaiming_uniform_, ...)
    layers.py       Linear, Embedding, LayerNorm, Dropout, GELU, ReLU
    multihead.py    MultiHeadAttention (one packed_attention op; see trace/ for looking inside)
    transformer.py  MLP, TransformerBlock, GPT, AttentionClassifier
    files.py        weights on disk: Module.save/load's .npz, save_safetensors / load_safetensors
    nanogpt_layout.py  nanoGPT's key names for GPT's weights (state_dict(style="nanogpt"))
    torch_bridge.py Module.to_torch() / Module.from_torch(): the same model in PyTorch and back
"""
from . import init
from .files import load_safetensors, save_safetensors
from .layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .multihead import MultiHeadAttention
from .transformer import GPT, MLP, AttentionClassifier, TransformerBlock

__all__ = [
    "Module", "ModuleList", "ModuleDict", "Sequential", "Parameter", "init",
    "Linear", "Embedding", "LayerNorm", "Dropout", "GELU", "ReLU",
    "MultiHeadAttention",
    "MLP", "TransformerBlock", "GPT", "AttentionClassifier",
    "save_safetensors", "load_safetensors",
]
