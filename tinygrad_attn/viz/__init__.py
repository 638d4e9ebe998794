"""Drawing compute graphs."""
from .render import DEFAULT_FONT, MONO_FONT, Graph, RenderWarning, dot_version, find_dot, pipe

__all__ = ["DEFAULT_FONT", "MONO_FONT", "Graph", "RenderWarning", "dot_version", "find_dot", "pipe"]
