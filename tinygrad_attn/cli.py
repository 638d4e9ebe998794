"""The `tinygrad-attn` command: see what the engine computes, from a terminal.

  tinygrad-attn demo               the worked example, its backward, a model whose attention learns;
                                   writes tinygrad_attn_demo/index.html to open in a browser
  tinygrad-attn step               every backward step of the worked example, as text
  tinygrad-attn graph NAME         draw a named compute graph (seed, neuron, attention, gpt-block)
  tinygrad-attn lens               train the bank model and show what a sentence's "bank" attends to

`demo` and `step` take your own numbers: --query 1,2,-1 --keys "3,-1,0;3,-1,-1;0,1,-3"
--values "1,0,1;-1,2,0;1,1,1" --target 0,1,0 (any of them; the rest stay the worked example's).
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .scalar import Value
from .teach.worked_example import KEYS, QUERY_A, TARGET, TEXT_SAYS, VALUES, build_graph, worked_example

DEFAULT_OUT = "tinygrad_attn_demo"
# The bank model's training in `demo`: about 1 s on an idle machine (one BLAS thread, see
# _restart_with_one_blas_thread), a few seconds on a busy one. By 300 steps held-out accuracy is
# ~97% and each bank's attention sits on its cue word; 600 steps reach the same accuracy.
DEMO_STEPS = 300
DEMO_TIME_LIMIT = 30.0  # seconds: on a busy machine training stops early (200 steps already learn), so the demo
# still ends within a minute
GRAPH_FORMATS = ("svg", "png", "pdf")
NUMBER_OPTIONS = ("--query", "--keys", "--values", "--target")
TOKEN_NAMES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class CommandError(Exception):
    """A problem with what was asked (a path, a list of numbers): one line for the learner, exit 2."""


# ---- the learner's numbers ----
def parse_vector(text: str, option: str) -> tuple[float, ...]:
    """"1,2,-1" -> (1.0, 2.0, -1.0), or a CommandError saying what is wrong and what is expected."""
    example = "like 1,2,-1"
    if not text.strip():
        raise CommandError(f"{option}: empty; expected numbers separated by commas, {example}")
    numbers = []
    for i, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if not item:
            raise CommandError(f"{option}: number {i} of {text!r} is empty; expected numbers separated by commas, "
                               f"{example}")
        try:
            number = float(item)
        except ValueError:
            raise CommandError(f"{option}: {item!r} (number {i} of {text!r}) is not a number; expected numbers "
                               f"separated by commas, {example}") from None
        if not math.isfinite(number):
            raise CommandError(f"{option}: {item!r} (number {i} of {text!r}) is not a finite number")
        numbers.append(number)
    return tuple(numbers)


def parse_vectors(text: str, option: str) -> list[tuple[float, ...]]:
    """"3,-1,0;3,-1,-1" -> one vector per token, or a CommandError."""
    example = 'like "3,-1,0;3,-1,-1;0,1,-3"'
    if not text.strip():
        raise CommandError(f"{option}: empty; expected one vector per token, separated by ';', {example}")
    parts = text.split(";")
    if len(parts) > len(TOKEN_NAMES):
        raise CommandError(f"{option}: {len(parts)} vectors; at most {len(TOKEN_NAMES)} tokens (A to Z)")
    vectors = []
    for j, part in enumerate(parts):
        if not part.strip():
            raise CommandError(f"{option}: vector {j + 1} of {text!r} is empty; expected one vector per token, "
                               f"separated by ';', {example}")
        vectors.append(parse_vector(part, f"{option} (token {TOKEN_NAMES[j]})"))
    return vectors


@dataclass
class Numbers:
    """The example's query, keys (token -> vector), values and target: the text's, or the learner's."""

    query: tuple[float, ...] = QUERY_A
    keys: dict[str, tuple[float, ...]] = None  # type: ignore[assignment]
    values: dict[str, tuple[float, ...]] = None  # type: ignore[assignment]
    target: tuple[float, ...] = TARGET
    own: bool = False

    def __post_init__(self) -> None:
        self.keys = dict(KEYS) if self.keys is None else self.keys
        self.values = dict(VALUES) if self.values is None else self.values


def numbers_from(args: argparse.Namespace) -> Numbers:
    given = {name: getattr(args, name) for name in ("query", "keys", "values", "target")}
    if all(v is None for v in given.values()):
        return Numbers()
    query = parse_vector(given["query"], "--query") if given["query"] is not None else QUERY_A
    keys = parse_vectors(given["keys"], "--keys") if given["keys"] is not None else list(KEYS.values())
    values = parse_vectors(given["values"], "--values") if given["values"] is not None else list(VALUES.values())
    for j, key in enumerate(keys):
        if len(key) != len(query):
            raise CommandError(f"--keys: key {TOKEN_NAMES[j]} has {len(key)} numbers but the query has {len(query)}; "
                               "a score q·k needs them equally long")
    if len(values) != len(keys):
        raise CommandError(f"--values: {len(values)} vectors for {len(keys)} keys; give one value per token "
                           "(separated by ';')")
    for j, value in enumerate(values):
        if len(value) != len(values[0]):
            raise CommandError(f"--values: value {TOKEN_NAMES[j]} has {len(value)} numbers but value A has "
                               f"{len(values[0])}; every value must be as long")
    if given["target"] is not None:
        target = parse_vector(given["target"], "--target")
    else:
        target = TARGET if len(values[0]) == len(TARGET) else tuple(0.0 for _ in values[0])
    if len(target) != len(values[0]):
        raise CommandError(f"--target: {len(target)} numbers but each value has {len(values[0])}; the target is "
                           "what A's output should be, as long as a value")
    tokens = TOKEN_NAMES[:len(keys)]
    return Numbers(query, dict(zip(tokens, keys)), dict(zip(tokens, values)), target,
                   own=(query, tuple(keys), tuple(values), target) != (QUERY_A, tuple(KEYS.values()),
                                                                       tuple(VALUES.values()), TARGET))


def _merge_negative_numbers(argv: list[str]) -> list[str]:
    """`--query -1,2,3` would read -1,2,3 as an option; joined as `--query=-1,2,3` it is a value."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in NUMBER_OPTIONS and i + 1 < len(argv) and re.match(r"^-[\d.]", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


# ---- paths, checked before anything is computed ----
def check_file(text: str, option: str, suffixes: Sequence[str] | None = None) -> Path:
    """A file path that can be written: not empty, not a folder, in a folder that exists."""
    if not text or not text.strip():
        raise CommandError(f"{option}: the path is empty; give a file name")
    path = Path(text)
    if path.is_dir():  # before the suffix: "it is a folder" says more than "needs a .svg name"
        raise CommandError(f"{option}: cannot write {text!r}: it is a folder, give a file name")
    if suffixes is not None and path.suffix.lower().lstrip(".") not in suffixes:
        names = (", ".join(f".{s}" for s in suffixes[:-1]) + " or " if len(suffixes) > 1 else "") + f".{suffixes[-1]}"
        raise CommandError(f"{option} needs a {names} file name, got {path.name!r}")
    folder = path.parent
    if not folder.is_dir():
        raise CommandError(f"{option}: cannot write {text!r}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CommandError(f"{option}: cannot write {text!r}: permission denied")
    return path


def check_folder(text: str, option: str, files: Sequence[str]) -> Path:
    """A folder for the report: it exists (and is a folder) or can be made in one that exists,
    and none of `files` inside it is a folder."""
    if not text or not text.strip():
        raise CommandError(f"{option}: the path is empty; give a folder name (the default is {DEFAULT_OUT}/)")
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{option}: cannot write the report into {text!r}: it is a file, give a folder")
    if not folder.exists():
        parent = folder.parent
        if not parent.is_dir():
            raise CommandError(f"{option}: cannot make the folder {text!r}: the folder {str(parent)!r} "
                               "does not exist")
        if not os.access(parent, os.W_OK):
            raise CommandError(f"{option}: cannot make the folder {text!r}: permission denied in {str(parent)!r}")
        return folder
    if not os.access(folder, os.W_OK):
        raise CommandError(f"{option}: cannot write the report into {text!r}: permission denied")
    for name in files:
        inside = folder / name
        if inside.is_dir():
            raise CommandError(f"{option}: cannot write {str(inside)!r}: it is a folder")
        if inside.exists() and not os.access(inside, os.W_OK):
            raise CommandError(f"{option}: cannot write {str(inside)!r}: permission denied")
    return folder


def _steps_count(text: str) -> int:
    try:
        steps = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of training steps, like 300; got {text!r}") from None
    if steps < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more training steps, got {steps}")
    return steps


# ---- the bank model: a one-layer attention classifier learns which "bank" is meant ----
@dataclass
class BankRun:
    """What training the bank model did: accuracy before and after, the loss, the attention a
    sentence got before and after (lens views), and the senses it predicted for its banks."""

    steps: int
    history: Any
    accuracy_before: float
    accuracy_after: float
    held_out: int
    words: list[str]
    banks: list[int]  # the positions of "bank" in the sentence
    senses: list[str]  # the right sense of each bank
    predicted_before: list[str]
    predicted_after: list[str]
    lens_before: Any
    lens_after: Any
    model: Any


def bank_run(steps: int = DEMO_STEPS, sentence: str | None = None, seed: int = 0, progress: bool = True,
             time_limit: float | None = None) -> BankRun:
    """Train the bank model for `steps` steps (fewer if `time_limit` seconds pass first) and look at
    `sentence` (default: the notes' sentence) through the lens before and after."""
    from . import nn, optim
    from .teach.tasks import (BANK_VOCAB, PAD_ID, SEED_SENTENCE, SENSES, bank_task_from_sentences,
                              make_bank_task, token_accuracy)
    from .train import minibatches, predict, token_cross_entropy, train
    from .viz.lens import trace

    sentence = SEED_SENTENCE if sentence is None else sentence
    task = make_bank_task(3000, seed=seed)
    own = bank_task_from_sentences([sentence], max_len=task.block_size)  # ValueError names a word it lacks
    train_part, held_out = task.split(2000)
    model = nn.AttentionClassifier(task.vocab_size, task.block_size, d_model=32, n_heads=2, n_classes=2,
                                   pad_id=PAD_ID, rng=seed)
    length = int(own.mask[0].sum())
    ids = own.inputs[:, :length]
    words = [BANK_VOCAB[i] for i in ids[0]]
    banks = [int(i) for i in np.flatnonzero(own.targets[0, :length] != -100)]
    senses = [SENSES[own.targets[0, b]] for b in banks]

    def look() -> tuple[Any, list[str]]:
        with trace(model, tokens=words) as seen:
            logits = model(ids)
            token_cross_entropy(logits, own.targets[:, :length]).backward()  # the lens also shows gradients
        model.zero_grad()
        picked = logits.data[0].argmax(axis=-1)
        return seen, [SENSES[picked[b]] for b in banks]

    accuracy_before = token_accuracy(predict(model, held_out.inputs), held_out.targets)
    lens_before, predicted_before = look()
    optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    batches = minibatches((train_part.inputs, train_part.targets), 32, seed=seed)
    history = train(model, optimizer, lambda m, batch: token_cross_entropy(m(batch[0]), batch[1]), batches, steps,
                    progress=progress, desc="training the bank model", time_limit=time_limit)
    accuracy_after = token_accuracy(predict(model, held_out.inputs), held_out.targets)
    lens_after, predicted_after = look()
    return BankRun(history.steps, history, accuracy_before, accuracy_after, len(held_out), words, banks, senses,
                   predicted_before, predicted_after, lens_before, lens_after, model)


def _top_words(run: BankRun, lens: Any, head: int, bank: int, count: int = 3) -> str:
    weights = lens.head(0, head).weights[bank]
    order = np.argsort(-weights, kind="stable")[:count]
    return ", ".join(f"{run.words[j]} {weights[j]:.2f}" for j in order)


def print_bank_run(run: BankRun, out: Any) -> None:
    print(f"\nThe bank model (one attention layer, 2 heads) after {run.steps} training steps: held-out accuracy "
          f"{run.accuracy_before:.0%} before, {run.accuracy_after:.0%} after "
          f"({run.held_out:,} sentences; 50% is guessing)", file=out)
    print("  " + " ".join(run.words), file=out)
    for k, b in enumerate(run.banks):
        print(f"  bank #{k + 1} (word {b + 1}, means {run.senses[k]}): predicted {run.predicted_before[k]} before, "
              f"{run.predicted_after[k]} after", file=out)
        for head in range(2):
            print(f"    head {head} attends most to: before  {_top_words(run, run.lens_before, head, b)}", file=out)
            print(f"                          after   {_top_words(run, run.lens_after, head, b)}", file=out)


# ---- the report ----
def _graph_svg(loss: Value, title: str) -> str:
    from .viz import draw_graph
    return draw_graph(loss, compact=True, title=title).pipe(format="svg").decode("utf-8")


def build_report(example: dict, numbers: Numbers, run: BankRun | None, stepper: Any) -> Any:
    """The demo's page (a viz.report.Report): every figure from the engine's numbers."""
    from .viz.report import Report, figure, inline_svg, loss_chart, stepper_html, worked_example_html

    tokens = list(numbers.keys)
    lead = ("One query attends over a few tokens; the engine computes every number, draws the graph it built "
            "and steps backward through it")
    lead += (", then trains a small model whose attention learns which <i>bank</i> a sentence means." if run else ".")
    report = Report("tinygrad_attn: attention, computed and learned", lead)
    where = "your numbers" if numbers.own else "the worked example from the text"
    name = "your numbers" if numbers.own else "the worked example"
    intro = (f'<p>Token A\'s query attends over tokens {", ".join(tokens)} ({where}). '
             "Every multiply and add is a node of the scalar engine.</p>")
    report.add("example", "1. Your numbers" if numbers.own else "1. The worked example", intro + worked_example_html(
        example, None if numbers.own else TEXT_SAYS, target=numbers.target))

    try:
        svg = _graph_svg(example["loss"], f"{name}, after backward")
        report.attach("graph.svg", svg)
        report.add("graph", "2. Its compute graph",
                   "<p>Each box is one number (its name, value and gradient) or one operation; the frames are the "
                   "stages above. The yellow boxes are the inputs that learn; dashed boxes are constants. "
                   '<a href="graph.svg">Open the graph on its own</a>.</p>' + figure(inline_svg(svg), scroll=True))
        from .viz.stepper_page import page_html
        report.attach("stepper.html", page_html(stepper))
        report.add("stepper", "3. Step through backward",
                   f"<p>{len(stepper)} steps, from the loss back to the query, keys and values. Each step shows the "
                   "gradient that arrived, the local derivative with its numbers filled in, and what it sends on; "
                   "where a number feeds several others, the contributions are added. Use the buttons, the slider, "
                   "the arrow keys, or click a box. "
                   '<a href="stepper.html">Open the stepper on its own page</a>.</p>' + stepper_html(stepper))
    except RuntimeError as error:  # no dot renderer: the numbers still stand
        report.add("graph", "2. Its compute graph", f'<p class="note">(no graph: {error})</p>')

    if run is not None:
        report.add("attention", "4. A model whose attention learns", _attention_section(run))
        history = run.history
        curve = loss_chart(history.losses, history.sparkline(640, 160), width=720, height=210)
        first = sum(history.losses[:20]) / max(1, len(history.losses[:20]))
        report.add("loss", "5. The loss while it learned", figure(
            curve, f"Cross-entropy of the predicted sense at every “bank” in a batch of 32 sentences, per training "
                   f"step ({run.steps} steps in {history.seconds:.1f} s): mean {first:.3f} over the first 20 steps, "
                   f"{history.smoothed(20):.4f} over the last 20. Held-out accuracy went from "
                   f"{run.accuracy_before:.1%} to {run.accuracy_after:.1%}."))
    return report


def _attention_section(run: BankRun) -> str:
    import html as html_module

    from .viz.lens import Heatmap
    from .viz.report import attention_bars, figure, figures

    esc = html_module.escape
    sentence = " ".join(run.words)
    rows = []
    for k, b in enumerate(run.banks):
        marks = [("✓" if p == run.senses[k] else "✗") for p in (run.predicted_before[k], run.predicted_after[k])]
        rows.append(f"<tr><td>bank #{k + 1} (word {b + 1})</td><td>{esc(run.senses[k])}</td>"
                    f'<td data-name="predicted_before_{k}">{esc(run.predicted_before[k])} {marks[0]}</td>'
                    f'<td data-name="predicted_after_{k}">{esc(run.predicted_after[k])} {marks[1]}</td></tr>')
    text = (
        "<p>The sentence from the learner's notes has two <i>bank</i>s: money, then river. A one-layer "
        "attention classifier (2 heads, d_model 32) labels every <i>bank</i> with its sense; only a cue word "
        "nearby (<i>account</i>, <i>river</i>, …) tells them apart, so it can only succeed by attending to the cue. "
        f'It trains on 2,000 generated sentences for <span data-name="steps">{run.steps}</span> steps.</p>'
        f'<p class="stats">Held-out accuracy ({run.held_out:,} sentences; 50% is guessing): '
        f'<b data-name="accuracy_before">{run.accuracy_before:.1%}</b> before training, '
        f'<b data-name="accuracy_after">{run.accuracy_after:.1%}</b> after.</p>'
        f"<p>“{esc(sentence)}”</p>"
        '<table class="numbers"><tr><th></th><th>means</th><th>predicted before</th><th>predicted after</th></tr>'
        f"{''.join(rows)}</table>")
    # Where each "bank" looks, before and after, as bars on one scale; then every word's map.
    bars = []
    for head in range(2):
        for k, b in enumerate(run.banks):
            before = run.lens_before.head(0, head).weights[b]
            after = run.lens_after.head(0, head).weights[b]
            bars.append(figure(attention_bars(run.words, before, after,
                                              f"head {head}: bank #{k + 1} ({run.senses[k]}) attends to", query=b)))
    text += ("<h3>Where each <i>bank</i> looks</h3><p>Each chart is one <i>bank</i>'s attention over the sentence "
             "(its weights sum to 1), for each of the two heads. Before training it is spread thin over every word; "
             "after, most of it sits on the cue word that decides the sense.</p>" + figures(bars, pairs=True))
    full = []
    for head in range(2):
        for when, seen in (("before", run.lens_before), ("after", run.lens_after)):
            full.append(figure(Heatmap(seen.head(0, head).weights, run.words, run.words,
                                       f"head {head}, {when} training", legend="attention weight", top=1.0).svg))
    text += ("<h3>Every word's attention</h3><p>The whole map for each head, before and after training (row: the "
             "word attending; column: the word attended to; one colour scale from 0 to 1 for all four).</p>"
             + figures(full, pairs=True))
    return text


# ---- the named graphs ----
def _seed_graph() -> Any:
    from .viz import draw_graph
    example = build_graph()
    example["loss"].backward()
    return draw_graph(example["loss"], compact=True, title="the worked example: A attends over A, B, C")


def _neuron_graph() -> Any:
    from .viz import draw_graph
    x1, x2 = Value(2.0, name="x1"), Value(0.0, name="x2")
    w1, w2 = Value(-3.0, name="w1"), Value(1.0, name="w2")
    b = Value(6.8813735870195432, name="b")
    n = x1 * w1 + x2 * w2 + b
    n.name = "n"
    out = n.tanh()
    out.name = "out"
    out.backward()
    return draw_graph(out, title="one neuron: out = tanh(x1·w1 + x2·w2 + b)")


def _attention_graph() -> Any:
    from . import functional as F
    from .tensors import Tensor
    from .viz import draw_graph
    rng = np.random.default_rng(0)
    q, k, v = (Tensor(rng.standard_normal((1, 3, 4)).astype(np.float32), requires_grad=True, name=n) for n in "qkv")
    steps = F.attention_steps(q, k, v, is_causal=True)
    loss = (steps.output * steps.output).sum()
    loss.name = "loss"
    loss.backward()
    return draw_graph(loss, title="causal attention, stage by stage: scores, scaled, masked, weights, output")


def _gpt_block_graph() -> Any:
    from . import nn
    from .tensors import Tensor
    from .viz import draw_graph
    block = nn.TransformerBlock(d_model=8, n_heads=2, d_ff=16, rng=0)
    x = Tensor(np.random.default_rng(0).standard_normal((1, 4, 8)).astype(np.float32), requires_grad=True, name="x")
    out = block(x)
    loss = (out * out).mean()
    loss.name = "loss"
    loss.backward()
    return draw_graph(loss, title="one GPT block (layer norm, causal self-attention, MLP), four tokens")


GRAPHS: dict[str, tuple[Callable[[], Any], str]] = {
    "seed": (_seed_graph, "the worked example: A's query over three keys and values, to a squared error"),
    "neuron": (_neuron_graph, "one neuron, tanh(x1·w1 + x2·w2 + b), as in micrograd"),
    "attention": (_attention_graph, "causal scaled dot-product attention on 3 tokens, every stage a tensor"),
    "gpt-block": (_gpt_block_graph, "a GPT transformer block on 4 tokens, each module in a frame of its own"),
}


# ---- the commands ----
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("tinygrad_attn")
    except PackageNotFoundError:  # run from a source folder that was never installed
        return "(version unknown: not installed)"



def _add_numbers(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("your own numbers (each optional; the rest stay the worked example's)")
    group.add_argument("--query", metavar="Q", help="A's query, numbers separated by commas: 1,2,-1")
    group.add_argument("--keys", metavar="K", help='one key per token, separated by ";": "3,-1,0;3,-1,-1;0,1,-3"')
    group.add_argument("--values", metavar="V", help='one value per token: "1,0,1;-1,2,0;1,1,1"')
    group.add_argument("--target", metavar="T", help="what A's output should be, for the loss: 0,1,0")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinygrad-attn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="the worked example, its backward, and a model whose attention learns; writes a report",
        description="Compute the worked attention example, print every stage and the backward steps, train "
                    "the bank model (a progress bar), and write a report to open in a browser (DIR/index.html: "
                    "the example, its graph, a backward stepper, attention before and after training, the loss). "
                    "It works offline.")
    demo.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                      help=f"the folder for the report (default: {DEFAULT_OUT}/, made if missing)")
    demo.add_argument("--steps", metavar="N", type=_steps_count, default=DEMO_STEPS,
                      help=f"training steps for the bank model (default: {DEMO_STEPS}; fewer if {DEMO_TIME_LIMIT:.0f} s "
                           "pass first; 0 skips training)")
    demo.add_argument("--graph", metavar="FILE",
                      help="also draw the example's compute graph to FILE (.svg, .png or .pdf)")
    _add_numbers(demo)

    step = commands.add_parser(
        "step", help="print every backward step of the worked example (or your numbers)",
        description="Print every step of backward through the worked example: the gradient that arrived, the "
                    "local derivative with its numbers, what it sends on.")
    step.add_argument("--out", metavar="FILE", help="also save the interactive stepper page to FILE (.html)")
    _add_numbers(step)

    graph = commands.add_parser(
        "graph", help="draw a named compute graph: " + ", ".join(GRAPHS),
        description="Draw a named example's compute graph, after backward (so gradients show):\n" +
                    "\n".join(f"  {name:10s} {text}" for name, (_, text) in GRAPHS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    graph.add_argument("name", metavar="NAME", choices=list(GRAPHS), help="one of: " + ", ".join(GRAPHS))
    graph.add_argument("--format", choices=GRAPH_FORMATS, help="svg, png or pdf (default: from --out, else svg)")
    graph.add_argument("--out", metavar="FILE", help="where to write it (default: NAME.FORMAT here)")

    lens = commands.add_parser(
        "lens", help='train the bank model and show what each "bank" in a sentence attends to',
        description='Train the one-layer bank model and print, for each "bank" in a sentence, its predicted sense '
                    "and the words each head attends to most, before and after training.")
    lens.add_argument("--sentence", metavar="S", help="a sentence over the bank vocabulary, with a cue word for "
                                                       "every bank (default: the notes' sentence)")
    lens.add_argument("--steps", metavar="N", type=_steps_count, default=DEMO_STEPS,
                      help=f"training steps (default: {DEMO_STEPS})")
    lens.add_argument("--out", metavar="FILE", help="also save the lens after training as a page (.html)")
    return parser


def run_demo(args: argparse.Namespace, out: Any) -> int:
    started = time.perf_counter()
    numbers = numbers_from(args)
    graph_path = check_file(args.graph, "--graph", GRAPH_FORMATS) if args.graph is not None else None
    folder = check_folder(args.out, "--out", ("index.html", "graph.svg", "stepper.html"))

    example = worked_example(out, query=numbers.query, keys=numbers.keys, values=numbers.values,
                             target=numbers.target)
    if not numbers.own:
        print_text_corrections(example, out)
    name = "your numbers" if numbers.own else "the worked example"
    stepper = example_stepper(numbers, f"backward through {name}, one node at a time")  # printed and in the report
    print_named_steps(stepper, out)
    if graph_path is not None:
        _write(graph_path, "--graph", lambda: graph_path.write_bytes(
            _graph_from(example).pipe(format=graph_path.suffix[1:].lower())))
        print(f"\nGraph of every number above, with gradients: {graph_path}", file=out)

    run = None
    if args.steps > 0:
        print("", file=out)
        out.flush()
        run = bank_run(args.steps, time_limit=DEMO_TIME_LIMIT)
        if run.steps < args.steps:
            print(f"(training stopped after {run.steps} of {args.steps} steps: {DEMO_TIME_LIMIT:.0f} s passed; "
                  "the machine is busy)", file=out)
        print_bank_run(run, out)
    report = build_report(example, numbers, run, stepper)

    def write() -> Path:
        folder.mkdir(exist_ok=True)
        return report.write(folder)

    index = _write(folder, "--out", write)
    print(f"\nDone in {time.perf_counter() - started:.1f} s. Open the report in a browser:\n  {index}\n"
          f"  {index.resolve().as_uri()}", file=out)
    return 0


def _graph_from(example: dict) -> Any:
    from .viz import draw_graph
    return draw_graph(example["loss"], title="the worked example")


def _write(path: Path, option: str, action: Callable[[], Any]) -> Any:
    """Run a write; the disk may still say no (full, read-only): a message naming the path."""
    try:
        return action()
    except OSError as error:
        raise CommandError(f"{option}: cannot write {str(path)!r}: {error.strerror or error}") from None


def print_text_corrections(example: dict, out: Any) -> None:
    said, got = TEXT_SAYS["scores"][0], [s.data for s in example["scores"]]
    wrong = [(t, s, g) for t, s, g in zip(example["keys"], said, got) if abs(s - g) > 5e-5]
    print("\nThe text says scores " + ", ".join(f"{s:g}" for s in said)
          + "; the engine computes " + ", ".join(f"{g:g}" for g in got)
          + "".join(f" (q·k_{t} = {g:g}, not {s:g})" for t, s, g in wrong) + ".", file=out)
    print("Its shortcut (score / sum) on its own scores gives " + ", ".join(f"{w:g}" for w in TEXT_SAYS["weights"][0])
          + "; attention uses softmax: " + ", ".join(f"{w.data:.4f}" for w in example["weights"]) + ".", file=out)


def example_stepper(numbers: Numbers, title: str) -> Any:
    """A BackwardStepper over the example's graph, built afresh (not yet backpropagated)."""
    from .viz import BackwardStepper
    return BackwardStepper(build_graph(numbers.target, query=numbers.query, keys=numbers.keys,
                                       values=numbers.values)["loss"], title=title)


def print_named_steps(stepper: Any, out: Any) -> None:
    print(f"\n5. backward, step by step: {len(stepper)} steps, from the loss back to the inputs "
          "(here the named ones; `tinygrad-attn step` prints all, the report steps through them)", file=out)
    for frame in stepper.frames():
        first = frame.text.splitlines()[0]
        if any(n.name for n in frame.nodes) and "a leaf" not in frame.text:
            print("  " + re.sub(r"\s+\(Value[^)]*\)\s+", "  ", first), file=out)
        if any(n.name == "weight_B" for n in frame.nodes):
            print("\n".join("      " + line for line in frame.text.splitlines()[1:]), file=out)
    print("  then every query, key and value number: its gradient accumulates into .grad (listed in 4.)", file=out)


def run_step(args: argparse.Namespace, out: Any) -> int:
    numbers = numbers_from(args)
    path = check_file(args.out, "--out", ("html",)) if args.out is not None else None
    stepper = example_stepper(numbers, "backward through the worked example")
    for frame in stepper.frames():
        print(frame.text + "\n", file=out)
    if path is not None:
        _write(path, "--out", lambda: stepper.save(path))
        print(f"The stepper, to open in a browser: {path}", file=out)
    return 0


def run_graph(args: argparse.Namespace, out: Any) -> int:
    fmt = args.format
    if args.out is not None and not args.out.strip():
        raise CommandError("--out: the path is empty; give a file name")
    if args.out is not None and Path(args.out).is_dir():
        raise CommandError(f"--out: cannot write {args.out!r}: it is a folder, give a file name")
    if args.out is not None:
        suffix = Path(args.out).suffix.lower().lstrip(".")
        if fmt is None:
            fmt = suffix if suffix in GRAPH_FORMATS else None
            if fmt is None:
                raise CommandError(f"--out needs a .svg, .png or .pdf file name (or --format), got {Path(args.out).name!r}")
        elif suffix and suffix != fmt:
            raise CommandError(f"--out {args.out!r} ends in .{suffix} but --format is {fmt}; make them agree")
        path = check_file(args.out, "--out")
    else:
        fmt = fmt or "svg"
        path = check_file(f"{args.name}.{fmt}", "--out")
    drawing = GRAPHS[args.name][0]()
    _write(path, "--out", lambda: path.write_bytes(drawing.pipe(format=fmt)))
    print(f"{args.name}: {GRAPHS[args.name][1]}\n  {path}", file=out)
    return 0


def run_lens(args: argparse.Namespace, out: Any) -> int:
    path = check_file(args.out, "--out", ("html",)) if args.out is not None else None
    if args.sentence is not None:
        from .teach.tasks import bank_task_from_sentences
        try:
            bank_task_from_sentences([args.sentence])
        except (ValueError, TypeError) as error:
            raise CommandError(f"--sentence: {error}") from None
    try:
        run = bank_run(args.steps, args.sentence)
    except ValueError as error:  # e.g. a sentence longer than the model's 32 words
        raise CommandError(f"--sentence: {error}") from None
    print_bank_run(run, out)
    if path is not None:
        _write(path, "--out", lambda: run.lens_after.save(path))
        print(f"\nThe lens after training (every head's weights and gradients): {path}", file=out)
    return 0


COMMANDS = {"demo": run_demo, "step": run_step, "graph": run_graph, "lens": run_lens}
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _restart_with_one_blas_thread(argv: list[str]) -> None:
    """The bank model's matrices are tiny: a second BLAS thread only adds contention, and on a busy
    2-core machine it made training 14 times slower (40 s instead of 3 s for 200 steps). The
    variables count only before NumPy starts, so the command starts itself again, once, with them
    set; a variable the user set is left alone (and stops the restart)."""
    if os.name == "nt" or any(name in os.environ for name in THREAD_VARIABLES):
        return
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "tinygrad_attn", *argv],
              {**os.environ, **{name: "1" for name in THREAD_VARIABLES}})


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    from_command_line = argv is None
    argv = _merge_negative_numbers(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    command = args.command
    if from_command_line and command in ("demo", "lens"):  # the two that train
        _restart_with_one_blas_thread(argv)
    try:
        return COMMANDS[command](args, sys.stdout)
    except BrokenPipeError:  # `tinygrad-attn step | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except CommandError as error:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[command].error(str(error))  # usage and message on stderr, exit 2
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
