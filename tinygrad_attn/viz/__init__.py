"""Drawing compute graphs."""
from .graph import draw_graph
from .render import DEFAULT_FONT, MONO_FONT, Graph, RenderWarning, dot_version, find_dot, pipe

__all__ = ["DEFAULT_FONT", "MONO_FONT", "Graph", "RenderWarning", "dot_version", "draw_graph", "find_dot", "pipe"]
