"""`python -m tinygrad_attn.exercises ...`: the exercises and the bug zoo from a terminal.

    list                      every exercise and every bug in the zoo
    show NAME                 an exercise's statement and starter, or a bug's broken code and verdict
    starter NAME [FILE]       write the starter (print it without FILE)
    check NAME FILE           run FILE's function against exercise NAME (or its fix against bug NAME)
    make-student IN OUT       the student version of a notebook (or of every notebook in a folder)
    make-notebooks DIR        write the instructor sources of the exercise notebooks
"""
from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path
from typing import Any, Sequence

from ..bugzoo import BUGS
from . import EXERCISES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_attn.exercises",
                                     description="Exercises that check themselves, and the bug zoo.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every exercise and every bug")
    show = commands.add_parser("show", help="an exercise's statement and starter, or a bug's code and verdict")
    show.add_argument("name")
    starter = commands.add_parser("starter", help="write an exercise's starter file")
    starter.add_argument("name")
    starter.add_argument("file", nargs="?")
    check = commands.add_parser("check", help="check FILE's function against exercise (or bug) NAME")
    check.add_argument("name")
    check.add_argument("file")
    student = commands.add_parser("make-student", help="the student version of a notebook or folder")
    student.add_argument("source")
    student.add_argument("target")
    books = commands.add_parser("make-notebooks", help="write the instructor notebooks")
    books.add_argument("folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (KeyError, ValueError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2


def _list(args: Any) -> int:
    width = max(len(n) for n in [*EXERCISES, *BUGS])
    print("Exercises (check one: python -m tinygrad_attn.exercises check NAME FILE):")
    for name, exercise in EXERCISES.items():
        print(f"  {name:<{width}}  {exercise.title}")
    print("Bug zoo (read one: show NAME; check your fix: check NAME FILE):")
    for name, bug in BUGS.items():
        print(f"  {name:<{width}}  {bug.title}")
    return 0


def _function_name(name: str) -> str:
    if name in EXERCISES:
        return EXERCISES[name].function
    if name in BUGS:
        return BUGS[name].buggy.__name__.removesuffix("_buggy")
    raise KeyError(f"no exercise or bug called {name!r}; `list` shows them all")


def _show(args: Any) -> int:
    if args.name in BUGS:
        bug = BUGS[args.name]
        print(f"{bug.title}\n\nSymptom: {bug.symptom}\nThe bug lives in {bug.slot}.\n")
        print(bug.source())
        print(bug.check())
        print(f"\nWrite your fix as `def {_function_name(args.name)}(...)` in a file and run: "
              f"python -m tinygrad_attn.exercises check {args.name} FILE")
        return 0
    exercise = EXERCISES.get(args.name) or EXERCISES[_function_name(args.name)]
    print(f"{exercise.title}\n\n{exercise.statement}\n\n{_starter_file(exercise.name)}")
    return 0


def _starter_file(name: str) -> str:
    return f"import numpy as np\n\n\n{EXERCISES[name].starter()}"


def _starter(args: Any) -> int:
    if args.name not in EXERCISES:
        raise KeyError(f"no exercise called {args.name!r}; `list` shows them all")
    if args.file:
        Path(args.file).write_text(_starter_file(args.name), encoding="utf-8")
        print(f"wrote {args.file}; check it with: python -m tinygrad_attn.exercises check {args.name} {args.file}")
    else:
        print(_starter_file(args.name), end="")
    return 0


def _load(path: Path, function: str) -> Any:
    """The student's function from a .py file, or from the cells of a notebook that define it."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
                if c["cell_type"] == "code"]
        chosen = [c for c in code if f"def {function}(" in c or c.lstrip().startswith(("import", "from"))]
        namespace: dict[str, Any] = {"__name__": "student"}
        exec(compile("\n\n".join(chosen), str(path), "exec"), namespace)  # noqa: S102 - the student's own code
    else:
        namespace = runpy.run_path(str(path), run_name="student")
    if function not in namespace:
        raise ValueError(f"{path} defines no function called {function!r}: write `def {function}(...)`")
    return namespace[function]


def _check(args: Any) -> int:
    function = _load(Path(args.file), _function_name(args.name))
    result = EXERCISES[args.name].check(function) if args.name in EXERCISES else BUGS[args.name].check(function)
    print(result)
    return 0 if result.passed else 1


def _make_student(args: Any) -> int:
    from .notebooks import make_student_file

    for path in make_student_file(Path(args.source), Path(args.target)):
        print(f"wrote {path}")
    return 0


def _make_notebooks(args: Any) -> int:
    from .notebooks import all_notebooks, dumps

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, notebook in all_notebooks().items():
        (folder / name).write_text(dumps(notebook), encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


COMMANDS = {"list": _list, "show": _show, "starter": _starter, "check": _check, "make-student": _make_student,
            "make-notebooks": _make_notebooks}
