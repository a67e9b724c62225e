"""`pnyx diff` on the mutant catalogue: each mutant against its spec, as docs/diff.md tabulates it.

For each mutant (default: spec/zab_mutants/ against spec/zab.pnyx, both at the mutant's
constants): the distinct states of each version (no symmetry reduction), the projected states
only the mutant reaches and only the spec reaches, the depth of the first state only the
mutant reaches, the properties the mutant newly fails, and CPU seconds. Exit status 1 if a
mutant's own property is not among its new failures although the comparison reached the
mutant's trace length.

    .venv/bin/python benchmarks/diff_mutants.py                     # the ZAB catalogue (minutes)
    .venv/bin/python benchmarks/diff_mutants.py --markdown          # the table of docs/diff.md
    .venv/bin/python benchmarks/diff_mutants.py --catalogue gossip --only push_back_to_sender
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pnyx.checker.diff import diff  # noqa: E402
from pnyx.checker.mutants import Mutant, compile_mutant, load_mutants  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalogue", default="zab", choices=("zab", "fle", "gossip", "members"),
                    help="the spec whose mutants are compared with it (default zab)")
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    ap.add_argument("--max-states", type=int, default=400_000, help="bound each version's search (default 400,000)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    spec = ROOT / "spec" / f"{args.catalogue}.pnyx"
    head = ["mutant", "constants", "spec states", "mutant states", "compared", "only mutant", "only spec",
            "first new state at step", "newly failing", "CPU s"]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(f"{'mutant':28} {'spec':>8} {'mutant':>8} {'compared':>9} {'only mut':>9} {'only spec':>9} {'first':>5}  "
              f"{'CPU s':>6}  newly failing")
    bad = 0
    for m in load_mutants(ROOT / "spec" / f"{args.catalogue}_mutants"):
        if args.only and m.name not in args.only:
            continue
        t0 = time.process_time()
        old = compile_mutant(spec, Mutant("unchanged", "", "", 0, m.constants, ()))
        new = compile_mutant(spec, m)
        d = diff(old, new, max_states=args.max_states)
        cpu = time.process_time() - t0
        compared = "all" if d.compared_depth is None else f"≤ {d.compared_depth}"
        first = str(d.new.depth[d.only_new[0][1]]) if d.only_new else "-"
        failing = ", ".join(d.new_failures) or "none"
        deep_enough = d.compared_depth is None or d.compared_depth >= m.length
        if deep_enough and m.property not in d.new_failures:
            print(f"{m.name}: {m.property} is not among the new failures ({failing})", file=sys.stderr)
            bad += 1
        consts = ", ".join(f"{k}={str(x).lower() if isinstance(x, bool) else x}" for k, x in m.constants.items())
        cells = [f"`{m.name}`", consts, f"{len(d.old.parent):,}", f"{len(d.new.parent):,}", compared,
                 f"{len(d.only_new):,}", f"{len(d.only_old):,}", first, failing, f"{cpu:.1f}"]
        if args.markdown:
            print("| " + " | ".join(cells) + " |", flush=True)
        else:
            print(f"{m.name:28} {cells[2]:>8} {cells[3]:>8} {compared:>9} {cells[5]:>9} {cells[6]:>9} {first:>5}  "
                  f"{cells[9]:>6}  {failing}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    from entry import run

    run(main)
