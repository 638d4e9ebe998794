"""The `tinygrad-attn` command: `tinygrad-attn demo` walks through the worked attention example."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

from .scalar import Value
from .teach.worked_example import worked_example


def _draw(loss: Value, path: Path) -> None:
    from .viz import draw_graph  # the top layer: imported only when a picture is asked for

    path.write_bytes(draw_graph(loss, title="the worked example").pipe(format=path.suffix[1:].lower()))
    print(f"\nGraph of every number above, with gradients: {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tinygrad-attn", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="compute the worked attention example and its gradients")
    demo.add_argument("--graph", metavar="FILE",
                      help="also draw the example's compute graph to FILE (.svg, .png or .pdf)")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        graph_path = Path(args.graph) if getattr(args, "graph", None) else None
        if graph_path is not None and graph_path.suffix.lower() not in (".svg", ".png", ".pdf"):
            parser.error(f"--graph needs a .svg, .png or .pdf file name, got {graph_path.name!r}")
        if graph_path is not None:  # refused before computing, so a typo costs nothing
            folder = graph_path.parent
            if not folder.is_dir():
                parser.error(f"--graph: cannot write {str(graph_path)!r}: the folder {str(folder)!r} does not exist")
            if graph_path.is_dir():
                parser.error(f"--graph: cannot write {str(graph_path)!r}: it is a folder, give a file name")
            if not os.access(folder, os.W_OK) or (graph_path.exists() and not os.access(graph_path, os.W_OK)):
                parser.error(f"--graph: cannot write {str(graph_path)!r}: permission denied")
        result = worked_example()
        if graph_path is not None:
            try:
                _draw(result["loss"], graph_path)
            except OSError as error:  # the disk said no after all (full, read-only): a message, not a traceback
                parser.exit(2, f"{parser.prog}: error: --graph: cannot write {str(graph_path)!r}: "
                               f"{error.strerror or error}\n")
        return 0
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
