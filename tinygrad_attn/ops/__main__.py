"""`python -m tinygrad_attn.ops` prints the op reference (the README's table) from the registry."""
from .samples import render_markdown

print(render_markdown(), end="")
