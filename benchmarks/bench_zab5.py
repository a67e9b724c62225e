"""How far a 5-server ZAB check gets in a budget of CPU seconds, now and (with --baseline) before.

`pnyx check spec/zab.pnyx -D N=5 ...` runs as a child process (symmetry on, as a user runs it),
its stderr a pipe so that it prints a progress line every few seconds (every 10 for a baseline
from before --progress-every). Its CPU time (user + system, from /proc) is polled; when it has
spent the budget it is stopped with SIGTERM (a disk search removes its files on it; SIGINT would
be ignored by a child started in the background, which inherits SIGINT ignored), and killed if
it has not ended 10 seconds later. The row is
its last progress line (states reached, depth, queue) with the CPU time at which it was read, so

    states per CPU-second = states of the last progress line / CPU seconds then

(start-up included), and its peak RSS from wait4. A search that ends within the budget reports
its final summary instead. Bounds: 5 servers, one client write, epochs up to 2, one crash, one
timeout: small, but every ZAB phase (election, discovery, synchronization, broadcast) and a
recovery are in it.

    .venv/bin/python benchmarks/bench_zab5.py                           # 30 CPU-minutes (long)
    .venv/bin/python benchmarks/bench_zab5.py --cpu-seconds 60 --baseline /tmp/old   # git archive 704d856 | tar -x -C /tmp/old
    .venv/bin/python benchmarks/bench_zab5.py --fpset disk --cpu-seconds 60
    .venv/bin/python benchmarks/bench_zab5.py --smoke                   # a 2-second budget (the test suite runs it)
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import ROOT, baseline_path, defines, table_line

CONSTANTS: dict[str, object] = {"N": 5, "TXNS": 1, "MAX_EPOCH": 2, "CRASHES": 1, "TIMEOUTS": 1}
PROGRESS = re.compile(r"progress: ([\d,]+) states, [\d,]+ states/s, queue ([\d,]+), depth (\d+)")
SUMMARY = re.compile(r"([\d,]+) distinct states, [\d,]+ transitions, diameter (\d+)")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Reach:
    """How far one budgeted search got."""

    states: int = 0
    depth: int = 0
    queue: int = 0
    cpu_at: float = 0.0  # the child's CPU seconds when `states` was read
    cpu: float = 0.0  # its CPU seconds in all
    peak_rss: int = 0
    finished: bool = False  # the search ended (complete, or a violation) within the budget
    note: str = ""

    @property
    def rate(self) -> float:
        return self.states / self.cpu_at if self.cpu_at > 0 else 0.0


def cpu_seconds(pid: int) -> float:
    """A live process's user + system CPU seconds, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def budgeted(cmd: list[str], cwd: Path, budget: float, env: dict[str, str] | None = None) -> Reach:
    """Run `cmd` until it ends or has spent `budget` CPU seconds; what its progress lines said."""
    reach = Reach()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.PIPE, text=True, env=env)

        def read_progress() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                m = PROGRESS.search(line)
                if m:
                    reach.cpu_at = cpu_seconds(proc.pid) or reach.cpu_at
                    reach.states, reach.queue, reach.depth = int(m[1].replace(",", "")), int(m[2].replace(",", "")), int(m[3])
                elif line.strip() and not reach.note:
                    reach.note = line.strip()[:60]

        reader = threading.Thread(target=read_progress, daemon=True)
        reader.start()
        stopped: float | None = None  # when it was asked to stop
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if stopped is None and cpu_seconds(proc.pid) >= budget:
                proc.send_signal(signal.SIGTERM)
                stopped = time.monotonic()
            elif stopped is not None and time.monotonic() - stopped > 10:
                proc.kill()
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        reader.join(timeout=5)
        out.seek(0)
        text = out.read().decode(errors="replace")
    reach.cpu = ru.ru_utime + ru.ru_stime
    reach.peak_rss = ru.ru_maxrss * 1024
    m = SUMMARY.search(text)
    if stopped is None and m:
        reach.finished = True
        reach.states, reach.depth, reach.queue, reach.cpu_at = int(m[1].replace(",", "")), int(m[2]), 0, reach.cpu
        reach.note = next((ln.strip()[:60] for ln in text.splitlines() if ln.startswith(("Violated", "Failed"))), "complete")
    elif stopped is None:
        reach.note = reach.note or f"exit {proc.returncode}"
    else:
        reach.note = ""
    return reach


def command(constants: dict[str, object], extra: list[str], spec: Path) -> list[str]:
    return [sys.executable, "-m", "pnyx", "check", str(spec), *defines(constants), *extra]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-seconds", type=float, default=1800.0, help="CPU budget of each search (default 1800)")
    ap.add_argument("--smoke", action="store_true", help="a 2-second budget")
    ap.add_argument("--fpset", default="memory", help="this code's --fpset (default memory)")
    ap.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE",
                    help=f"change a constant (default {' '.join(f'{k}={v}' for k, v in CONSTANTS.items())})")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="also run the code in DIR, a copy of the repository from before (e.g. git archive), the same way")
    args = ap.parse_args(argv)
    budget = 2.0 if args.smoke else args.cpu_seconds
    constants = dict(CONSTANTS)
    for item in args.defines:
        name, _, value = item.partition("=")
        constants[name] = value
    every = "0.5" if args.smoke else "5"
    label = " ".join(f"{k}={v}" for k, v in constants.items())
    print(f"spec/zab.pnyx {label}, symmetry on, {budget:g} CPU seconds each")
    head = ["code", "states", "depth", "queue", "at CPU s", "states/CPU-s", "peak MB", "ended"]
    widths = [22, 11, 5, 10, 8, 12, 7, 8]

    def line(cells: list[str]) -> str:
        return table_line(cells, widths, {0, len(head) - 1})

    def row(name: str, r: Reach) -> str:
        return line([name, f"{r.states:,}", str(r.depth), f"{r.queue:,}", f"{r.cpu_at:.1f}", f"{r.rate:,.0f}",
                     f"{r.peak_rss / 2**20:,.0f}", r.note if r.finished or r.note else "stopped"])

    print(line(head), flush=True)
    now = budgeted(command(constants, ["--fpset", args.fpset, "--progress-every", every], ROOT / "spec" / "zab.pnyx"),
                   ROOT, budget)
    print(row(f"this (--fpset {args.fpset})", now), flush=True)
    failed = now.states == 0
    if args.baseline is not None:
        with tempfile.TemporaryDirectory(prefix="bench-zab5-base-") as tmp:
            path = baseline_path(args.baseline, Path(tmp))
            spec = path / "pnyx" / "spec" / "zab.pnyx"
            before = budgeted(command(constants, [], spec if spec.is_file() else ROOT / "spec" / "zab.pnyx"), path, budget)
        print(row("before", before), flush=True)
        if before.rate:
            print(f"states per CPU-second: x{now.rate / before.rate:.2f}; "
                  f"states reached: x{now.states / max(before.states, 1):.2f}")
        failed |= before.states == 0
    return 1 if failed else 0


if __name__ == "__main__":
    from entry import run

    run(main)
