"""Fuzz the engine with random programs for a while, then report.

    python scripts/fuzz_graphs.py --minutes 10          # as many programs as fit in 10 minutes
    python scripts/fuzz_graphs.py --count 50000 --seed 1
    python scripts/fuzz_graphs.py --replay '<program json>'

Programs come from `tests/fuzz_programs.py` (see its docstring for the families and checks),
drawn in turn from every family. At the end it prints how many programs each family ran and
every mismatch grouped by signature (family | check | kind of node), each with a shrunk
reproducer and the command that replays it. Exit code 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

import fuzz_programs as fp  # noqa: E402  (found through the path above)


def _failures(program: dict) -> list:
    """The mismatches of one program; a crash of the checker itself counts as one."""
    try:
        return fp.check(program)
    except Exception as error:  # the fuzzer must not stop at the first surprise
        return [fp.Mismatch("checker crashed", "check", f"{type(error).__name__}: {error}")]


def _replay(text: str) -> int:
    program = json.loads(text)
    found = _failures(program)
    for mismatch in found:
        print(mismatch)
    print("ok" if not found else f"{len(found)} mismatch(es)")
    return 1 if found else 0


def _run_share(seed: int, worker: int, families: list, count: int | None, deadline: float | None,
               every: float) -> tuple:
    """One process's share: programs drawn from its own stream (seed, worker), until `count`
    or the deadline. Returns the programs run per family and the mismatches by signature."""
    warnings.simplefilter("ignore")
    rng = np.random.default_rng([seed, worker])
    ran = collections.Counter()
    groups: dict[str, list] = collections.defaultdict(list)
    start = last_line = time.monotonic()
    total = 0
    while (count is None or total < count) and (deadline is None or time.monotonic() < deadline):
        family = families[total % len(families)]
        program = fp.draw(rng, family)
        for mismatch in _failures(program):
            groups[fp.signature(program, mismatch)].append((program, mismatch))
        ran[family] += 1
        total += 1
        if time.monotonic() - last_line >= every:
            last_line = time.monotonic()
            print(f"[worker {worker}, {last_line - start:6.0f} s] {total} graphs, "
                  f"{sum(map(len, groups.values()))} mismatches", flush=True)
    return ran, dict(groups)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=None, help="run for this long")
    parser.add_argument("--count", type=int, default=None, help="run this many programs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", default=",".join(fp.FAMILIES), help="comma-separated")
    parser.add_argument("--replay", default=None, help="check one program given as JSON")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between progress lines")
    parser.add_argument("--jobs", type=int, default=1, help="processes (each draws its own programs)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # overflow warnings of float32 runs are expected, not findings
    if args.replay is not None:
        return _replay(args.replay)
    if args.minutes is None and args.count is None:
        args.minutes = 1.0
    families = [f for f in args.families.split(",") if f]
    unknown = set(families) - set(fp.FAMILIES)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)}; known: {', '.join(fp.FAMILIES)}")
    if fp.torch is None:
        print("torch is not installed: the PyTorch comparisons are skipped")
    start = time.monotonic()
    deadline = None if args.minutes is None else start + 60 * args.minutes
    jobs = max(1, args.jobs)
    shares = [None if args.count is None else args.count // jobs + (i < args.count % jobs) for i in range(jobs)]
    work = [(args.seed, i, families, share, deadline, args.every) for i, share in enumerate(shares)]
    if jobs == 1:
        results = [_run_share(*work[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            results = pool.starmap(_run_share, work)
    ran = collections.Counter()
    groups: dict[str, list] = collections.defaultdict(list)  # signature -> [(program, mismatch)]
    for share_ran, share_groups in results:
        ran.update(share_ran)
        for signature, cases in share_groups.items():
            groups[signature].extend(cases)
    total = sum(ran.values())
    elapsed = time.monotonic() - start
    print(f"\n{total} graphs in {elapsed:.0f} s (seed {args.seed}, {jobs} process{'es' if jobs > 1 else ''})")
    for family in families:
        print(f"  {family:18s} {ran[family]}")
    count = sum(map(len, groups.values()))
    print(f"{count} mismatches in {len(groups)} signatures")
    for signature, cases in sorted(groups.items()):
        program, mismatch = cases[0]
        small = fp.shrink(program, lambda p: any(fp.signature(p, m) == signature for m in _failures(p)))
        small_mismatch = next((m for m in _failures(small) if fp.signature(small, m) == signature), mismatch)
        print(f"\n[{len(cases)}x] {signature}")
        print(f"  {small_mismatch}")
        print(f"  steps: {' -> '.join(fp.step_label(s) for s in small['steps'])}")
        print(f"  replay: {fp.replay_command(small)}")
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
