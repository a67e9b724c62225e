"""How deep `pnyx bmc` gets, and how fast: CPU seconds until each depth is answered.

For gossip and every catalogued ZAB mutant (spec/zab_mutants/*.toml, at its own
constants), bounded model checking runs in a child process capped in CPU time; the
table gives, per depth, the CPU seconds until `pnyx bmc --depth K` would have answered
(the child's time.process_time, which counts z3's threads too), the deepest depth
answered within 60 s and within the cap, and the violation found if the cap allows
reaching it (the mutant's file says at which depth BFS finds it).

With `--baseline DIR`, the same runs are made with the bmc of another tree and both
columns are printed. Its `checker/` is imported as a top-level package, as before the
`pnyx.` namespace (`pnyx.checker` would resolve to this checkout through the editable
install), e.g. the tree before the rework: `git archive c5c5971 | tar -x -C /tmp/before`.
A bmc without a progress callback is timed by running it for depth 1, 2, ... in turn, each
run in its own child with its own cap.

    .venv/bin/python benchmarks/bench_bmc.py                    # the table (several minutes)
    .venv/bin/python benchmarks/bench_bmc.py --baseline /tmp/before --cap 120
    .venv/bin/python benchmarks/bench_bmc.py --only gossip --cap 30
    .venv/bin/python benchmarks/bench_bmc.py --smoke            # seconds; run by the test suite
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (label, spec, constants, mutant file or None, deepest depth to try)
Case = tuple[str, str, dict[str, int], str | None, int]

GOSSIP: Case = ("gossip", "spec/gossip.pnyx", {}, None, 12)
SMOKE: list[Case] = [
    ("gossip WRITES=1", "spec/gossip.pnyx", {"WRITES": 1}, None, 3),
    ("zab log_zxid_before_increment", "spec/zab.pnyx", {}, "spec/zab_mutants/log_zxid_before_increment.toml", 2),
]

CHILD = r"""
import inspect, json, sys, time
src, spec, consts, mutant, depth, root, mode = sys.argv[1:8]
consts, depth = json.loads(consts), int(depth)
sys.path.insert(0, src)
if src == root:
    from pnyx.checker.mutants import compile_mutant, load_mutant
    from pnyx.checker.z3.bmc import bmc
    from pnyx.model.compiler import load
else:  # a checkout from before the pnyx namespace: top-level packages, found first on sys.path
    import importlib
    from checker.mutants import compile_mutant, load_mutant
    from checker.z3.bmc import CompiledSpec, bmc
    load = importlib.import_module(CompiledSpec.__module__).load  # the compiler that checkout's bmc expects
assert bmc.__code__.co_filename.startswith(src), bmc.__code__.co_filename

def say(**kw):
    print(json.dumps(kw), flush=True)

if mode == "progress" and "progress" not in inspect.signature(bmc).parameters:
    say(no_progress=True)
    sys.exit(0)
cs = compile_mutant(spec, load_mutant(mutant), consts) if mutant != "-" else load(spec, consts)
t0 = time.process_time()
if mode == "progress":
    res = bmc(cs, depth, progress=lambda d, cpu: say(depth=d, cpu=time.process_time() - t0))
else:  # one depth: the time `pnyx bmc --depth K` takes to answer
    res = bmc(cs, depth)
    say(depth=depth, cpu=time.process_time() - t0)
say(found=None if res.ok else [res.name, len(res.events)])
"""


def _child(src: Path, case: Case, depth: int, mode: str, cap: float) -> tuple[list[dict], str]:
    """Run CHILD under a CPU limit: its JSON lines, and the last line of its stderr."""
    _, spec, consts, mutant, _ = case

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cap), int(cap) + 5))

    # each tree checks its own copy of the spec and the mutant (the language moves on; the
    # catalogued mutants keep their names and pinned behaviour)
    home = src if (src / spec).is_file() and (not mutant or (src / mutant).is_file()) else ROOT
    cmd = [sys.executable, "-c", CHILD, str(src), str(home / spec), json.dumps(consts),
           str(home / mutant) if mutant else "-", str(depth), str(ROOT), mode]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, preexec_fn=limit, timeout=3 * cap + 60)
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:  # wall-clock safety net on a loaded machine
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = ""
    lines = err.strip().splitlines()
    return [json.loads(ln) for ln in out.splitlines()], lines[-1] if lines else ""


def run_case(case: Case, src: Path, cap: float) -> dict[str, object]:
    """bmc in child processes limited to `cap` CPU seconds each: CPU per depth, and what it found.

    A bmc with a progress callback runs once; one without runs once per depth (each its own
    child with its own cap), since each of its runs starts from scratch.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    msgs, err = _child(src, case, case[4], "progress", cap)
    if msgs and msgs[0].get("no_progress"):
        msgs = []
        for k in range(case[4] + 1):
            got, err = _child(src, case, k, "single", cap)
            msgs += got
            if not any("found" in m for m in got) or any(m.get("found") for m in got):
                break  # stopped at the cap, or found something
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    depths: dict[int, float] = {}
    found, finished = None, False
    for msg in msgs:
        if "depth" in msg:
            depths[msg["depth"]] = msg["cpu"]
        else:
            found, finished = msg["found"], True
    child_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    error = err if not depths and err else None  # e.g. a construct that tree's translation refuses
    return {"label": case[0], "depths": depths, "found": found, "finished": finished, "cpu": child_cpu, "error": error}


def deepest(depths: dict[int, float], within: float) -> int | None:
    ok = [d for d, t in depths.items() if t <= within]
    return max(ok) if ok else None


def cases(args: argparse.Namespace) -> list[Case]:
    if args.smoke:
        return [c for c in SMOKE if not args.only or any(o in c[0] for o in args.only)]
    sys.path.insert(0, str(ROOT))
    from pnyx.checker.mutants import load_mutants

    out = [GOSSIP]
    for m in load_mutants(ROOT / "spec" / "zab_mutants"):
        out.append((f"zab {m.name}", "spec/zab.pnyx", {}, f"spec/zab_mutants/{m.name}.toml", m.length))
    return [c for c in out if not args.only or any(o in c[0] for o in args.only)]


def expected(case: Case) -> str:
    if case[3] is None:
        return "-"
    sys.path.insert(0, str(ROOT))
    from pnyx.checker.mutants import load_mutant

    m = load_mutant(ROOT / case[3])
    return f"{m.property} @{m.length}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="DIR", help="also run the bmc of the checkout in DIR (the 'before' column)")
    ap.add_argument("--cap", type=float, default=120.0, help="CPU seconds per run (default 120)")
    ap.add_argument("--only", action="append", metavar="TEXT", help="only cases whose label contains TEXT")
    ap.add_argument("--smoke", action="store_true", help="two tiny cases, a few seconds in all")
    ap.add_argument("--json", action="store_true", help="one JSON object per run instead of the tables")
    args = ap.parse_args()
    cap = min(args.cap, 20.0) if args.smoke else args.cap
    impls = [("after", ROOT)] + ([("before", Path(args.baseline).resolve())] if args.baseline else [])
    names = [n for n, _ in reversed(impls)]  # before, after
    rows = []
    for case in cases(args):
        runs = {name: run_case(case, src, cap) for name, src in impls}
        if args.json:
            for name, r in runs.items():
                print(json.dumps({"impl": name, "expected": expected(case), **r}), flush=True)
            continue
        rows.append((case, runs))
        print_case(case, runs, names)
    if rows:
        print_summary(rows, names, cap)
    return 0


def print_case(case: Case, runs: dict[str, dict], names: list[str]) -> None:
    """CPU seconds until each depth is answered, per implementation."""
    print(f"{case[0]}  (BFS: {expected(case)})")
    top = max(max(r["depths"], default=-1) for r in runs.values())
    print("  depth" + "".join(f"{n + ' CPU s':>14}" for n in names))
    for d in range(1, top + 1):
        cells = [runs[n]["depths"].get(d) for n in names]
        print(f"  {d:5}" + "".join(f"{t:14.1f}" if t is not None else f"{'-':>14}" for t in cells))
    print(flush=True)


def print_summary(rows: list[tuple[Case, dict[str, dict]]], names: list[str], cap: float) -> None:
    """Deepest depth answered within 60 s and within the cap, and what was found."""
    print(f"Deepest depth answered within 60 s / {cap:.0f} s of CPU")
    print(f"{'case':38} {'BFS finds':>26}" + "".join(f"{n:>12}" for n in names) + "   found")
    for case, runs in rows:
        cells = "".join(f"{_reach(runs[n]):>12}" for n in names)
        r = runs[names[-1]]
        found = r["found"]
        what = (f"{found[0]} @{found[1]}" if found else "nothing") if r["finished"] else "-"
        for n in names:
            if runs[n]["error"]:
                what += f"  ({n}: {runs[n]['error'][:60]})"
        print(f"{case[0]:38} {expected(case):>26}{cells}   {what}")


def _reach(r: dict) -> str:
    a, b = deepest(r["depths"], 60.0), deepest(r["depths"], float("inf"))
    return f"{'-' if a is None else a} / {'-' if b is None else b}"


if __name__ == "__main__":
    from entry import run

    run(main)
