"""Speed and memory of the explicit-state checker on the bundled models.

Each configuration (model, constants, symmetry on or off) runs in a fresh Python process
so that memory numbers do not mix: bytes per state is the growth of the resident set during
exploration (peak after, minus current before) divided by the number of distinct states. It
covers the visited fingerprints, the BFS frontier and the parent/step arrays, i.e. the whole
cost of one state; on runs of a few thousand states it is mostly allocator noise.

    .venv/bin/python benchmarks/bench_checker.py            # the default table, about 1-2 minutes
    .venv/bin/python benchmarks/bench_checker.py --json     # one JSON object per row
    .venv/bin/python benchmarks/bench_checker.py --only gossip --max-seconds 30
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (label, spec file, constant overrides): two sizes per model.
MODELS: list[tuple[str, str, dict[str, int]]] = [
    ("gossip", "spec/gossip.pnyx", {}),
    ("gossip", "spec/gossip.pnyx", {"N": 4, "WRITES": 1}),
    ("zab", "spec/zab.pnyx", {"N": 2, "TXNS": 2, "MAX_EPOCH": 1, "CRASHES": 1}),
    ("zab", "spec/zab.pnyx", {"N": 2, "TXNS": 2, "MAX_EPOCH": 2, "CRASHES": 1}),
    ("2pc", "spec/examples/two_phase_commit.pnyx", {"N": 4}),
    ("2pc", "spec/examples/two_phase_commit.pnyx", {"N": 5}),
]


def _current_rss() -> int:
    """The resident set size now (Linux), or the peak so far elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(spec: str, defines: dict[str, int], symmetry: bool, max_seconds: float) -> dict[str, object]:
    """Check one configuration in this process and measure it (called in a child process)."""
    sys.path.insert(0, str(ROOT))
    from pnyx.checker import bfs
    from pnyx.model.compiler import load

    cs = load(str(ROOT / spec), dict(defines))
    before = _current_rss()
    t0 = time.perf_counter()
    r = bfs.check(cs, bfs.Options(symmetry=symmetry, max_seconds=max_seconds))
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    st = r.stats
    return {
        "distinct": st.distinct, "transitions": st.transitions, "diameter": st.depth, "seconds": seconds,
        "states_per_s": st.distinct / seconds if seconds > 0 else 0.0,
        "bytes_per_state": (after - before) / st.distinct if st.distinct else 0.0,
        "complete": r.complete, "ok": r.ok, "symmetric_spec": cs.symmetric,
    }


def measure(spec: str, defines: dict[str, int], symmetry: bool, max_seconds: float) -> dict[str, object]:
    """Run `run_one` in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child", json.dumps([spec, defines, symmetry, max_seconds])]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run only the models whose label contains this text")
    ap.add_argument("--max-seconds", type=float, default=40.0, help="time bound of one run (default 40)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per row instead of a table")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec, defines, symmetry, max_seconds = json.loads(args.child)
        print(json.dumps(run_one(spec, defines, symmetry, max_seconds)))
        return 0

    header = f"{'model':<7} {'constants':<34} {'sym':<4} {'distinct':>9} {'transitions':>11} {'sec':>7} " \
             f"{'states/s':>9} {'B/state':>8}"
    if not args.json:
        print(header)
        print("-" * len(header))
    for label, spec, defines in MODELS:
        if args.only and args.only not in label:
            continue
        if not (ROOT / spec).exists():
            print(f"{label:<7} {spec} is missing: skipped", file=sys.stderr)
            continue
        consts = " ".join(f"{k}={v}" for k, v in defines.items()) or "(defaults)"
        for symmetry in (False, True):
            row = measure(spec, defines, symmetry, args.max_seconds)
            if symmetry and not row.get("symmetric_spec", True):
                continue  # nodes not declared symmetric: the second run would repeat the first
            if args.json:
                print(json.dumps({"model": label, "constants": defines, "symmetry": symmetry, **row}))
                continue
            if "error" in row:
                print(f"{label:<7} {consts:<34} {'on' if symmetry else 'off':<4} error: {row['error']}")
                continue
            mark = "" if row["complete"] else "  (stopped by the time bound)"
            print(f"{label:<7} {consts:<34} {'on' if symmetry else 'off':<4} {row['distinct']:>9,} "
                  f"{row['transitions']:>11,} {row['seconds']:>7.2f} {row['states_per_s']:>9,.0f} "
                  f"{row['bytes_per_state']:>8,.0f}{mark}", flush=True)
    return 0


if __name__ == "__main__":
    from entry import run

    run(main)
