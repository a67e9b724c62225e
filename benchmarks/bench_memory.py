"""Bytes per state of each fingerprint set (`pnyx check --fpset`), beside TLC, at about a million states.

For each model and each kind, `pnyx check --no-symmetry --json --fpset KIND` runs as a child
process (bench_speed's `measured`: CPU seconds and peak RSS from wait4). The same command with
`--max-states 1` gives the start-up RSS (imports, the compiled spec, numpy when used), so

    bytes per state = (peak RSS - start-up RSS) / distinct states

is what the search itself holds per state: fingerprints, parent pointers, the waiting states, the
model's memo tables. "set B/state" is the fingerprint set's own data (the JSON summary's
fingerprint_set_bytes; for `memory` the set's table and its int objects). TLC's
column is its peak RSS over its distinct states, JVM heap included (it reserves its heap up front),
for scale only. Counts must agree across kinds and with TLC, or the exit status is 1.

    .venv/bin/python benchmarks/bench_memory.py               # gossip and ZAB at ~1M states (minutes)
    .venv/bin/python benchmarks/bench_memory.py --only gossip --no-tlc
    .venv/bin/python benchmarks/bench_memory.py --fpset-memory 8   # the disk kind spilling past 8 MB
    .venv/bin/python benchmarks/bench_memory.py --smoke       # tiny models, seconds (the test suite runs it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import MODELS, ROOT, SMOKE, Run, run_pnyx, run_tlc, table_line

KINDS = ("memory", "compact", "disk")


def set_bytes(run: Run) -> float:
    """The fingerprint set's own bytes per state."""
    if run.summary is None or not run.distinct:
        return 0.0
    return run.summary.get("fingerprint_set_bytes", 0) / run.distinct


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models, in seconds")
    ap.add_argument("--only", help="only the models whose label contains this text")
    ap.add_argument("--no-tlc", action="store_true", help="Pnyx's rows only")
    ap.add_argument("--fpset-memory", type=int, default=256, metavar="MB", help="--fpset-memory for the disk kind")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds one child may take (default 1800)")
    args = ap.parse_args(argv)
    from pnyx.checker.tla import tlc

    jar = tlc.jar_path(ROOT)
    use_tlc = not args.no_tlc and jar.is_file() and tlc.java() is not None
    head = ["model", "tool", "distinct", "CPU s", "states/CPU-s", "peak MB", "start MB", "B/state", "set B/state", "agree"]
    widths = [7, 14, 10, 7, 12, 8, 8, 8, 11, 5]

    def line(cells: list[str]) -> str:
        return table_line(cells, widths, {0, 1, len(head) - 1})

    print(line(head), flush=True)
    failed = False
    for label, spec, constants in SMOKE if args.smoke else MODELS:
        if args.only and args.only not in label:
            continue
        counts = set()
        for kind in KINDS:
            extra = ("--fpset", kind, "--fpset-memory", str(args.fpset_memory))
            start = run_pnyx(spec, constants, 1, args.timeout, extra=(*extra, "--max-states", "1"))
            run = run_pnyx(spec, constants, 1, args.timeout, extra=extra)
            counts.add(run.distinct)
            failed |= run.error is not None or start.error is not None
            per = (run.peak_rss - start.peak_rss) / run.distinct if run.distinct else 0.0
            print(line([label, f"pnyx {kind}", f"{run.distinct or 0:,}", f"{run.cpu:.1f}", f"{run.rate:,.0f}",
                        f"{run.peak_rss / 2**20:,.0f}", f"{start.peak_rss / 2**20:,.0f}", f"{per:,.0f}",
                        f"{set_bytes(run):.1f}", run.error or ""]), flush=True)
        if use_tlc:
            t = run_tlc(spec, constants, jar, args.timeout)
            agree = "yes" if t.error is None and counts == {t.distinct} else "NO"
            failed |= agree == "NO"
            print(line([label, "TLC 1 worker", f"{t.distinct or 0:,}", f"{t.cpu:.1f}", f"{t.rate:,.0f}",
                        f"{t.peak_rss / 2**20:,.0f}", "-", f"{t.peak_rss / t.distinct:,.0f}" if t.distinct else "-",
                        "-", agree + (f" ({t.error})" if t.error else "")]), flush=True)
        if len(counts) != 1:
            print(f"{label}: the kinds disagree on the distinct states: {sorted(c or 0 for c in counts)}", flush=True)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    from entry import run

    run(main)
