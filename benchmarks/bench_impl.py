"""Speed of the implementation: the ZAB key-value service and gossip dissemination.

    .venv/bin/python benchmarks/bench_impl.py                 # both tables, about a minute
    .venv/bin/python benchmarks/bench_impl.py --only zab --seconds 10 --clients 1,8,32
    .venv/bin/python benchmarks/bench_impl.py --only gossip --sizes 5,25,100 --seeds 5

ZAB: a 3-node cluster of real processes on loopback (spec/zab.pnyx, fsync on unless
--no-fsync). Each client is an asyncio connection to one server (round-robin over the three)
that creates znodes one after another; a write counts once the server that took it has
applied it (committed on a quorum, fsync'd by each). Writes/s over the measured window and
latency percentiles of every acknowledged write.

Gossip: one write at one node, then the time and the number of Push messages until every node
holds it: a real 5-node cluster (wall clock, UDP), and the deterministic simulation with the
same timer periods (virtual time) for 5, 25 and 100 nodes. The spec pushes a value to each
peer at most once and never back to a peer it heard it from, so a write costs at most
N * (N - 1) pushes; "quiet" is when the last node has no peer left to push to.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pnyx.impl.client import AsyncClient, ClientError, Unavailable, call  # noqa: E402
from pnyx.impl.cluster import start_cluster, stop_cluster  # noqa: E402
from pnyx.impl.config import Config, GossipConfig  # noqa: E402
from pnyx.impl.sim import Simulation  # noqa: E402
from pnyx.model.compiler import load  # noqa: E402
from pnyx.model.runtime import RandomChooser  # noqa: E402

ZAB = str(ROOT / "spec" / "zab.pnyx")
GOSSIP = str(ROOT / "spec" / "gossip.pnyx")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


# ---- ZAB ----------------------------------------------------------------------------
def wait_leader(meta, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            infos = [dict(call(c, "info", timeout=5)) for c in meta.clients]
        except Unavailable:
            infos = []
        if infos and all(x["phase"] == "BROADCAST" for x in infos) and sum(x["role"] == "LEADING" for x in infos) == 1:
            return
        time.sleep(0.1)
    raise RuntimeError("no leader")


async def zab_load(meta, clients: int, seconds: float, tag: str) -> tuple[int, list[float], int]:
    conns = [await AsyncClient(*meta.clients[i % len(meta.clients)]).connect() for i in range(clients)]
    lat: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(k: int, c: AsyncClient) -> None:
        nonlocal errors
        n = 0
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                await c.call("create", f"/{tag}-{k}-{n}", b"x" * 32, timeout=30)
                lat.append(time.perf_counter() - t0)
            except (ClientError, Unavailable):
                errors += 1
            n += 1

    await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))
    for c in conns:
        await c.close()
    return len(lat), lat, errors


def bench_zab(client_counts: list[int], seconds: float, fsync: bool) -> None:
    print(f"ZAB key-value service, 3 nodes on loopback, fsync {'on' if fsync else 'off'}, {seconds:g} s per row")
    print(f"{'clients':>8} {'writes':>8} {'writes/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "zab"
        meta = start_cluster(ZAB, 3, d, config=Config(fsync=fsync), timeout=60)
        try:
            wait_leader(meta)
            asyncio.run(zab_load(meta, 2, 1.0, "warm"))
            for k in client_counts:
                t0 = time.perf_counter()
                n, lat, errors = asyncio.run(zab_load(meta, k, seconds, f"c{k}"))
                el = time.perf_counter() - t0
                p50 = pct(lat, 50) * 1000 if lat else float("nan")
                p99 = pct(lat, 99) * 1000 if lat else float("nan")
                print(f"{k:>8} {n:>8} {n / el:>10.0f} {p50:>8.1f} {p99:>8.1f} {errors:>7}")
        finally:
            stop_cluster(d)


# ---- gossip -------------------------------------------------------------------------
def gossip_real(n: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "g"
        meta = start_cluster(GOSSIP, n, d, config=Config(gossip=GossipConfig(anti_entropy=0)), timeout=60)
        try:
            sent0 = sum(dict(call(c, "info"))["sent"] for c in meta.clients)
            t0 = time.perf_counter()
            call(meta.clients[0], "put", "k", "v")
            while not all(call(c, "get", "k") is not None for c in meta.clients):
                time.sleep(0.002)
            el = time.perf_counter() - t0
            sent = sum(dict(call(c, "info"))["sent"] for c in meta.clients) - sent0
            return el, sent
        finally:
            stop_cluster(d)


def gossip_sim(n: int, seed: int) -> tuple[float, int, float, int]:
    """(seconds to convergence, Pushes by then, seconds until gossip stops, Pushes in all)."""
    cs = load(GOSSIP, {"N": n, "WRITES": 10})
    sim = Simulation(cs, seed=seed, check_invariants=False)
    sim.request(0, "write", (1,))
    done = sim.run(600.0, stop=lambda s: all(s.var(i, "value") == 1 for i in range(n)))
    assert done, "gossip did not converge"
    t, msgs = sim.now, sim.stats.sent
    probe = RandomChooser(random.Random(0))  # asks only whether a timer is enabled: any choice will do
    sim.run(600.0, stop=lambda s: not s.net and all(
        not any(h.fn(i, s.nodes[i].state, probe) for h in cs.timers) for i in range(n)))
    return t, msgs, sim.now, sim.stats.sent


def bench_gossip(sizes: list[int], seeds: int, real: bool) -> None:
    period = Config().timer("gossip").period
    print(f"Gossip, one write, fanout 1, gossip period {period * 1000:.0f} ms")
    print(f"{'nodes':>6} {'where':>12} {'converged s':>12} {'msgs then':>10} {'quiet s':>8} {'msgs total':>11}")
    if real and 5 in sizes:
        el, sent = gossip_real(5)
        print(f"{5:>6} {'processes':>12} {el:>12.3f} {sent:>10} {'':>8} {'':>11}")
    for n in sizes:
        rows = [gossip_sim(n, s) for s in range(seeds)]
        med = [statistics.median(r[k] for r in rows) for k in range(4)]
        print(f"{n:>6} {'simulation':>12} {med[0]:>12.3f} {med[1]:>10.0f} {med[2]:>8.2f} {med[3]:>11.0f}")
    print(f"(simulation rows: median of {seeds} seeds; at most N*(N-1) = " + ", ".join(str(n * (n - 1)) for n in sizes) + ")")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=("zab", "gossip"))
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per ZAB row")
    p.add_argument("--clients", default="1,8,32", help="concurrent ZAB clients per row")
    p.add_argument("--no-fsync", action="store_true")
    p.add_argument("--sizes", default="5,25,100")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--no-real", action="store_true", help="gossip: simulation only")
    a = p.parse_args()
    if a.only in (None, "zab"):
        bench_zab([int(x) for x in a.clients.split(",")], a.seconds, not a.no_fsync)
        print()
    if a.only in (None, "gossip"):
        bench_gossip([int(x) for x in a.sizes.split(",")], a.seeds, not a.no_real)


if __name__ == "__main__":
    from entry import run

    run(main)
