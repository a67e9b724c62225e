"""The search on several workers: one process, forked processes and Ray actors side by side, and
the numbers docs/scale.md fits its throughput model to.

Every run is `pnyx check --no-symmetry --json` in a child process; its CPU seconds are those of
its whole process tree (forked workers; with Ray the local cluster's processes and actors too),
sampled from /proc every 50 ms, each process's own user + system time as last seen, so a process
loses at most its last 50 ms; wall seconds include start-up (a local Ray starts in seconds).

    .venv/bin/python benchmarks/bench_scale.py              # gossip at 372 k states: one process, 2 processes, Ray 2 actors
    .venv/bin/python benchmarks/bench_scale.py --fit        # also Ray at 1, 2, 4, 8 actors and the fitted model
    .venv/bin/python benchmarks/bench_scale.py --large      # bench_speed's models, about a million states each
    .venv/bin/python benchmarks/bench_scale.py --smoke      # tiny, seconds (the test suite runs it)
    .venv/bin/python benchmarks/bench_scale.py --baseline /tmp/old   # also an older checkout's (git archive) 2 processes
    .venv/bin/python benchmarks/bench_scale.py --large --levels     # also each level's CPU seconds per worker

Table 1: each engine's states (all must agree, else the exit status is 1), CPU and wall seconds,
and its speedup in wall time over one process; then, as the search reports them (start-up
excluded), its CPU seconds in all processes ("search"), the sum over levels of the busiest
worker's ("critical": how long the search would take on idle cores, one per worker, barriers
aside) and the speedup this predicts on idle cores ("idle est.": one process's search CPU
seconds over the critical ones). On a shared machine the wall speedup says little; the
estimate holds while the workers' CPU seconds do not grow with the load. Table 2 (--fit): Ray with w actors on a local
cluster of w logical CPUs (more actors than cores simulates machines: their CPU seconds still
add up). The fit, by least squares over the CPU seconds of table 2:

    CPU(w) = K + u*w + b*T*(1 - 1/w)

K the work that does not depend on w (expanding S states, start-up), u what each actor adds
(starting, compiling the spec, its share of every level's calls), b the cost of one transition
whose successor another actor owns (T transitions, a fraction 1 - 1/w of them cross). The
per-level barrier latency is measured apart: a one-node counter spec of depth 50 and of depth
250 (one state per level) on Ray, lat = (search(250) - search(50)) / 200 from the seconds each
search reports (Ray's start excluded), at 2 and at 8 actors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_speed import MODELS as LARGE  # this folder is on sys.path
from bench_speed import ROOT, baseline_path, defines

MODELS: list[tuple[str, str, dict[str, object]]] = [("gossip", "spec/gossip.pnyx", {"CRASHES": 1, "LOSSES": 0})]
SMOKE: list[tuple[str, str, dict[str, object]]] = [("gossip", "spec/gossip.pnyx", {"WRITES": 1})]
CHAIN = """spec chain
nodes 1
const K = 50
state { volatile x: 0..K = 0 }
on timer inc when x < K { x = x + 1 }
"""
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One `pnyx check`: what it reported and what its process tree cost."""

    distinct: int | None
    transitions: int
    levels: int
    cpu: float  # user + system seconds of every process of its tree
    wall: float
    search: float = 0.0  # the seconds the search itself took, as it reports them (start-up excluded)
    error: str | None = None
    search_cpu: float = 0.0  # CPU seconds of the search in all its processes, as it reports them
    critical_cpu: float = 0.0  # the sum over levels of the busiest worker's CPU seconds
    levels_cpu: list[list[float]] | None = None  # each level's CPU seconds per worker (several workers)


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(parent pid, start time, own CPU seconds) of a live process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / TICK


def tree_measured(cmd: list[str], timeout: float, cwd: Path = ROOT) -> tuple[str, float, float]:
    """Run a command to its end; its output, and the CPU seconds and wall seconds of its process
    tree (its descendants followed even once orphaned, until every one has exited)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL)
        seen: dict[tuple[int, int], float] = {}  # (pid, start time) -> own CPU seconds last seen
        ended = None
        while True:
            stats = {pid: s for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if (s := _stat(pid))}
            ours = {pid for (pid, start) in seen if pid in stats and stats[pid][1] == start} | {proc.pid}
            grown = True
            while grown:  # the descendants of the tree's processes
                new = {pid for pid, (ppid, _, _) in stats.items() if ppid in ours and pid not in ours}
                ours |= new
                grown = bool(new)
            for pid in ours & stats.keys():
                seen[(pid, stats[pid][1])] = stats[pid][2]
            if ended is None and proc.poll() is not None:
                ended = time.perf_counter()
            alive = len(ours & stats.keys())
            if ended is not None and (alive == 0 or time.perf_counter() - ended > 30):
                break
            if time.perf_counter() - t0 > timeout:
                proc.kill()
            time.sleep(0.05)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return text, sum(seen.values()), ended - t0


def run_check(spec: str, constants: dict[str, object], engine: str, workers: int, timeout: float,
              path: Path | None = None) -> Run:
    """`pnyx check` on `engine` with `workers`; with `path` (see bench_speed.baseline_path), the Pnyx
    found there runs, from there (the spec stays this checkout's)."""
    cmd = [sys.executable, "-m", "pnyx", "check", str(ROOT / spec), "--no-symmetry", "--json", *defines(constants),
           "--engine", engine, "--workers", str(workers)]
    text, cpu, wall = tree_measured(cmd, timeout, path or ROOT)
    try:
        summary = json.loads(text[text.index("{"):])["summary"]
    except (ValueError, KeyError):
        return Run(None, 0, 0, cpu, wall, error=(text.strip().splitlines() or ["no output"])[-1][:80])
    return Run(summary["distinct_states"], summary["transitions"], summary["diameter"] + 1, cpu, wall, summary["seconds"],
               None if summary["complete"] else "incomplete", summary.get("search_cpu_seconds") or 0.0,
               summary.get("critical_cpu_seconds") or 0.0, summary.get("worker_cpu_per_level"))


def fit(points: list[tuple[int, float]], transitions: int) -> tuple[float, float, float]:
    """Least squares of CPU(w) = K + u*w + b*T*(1 - 1/w) over (w, CPU) points: (K, u, b)."""
    rows = [[1.0, float(w), transitions * (1 - 1 / w)] for w, _ in points]
    ys = [c for _, c in points]
    # the normal equations, 3 x 3, solved by Gaussian elimination
    a = [[sum(r[i] * r[j] for r in rows) for j in range(3)] + [sum(r[i] * y for r, y in zip(rows, ys))] for i in range(3)]
    for i in range(3):
        p = max(range(i, 3), key=lambda k: abs(a[k][i]))
        a[i], a[p] = a[p], a[i]
        for k in range(3):
            if k != i:
                f = a[k][i] / a[i][i]
                a[k] = [x - f * y for x, y in zip(a[k], a[i])]
    return a[0][3] / a[0][0], a[1][3] / a[1][1], a[2][3] / a[2][2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny model, in seconds")
    ap.add_argument("--large", action="store_true", help="bench_speed's models, about a million states each")
    ap.add_argument("--fit", action="store_true", help="also Ray at 1, 2, 4 and 8 actors, and the fitted model")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="also 2 processes of the Pnyx in DIR, an older checkout's files (git archive REV | tar -x -C DIR)")
    ap.add_argument("--levels", action="store_true", help="also each level's CPU seconds per worker (several workers)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds one run may take (default 1800)")
    args = ap.parse_args(argv)
    try:
        import ray  # noqa: F401
    except ImportError:
        print("bench_scale: Ray is not installed (pip install 'pnyx[ray]'): no Ray rows", file=sys.stderr)
        has_ray = False
    else:
        has_ray = True
    models = SMOKE if args.smoke else LARGE if args.large else MODELS
    print(f"{'model':7}  {'engine':14}  {'workers':>7}  {'distinct':>10}  {'CPU s':>7}  {'wall s':>7}  {'speedup':>7}  "
          f"{'search':>7}  {'critical':>8}  {'idle est.':>9}  agree")
    failed = False
    last: Run | None = None
    levels: list[tuple[str, list[list[float]]]] = []
    for label, spec, constants in models:
        engines = [("one process", "processes", 1), ("processes", "processes", 2)] + ([("ray", "ray", 2)] if has_ray else [])
        if args.baseline is not None:
            engines.append(("baseline", "processes", 2))
        base: Run | None = None
        for name, engine, workers in engines:
            with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
                older = baseline_path(args.baseline, Path(tmp)) if name == "baseline" else None
                r = run_check(spec, constants, engine, workers, args.timeout, older)
            base = base or r
            agree = "yes" if r.error is None and r.distinct == base.distinct else "NO"
            failed |= agree == "NO"
            estimate = base.search_cpu / r.critical_cpu if r.critical_cpu else 0.0
            print(f"{label:7}  {name:14}  {workers:>7}  {r.distinct or 0:>10,}  {r.cpu:>7.1f}  {r.wall:>7.1f}  "
                  f"{base.wall / r.wall:>7.2f}  {r.search_cpu:>7.1f}  {r.critical_cpu:>8.1f}  {estimate:>9.2f}  "
                  f"{agree}{f' ({r.error})' if r.error else ''}", flush=True)
            if args.levels and r.levels_cpu:
                levels.append((f"{label} {name}", r.levels_cpu))
        last = base
    for title, cpu in levels:
        level_table(title, cpu)
    if args.fit and has_ray and last is not None:
        failed |= fit_table(models[-1], last, args.smoke, args.timeout)
    return 1 if failed else 0


def level_table(title: str, cpu: list[list[float]]) -> None:
    """Each level's CPU seconds per worker, the busiest's share over the mean (imbalance), and
    the totals: where the critical CPU seconds go."""
    n = len(cpu[0])
    print(f"\n{title}: CPU ms per level and worker")
    print(f"{'level':>5}  " + "  ".join(f"{f'w{w}':>8}" for w in range(n)) + f"  {'max/mean':>8}")
    for i, level in enumerate(cpu):
        mean = sum(level) / n
        print(f"{i:>5}  " + "  ".join(f"{c * 1e3:>8.1f}" for c in level) + f"  {max(level) / mean if mean else 1.0:>8.2f}")
    total = [sum(col) for col in zip(*cpu)]
    critical = sum(max(level) for level in cpu)
    print(f"{'all':>5}  " + "  ".join(f"{c * 1e3:>8.0f}" for c in total) +
          f"  critical {critical:.2f} s against {sum(total) / n:.2f} s were every level even")


def fit_table(model: tuple[str, str, dict[str, object]], one: Run, smoke: bool, timeout: float) -> bool:
    """Table 2 and the fitted model; whether a run disagreed with one process."""
    label, spec, constants = model
    counts = [1, 2, 3] if smoke else [1, 2, 4, 8]
    print(f"\n{'model':7}  {'ray actors':>10}  {'distinct':>10}  {'CPU s':>7}  {'wall s':>7}  agree")
    points = []
    failed = False
    for w in counts:
        r = run_check(spec, constants, "ray", w, timeout)
        agree = r.error is None and r.distinct == one.distinct
        failed |= not agree
        points.append((w, r.cpu))
        print(f"{label:7}  {w:>10}  {r.distinct or 0:>10,}  {r.cpu:>7.1f}  {r.wall:>7.1f}  {'yes' if agree else 'NO'}",
              flush=True)
    k, u, b = fit(points, one.transitions)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        chain = Path(tmp) / "chain.pnyx"
        chain.write_text(CHAIN)
        lat, start_cpu = {}, 0.0
        for w in (2, 3 if smoke else 8):
            short, long = (run_check(str(chain), {"K": k_}, "ray", w, timeout) for k_ in (50, 250))
            lat[w] = (long.search - short.search) / 200
            start_cpu = start_cpu or short.cpu - u * w  # starting Ray and the command: the chain's search is next to nothing
    work = k - start_cpu  # expanding the states, on one core
    print(f"\nfit over {len(points)} runs (S = {one.distinct:,} states, T = {one.transitions:,} transitions, "
          f"L = {one.levels} levels):")
    print(f"  CPU(w) = {k:.2f} + {u:.3f}*w + {b * 1e6:.2f}e-6*T*(1 - 1/w) CPU-seconds; of K, {start_cpu:.2f} start-up "
          f"(a local Ray and the command), {work:.2f} expanding: {work / one.distinct * 1e6:.1f} us per state")
    for w, s in lat.items():
        print(f"  barrier latency per level at {w} actors: {s * 1e3:.1f} ms")
    (w1, l1), (w2, l2) = lat.items()
    per_actor = (l2 - l1) / (w2 - w1)
    for n in (100,):
        latency = l1 + per_actor * (n - w1)
        wall = u + (work + b * one.transitions * (1 - 1 / n)) / n + one.levels * latency
        print(f"  at {n} actors, one per machine: {wall:.2f} s of search ({u:.2f} starting an actor, "
              f"{(work + b * one.transitions * (1 - 1 / n)) / n:.2f} expanding and exchanging, {one.levels} levels x "
              f"{latency * 1e3:.1f} ms), {one.distinct / wall:,.0f} states/s; network round trips not included")
        per_state = work / one.distinct + b * one.transitions / one.distinct * (1 - 1 / n)
        print(f"  at {n} actors on a model of many more states per level (as many transitions per state), "
              f"barrier latency aside: up to {n / per_state:,.0f} states/s, {1 / per_state:,.0f} per actor")
    return failed


if __name__ == "__main__":
    from entry import run

    run(main)
