"""Pnyx and TLC side by side on the TLA+ export: states, seconds, and whether they agree.

For every bundled spec (at its defaults, or the constants stated below where the defaults
take TLC more than minutes), every ZAB mutant at its catalogued constants, and generated
specs: Pnyx's breadth-first search without symmetry, and TLC (one worker) on the exported
module. A row agrees when both count the same distinct states (every invariant holding),
or, for a mutant, both report the same invariant violated after the same number of steps
(TLC stops at its first violation, so its state count is not compared there).

    .venv/bin/python benchmarks/bench_tla.py               # the whole table (about half an hour)
    .venv/bin/python benchmarks/bench_tla.py --markdown    # the table of benchmarks/README.md and docs/tla.md
    .venv/bin/python benchmarks/bench_tla.py --only gossip --only mutant_quorum
    .venv/bin/python benchmarks/bench_tla.py --smoke       # seconds: three tiny models (the test suite runs it)

The jar is ../shared/tools/tla2tools.jar beside the repository, or $TLA2TOOLS_JAR.
Exit status: 0 when every row agrees, 1 when one does not, 2 when TLC is missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pnyx.checker import bfs  # noqa: E402
from pnyx.checker.mutants import load_mutants  # noqa: E402
from pnyx.checker.tla import tlc  # noqa: E402
from pnyx.model.compiler import compile_checked  # noqa: E402

# (spec, constants): the defaults, except ZAB's, whose default state graph without symmetry
# (about five million states) takes TLC hours: there the failure-detector timeouts are left out
BUNDLED: list[tuple[str, dict[str, object]]] = [
    ("spec/gossip.pnyx", {}),
    ("spec/zab.pnyx", {"TIMEOUTS": 0}),
    ("spec/zab_broadcast.pnyx", {}),
    ("spec/examples/two_phase_commit.pnyx", {}),
    ("tests/golden/tla/relay.pnyx", {}),
    ("tests/golden/tla/flood.pnyx", {}),
]
SMOKE_BUNDLED: list[tuple[str, dict[str, object]]] = [("tests/golden/tla/flood.pnyx", {})]
SMOKE_MUTANT = "log_zxid_before_increment"  # 880 states at its catalogued constants
GENERATED = 30


def _constants(c: dict[str, object]) -> str:
    return " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in c.items()) or "(defaults)"


def models(smoke: bool, generated: int) -> list[tlc.Model]:
    """The table's models; with `smoke`, the tiny ones (every full-size model is still built, so none rots)."""
    zab = (ROOT / "spec" / "zab.pnyx").read_text()
    bundled = [tlc.Model(Path(s).stem + "".join(f"_{k}{v}" for k, v in c.items()), (ROOT / s).read_text(), s, c)
               for s, c in BUNDLED]
    mutants = [tlc.Model(f"mutant_{m.name}", m.apply(zab), f"spec/zab.pnyx [{m.name}]", dict(m.constants), m.property)
               for m in load_mutants(ROOT / "spec" / "zab_mutants")]
    for m in bundled + mutants:
        m.checked()  # type-checks at these constants: a renamed constant fails here, in the smoke run too
    if smoke:
        keep = {Path(s).stem + "".join(f"_{k}{v}" for k, v in c.items()) for s, c in SMOKE_BUNDLED}
        bundled = [m for m in bundled if m.name in keep]
        mutants = [m for m in mutants if m.name == f"mutant_{SMOKE_MUTANT}"]
    return bundled + mutants + generated_models(1 if smoke else generated)


def generated_models(count: int) -> list[tlc.Model]:
    """Generated specs from a fixed seed with distinct state counts between 20 and 3,000 (as in tests/test_tla.py)."""
    if count <= 0:
        return []
    from gen_specs import sample_specs
    from specs import checked

    def size(src: str) -> int | None:
        r = bfs.check(compile_checked(checked(src)), bfs.Options(symmetry=False, max_states=3000))
        return r.stats.distinct if r.complete and r.stats.distinct >= 20 else None

    return [tlc.Model(f"gen_{i}", src, f"generated spec {i}", {}) for i, src in enumerate(sample_specs(count, size))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="three tiny models, in seconds")
    ap.add_argument("--only", action="append", metavar="TEXT", help="only models whose name contains TEXT (repeatable)")
    ap.add_argument("--generated", type=int, default=GENERATED, metavar="N", help=f"generated specs (default {GENERATED})")
    ap.add_argument("--parallel", type=int, default=None, metavar="K",
                    help="TLC processes at a time (default 1, seconds measured without a neighbour; 2 with --smoke)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    if args.generated < 0 or (args.parallel is not None and args.parallel < 1):
        ap.error("--generated takes a count of 0 or more, --parallel a count of 1 or more")
    jar = tlc.jar_path(ROOT)
    if not jar.is_file() or tlc.java() is None:
        print(f"bench_tla: TLC not available: no {jar} (set {tlc.JAR_ENV}) or no java on PATH", file=sys.stderr)
        return 2
    chosen = [m for m in models(args.smoke, args.generated) if not args.only or any(o in m.name for o in args.only)]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-tla-") as work:
        rejected, rows = tlc.crosscheck(chosen, jar, Path(work), parallel=args.parallel or (2 if args.smoke else 1),
                                        jvm=tlc.QUICK_JVM if args.smoke else tlc.DEFAULT_JVM, timeout=7200)
    if rejected:
        for name, text in rejected.items():
            print(f"SANY rejects {name}:\n{text}", file=sys.stderr)
        return 1
    head = ["spec", "constants", "Pnyx states", "TLC states", "Pnyx s", "TLC s", "agree"]
    table = []
    for r in rows:
        m = r.model
        outcome = (f"{r.tlc.distinct:,}" if r.tlc.distinct is not None else "-")
        pnyx = f"{r.pnyx_states:,}"
        if m.expect is not None or r.pnyx_violated is not None:  # a mutant: the violation found, and its length
            pnyx += f" ({r.pnyx_violated} in {r.pnyx_length})"
            outcome += f" ({r.tlc.violated} in {r.tlc_length})"
        verdict = "yes" if r.agree and r.expected else "NO"
        if r.tlc.error:
            verdict += " (TLC: " + r.tlc.error.splitlines()[0][:60] + ")"
        table.append([m.origin, _constants(m.constants), pnyx, outcome, f"{r.pnyx_seconds:.1f}", f"{r.tlc.seconds:.1f}", verdict])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|---|---|---:|---:|---:|---:|---|")
        for row in table:
            print("| " + " | ".join([f"`{row[0]}`"] + row[1:]) + " |")
    else:
        widths = [max(len(x) for x in col) for col in zip(head, *table)]
        for row in [head] + table:
            print("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip(), flush=True)
    agreed = sum(1 for r in rows if r.agree and r.expected)
    print(f"\n{agreed} of {len(rows)} models agree; {time.perf_counter() - t0:.0f} s in all")
    return 0 if agreed == len(rows) else 1


if __name__ == "__main__":
    from entry import run

    run(main)
