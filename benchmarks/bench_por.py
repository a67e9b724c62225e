"""Partial-order reduction on ZAB and gossip: states, transitions and CPU seconds per mode.

For each model and each symmetry setting, one BFS per mode (`none`, `sleep`, `ample`) runs in
this process, each on a freshly compiled spec (no memo carried over); CPU seconds are the
search's own (`time.process_time` around it: parsing and compiling excluded, the same for every
mode). Ratios are against `none` measured in the same run, and each row says whether the mode's
verdict (violated property, goals reached) matched it.

    .venv/bin/python benchmarks/bench_por.py            # ZAB and gossip, 5 k to 300 k states (a few minutes)
    .venv/bin/python benchmarks/bench_por.py --smoke    # tiny models, seconds (the test suite runs it)
    .venv/bin/python benchmarks/bench_por.py --json     # the rows as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pnyx.checker.bfs import Options, Result, check  # noqa: E402
from pnyx.model.compiler import load  # noqa: E402

# (label, spec, constants)
MODELS: list[tuple[str, str, dict[str, int]]] = [
    ("zab TXNS=1 CRASHES=0", "spec/zab.pnyx", {"TXNS": 1, "CRASHES": 0}),
    ("zab TXNS=2 CRASHES=0 TIMEOUTS=1", "spec/zab.pnyx", {"TXNS": 2, "CRASHES": 0, "TIMEOUTS": 1}),
    ("gossip", "spec/gossip.pnyx", {}),
    ("gossip N=4 WRITES=1", "spec/gossip.pnyx", {"N": 4, "WRITES": 1}),
]
SMOKE: list[tuple[str, str, dict[str, int]]] = [
    ("zab N=2", "spec/zab.pnyx", {"N": 2, "TXNS": 1, "MAX_EPOCH": 1, "CRASHES": 0, "TIMEOUTS": 0}),
    ("gossip WRITES=1", "spec/gossip.pnyx", {"WRITES": 1}),
]
MODES = ("none", "sleep", "ample")


def verdict(r: Result) -> tuple[Any, ...]:
    v = r.violation
    return (None if v is None else v.name, tuple(sorted(k for k, t in r.reached.items() if t is not None)), r.complete)


def measure(spec: str, consts: dict[str, int], symmetry: bool, mode: str, max_states: int) -> tuple[Result, float]:
    cs = load(str(ROOT / spec), consts)
    t0 = time.process_time()
    r = check(cs, Options(symmetry=symmetry, por=mode, max_states=max_states))
    return r, time.process_time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models: seconds")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--max-states", type=int, default=2_000_000, help="a bound on each search (default 2,000,000)")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for label, spec, consts in SMOKE if args.smoke else MODELS:
        for symmetry in (False, True):
            anchor: tuple[Result, float] | None = None
            for mode in MODES:
                r, cpu = measure(spec, consts, symmetry, mode, args.max_states)
                if anchor is None:
                    anchor = (r, cpu)
                base, base_cpu = anchor
                rows.append({
                    "model": label, "symmetry": symmetry, "mode": mode, "distinct": r.stats.distinct,
                    "transitions": r.stats.transitions, "pruned": r.stats.pruned, "cpu_seconds": round(cpu, 3),
                    "states_ratio": round(r.stats.distinct / base.stats.distinct, 3),
                    "transitions_ratio": round(r.stats.transitions / max(base.stats.transitions, 1), 3),
                    "cpu_ratio": round(cpu / base_cpu, 2) if base_cpu > 0 else None,
                    "same_verdict": verdict(r) == verdict(base),
                })
                if not args.json:
                    _print_row(rows[-1], first=len(rows) == 1)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    return 0 if all(row["same_verdict"] for row in rows) else 1


def _print_row(row: dict[str, Any], first: bool) -> None:
    if first:
        print(f"{'model':34} {'sym':>3} {'mode':>5} {'states':>9} {'transitions':>11} {'pruned':>9} {'CPU s':>7} "
              f"{'states x':>8} {'trans x':>7} {'CPU x':>6} verdict")
    print(f"{row['model']:34} {'on' if row['symmetry'] else 'off':>3} {row['mode']:>5} {row['distinct']:>9,} "
          f"{row['transitions']:>11,} {row['pruned']:>9,} {row['cpu_seconds']:>7.2f} {row['states_ratio']:>8.3f} "
          f"{row['transitions_ratio']:>7.3f} {row['cpu_ratio'] or 0:>6.2f} {'same' if row['same_verdict'] else 'DIFFERENT'}",
          flush=True)


if __name__ == "__main__":
    from entry import run

    run(main)
