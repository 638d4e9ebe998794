"""Benchmark runner: times every registered implementation of each workload, single-threaded.

    python benchmarks/run.py [W0 W1 W2 W3 ...] [--repeat N] [--rounds R] [--check]
                             [--tuned-malloc] [--no-gc] [--impl NAME ...]

Each (workload, implementation) pair runs in its own child process, so implementations do
not disturb each other and each one's peak RSS is its own. Ratios are against baselines
measured in the same run. This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import os

# Pin every BLAS / OpenMP pool to one thread before NumPy or PyTorch can be imported.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
for _name in THREAD_ENV_VARS:
    os.environ[_name] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# ------------------------------------------------------------------- registry
#
# IMPLEMENTATIONS[workload][name] = "package.module:factory". The module is imported only in
# the child process that times it; if the import (or the factory) raises ImportError, the
# row is reported as skipped with the reason.
#
# A factory is called as ``factory(seed: int)`` once, outside the timing, and returns either
# a zero-argument ``step`` callable or a ``benchmarks.workloads.Prepared(step, facts)``.
# Each ``step()`` call does one unit of work and returns, per workload:
#   W0: None or (c, da, db)                   -- c = a*b + a on (4, 4), backward with ones
#   W1: the loss (float) before the update    -- one GPT train step (fwd + bwd + AdamW)
#   W2: None or (out, dq, dk, dv)             -- causal attention fwd + bwd
#   W3: the loss (float)                      -- scalar MLP graph build + backward
# (arrays or tensors; ``--check`` compares whatever is returned with the NumPy reference,
# or with micrograd for W3). Inputs and initial weights come from benchmarks.workloads.

IMPLEMENTATIONS: dict[str, dict[str, str]] = {
    "W0": {
        "numpy": "benchmarks.reference_numpy:w0_numpy",
        "torch": "benchmarks.reference_torch:w0_torch",
        "tinygrad_attn": "benchmarks.impl_overhead:w0_tinygrad_attn",
    },
    "W1": {
        "numpy": "benchmarks.reference_numpy:w1_numpy",
        "torch-sdpa": "benchmarks.reference_torch:w1_torch_sdpa",
        "torch-written": "benchmarks.reference_torch:w1_torch_written",
        "tinygrad_attn": "benchmarks.impl_gpt:w1_tinygrad_attn",
    },
    "W1u": {
        "torch": "benchmarks.impl_model_files:w1u_torch",
        "tinygrad_attn": "benchmarks.impl_model_files:w1u_tinygrad_attn",
    },
    "W1h": {
        "numpy": "benchmarks.reference_numpy:w1_numpy",
        "torch": "benchmarks.impl_model_files:w1h_torch",
        "tinygrad_attn": "benchmarks.impl_model_files:w1h_tinygrad_attn",
    },
    "W1r": {
        "numpy": "benchmarks.reference_numpy:w1_numpy",
        "torch-sdpa": "benchmarks.reference_torch:w1_torch_sdpa",
        "tinygrad_attn": "benchmarks.impl_gpt:w1_tinygrad_attn_reference",
    },
    "W2": {
        "numpy": "benchmarks.reference_numpy:w2_numpy",
        "torch-sdpa": "benchmarks.reference_torch:w2_torch_sdpa",
        "torch-written": "benchmarks.reference_torch:w2_torch_written",
        "tinygrad_attn": "benchmarks.impl_gpt:w2_tinygrad_attn",
    },
    "W3": {
        "micrograd": "benchmarks.w3_micrograd:w3_micrograd",
        "tinygrad_attn": "benchmarks.impl_overhead:w3_tinygrad_attn",
    },
    "W4": {
        "numpy": "benchmarks.reference_numpy:w4_numpy",
        "torch": "benchmarks.reference_torch:w4_torch",
        "tinygrad_attn": "benchmarks.impl_overhead:w4_tinygrad_attn",
    },
    "T1": {"tinygrad_attn": "benchmarks.impl_teaching:t1_stepper_worked_example"},
    "T2": {"tinygrad_attn": "benchmarks.impl_teaching:t2_stepper_gpt"},
    "T3": {"tinygrad_attn": "benchmarks.impl_teaching:t3_graph_worked_example"},
    "T4": {"tinygrad_attn": "benchmarks.impl_teaching:t4_graph_gpt"},
    "T5": {"tinygrad_attn": "benchmarks.impl_teaching:t5_notebooks"},
}


@dataclass(frozen=True)
class WorkloadSpec:
    """How a workload is timed and what its rows are compared with."""

    description: str
    unit: str  # "us" or "ms"
    inner_loops: int  # step() calls per timing sample (time is reported per call)
    repeat: int  # timing samples
    warmup: int  # untimed step() calls first
    reference: str  # implementation the "x ref" column divides by
    torch_reference: str | None  # implementation the "x torch" column divides by


WORKLOADS: dict[str, WorkloadSpec] = {
    "W0": WorkloadSpec("c = a*b + a on (4,4) float32, fwd + bwd (overhead)", "us", 1000, 20, 1000,
                       "numpy", "torch"),
    "W1": WorkloadSpec("GPT train step (2 layers, d 64, 4 heads, ctx 64, batch 16, AdamW)", "ms", 1, 30, 5,
                       "numpy", "torch-sdpa"),
    "W1u": WorkloadSpec("tests/models/nanogpt_style.py train step, W1 sizes, same file on torch and engine",
                        "ms", 1, 30, 5, "torch", "torch"),
    "W1h": WorkloadSpec("W1's GPT by hand (h @ W + b, split/view/transpose, F.sdpa), same file on both",
                        "ms", 1, 30, 5, "numpy", "torch"),
    "W1r": WorkloadSpec("W1 with ta.use_kernels(False): the readable reference ops", "ms", 1, 10, 2,
                        "numpy", "torch-sdpa"),
    "W2": WorkloadSpec("causal attention fwd + bwd, q/k/v (8, 4, 128, 32)", "ms", 1, 50, 5,
                       "numpy", "torch-sdpa"),
    "W3": WorkloadSpec("scalar MLP [2,16,16,1], 100 two-moons points, hinge loss, fwd + bwd", "ms", 1, 5, 1,
                       "micrograd", None),
    "W4": WorkloadSpec("sum(relu(a*w + w)), w (4,) broadcast over (4,4), fwd + bwd: 4 ops (overhead)", "us",
                       1000, 20, 1000, "numpy", "torch"),
    "T1": WorkloadSpec("BackwardStepper, worked example: build + every frame + HTML (target <= 1 s)", "ms",
                       1, 3, 1, "tinygrad_attn", None),
    "T2": WorkloadSpec("BackwardStepper, 2-layer GPT, collapse=2: the same (target <= 3 s)", "ms", 1, 3, 1,
                       "tinygrad_attn", None),
    "T3": WorkloadSpec("draw_graph(worked example) to SVG", "ms", 1, 3, 1, "tinygrad_attn", None),
    "T4": WorkloadSpec("draw_graph(2-layer GPT, collapse=2) to SVG", "ms", 1, 3, 1, "tinygrad_attn", None),
    "T5": WorkloadSpec("every notebooks/*.ipynb end to end in a fresh kernel", "ms", 1, 1, 0,
                       "tinygrad_attn", None),
}

TUNED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "536870912"}
RESULT_MARKER = "@@BENCH_RESULT@@ "
UNIT_SCALE = {"us": 1e6, "ms": 1e3}


# ------------------------------------------------------------------- child side


def load_entry(entry: str) -> Callable[[int], Any]:
    """Import ``package.module:function`` and return the function."""
    module_name, _, function_name = entry.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def pin_torch_threads() -> None:
    """If PyTorch has been imported, limit its intra- and inter-op pools to one thread."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started
        pass


def thread_report() -> dict[str, Any]:
    """Thread counts this process ended up with."""
    report: dict[str, Any] = {name: os.environ.get(name) for name in THREAD_ENV_VARS}
    try:
        from threadpoolctl import threadpool_info

        report["threadpools"] = [f"{pool.get('internal_api')}={pool.get('num_threads')}"
                                 for pool in threadpool_info()]
    except ImportError:
        report["threadpools"] = "threadpoolctl not installed"
    torch = sys.modules.get("torch")
    if torch is not None:
        report["torch_threads"] = torch.get_num_threads()
        report["torch_interop_threads"] = torch.get_num_interop_threads()
    return report


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    On Linux this is VmHWM from /proc/self/status, which belongs to this process's own
    address space. (``ru_maxrss`` is not used there: it survives exec, so a child would
    report at least the peak of the parent it was started from.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def summarise_result(value: Any) -> float | None:
    """A step's return value as a float if it is a scalar (a loss), else None."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def run_child(workload: str, implementation: str, repeat: int, warmup: int, seed: int,
              disable_gc: bool) -> dict[str, Any]:
    """Time one implementation of one workload in this process and return the measurements."""
    spec = WORKLOADS[workload]
    result: dict[str, Any] = {"workload": workload, "implementation": implementation}
    entry = IMPLEMENTATIONS[workload][implementation]
    try:
        factory = load_entry(entry)
    except ImportError as error:
        return {**result, "skipped": f"import failed: {error}"}
    pin_torch_threads()
    rss_before_setup = peak_rss_mb()
    try:
        prepared = factory(seed)
    except ImportError as error:
        return {**result, "skipped": str(error)}
    pin_torch_threads()
    step = getattr(prepared, "step", prepared)
    facts = dict(getattr(prepared, "facts", {}) or {})
    last = None
    samples: list[float] = []
    inner = spec.inner_loops
    gc.collect()
    if disable_gc:
        gc.disable()  # for the whole warm-up + timing phase, as timeit does
    try:
        for _ in range(warmup):
            last = step()
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(inner):
                last = step()
            samples.append((time.perf_counter() - start) / inner)
    finally:
        gc.enable()
    peak = peak_rss_mb()
    return {**result, "samples": samples, "result": summarise_result(last), "facts": facts,
            "peak_rss_mb": peak, "rss_growth_mb": peak - rss_before_setup, "threads": thread_report()}


def child_main(args: argparse.Namespace) -> int:
    """Entry point of a child process: print one marked JSON line with the measurements."""
    workload, implementation = args.child
    spec = WORKLOADS[workload]
    try:
        result = run_child(workload, implementation, args.repeat or spec.repeat, spec.warmup, args.seed,
                           args.no_gc)
    except Exception as error:  # reported as a row, not a crash of the whole run
        result = {"workload": workload, "implementation": implementation,
                  "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    print(RESULT_MARKER + json.dumps(result, default=str), flush=True)
    return 0


def probe_main() -> int:
    """Child entry point that reports versions and the thread counts NumPy and PyTorch end up with."""
    info: dict[str, Any] = {"python": platform.python_version()}
    import numpy

    info["numpy"] = numpy.__version__
    try:
        import torch

        info["torch"] = torch.__version__
        pin_torch_threads()
    except ImportError:
        info["torch"] = None
    try:
        from importlib.metadata import version

        info["micrograd"] = version("micrograd")
    except Exception:  # metadata lookup is best effort
        info["micrograd"] = None
    info["threads"] = thread_report()
    info["malloc"] = {name: os.environ.get(name) for name in TUNED_MALLOC_ENV}
    print(RESULT_MARKER + json.dumps(info, default=str), flush=True)
    return 0


# ------------------------------------------------------------------- parent side


def child_environment(tuned_malloc: bool) -> dict[str, str]:
    """Environment for child processes (malloc variables must be set before a process starts)."""
    env = dict(os.environ)
    for name in THREAD_ENV_VARS:
        env[name] = "1"
    if tuned_malloc:
        env.update(TUNED_MALLOC_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_in_child(arguments: list[str], env: dict[str, str], timeout: float,
                 script: Path | None = None) -> dict[str, Any]:
    """Run this script (or another tree's copy of it) with ``arguments`` in a fresh interpreter
    and parse its marked JSON line."""
    command = [sys.executable, str(script or Path(__file__).resolve()), *arguments]
    try:
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
    return {"error": f"child exited with {completed.returncode}: " + " | ".join(tail)}


def format_row(cells: list[str], widths: list[int]) -> str:
    """Left-align the first two cells, right-align the rest."""
    return "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths)))


def print_table(results: list[dict[str, Any]]) -> None:
    """The timing table: one row per (workload, implementation), ratios to same-run baselines."""
    headers = ["workload", "implementation", "median", "min", "max", "unit", "x ref", "x torch",
               "peak RSS MB", "+RSS MB", "loss"]
    medians = {(r["workload"], r["implementation"]): statistics.median(r["samples"])
               for r in results if "samples" in r}
    rows: list[list[str]] = []
    notes: list[str] = []
    for r in results:
        workload, name = r["workload"], r["implementation"]
        spec = WORKLOADS[workload]
        if "samples" not in r:
            reason = r.get("skipped") or r.get("error", "unknown failure")
            label = "skipped" if "skipped" in r else "ERROR"
            rows.append([workload, name, label, "", "", "", "", "", "", "", ""])
            notes.append(f"{workload} {name}: {label}: {reason}")
            continue
        scale = UNIT_SCALE[spec.unit]
        median = medians[(workload, name)]

        def ratio(baseline: str | None) -> str:
            base = medians.get((workload, baseline)) if baseline else None
            return f"{median / base:.2f}" if base else "-"

        loss = r.get("result")
        rows.append([workload, name, f"{median * scale:.2f}", f"{min(r['samples']) * scale:.2f}",
                     f"{max(r['samples']) * scale:.2f}", spec.unit, ratio(spec.reference),
                     ratio(spec.torch_reference), f"{r['peak_rss_mb']:.1f}",
                     f"{r['rss_growth_mb']:.1f}",
                     f"{loss:.6f}" if loss is not None else ""])
        for key, value in r.get("facts", {}).items():
            notes.append(f"{workload} {name}: {key} = {value}")
    widths = [max(len(row[i]) for row in rows + [headers]) for i in range(len(headers))]
    print(format_row(headers, widths))
    print(format_row(["-" * w for w in widths], widths))
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            print()
        print(format_row(row, widths))
        previous = row[0]
    print()
    print("x ref: median / median of the reference (numpy for W0-W2, W1h, W4; torch for W1u; micrograd for W3);"
          " x torch: median / median of torch (W0, W1u, W1h, W4) or torch-sdpa (W1, W1r, W2).")
    print("peak RSS: the child's peak resident set (VmHWM) at the end; +RSS: its growth during setup +"
          " timing (beyond the imports). loss: the last step's return value.")
    for note in notes:
        print(note)
    w3_losses = {r["implementation"]: r["result"] for r in results
                 if r["workload"] == "W3" and r.get("result") is not None}
    reference_loss = w3_losses.get(WORKLOADS["W3"].reference)
    if reference_loss is not None and len(w3_losses) > 1:
        for name, loss in w3_losses.items():
            if name != WORKLOADS["W3"].reference:
                print(f"W3 loss agreement: |{name} - micrograd| = {abs(loss - reference_loss):.3e}")


def merge_rounds(previous: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Pool the samples of several child runs of the same implementation; keep the largest peak RSS."""
    if previous is None or "samples" not in previous:
        return new
    if "samples" not in new:
        return previous
    return {**new, "samples": previous["samples"] + new["samples"],
            "peak_rss_mb": max(previous["peak_rss_mb"], new["peak_rss_mb"]),
            "rss_growth_mb": max(previous["rss_growth_mb"], new["rss_growth_mb"])}


def print_header(probe: dict[str, Any], args: argparse.Namespace, env: dict[str, str]) -> None:
    """Versions, thread counts and malloc settings of this run."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"python {probe.get('python')}, numpy {probe.get('numpy')}, torch {probe.get('torch') or 'not installed'},"
          f" micrograd {probe.get('micrograd') or 'not installed'}; cpu: {cpu or platform.processor()},"
          f" {os.cpu_count()} logical cores")
    threads = probe.get("threads", {})
    print("threads: " + ", ".join(f"{name}={threads.get(name)}" for name in THREAD_ENV_VARS))
    print(f"         threadpools: {threads.get('threadpools')}")
    if "torch_threads" in threads:
        print(f"         torch.get_num_threads()={threads['torch_threads']},"
              f" torch.get_num_interop_threads()={threads['torch_interop_threads']}")
    else:
        print("         PyTorch not installed: torch rows skipped")
    shell = ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in TUNED_MALLOC_ENV)
    child = ", ".join(f"{name}={env.get(name, 'unset')}" for name in TUNED_MALLOC_ENV)
    print(f"malloc: this shell: {shell}; children: {child}"
          f"{' (--tuned-malloc)' if args.tuned_malloc else ''}")
    if args.no_gc:
        gc_mode = "disabled during warm-up and timing (as timeit does; cyclic garbage accumulates)"
    else:
        gc_mode = "enabled (steady state: each step pays for collecting earlier steps' cyclic garbage)"
    print(f"gc: {gc_mode}; seed {args.seed}")
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
          " (anything else running makes the timings noisy)")
    print()


# ------------------------------------------------------------------- correctness check


def max_relative_error(actual: Any, expected: Any) -> float:
    """max |actual - expected| / max |expected| (norm-wise, so tiny entries do not dominate)."""
    import numpy as np

    actual_array = np.asarray(actual, dtype=np.float64)
    expected_array = np.asarray(expected, dtype=np.float64)
    scale = np.abs(expected_array).max()
    difference = np.abs(actual_array - expected_array).max()
    return float(difference / scale) if scale > 0 else float(difference)


def to_numpy(value: Any) -> Any:
    """A tensor (detached) or array as a NumPy array."""
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.array(value, copy=True)


class CheckLog:
    """Collects PASS/FAIL lines against a tolerance."""

    def __init__(self) -> None:
        self.failures = 0

    def report(self, label: str, error: float, tolerance: float, detail: str = "") -> None:
        """Print one comparison and count it if it fails."""
        ok = error <= tolerance
        self.failures += 0 if ok else 1
        suffix = f"  ({detail})" if detail else ""
        print(f"  {'PASS' if ok else 'FAIL'}  {label:58s} {error:10.3e}  (tol {tolerance:.0e}){suffix}")

    def info(self, label: str, value: str) -> None:
        """Print a line that is not judged."""
        print(f"  info  {label:58s} {value}")


def check_w1_references(log: CheckLog, seed: int) -> None:
    """NumPy W1 vs PyTorch: loss, every gradient, AdamW, and the parameters after one step."""
    import numpy as np

    from benchmarks import reference_numpy as ref_np
    from benchmarks import reference_torch as ref_torch
    from benchmarks.workloads import gpt_batch

    tokens, targets = gpt_batch(seed)
    tokens_t, targets_t = (ref_torch.torch.from_numpy(t) for t in (tokens, targets))
    tolerance = 1e-4
    for randomize_all in (False, True):
        init = "random LN/biases" if randomize_all else "GPT-2 init"
        for variant in ("sdpa", "written"):
            tag = f"W1 numpy vs torch-{variant}, {init}:"
            model_np, optimizer_np = ref_np.make_gpt(seed, randomize_all=randomize_all)
            model_t, optimizer_t = ref_torch.make_gpt(seed, variant, randomize_all=randomize_all)
            before = {name: view.copy() for name, view in model_np.params.values.items()}

            loss_np = model_np.forward_backward(tokens, targets)
            grads_np = {name: view.copy() for name, view in model_np.params.grads.items()}
            optimizer_t.zero_grad(set_to_none=True)
            loss_t = model_t(tokens_t, targets_t)
            loss_t.backward()
            grads_t = ref_torch.export_arrays(model_t, use_grad=True)
            log.report(f"{tag} loss", abs(loss_np - loss_t.item()) / abs(loss_t.item()), tolerance,
                       f"{loss_np:.7f} vs {loss_t.item():.7f}")
            grad_errors = {name: max_relative_error(grads_np[name], grads_t[name]) for name in grads_np}
            worst = max(grad_errors, key=grad_errors.get)
            log.report(f"{tag} grads, worst of {len(grad_errors)} tensors", grad_errors[worst], tolerance, worst)

            # AdamW alone: step the NumPy optimiser from torch's gradients
            optimizer_t.step()
            after_t = ref_torch.export_arrays(model_t, use_grad=False)
            for name, view in model_np.params.grads.items():
                view[...] = grads_t[name]
            optimizer_np.step()
            adam_errors = {name: max_relative_error(view, after_t[name])
                           for name, view in model_np.params.values.items()}
            worst = max(adam_errors, key=adam_errors.get)
            log.report(f"{tag} AdamW step on the same grads, params", adam_errors[worst], tolerance, worst)

            # the full train step: own gradients, own AdamW
            model_np.params.load(before)
            optimizer_np = ref_np.AdamW(model_np.params, lr=model_np.config.lr, beta1=model_np.config.beta1,
                                        beta2=model_np.config.beta2, eps=model_np.config.adam_eps,
                                        weight_decay=model_np.config.weight_decay)
            ref_np.gpt_train_step(model_np, optimizer_np, tokens, targets)
            after_np = model_np.params.values
            all_np = np.concatenate([after_np[name].ravel() for name in after_t])
            all_t = np.concatenate([after_t[name].ravel() for name in after_t])
            log.report(f"{tag} params after 1 train step (all)", max_relative_error(all_np, all_t), tolerance)
            step_errors = {name: max_relative_error(after_np[name], after_t[name]) for name in after_t}
            worst = max(step_errors, key=step_errors.get)
            log.info(f"{tag} ... per tensor, worst", f"{step_errors[worst]:10.3e}  ({worst})")
            loss2_np = model_np.forward_backward(tokens, targets)
            with ref_torch.torch.no_grad():
                loss2_t = model_t(tokens_t, targets_t).item()
            log.report(f"{tag} loss after 1 train step", abs(loss2_np - loss2_t) / abs(loss2_t), tolerance,
                       f"{loss2_np:.7f} vs {loss2_t:.7f}")
    print("  note: per-tensor parameter errors after a full step are larger than the gradient errors"
          " because AdamW's first\n        step moves each weight by ~lr * g / (|g| + eps): where |g| is"
          " near float32 rounding noise (e.g. the key\n        bias, whose exact gradient is 0), the"
          " noise decides the update. AdamW on identical gradients agrees.")


def check_w2_references(log: CheckLog, seed: int) -> None:
    """NumPy W2 dq, dk, dv (and the output) vs torch autograd in float32, and float64 for scale."""
    from benchmarks import reference_numpy as ref_np
    from benchmarks import reference_torch as ref_torch
    from benchmarks.workloads import attention_inputs

    torch = ref_torch.torch
    arrays = attention_inputs(seed)
    outputs_np = [to_numpy(a) for a in ref_np.attention_fwd_bwd(*arrays)]
    names = ("out", "dq", "dk", "dv")
    for variant in ("sdpa", "written"):
        outputs_t = ref_torch.attention_fwd_bwd(*(torch.from_numpy(a) for a in arrays), variant)
        errors = {name: max_relative_error(a, to_numpy(b)) for name, a, b in zip(names, outputs_np, outputs_t)}
        log.report(f"W2 numpy vs torch-{variant} (float32), worst of out/dq/dk/dv",
                   max(errors.values()), 1e-4, ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    exact = ref_torch.attention_fwd_bwd(*(torch.from_numpy(a).double() for a in arrays), "written")
    for label, outputs in (("numpy", outputs_np),
                           ("torch-sdpa", ref_torch.attention_fwd_bwd(*(torch.from_numpy(a) for a in arrays),
                                                                      "sdpa"))):
        error = max(max_relative_error(to_numpy(a), to_numpy(b)) for a, b in zip(outputs, exact))
        log.info(f"W2 {label} (float32) vs torch float64, worst", f"{error:10.3e}")


def check_numpy_float32(log: CheckLog, seed: int, workloads: list[str]) -> None:
    """The NumPy reference keeps every array it owns float32 (no float64 creeping in)."""
    import numpy as np

    from benchmarks import reference_numpy as ref_np
    from benchmarks.workloads import attention_inputs, gpt_batch

    if "W1" in workloads:
        model, optimizer = ref_np.make_gpt(seed)
        ref_np.gpt_train_step(model, optimizer, *gpt_batch(seed))
        arrays = {"params": model.params.data, "grads": model.params.grad, "adam m": optimizer.exp_avg,
                  "adam v": optimizer.exp_avg_sq, **{"workspace " + k: v for k, v in model.ws.arrays.items()}}
        not_float32 = [name for name, array in arrays.items() if array.dtype != np.float32]
        log.report(f"W1 numpy: arrays that are not float32 (of {len(arrays)})", float(len(not_float32)), 0.0,
                   ", ".join(not_float32))
    if "W2" in workloads:
        outputs = ref_np.attention_fwd_bwd(*attention_inputs(seed))
        not_float32 = [name for name, array in zip(("out", "dq", "dk", "dv"), outputs) if array.dtype != np.float32]
        log.report("W2 numpy: outputs that are not float32 (of 4)", float(len(not_float32)), 0.0,
                   ", ".join(not_float32))


def check_w3_generic(log: CheckLog, seed: int) -> None:
    """The generic MLP over micrograd's Value builds the same graph as micrograd.nn.MLP."""
    from benchmarks import w3_micrograd

    reference = w3_micrograd.w3_micrograd(seed)
    generic = w3_micrograd.w3_micrograd_generic(seed)
    log.report("W3 micrograd.nn.MLP vs GenericMLP(micrograd Value), |loss diff|",
               abs(reference.step() - generic.step()), 1e-9)
    log.info("W3 graph nodes (micrograd.nn.MLP, GenericMLP)",
             f"{reference.facts.get('graph nodes')}, {generic.facts.get('graph nodes')}")


def check_registered(log: CheckLog, seed: int, workloads: list[str]) -> None:
    """Every registered implementation's step results vs the workload's reference implementation."""
    for workload in workloads:
        spec = WORKLOADS[workload]
        calls = 3 if workload.startswith("W1") else 1  # W1: the losses of three steps also check the updates
        outputs: dict[str, list[Any]] = {}
        for name, entry in IMPLEMENTATIONS[workload].items():
            try:
                prepared = load_entry(entry)(seed)
            except ImportError as error:
                print(f"  skip  {workload} {name}: {error}")
                continue
            step = getattr(prepared, "step", prepared)
            results = []
            for _ in range(calls):
                value = step()
                scalar = summarise_result(value)
                results.append(scalar if scalar is not None or value is None else [to_numpy(v) for v in value])
            outputs[name] = results
        reference = outputs.get(spec.reference)
        if reference is None:
            continue
        for name, results in outputs.items():
            if name == spec.reference or results[0] is None:
                continue
            if workload == "W3":
                log.report(f"{workload} {name} vs {spec.reference}, |loss diff|", abs(results[0] - reference[0]),
                           1e-9, f"{results[0]!r}")
            elif workload.startswith("W1"):
                error = max(abs(a - b) / abs(b) for a, b in zip(results, reference))
                log.report(f"{workload} {name} vs {spec.reference}, losses of {calls} train steps", error, 1e-4,
                           ", ".join(f"{v:.6f}" for v in results))
            else:
                error = max(max_relative_error(a, b) for a, b in zip(results[0], reference[0]))
                log.report(f"{workload} {name} vs {spec.reference}, worst output/gradient", error, 1e-4)


def run_checks(seed: int, workloads: list[str]) -> int:
    """Run the correctness checks; returns the number of failed comparisons."""
    log = CheckLog()
    print("== correctness check (max |a - b| / max |b| per tensor unless noted)")
    pin_torch_threads()
    torch_available = importlib.import_module("benchmarks.reference_torch").TORCH_AVAILABLE
    pin_torch_threads()
    if torch_available:
        if "W1" in workloads:
            check_w1_references(log, seed)
        if "W2" in workloads:
            check_w2_references(log, seed)
    else:
        print("  PyTorch not installed: skipped the NumPy-vs-PyTorch reference checks")
    check_numpy_float32(log, seed, workloads)
    if "W3" in workloads:
        check_w3_generic(log, seed)
    check_registered(log, seed, workloads)
    print(f"== check: {log.failures} failed comparison(s)")
    print()
    return log.failures


# ------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", help=f"workloads to run (default: all of {', '.join(WORKLOADS)})")
    parser.add_argument("--repeat", type=int, default=None, help="timing samples per implementation "
                        "(default per workload: " + ", ".join(f"{k} {v.repeat}" for k, v in WORKLOADS.items()) + ")")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run each implementation's child this many times, interleaved, and pool the samples")
    parser.add_argument("--check", action="store_true", help="run the correctness checks first")
    parser.add_argument("--tuned-malloc", action="store_true",
                        help="run children with " + " ".join(f"{k}={v}" for k, v in TUNED_MALLOC_ENV.items()))
    parser.add_argument("--no-gc", action="store_true",
                        help="disable Python's cyclic GC during warm-up and timing (timeit-style); matters for W3")
    parser.add_argument("--impl", action="append", default=None,
                        help="only these implementations (repeatable; the baselines always run)")
    parser.add_argument("--seed", type=int, default=0, help="seed for inputs and initial weights")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per child process")
    parser.add_argument("--before", metavar="TREE", default=None,
                        help="also time the tinygrad_attn rows from another checkout (e.g. a git worktree "
                             "of an earlier commit), as 'tinygrad_attn@before', in the same run")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


BEFORE = "tinygrad_attn@before"  # the row of `--before TREE`


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads (and the check) and print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        return child_main(args)
    if args.probe:
        return probe_main()
    by_upper = {name.upper(): name for name in WORKLOADS}
    workloads = [by_upper.get(w.upper(), w) for w in args.workloads] or list(WORKLOADS)
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    env = child_environment(args.tuned_malloc)
    print_header(run_in_child(["--probe"], env, args.timeout), args, env)
    failures = run_checks(args.seed, workloads) if args.check else 0
    results: list[dict[str, Any]] = []
    for workload in workloads:
        spec = WORKLOADS[workload]
        names = [name for name in IMPLEMENTATIONS[workload]
                 if not args.impl or name in args.impl or name in (spec.reference, spec.torch_reference)]
        if args.before and "tinygrad_attn" in names:
            names.insert(names.index("tinygrad_attn"), BEFORE)
        merged: dict[str, dict[str, Any]] = {}
        for round_index in range(args.rounds):  # rounds interleave implementations to spread out noise
            for name in names:
                if round_index and "samples" not in merged[name]:
                    continue  # skipped or failed the first time
                print(f"timing {workload} {name} (round {round_index + 1}/{args.rounds}) ...",
                      file=sys.stderr, flush=True)
                arguments = ["--child", workload, "tinygrad_attn" if name == BEFORE else name, "--seed", str(args.seed)]
                arguments += ["--repeat", str(args.repeat)] if args.repeat else []
                arguments += ["--no-gc"] if args.no_gc else []
                if name == BEFORE:  # the other tree's runner, importing the other tree's package
                    tree = Path(args.before).resolve()
                    before_env = {**env, "PYTHONPATH": os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])}
                    result = run_in_child(arguments, before_env, args.timeout, tree / "benchmarks" / "run.py")
                    result["implementation"] = BEFORE
                else:
                    result = run_in_child(arguments, env, args.timeout)
                result.setdefault("workload", workload)
                result.setdefault("implementation", name)
                threads = result.get("threads", {})
                if threads.get("torch_threads") not in (None, 1):
                    print(f"warning: {workload} {name} ran with {threads['torch_threads']} torch threads",
                          file=sys.stderr)
                merged[name] = merge_rounds(merged.get(name), result)
        results += [merged[name] for name in names]
    print_table(results)
    if args.before:
        medians = {(r["workload"], r["implementation"]): statistics.median(r["samples"]) for r in results
                   if "samples" in r}
        for workload in workloads:
            now, before = medians.get((workload, "tinygrad_attn")), medians.get((workload, BEFORE))
            if now and before:
                print(f"{workload}: tinygrad_attn / tinygrad_attn@before = {now / before:.3f}")
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
