"""kill -9 at scale: how a 3-server ZAB cluster fares when its servers are killed again and again.

    .venv/bin/python benchmarks/bench_kills.py                 # 100 kills, 4 clients (a few minutes)
    .venv/bin/python benchmarks/bench_kills.py --kills 300 --interval 0.2 --seed 7
    .venv/bin/python benchmarks/bench_kills.py --smoke --json  # 2 kills (the test suite runs it)

impl/chaos.py runs the campaign: clients set registers, create children and read (plainly and
after a sync) at random servers while a random server, the leader half of the time, is sent
SIGKILL and restarted; every operation is recorded. Afterwards every server syncs and is read:
lost counts acknowledged writes missing at a live server (must be 0), and the recorded history
of sets and synced reads is checked for linearizability (checker/linearizability.py). Plain
reads are served by possibly lagging followers, as in ZooKeeper: whether they happened to be
linearizable too is shown, not required.

rec p50 and rec max: seconds from a leader's kill until a server leads an established epoch again
(the killed server restarted meanwhile, after a pause of up to --interval).

The anchor row is the same load for a fixed time without kills, in the same run: the kill row's
ops/s is also given as a ratio of it. ops/s and s are over the load (kills included), not the cluster's
start and the final reads. CPU-s is the user + system time of this process (the clients and
the checker) and of every server process, killed ones included (read from /proc before a kill);
check CPU-s is the part spent checking the history's linearizability.
The exit status is 1 when a write was lost or the history is not linearizable; the histories
are then kept (their directory is printed) for a closer look.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from entry import run

from pnyx.impl.chaos import ChaosConfig, ChaosReport, run_chaos
from pnyx.model.errors import PnyxError

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "spec" / "zab.pnyx")


def cpu_seconds() -> float:
    """User + system CPU of this process so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def measure(cfg: ChaosConfig, history_dir: Path) -> tuple[ChaosReport, float]:
    with tempfile.TemporaryDirectory(prefix="bench-kills-") as tmp:
        c0 = cpu_seconds()
        report = run_chaos(Path(tmp) / "zab", cfg, SPEC, history_dir)
        return report, cpu_seconds() - c0 + report.server_cpu


def row(name: str, r: ChaosReport, cpu: float, anchor_rate: float | None) -> dict[str, Any]:
    rate = r.ops / r.load_seconds if r.load_seconds else 0.0
    lin = {True: "yes", False: "NO", None: "undecided"}
    return {"run": name, "kills": r.kills, "leader_kills": r.leader_kills, "ops": r.ops, "ops_per_s": round(rate, 1),
            "vs_anchor": round(rate / anchor_rate, 2) if anchor_rate else 1.0, "acknowledged": r.acknowledged,
            "unknown": r.unknown, "failed": r.failed, "lost": len(r.lost), "phantoms": len(r.phantoms),
            "linearizable": lin[r.verdict.linearizable if r.verdict else None],
            "plain_reads_linearizable": lin[r.plain_reads_linearizable],
            "recovery_p50": round(statistics.median(r.recovery), 2) if r.recovery else None,
            "recovery_max": round(max(r.recovery), 2) if r.recovery else None, "seconds": round(r.load_seconds, 1),
            "check_cpu_s": round(r.check_seconds, 2),
            "cpu_s": round(cpu, 1)}


COLUMNS = (("run", 10), ("kills", 6), ("leader", 7), ("ops", 7), ("ops/s", 7), ("ratio", 6), ("acked", 7),
           ("unknown", 8), ("failed", 7), ("lost", 5), ("linearizable", 13), ("plain reads", 12), ("rec p50", 8),
           ("rec max", 8), ("s", 6), ("check CPU-s", 12), ("CPU-s", 6))
KEYS = ("run", "kills", "leader_kills", "ops", "ops_per_s", "vs_anchor", "acknowledged", "unknown", "failed", "lost",
        "linearizable", "plain_reads_linearizable", "recovery_p50", "recovery_max", "seconds", "check_cpu_s",
        "cpu_s")


def print_table(rows: list[dict[str, Any]]) -> None:
    print("  ".join(f"{title:>{w}}" for title, w in COLUMNS))
    for r in rows:
        print("  ".join(f"{r[k]!s:>{w}}" for k, (_, w) in zip(KEYS, COLUMNS)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--interval", type=float, default=0.3, help="mean seconds of load between recovery and the next kill")
    ap.add_argument("--anchor-seconds", type=float, default=20.0, help="seconds of the same load without kills")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--history-dir", help="keep the recorded histories here (default: a temporary directory, "
                                          "kept only when a check fails)")
    ap.add_argument("--smoke", action="store_true", help="2 kills, a 1-second anchor")
    ap.add_argument("--json", action="store_true", help="the rows as JSON")
    args = ap.parse_args()
    if args.smoke:
        args.kills, args.anchor_seconds = 2, 1.0
    if args.kills < 1 or args.clients < 1 or args.keys < 1 or args.interval < 0 or args.anchor_seconds < 0:
        print("error: --kills, --clients and --keys must be at least 1; --interval and --anchor-seconds at least 0",
              file=sys.stderr)
        return 2
    keep = Path(args.history_dir) if args.history_dir else Path(tempfile.mkdtemp(prefix="kills-history-"))
    base = dict(clients=args.clients, keys=args.keys, interval=args.interval, seed=args.seed)
    try:
        anchor, anchor_cpu = measure(ChaosConfig(kills=0, min_seconds=args.anchor_seconds, **base), keep / "anchor")
        kills, kills_cpu = measure(ChaosConfig(kills=args.kills, **base), keep / "kills")
    except (PnyxError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    anchor_row = row("no kills", anchor, anchor_cpu, None)
    rows = [anchor_row, row("kill -9", kills, kills_cpu, anchor_row["ops_per_s"])]
    failed = [r for r in (anchor, kills) if not r.ok]
    if args.json:
        print(json.dumps({"rows": rows, "ok": not failed, "history_dir": str(keep) if failed else None}, indent=2))
    else:
        print_table(rows)
    for r in failed:
        lines = [f"stuck after the last kill:\n{r.stuck}"] if r.stuck else []
        lines += r.lost[:10] + r.phantoms[:10] + r.bad_plain_reads[:10]
        print("\n".join(lines + ([r.verdict.summary()] if r.verdict else [])), file=sys.stderr)
    if failed:
        print(f"histories kept in {keep}", file=sys.stderr)
        return 1
    if not args.history_dir:
        shutil.rmtree(keep, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run(main)
