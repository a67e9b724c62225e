"""The liveness check against the safety check: distinct states, CPU seconds, peak memory.

For each model three child processes run one after another: the safety check as `pnyx check`
runs it (symmetry reduction on where the spec allows it), the safety check without symmetry
(the graph liveness explores), and the liveness check of the spec's liveness properties.
Each child's CPU seconds (user + system) and peak resident set come from `wait4`, start-up
(imports, parsing, compiling) included on every side. The ratios compare liveness with the
safety check on the same graph (no symmetry); the target is at most 3x in time and memory.

    .venv/bin/python benchmarks/bench_liveness.py            # gossip and ZAB near a million states (minutes)
    .venv/bin/python benchmarks/bench_liveness.py --smoke    # tiny models, seconds (the test suite runs it)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bench_speed import measured as child_cost  # the one child-process measurement (this folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent

# (label, spec, constants)
MODELS: list[tuple[str, str, dict[str, int]]] = [
    ("gossip", "spec/gossip.pnyx", {}),
    ("gossip", "spec/gossip.pnyx", {"CRASHES": 1, "LOSSES": 2}),
    ("zab", "spec/zab.pnyx", {"TXNS": 1, "CRASHES": 0}),
    ("zab", "spec/zab.pnyx", {}),
]
SMOKE: list[tuple[str, str, dict[str, int]]] = [
    ("gossip", "spec/gossip.pnyx", {"WRITES": 1}),
    ("zab", "spec/zab.pnyx", {"N": 2, "TXNS": 1, "MAX_EPOCH": 1, "CRASHES": 0, "TIMEOUTS": 0}),
]
MODES = ("safety", "safety-nosym", "liveness")


@dataclass
class Run:
    distinct: int | None
    cpu: float
    peak_rss: int
    verdicts: dict[str, bool | None]
    error: str | None = None


def child(mode: str, spec: str, consts: dict[str, int]) -> None:
    """Run one check in this process and print what it found as JSON."""
    sys.path.insert(0, str(ROOT))
    from pnyx.model.compiler import load

    cs = load(spec, consts)
    if mode == "liveness":
        from pnyx.checker import liveness

        r = liveness.check(cs)
        out = {"distinct": r.stats.distinct, "verdicts": {v.name: v.holds for v in r.verdicts}}
    else:
        from pnyx.checker.bfs import Options, check

        res = check(cs, Options(symmetry=mode == "safety"))
        out = {"distinct": res.stats.distinct, "verdicts": {"invariants": res.violation is None}}
    print(json.dumps(out))


def measured(mode: str, spec: str, consts: dict[str, int], timeout: float) -> Run:
    """One child process: its JSON line, CPU seconds and peak RSS (from wait4, as bench_speed measures)."""
    cmd = [sys.executable, __file__, "--child", mode, spec, json.dumps(consts)]
    text, cost = child_cost(cmd, ROOT, timeout)
    lines = text.strip().splitlines()
    if cost.exit_code != 0 or not lines:
        return Run(None, cost.cpu, cost.peak_rss, {}, f"exit {cost.exit_code}: {text.strip()[-300:]}")
    data = json.loads(lines[-1])
    return Run(data["distinct"], cost.cpu, cost.peak_rss, data["verdicts"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models (seconds)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per child process")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "SPEC", "CONSTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, spec, consts = args.child
        child(mode, spec, json.loads(consts))
        return 0
    models = SMOKE if args.smoke else MODELS
    head = (f"{'model':8} {'constants':36} {'safety states':>13} {'no-sym states':>13} {'safety s':>9} {'no-sym s':>9} "
            f"{'live s':>8} {'safety MiB':>10} {'no-sym MiB':>10} {'live MiB':>9} {'time x':>7} {'mem x':>6}  verdicts")
    print(head)
    failed = False
    for label, spec, consts in models:
        runs = {m: measured(m, spec, consts, args.timeout) for m in MODES}
        bad = [f"{m}: {r.error}" for m, r in runs.items() if r.error]
        shown = " ".join(f"{k}={v}" for k, v in consts.items()) or "defaults"
        if bad:
            print(f"{label:8} {shown:36} failed: " + "; ".join(bad))
            failed = True
            continue
        s, n, live = runs["safety"], runs["safety-nosym"], runs["liveness"]
        if n.distinct != live.distinct:
            failed = True
        verdicts = ", ".join(f"{k} {'holds' if v else 'violated' if v is False else 'undecided'}"
                             for k, v in live.verdicts.items())
        print(f"{label:8} {shown:36} {s.distinct:>13,} {n.distinct:>13,} {s.cpu:>9.2f} {n.cpu:>9.2f} {live.cpu:>8.2f} "
              f"{s.peak_rss / 2**20:>10.0f} {n.peak_rss / 2**20:>10.0f} {live.peak_rss / 2**20:>9.0f} "
              f"{live.cpu / n.cpu:>7.2f} {live.peak_rss / n.peak_rss:>6.2f}  {verdicts}"
              + ("" if n.distinct == live.distinct else "  (state counts differ!)"))
    print("time x, mem x: liveness over the safety check without symmetry (the same graph); CPU s and peak RSS per process")
    return 1 if failed else 0


if __name__ == "__main__":
    from entry import run

    run(main)
