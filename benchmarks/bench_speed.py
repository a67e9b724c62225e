"""Pnyx and TLC side by side on speed: states per CPU-second of one search, and peak memory.

For each model, `pnyx check --no-symmetry --json` and TLC (one worker, the module
`pnyx export --tla` writes) run as child processes, one at a time; each child's CPU
seconds (user + system, its own children included) and peak resident set come from
`wait4`, so start-up (imports and parsing; the JVM) is counted on both sides, and the
machine's other load does not inflate the CPU numbers the way it inflates wall time. Both
must count the same distinct states, or the row is marked and the exit status is 1.

    .venv/bin/python benchmarks/bench_speed.py              # gossip and ZAB at about a million states each (minutes)
    .venv/bin/python benchmarks/bench_speed.py --workers 2  # Pnyx with `--workers 2` (CPU summed over its processes)
    .venv/bin/python benchmarks/bench_speed.py --only zab --no-tlc
    .venv/bin/python benchmarks/bench_speed.py --baseline /tmp/old  # also an older checkout's Pnyx (git archive)
    .venv/bin/python benchmarks/bench_speed.py --smoke      # tiny models, seconds (the test suite runs it)

The jar is ../shared/tools/tla2tools.jar beside the repository, or $TLA2TOOLS_JAR; without it
(or with --no-tlc) only Pnyx's columns are filled. Peak RSS of a run with workers is that of
its largest process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (label, spec, constants): about a million states each without symmetry: gossip with one crash and two
# losses, ZAB without timeouts and with two crashes (1,098,755; its defaults have 6.5 million)
MODELS: list[tuple[str, str, dict[str, object]]] = [
    ("gossip", "spec/gossip.pnyx", {"CRASHES": 1, "LOSSES": 2}),
    ("zab", "spec/zab.pnyx", {"TIMEOUTS": 0, "CRASHES": 2}),
]
SMOKE: list[tuple[str, str, dict[str, object]]] = [
    ("gossip", "spec/gossip.pnyx", {"WRITES": 1}),
    ("zab", "spec/zab.pnyx", {"N": 2, "TXNS": 1, "MAX_EPOCH": 1, "CRASHES": 0, "TIMEOUTS": 0}),
]


@dataclass
class Run:
    """One child process: what it reported and what it cost."""

    distinct: int | None
    cpu: float  # user + system seconds, its children included
    wall: float
    peak_rss: int  # bytes
    error: str | None = None
    exit_code: int = 0
    summary: dict | None = None  # Pnyx's JSON summary

    @property
    def rate(self) -> float:
        """Distinct states per CPU-second."""
        return (self.distinct or 0) / self.cpu if self.cpu > 0 else 0.0


def measured(cmd: list[str], cwd: Path, timeout: float) -> tuple[str, Run]:
    """Run a command to its end; its output and its CPU seconds and peak RSS (from wait4)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode(errors="replace")
    return text, Run(None, ru.ru_utime + ru.ru_stime, wall, ru.ru_maxrss * 1024, exit_code=proc.returncode)


def defines(constants: dict[str, object]) -> list[str]:
    return [x for k, v in constants.items() for x in ("-D", f"{k}={str(v).lower() if isinstance(v, bool) else v}")]


def table_line(cells: list[str], widths: list[int], left: set[int]) -> str:
    """One row of a printed table: the columns in `left` (labels) aligned left, the numbers right."""
    return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


def baseline_path(checkout: Path, into: Path) -> Path:
    """A folder to put first on sys.path so that `pnyx` imports from `checkout` (a copy of the
    repository's files, not installed): its pnyx/ with model/, checker/ and impl/ inside it."""
    pkg = into / "pnyx"
    shutil.copytree(checkout / "pnyx", pkg)
    for sub in ("model", "checker", "impl", "spec"):
        if (checkout / sub).is_dir():
            (pkg / sub).symlink_to((checkout / sub).resolve(), target_is_directory=True)
    return into


def run_pnyx(spec: str, constants: dict[str, object], workers: int, timeout: float, path: Path | None = None,
             extra: tuple[str, ...] = ()) -> Run:
    """`pnyx check --no-symmetry --json` in a child process (importing pnyx from `path` if given:
    the child runs there, and the current folder comes first on sys.path; the spec is then the
    older copy's own, if it has one, since the language may have changed since)."""
    file = path / "pnyx" / spec if path is not None and (path / "pnyx" / spec).is_file() else ROOT / spec
    cmd = [sys.executable, "-m", "pnyx", "check", str(file), "--no-symmetry", "--json", *defines(constants)]
    if workers != 1:
        cmd += ["--workers", str(workers)]
    text, run = measured([*cmd, *extra], path or ROOT, timeout)
    try:
        summary = json.loads(text[text.index("{"):])["summary"]
    except (ValueError, KeyError):
        run.error = (text.strip().splitlines() or ["no output"])[-1][:80]
        return run
    run.distinct = summary["distinct_states"]
    run.summary = summary
    if not summary["complete"] and "--max-states" not in extra:
        run.error = "incomplete"
    return run


def run_tlc(spec: str, constants: dict[str, object], jar: Path, timeout: float) -> Run:
    """TLC, one worker, on the exported module, in a child JVM."""
    from pnyx.checker.tla import tlc

    with tempfile.TemporaryDirectory(prefix="bench-speed-") as work:
        exp = subprocess.run([sys.executable, "-m", "pnyx", "export", "--tla", spec, "-o", work, *defines(constants)],
                             cwd=ROOT, capture_output=True, text=True)
        if exp.returncode != 0:
            return Run(None, 0.0, 0.0, 0, "export: " + (exp.stderr.strip().splitlines() or ["failed"])[-1][:70])
        module = next(Path(work).glob("*.tla"))
        meta = Path(work) / "meta"
        meta.mkdir()
        cmd = [tlc.java() or "java", *tlc.DEFAULT_JVM, f"-Djava.io.tmpdir={meta}", "-cp", str(jar), "tlc2.TLC",
               module.name, "-config", module.with_suffix(".cfg").name, "-workers", "1", "-metadir", str(meta / "states")]
        text, run = measured(cmd, Path(work), timeout)
    res = tlc.parse_tlc(module, text, run.wall)
    run.distinct = res.distinct
    if not res.completed:
        run.error = (res.error or "incomplete").splitlines()[0][:80]
    return run


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models, in seconds")
    ap.add_argument("--only", help="only the models whose label contains this text")
    ap.add_argument("--workers", type=int, default=1, help="Pnyx's --workers (default 1)")
    ap.add_argument("--no-tlc", action="store_true", help="Pnyx's columns only")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds one child may take (default 1800)")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="also time Pnyx from DIR, a copy of the repository from before (e.g. git archive)")
    args = ap.parse_args(argv)
    from pnyx.checker.tla import tlc

    jar = tlc.jar_path(ROOT)
    use_tlc = not args.no_tlc and jar.is_file() and tlc.java() is not None
    if not args.no_tlc and not use_tlc:
        print(f"bench_speed: TLC not available (no {jar} or no java): Pnyx only", file=sys.stderr)
    head = ["model", "constants", "distinct", "Pnyx CPU s", "Pnyx wall s", "Pnyx states/CPU-s", "Pnyx MB",
            "TLC CPU s", "TLC wall s", "TLC states/CPU-s", "TLC MB", "Pnyx/TLC", "agree"]
    widths = [7, 22, 10, 10, 11, 17, 7, 9, 10, 16, 6, 8, 5]

    def line(cells: list[str]) -> str:
        return table_line(cells, widths, {0, 1, len(head) - 1})

    print(line(head), flush=True)
    failed = False
    for label, spec, constants in SMOKE if args.smoke else MODELS:
        if args.only and args.only not in label:
            continue
        p = run_pnyx(spec, constants, args.workers, args.timeout)
        t = run_tlc(spec, constants, jar, args.timeout) if use_tlc else None
        agree = "-" if t is None else "yes" if p.distinct == t.distinct and p.error is None and t.error is None else "NO"
        if p.error or (t is not None and t.error) or agree == "NO":
            failed = True
        row = [label, " ".join(f"{k}={v}" for k, v in constants.items()) or "(defaults)",
               f"{p.distinct:,}" if p.distinct is not None else "-", f"{p.cpu:.1f}", f"{p.wall:.1f}", f"{p.rate:,.0f}",
               _mb(p.peak_rss)]
        if t is not None:
            row += [f"{t.cpu:.1f}", f"{t.wall:.1f}", f"{t.rate:,.0f}", _mb(t.peak_rss),
                    f"{p.rate / t.rate:.2f}" if t.rate else "-"]
            if t.distinct != p.distinct:
                row[-1] += f" (TLC {t.distinct:,})" if t.distinct is not None else ""
        else:
            row += ["-"] * 5
        row.append(agree)
        for r in (p, t):
            if r is not None and r.error:
                row[-1] += f" ({r.error})"
        print(line(row), flush=True)
        if args.baseline is not None:
            with tempfile.TemporaryDirectory(prefix="bench-speed-base-") as tmp:
                b = run_pnyx(spec, constants, 1, args.timeout, baseline_path(args.baseline, Path(tmp)))
            print(line(["", "(before)", f"{b.distinct:,}" if b.distinct is not None else "-", f"{b.cpu:.1f}",
                        f"{b.wall:.1f}", f"{b.rate:,.0f}", _mb(b.peak_rss), "", "", "", "",
                        f"x{p.rate / b.rate:.2f}" if b.rate else "-", "yes" if b.distinct == p.distinct else "NO"]),
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    from entry import run

    run(main)
