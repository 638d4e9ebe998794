"""The command line: `tinygrad-attn demo | step | graph | lens`, its messages and its exit codes."""
import errno
import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tinygrad_attn.cli import GRAPHS, main
from tinygrad_attn.teach.worked_example import KEYS, QUERY_A, VALUES, worked_example
from tinygrad_attn.viz import find_dot

needs_dot = pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed")


def run(argv, capsys):
    """main(argv) -> (exit code, stdout, stderr); argparse's exits become codes."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(argv, capsys):
    """A refusal: exit 2, one message, no traceback, nothing computed."""
    code, out, err = run(argv, capsys)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "1. scores" not in out
    return err


# ---- demo: the text ----
def test_demo_prints_scores_weights_output_backward_and_its_steps(tmp_path, capsys):
    code, out, _ = run(["demo", "--out", str(tmp_path / "report"), "--steps", "0"], capsys)
    assert code == 0
    for heading in ("1. scores", "2. weights", "3. output", "4. backward", "dL/dq_A", "5. backward, step by step",
                    "step 1/70  loss", "step 25/70  weight_B"):
        assert heading in out
    assert "The text says scores 1, 4, 5; the engine computes 1, 2, 5 (q·k_B = 2, not 4)" in out
    index = tmp_path / "report" / "index.html"
    assert index.is_file() and str(index) in out and index.resolve().as_uri() in out


def test_demo_numbers_come_from_the_engine_and_match_numpy():
    result = worked_example(out=io.StringIO())
    keys = np.array(list(KEYS.values()))
    values = np.array(list(VALUES.values()))
    scores = keys @ np.array(QUERY_A)
    weights = np.exp(scores) / np.exp(scores).sum()
    assert [s.data for s in result["scores"]] == list(scores)
    np.testing.assert_allclose([o.data for o in result["output"]], weights @ values, rtol=1e-13)


@needs_dot
def test_demo_draws_the_graph_it_computed(tmp_path, capsys):
    target = tmp_path / "example.svg"
    code, out, _ = run(["demo", "--graph", str(target), "--out", str(tmp_path / "r"), "--steps", "0"], capsys)
    assert code == 0
    svg = ET.fromstring(target.read_bytes())
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for label in ("q_A[0]", "score_B", "weight_C", "loss"):
        assert label in texts
    assert str(target) in out


def test_demo_trains_the_bank_model_and_says_how_well(tmp_path, capsys):
    code, out, err = run(["demo", "--out", str(tmp_path / "r"), "--steps", "30"], capsys)
    assert code == 0
    assert "The bank model" in out and "held-out accuracy" in out and "head 0 attends most to" in out
    assert "training the bank model" in err and "30/30" in err  # tqdm's bar, on stderr


# ---- demo: the learner's numbers ----
def test_demo_takes_the_learners_own_numbers(tmp_path, capsys):
    code, out, _ = run(["demo", "--query", "1,0", "--keys", "1,1;0,2", "--values", "1;2", "--target", "0",
                        "--out", str(tmp_path / "r"), "--steps", "0"], capsys)
    assert code == 0
    assert "over tokens A, B (your numbers)" in out and "The text says" not in out
    scores = np.array([[1.0, 1.0], [0.0, 2.0]]) @ np.array([1.0, 0.0])
    weights = np.exp(scores) / np.exp(scores).sum()
    assert f"[{weights[0]:+.4f}, {weights[1]:+.4f}]" in out


def test_a_number_list_may_start_with_a_minus(tmp_path, capsys):
    code, out, _ = run(["demo", "--query", "-1,2,3", "--out", str(tmp_path / "r"), "--steps", "0"], capsys)
    assert code == 0 and "query q_A            [-1.0000, +2.0000, +3.0000]" in out


@pytest.mark.parametrize("argv, words", [
    (["--query", "1,,2"], "--query: number 2 of '1,,2' is empty; expected numbers separated by commas"),
    (["--query", "1,two,3"], "--query: 'two' (number 2 of '1,two,3') is not a number"),
    (["--query", "1,nan,3"], "is not a finite number"),
    (["--query", ""], "--query: empty"),
    (["--keys", "3,-1,0;;0,1,-3"], "--keys: vector 2 of '3,-1,0;;0,1,-3' is empty"),
    (["--keys", "3,-1;3,-1,-1;0,1,-3"], "--keys: key A has 2 numbers but the query has 3"),
    (["--values", "1,0,1;-1,2,0"], "--values: 2 vectors for 3 keys"),
    (["--values", "1,0,1;-1,2;1,1,1"], "--values: value B has 2 numbers but value A has 3"),
    (["--target", "0,1"], "--target: 2 numbers but each value has 3"),
    (["--steps", "many"], "expected a whole number of training steps"),
])
def test_a_malformed_number_list_is_refused_with_what_was_expected(argv, words, tmp_path, capsys):
    err = refused(["demo", *argv, "--out", str(tmp_path / "r")], capsys)
    assert words in err
    assert not (tmp_path / "r").exists()


# ---- paths: refused before anything is computed, naming the path ----
def test_bad_report_folders_are_refused_naming_the_path(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    busy = tmp_path / "busy"
    (busy / "index.html").mkdir(parents=True)
    cases = [
        ("", "--out: the path is empty"),
        (str(blocker), f"cannot write the report into {str(blocker)!r}: it is a file, give a folder"),
        (str(tmp_path / "missing" / "deeper"), f"the folder {str(tmp_path / 'missing')!r} does not exist"),
        (str(blocker / "inside"), f"the folder {str(blocker)!r} does not exist"),
        (str(busy), f"cannot write {str(busy / 'index.html')!r}: it is a folder"),
    ]
    for out, words in cases:
        assert words in refused(["demo", "--out", out], capsys)


def test_bad_graph_paths_are_refused_naming_the_path(tmp_path, capsys):
    folder = tmp_path / "graph.svg"
    folder.mkdir()
    cases = [
        ("", "--graph: the path is empty"),
        ("example.txt", "--graph needs a .svg, .png or .pdf file name, got 'example.txt'"),
        (str(tmp_path / "nowhere" / "x.svg"), f"the folder {str(tmp_path / 'nowhere')!r} does not exist"),
        (str(folder), "it is a folder, give a file name"),
        (str(tmp_path), f"--graph: cannot write {str(tmp_path)!r}: it is a folder"),  # no suffix: still a folder
    ]
    for graph, words in cases:
        assert words in refused(["demo", "--graph", graph, "--out", str(tmp_path / "r")], capsys)


def test_a_write_that_fails_after_all_is_a_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    from tinygrad_attn.viz import report

    def full_disk(self, folder):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report.Report, "write", full_disk)
    code, _, err = run(["demo", "--out", str(tmp_path / "r"), "--steps", "0"], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"--out: cannot write {str(tmp_path / 'r')!r}: No space left on device" in err


# ---- the other commands ----
def test_version_and_help_everywhere(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("tinygrad-attn ")
    for argv in ([], ["--help"], ["demo", "--help"], ["step", "--help"], ["graph", "--help"], ["lens", "--help"]):
        code, out, _ = run(argv, capsys)
        assert code == 0 and "usage: tinygrad-attn" in out, argv
    assert "--out DIR" in run(["demo", "--help"], capsys)[1]
    assert all(name in run(["graph", "--help"], capsys)[1] for name in GRAPHS)


def test_unknown_commands_and_options_exit_2(capsys):
    assert "invalid choice: 'frobnicate'" in refused(["frobnicate"], capsys)
    assert "unrecognized arguments: --bogus" in refused(["demo", "--bogus"], capsys)
    assert "invalid choice: 'mlp'" in refused(["graph", "mlp"], capsys)
    assert "invalid choice: 'jpg'" in refused(["graph", "seed", "--format", "jpg"], capsys)


@needs_dot
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_draws_each_named_example(name, tmp_path, capsys):
    target = tmp_path / f"{name}.svg"
    code, out, _ = run(["graph", name, "--out", str(target)], capsys)
    assert code == 0 and str(target) in out
    svg = ET.fromstring(target.read_bytes())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "grad" in " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))


@needs_dot
def test_graph_formats_and_paths(tmp_path, capsys, monkeypatch):
    png = tmp_path / "neuron.png"
    assert run(["graph", "neuron", "--out", str(png)], capsys)[0] == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.chdir(tmp_path)
    assert run(["graph", "seed", "--format", "pdf"], capsys)[0] == 0
    assert (tmp_path / "seed.pdf").read_bytes()[:5] == b"%PDF-"
    assert "ends in .svg but --format is png" in refused(["graph", "seed", "--out", "x.svg", "--format", "png"], capsys)
    assert "needs a .svg, .png or .pdf file name (or --format)" in refused(["graph", "seed", "--out", "x.txt"], capsys)
    assert "--out: the path is empty" in refused(["graph", "seed", "--out", ""], capsys)
    (tmp_path / "dir.svg").mkdir()
    assert "it is a folder" in refused(["graph", "seed", "--out", "dir.svg"], capsys)
    assert f"--out: cannot write {str(tmp_path)!r}: it is a folder" in refused(["graph", "seed", "--out", str(tmp_path)],
                                                                             capsys)


@needs_dot
def test_step_prints_every_backward_step_and_saves_the_stepper(tmp_path, capsys):
    page = tmp_path / "steps.html"
    code, out, _ = run(["step", "--out", str(page)], capsys)
    assert code == 0
    assert out.count("step ") >= 70 and "step 70/70  q_A[0]" in out
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "--out needs a .html file name" in refused(["step", "--out", str(tmp_path / "s.txt")], capsys)


def test_lens_trains_and_shows_a_sentences_banks(tmp_path, capsys):
    code, out, _ = run(["lens", "--steps", "20", "--sentence", "we saw the fish near the bank",
                        "--out", str(tmp_path / "lens.html")], capsys)
    assert code == 0 and "bank #1 (word 7, means river)" in out
    assert (tmp_path / "lens.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    err = refused(["lens", "--sentence", "i went to the bank of england"], capsys)
    assert "--sentence: " in err and "['england', 'of'] are not in the bank vocabulary" in err
    assert "has no cue word" in refused(["lens", "--sentence", "i went to the bank"], capsys)


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "tinygrad_attn", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tinygrad-attn ")
    done = subprocess.run([sys.executable, "-m", "tinygrad_attn", "demo", "--query", "1,x"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "is not a number" in done.stderr and "Traceback" not in done.stderr


def test_a_busy_machine_stops_training_at_the_time_limit(tmp_path, capsys, monkeypatch):
    from tinygrad_attn import cli

    monkeypatch.setattr(cli, "DEMO_TIME_LIMIT", 0.0)  # every step is over time: it stops after the first
    code, out, _ = run(["demo", "--out", str(tmp_path / "r"), "--steps", "30"], capsys)
    assert code == 0 and "training stopped after 1 of 30 steps" in out
    assert 'for <span data-name="steps">1</span> steps' in (tmp_path / "r" / "index.html").read_text(encoding="utf-8")


def test_a_reader_that_leaves_early_is_no_traceback():
    done = subprocess.run(f"{sys.executable} -m tinygrad_attn step | head -1", shell=True, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.startswith("step 1/70") and "Traceback" not in done.stderr


def test_the_training_commands_restart_once_with_one_blas_thread(monkeypatch, capsys):
    from tinygrad_attn import cli

    for name in cli.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    started = []

    def execve(program, args, env):
        started.append((program, args, {name: env.get(name) for name in cli.THREAD_VARIABLES}))
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execve", execve)
    monkeypatch.setattr(cli.sys, "argv", ["tinygrad-attn", "demo", "--query", "-1,2,3", "--steps", "0"])
    with pytest.raises(SystemExit):
        main()
    assert started == [(sys.executable, [sys.executable, "-m", "tinygrad_attn", "demo", "--query=-1,2,3", "--steps",
                                         "0"], {name: "1" for name in cli.THREAD_VARIABLES})]
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # the user's own setting wins: no restart
    monkeypatch.setattr(cli.sys, "argv", ["tinygrad-attn", "demo", "--query", "1,x"])
    with pytest.raises(SystemExit):
        main()
    assert len(started) == 1 and "is not a number" in capsys.readouterr().err
