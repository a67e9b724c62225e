"""How promptly the bounds stop a command that will not stop by itself: --max-seconds, --max-memory, Ctrl-C.

Each row runs one `pnyx` command in a child process on a deliberately pathological spec (a
handler looping 10^9 times, an initial value of 10^8 numbers built at set-up, a state space of
10^12 states) and reports its exit status, wall and CPU seconds, and peak resident memory (the
child's own, from wait4). "late s" is how long after the bound the command ended: for
--max-seconds, wall seconds minus the bound minus the start-up anchor (`pnyx check --help`,
measured in the same run: the interpreter's start and imports, before the deadline is set); for
Ctrl-C, seconds from the signal to the end. For --max-memory, "peak MB" is to be read against
the budget.

    .venv/bin/python benchmarks/bench_bounds.py            # every case, 5 s and 300 MB bounds (a minute)
    .venv/bin/python benchmarks/bench_bounds.py --smoke    # three cases, 1 s and 150 MB (seconds)
    .venv/bin/python benchmarks/bench_bounds.py --json     # the rows as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import table_line  # noqa: E402

# The pathological specs (tests/test_bounds.py runs the same ones).
SPECS: dict[str, str] = {
    # one step of this handler runs 10^9 iterations: minutes of Python
    "spin": """spec spin
const K = 1000000000
nodes 2 symmetric
network unordered
state {
  volatile x: 0..3 = 0
}
on timer spin when x < 3 {
  for i in 0..K { x = x }
  x = x + 1
}
invariant Small: forall n in Node: n.x <= 3
""",
    # 10^12 states of a few hundred bytes each: past any small budget in seconds
    "grow": """spec grow
const M = 1000000
nodes 1
network unordered
state {
  volatile a: 0..M = 0
  volatile b: 0..M = 0
}
on timer inca when a < M { a = a + 1 }
on timer incb when b < M { b = b + 1 }
invariant Ok: forall n in Node: n.a <= M
""",
    # with -D K=100000000 (HUGE) the initial value is a set of 10^8 numbers, built at set-up
    "bigset": """spec bigset
const K = 3
nodes 2 symmetric
network unordered
state {
  volatile big: set[0..K] = {i for i in 0..K}
  volatile x: 0..1 = 0
}
on timer flip when x == 0 { x = 1 }
invariant Ok: forall n in Node: n.x <= 1
""",
}
HUGE = "K=100000000"


def write_specs(folder: Path) -> dict[str, str]:
    """The pathological specs as files in `folder`: name -> path."""
    paths = {}
    for name, text in SPECS.items():
        path = folder / f"{name}.pnyx"
        path.write_text(text)
        paths[name] = str(path)
    return paths


def run_child(args: list[str], interrupt_after_progress: bool = False, timeout: float = 300) -> dict[str, Any]:
    """One child `pnyx ARGS`: exit status, wall and CPU seconds, peak RSS; with `interrupt_after_progress`,
    SIGINT once its first progress line is out, and the seconds from then to its end."""
    start = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "pnyx", *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE if interrupt_after_progress else subprocess.DEVNULL, cwd=ROOT)
    signalled = None
    if interrupt_after_progress:
        assert p.stderr is not None
        p.stderr.readline()
        p.send_signal(signal.SIGINT)
        signalled = time.monotonic()
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            pid, status, usage = os.wait4(p.pid, 0)
            break
        time.sleep(0.02)
    end = time.monotonic()
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    if p.stderr is not None:
        p.stderr.close()
    return {"exit": os.waitstatus_to_exitcode(status), "wall": end - start, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, "after_signal": None if signalled is None else end - signalled}


def cases(paths: dict[str, str], seconds: float, mb: int, smoke: bool) -> list[tuple[str, str, list[str], str]]:
    """(case, bound, arguments, kind): kind is time, memory or interrupt."""
    t, m = f"{seconds:g}", str(mb)
    rows = [
        ("check: a step of 10^9 iterations", f"--max-seconds {t}", ["check", paths["spin"], "--max-seconds", t], "time"),
        ("check: a state space past the budget", f"--max-memory {m}", ["check", paths["grow"], "--max-memory", m], "memory"),
        ("check: Ctrl-C after the first progress line", "SIGINT",
         ["check", paths["grow"], "--progress-every", "0.5"], "interrupt"),
    ]
    if smoke:
        return rows
    return rows + [
        ("simulate: a step of 10^9 iterations", f"--max-seconds {t}", ["simulate", paths["spin"], "--max-seconds", t],
         "time"),
        ("check --workers 2: a step of 10^9 iterations", f"--max-seconds {t}",
         ["check", paths["spin"], "--workers", "2", "--max-seconds", t], "time"),
        ("check: set-up builds 10^8 numbers", f"--max-seconds {t}",
         ["check", paths["bigset"], "-D", HUGE, "--max-seconds", t], "time"),
        ("check: set-up builds 10^8 numbers", f"--max-memory {m}",
         ["check", paths["bigset"], "-D", HUGE, "--max-memory", m], "memory"),
        ("bmc: ZAB to depth 40 (inside z3)", f"--max-seconds {t}",
         ["bmc", str(ROOT / "spec" / "zab.pnyx"), "--depth", "40", "--max-seconds", t], "time"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="three cases, 1 s and 150 MB bounds")
    ap.add_argument("--seconds", type=float, default=None, help="the --max-seconds bound (default 5; smoke 1)")
    ap.add_argument("--memory", type=int, default=None, help="the --max-memory bound in MB (default 300; smoke 150)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()
    seconds = args.seconds if args.seconds is not None else (1.0 if args.smoke else 5.0)
    mb = args.memory if args.memory is not None else (150 if args.smoke else 300)
    with tempfile.TemporaryDirectory(prefix="pnyx-bench-bounds-") as folder:
        paths = write_specs(Path(folder))
        anchor = run_child(["check", "--help"])["wall"]
        rows = []
        for case, bound, argv, kind in cases(paths, seconds, mb, args.smoke):
            r = run_child(argv, interrupt_after_progress=kind == "interrupt")
            late = r["after_signal"] if kind == "interrupt" else r["wall"] - seconds - anchor if kind == "time" else None
            rows.append({"case": case, "bound": bound, **r, "late": late})
    if args.json:
        print(json.dumps({"startup_anchor_seconds": anchor, "rows": rows}, indent=2))
        return 0
    head = ["case", "bound", "exit", "wall s", "late s", "CPU s", "peak MB"]
    body = [[r["case"], r["bound"], str(r["exit"]), f"{r['wall']:.2f}", "-" if r["late"] is None else f"{r['late']:.2f}",
             f"{r['cpu']:.2f}", f"{r['peak_mb']:.0f}"] for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    print(table_line(head, widths, {0, 1}))
    for line in body:
        print(table_line(line, widths, {0, 1}))
    print(f"start-up anchor (pnyx check --help): {anchor:.2f} s wall")
    return 0


if __name__ == "__main__":
    from entry import run

    run(main)
