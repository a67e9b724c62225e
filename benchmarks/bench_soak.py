"""A soak of the ZAB service: many writes on three servers, the leader killed every K of them.

    .venv/bin/python benchmarks/bench_soak.py --writes 50000 --kill-every 10000 --window 10000
    .venv/bin/python benchmarks/bench_soak.py --writes 1000000 --kill-every 100000 --window 100000
    .venv/bin/python benchmarks/bench_soak.py --smoke          # tiny: the test's run

`spec/zab.pnyx` on three nodes on loopback (as `pnyx cluster start`, fsync on). The writes go
to a follower in windows of `--window`: most with 16 outstanding (ops/s, CPU per write: user
+ system CPU of the three server processes over the window), then `--samples` one after another
(p50 and p99 latency). After every `--kill-every` writes the leader is killed with SIGKILL and
a probe client creates a znode until one is acknowledged: recovery is the time from the kill
to that acknowledgement, shown beside the log length at the kill (how recovery grows with the
history is what this measures). The killed server is restarted before the next window. At the
end each server syncs and lists every window's directory: each acknowledged write must be on
every server (lost writes are counted; any makes the exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_zk and bench_impl beside this script
from bench_impl import pct
from bench_zk import DATA, NoQuorum, Pnyx, _ensure

from pnyx.impl.client import AsyncClient, Client, ClientError, Unavailable
from pnyx.impl.config import ConfigError, load_config

OUTSTANDING = 16


def pipelined_creates(cl: Pnyx, server: int, parent: str, names: list[str]) -> set[str]:
    """Create parent/name for each name with OUTSTANDING calls in flight; the names acknowledged."""
    with Client(*cl.addrs[server]) as c:
        _ensure(c, parent)

    async def run() -> set[str]:
        c = await AsyncClient(*cl.addrs[server]).connect()
        todo = iter(names)
        acked: set[str] = set()

        async def worker() -> None:
            for name in todo:
                with contextlib.suppress(ClientError, Unavailable):
                    await c.call("create", f"{parent}/{name}", DATA, timeout=30)
                    acked.add(name)

        await asyncio.gather(*(worker() for _ in range(OUTSTANDING)))
        await c.close()
        return acked

    return asyncio.run(run())


def one_window(cl: Pnyx, w: int, size: int, samples: int) -> dict[str, Any]:
    """`size` writes into /soak{w}: pipelined, then `samples` one after another for latencies."""
    _, follower = cl.wait_quorum()
    parent = f"/soak{w}"
    piped = [f"a{k}" for k in range(size - samples)]
    cpu0, t0 = cl.cpu(), time.perf_counter()
    acked = pipelined_creates(cl, follower, parent, piped)
    lat = cl.seq_creates(follower, parent, samples) if samples else []
    elapsed, cpu = time.perf_counter() - t0, cl.cpu() - cpu0
    acked |= {f"s{k}" for k in range(len(lat))}
    return {"window": w, "writes": size, "acked": sorted(acked), "ops": size / elapsed, "cpu_per_write": cpu / size,
            "p50": pct(lat, 50) if lat else None, "p99": pct(lat, 99) if lat else None}


def leader_kill(cl: Pnyx, k: int) -> dict[str, Any]:
    """Kill the leader; the time until a fresh write is acknowledged; restart it."""
    leader, _ = cl.wait_quorum()
    log = cl.log_length()
    probe = cl.writer()
    t_kill = time.perf_counter()
    cl.kill(leader)
    try:
        probe(f"/probe/k{k}")
        recovery: float | None = time.perf_counter() - t_kill
        stall = None
    except Exception as exc:  # noqa: BLE001 - a cluster that never recovers is a result, reported
        recovery, stall = None, f"{type(exc).__name__}: {exc}"
    cl.close_writers()
    cl.restart(leader)
    return {"kill": k, "log": log, "recovery": recovery, "stall": stall}


def soak(cl: Pnyx, writes: int, window: int, kill_every: int, samples: int) -> dict[str, Any]:
    windows, kills = [], []
    acked: dict[str, list[str]] = {}
    written = 0
    with Client(*cl.addrs[cl.wait_quorum()[1]]) as c:
        _ensure(c, "/probe")
    while written < writes:
        size = min(window, writes - written)
        res = one_window(cl, len(windows), size, min(samples, size))
        acked[f"/soak{res['window']}"] = res.pop("acked")
        windows.append(res)
        before, written = written, written + size
        if written < writes and written // kill_every > before // kill_every:
            kills.append(leader_kill(cl, len(kills)))
    lost = 0
    for i in range(3):
        for parent, names in acked.items():
            lost += len(set(names) - listing(cl, i, parent))
    return {"windows": windows, "kills": kills, "acked": sum(len(v) for v in acked.values()), "lost": lost,
            "log": cl.log_length()}


def listing(cl: Pnyx, server: int, parent: str, attempts: int = 5) -> set[str]:
    """The children of `parent` at `server` after a sync there, retried through elections."""
    for k in range(attempts):
        cl.wait_quorum()
        try:
            return cl.listing(server, parent)
        except (ClientError, Unavailable):
            if k == attempts - 1:
                raise
    raise AssertionError("unreachable")


def print_table(res: dict[str, Any]) -> None:
    print(f"{'window':>6} {'writes':>8} {'ops/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/write':>12}")
    for w in res["windows"]:
        p50 = "-" if w["p50"] is None else f"{w['p50'] * 1000:.1f}"
        p99 = "-" if w["p99"] is None else f"{w['p99'] * 1000:.1f}"
        print(f"{w['window'] + 1:>6} {w['writes']:>8} {w['ops']:>8.0f} {p50:>7} {p99:>7} {w['cpu_per_write'] * 1000:>12.2f}")
    print(f"{'kill':>6} {'log at kill':>12} {'recovery ms':>12}")
    for k in res["kills"]:
        rec = "-" if k["recovery"] is None else f"{k['recovery'] * 1000:.0f}"
        print(f"{k['kill'] + 1:>6} {k['log'] if k['log'] is not None else '-':>12} {rec:>12}"
              + (f"  no write acknowledged: {k['stall']}" if k["stall"] else ""))
    print(f"acknowledged writes: {res['acked']}, lost: {res['lost']}, log length at the end: {res['log']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--writes", type=int, default=50_000, help="writes in all")
    p.add_argument("--window", type=int, default=10_000, help="writes per measured window")
    p.add_argument("--kill-every", type=int, default=10_000, help="writes between leader kills")
    p.add_argument("--samples", type=int, default=200, help="writes one after another per window (latencies)")
    p.add_argument("--smoke", action="store_true", help="tiny counts: 120 writes, two kills")
    p.add_argument("--json", action="store_true", help="the results as JSON on stdout instead of the table")
    p.add_argument("--pnyx-config", metavar="TOML", help="the nodes' configuration (timers, constants; docs/impl.md)")
    p.add_argument("--dir", help="keep the servers' directories (logs, data) here instead of a temporary directory")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    if a.smoke:
        a.writes, a.window, a.kill_every, a.samples = 120, 40, 40, 10
    if min(a.writes, a.window, a.kill_every) < 1 or a.samples < 0:
        print("bench_soak: --writes, --window and --kill-every must be at least 1, --samples at least 0", file=sys.stderr)
        return 2
    try:
        config = load_config(a.pnyx_config)
    except ConfigError as exc:
        print(f"bench_soak: {exc}", file=sys.stderr)
        return 2
    if a.dir and Path(a.dir).exists() and any(Path(a.dir).iterdir()):
        print(f"bench_soak: --dir {a.dir}: not empty", file=sys.stderr)
        return 2
    with contextlib.nullcontext(a.dir) if a.dir else tempfile.TemporaryDirectory(prefix="bench_soak") as tmp:
        cl = Pnyx(Path(tmp), config)
        try:
            cl.start()
            res = soak(cl, a.writes, a.window, a.kill_every, a.samples)
        except (NoQuorum, ClientError, Unavailable) as exc:
            print(f"bench_soak: the cluster did not answer: {exc}", file=sys.stderr)
            return 1
        finally:
            cl.stop()
    res["settings"] = {"writes": a.writes, "window": a.window, "kill_every": a.kill_every, "samples": a.samples,
                       "outstanding": OUTSTANDING, "servers": 3, "fsync": config.fsync}
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"3 servers on loopback, fsync {'on' if config.fsync else 'off'}; {a.writes} writes, "
              f"a leader kill every {a.kill_every}")
        print_table(res)
    if res["lost"]:
        print(f"bench_soak: {res['lost']} acknowledged write(s) missing on some server", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from entry import run

    run(main)
