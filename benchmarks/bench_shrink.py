"""Shrinking on the mutant catalogue: each counterexample's shape before and after (checker/shrink.py).

For every mutant of spec/{gossip,fle,members,zab}_mutants: the breadth-first counterexample's
steps, faults, context switches and nodes, then the same after `--shrink` (shortest) and after
`--shrink longer` (fewest faults first); and a seeded random walk's counterexample (`pnyx
simulate`) before and after its shrink. CPU seconds of the check (the anchor, measured in the
same run) and of the shortest shrink, with their ratio. Every shrunk trace is replayed from its
successor indices and must violate the mutant's property in its last state only; exit status 1
if one does not, or if a shrink made a trace worse.

    .venv/bin/python benchmarks/bench_shrink.py              # every mutant but the 4 large ZAB ones
    .venv/bin/python benchmarks/bench_shrink.py --all        # with them (several minutes)
    .venv/bin/python benchmarks/bench_shrink.py --markdown   # the table of docs/shrink.md
    .venv/bin/python benchmarks/bench_shrink.py --smoke      # the gossip catalogue, in seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pnyx.checker.bfs import Violation, check  # noqa: E402
from pnyx.checker.model import SpecModel  # noqa: E402
from pnyx.checker.mutants import compile_mutant, load_mutants  # noqa: E402
from pnyx.checker.shrink import Shape, Shrunk, shrink  # noqa: E402
from pnyx.checker.simulate import SimOptions, simulate  # noqa: E402
from pnyx.checker.trace import replay  # noqa: E402

CATALOGUES = ("gossip", "fle", "members", "zab")
LARGE = ("ack_before_log", "diff_instead_of_trunc", "epoch_before_history", "leader_merges_late_joiner")


def replays_to_violation(v: Violation) -> bool:
    """The trace, replayed from its successor indices, violates the property in its last state only."""
    model = SpecModel(v.trace.model.cs)
    prop = next(p for p in model.properties() if p.name == v.name)
    again = replay(model, v.trace.steps)
    return not prop.holds(again.states[-1]) and all(prop.holds(s) for s in again.states[:-1])


def arrow(before: int, after: int) -> str:
    return f"{before}" if before == after else f"{before}→{after}"


def shape_cells(s: Shrunk) -> list[str]:
    b, a = s.before, s.after
    return [arrow(b.steps, a.steps), arrow(b.faults, a.faults), arrow(b.switches, a.switches), arrow(b.nodes, a.nodes)]


def brief(shape: Shape) -> str:
    return f"{shape.steps}/{shape.faults}/{shape.switches}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    ap.add_argument("--catalogue", action="append", choices=CATALOGUES, help="run only this catalogue (repeatable)")
    ap.add_argument("--all", action="store_true", help="include the 4 large ZAB mutants")
    ap.add_argument("--no-longer", action="store_true", help="skip --shrink longer")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--smoke", action="store_true", help="the gossip catalogue only, shortest and walks")
    ap.add_argument("--seed", type=int, default=1, help="the random walks' seed (default 1)")
    args = ap.parse_args()
    catalogues = ["gossip"] if args.smoke else (args.catalogue or list(CATALOGUES))
    longer = not (args.no_longer or args.smoke)
    head = ["catalogue", "mutant", "steps", "faults", "switches", "nodes", "longer: steps/faults/switches",
            "walk: steps/faults/switches (after deletions)", "check CPU s", "shrink CPU s", "ratio"]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(f"{'mutant':34} {'steps':>7} {'faults':>6} {'switch':>7} {'nodes':>5}  {'longer':>8}  {'walk':>22}  "
              f"{'check s':>7} {'shrink s':>8} {'ratio':>6}")
    bad = 0
    for cat in catalogues:
        spec = ROOT / "spec" / f"{cat}.pnyx"
        for m in load_mutants(ROOT / "spec" / f"{cat}_mutants"):
            if args.only and m.name not in args.only:
                continue
            if not (args.all or args.only) and cat == "zab" and m.name in LARGE:
                continue
            cs = compile_mutant(spec, m)
            t0 = time.process_time()
            v = check(cs).violation
            check_cpu = time.process_time() - t0
            if v is None or v.kind != "invariant":
                print(f"{m.name}: no invariant violation found", file=sys.stderr)
                bad += 1
                continue
            t0 = time.process_time()
            short = shrink(cs, v, "shortest")
            shrink_cpu = time.process_time() - t0
            runs = [short]
            long_cell = "-"
            if longer:
                lg = shrink(cs, v, "longer")
                runs.append(lg)
                long_cell = brief(lg.after)
            walk_cell = "no violation"
            w = simulate(cs, SimOptions(runs=300, depth=60, seed=args.seed)).violation
            if w is not None and w.kind == "invariant":
                ws = shrink(cs, w, "walk")
                runs.append(ws)
                assert ws.local is not None
                walk_cell = f"{brief(ws.before)} → {brief(ws.after)} ({ws.local.steps}{'' if ws.complete else ', budget'})"
                if w.name != m.property:  # the walk broke another invariant first
                    walk_cell += f" {w.name}"
            for s in runs:
                if not replays_to_violation(s.violation) or s.after.key(s.mode) > s.before.key(s.mode):
                    print(f"{m.name}: the {s.mode} shrink does not replay to a violation, or is worse", file=sys.stderr)
                    bad += 1
            cells = [cat, m.name, *shape_cells(short), long_cell, walk_cell, f"{check_cpu:.2f}", f"{shrink_cpu:.2f}",
                     f"{shrink_cpu / check_cpu:.1f}" if check_cpu > 0 else "-"]
            if args.markdown:
                print("| " + " | ".join(f"`{c}`" if i == 1 else c for i, c in enumerate(cells)) + " |", flush=True)
            else:
                print(f"{cat + '/' + m.name:34} {cells[2]:>7} {cells[3]:>6} {cells[4]:>7} {cells[5]:>5}  {cells[6]:>8}  "
                      f"{cells[7]:>22}  {cells[8]:>7} {cells[9]:>8} {cells[10]:>6}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    from entry import run

    run(main)
