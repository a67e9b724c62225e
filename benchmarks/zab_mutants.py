"""Run the checker on every ZAB mutant and print what it found, as docs/zab.md tabulates it.

For each mutant in spec/zab_mutants/: the property it must break, the property the checker
found violated, the shortest trace length (expected and found), distinct states explored and
seconds. Exit status 1 if any mutant was not caught as its file says.

    .venv/bin/python benchmarks/zab_mutants.py                 # every mutant (several minutes)
    .venv/bin/python benchmarks/zab_mutants.py --only ack_before_log
    .venv/bin/python benchmarks/zab_mutants.py --markdown      # the table of docs/zab.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pnyx.checker.bfs import Options, check  # noqa: E402
from pnyx.checker.mutants import compile_mutant, load_mutants  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--max-seconds", type=float, default=None, help="bound each search")
    args = ap.parse_args()
    spec = ROOT / "spec" / "zab.pnyx"
    mutants = [m for m in load_mutants(ROOT / "spec" / "zab_mutants") if not args.only or m.name in args.only]
    if args.markdown:
        print("| mutant | bug | property broken | constants | trace length | states explored | seconds |")
        print("|---|---|---|---|---|---|---|")
    failed = 0
    for m in mutants:
        cs = compile_mutant(spec, m)
        t0 = time.perf_counter()
        r = check(cs, Options(max_seconds=args.max_seconds))
        secs = time.perf_counter() - t0
        v = r.violation
        found = (v.name, len(v.trace)) if v is not None else (None, None)
        ok = found == (m.property, m.length)
        failed += not ok
        consts = ", ".join(f"{k}={str(x).lower() if isinstance(x, bool) else x}" for k, x in m.constants.items())
        if args.markdown:
            first = m.bug.split(". ")[0].replace("\n", " ").rstrip(".") + "."
            print(f"| `{m.name}` | {first} | `{found[0]}` | {consts} | {found[1]} | {r.stats.distinct:,} | {secs:.0f} |")
        else:
            mark = "ok" if ok else f"EXPECTED {m.property} in {m.length} steps"
            print(f"{m.name:28} {str(found[0]):22} {str(found[1]):>4} steps {r.stats.distinct:>10,} states "
                  f"{secs:7.1f} s  [{consts}]  {mark}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    from entry import run

    run(main)
