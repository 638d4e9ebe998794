"""Drawing compute graphs, and stepping through backward on them."""
from .graph import draw_graph
from .stepper import BackwardStepper
from .render import DEFAULT_FONT, MONO_FONT, Graph, RenderWarning, dot_version, find_dot, pipe

__all__ = ["BackwardStepper", "DEFAULT_FONT", "MONO_FONT", "Graph", "RenderWarning", "dot_version", "draw_graph", "find_dot", "pipe"]
