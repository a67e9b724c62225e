"""SWIM failure detection for real: time to declare a killed member dead, false positives under loss.

    .venv/bin/python benchmarks/bench_members.py                    # 20 nodes, 3 kills, 4 loss rates
    .venv/bin/python benchmarks/bench_members.py --nodes 10 --kills 2 --losses 0,0.1 --seconds 15
    .venv/bin/python benchmarks/bench_members.py --smoke             # 4 nodes, one kill, one short loss row

Every node is a process running spec/members.pnyx's compiled handlers (the members service, UDP
on loopback), with the service's defaults: a probe tick every 0.1 s (T), K = 3 ping-req helpers,
a suspicion confirmed after SUSPICION = 20 ticks.

Detection: after a warm-up (nodes start one after another, so the first probes of a node not yet
up raise suspicions that are refuted), the cluster is left alone, then one node at a time is
killed with SIGKILL, and every live member's view is polled until each holds it Dead. Each
member's own record of when it changed that entry (the service's `members`) gives its
detection time, from the kill. The table sets them beside the model's expectation: with probes
in a random round-robin order, the first of the N - 1 live members to probe the dead one does so
after about T (N - 1) / N; its probe fails two ticks later (ping, ping-req, suspect); the
suspicion is confirmed SUSPICION + 1 ticks after that; the death then spreads by piggybacking,
an epidemic of about log2(N) more ticks (every node sends one probe a tick, and a ping and its
ack carry views both ways). For comparison, SWIM's paper, probing uniformly at random, expects
the first detection after T' / (1 - e^-1), about 1.58 protocol periods.

False positives: a cluster with a loss rate p (the transport drops that fraction of datagrams at
the sender), nobody killed; after the warm-up, counts over the measured window: probes started,
suspicions raised by a probe of a live member, and entries turned Dead (every one of them a
false positive; one false death counts once per member that heard it). SWIM's analysis gives the
probability that a probe of a live member fails (a false suspicion): the direct ping or its ack
is lost, 1 - (1 - p)^2, and each of the K indirect paths loses one of its four messages,
(1 - (1 - p)^4)^K, the product. A suspicion becomes a death only if the refutation does not
reach a member within the suspicion timeout; the paper gives no closed form for that, so the
table shows the measured count only.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pnyx.impl.client import ClientError, Unavailable, call  # noqa: E402
from pnyx.impl.cluster import kill_node, start_cluster, stop_cluster  # noqa: E402
from pnyx.impl.config import Config, MembersConfig  # noqa: E402
from pnyx.impl.meta import ClusterMeta  # noqa: E402

SPEC = str(ROOT / "spec" / "members.pnyx")


def now_us() -> int:
    return time.time_ns() // 1000


def view(meta: ClusterMeta, i: int) -> dict[int, tuple[int, str, int]] | None:
    """Node i's view, member index -> (incarnation, status, changed at), or None if it does not answer."""
    try:
        rows = call(meta.clients[i], "members", timeout=5)
    except (Unavailable, ClientError):
        return None
    return {m - 1: (inc, status, changed) for m, inc, status, changed in rows}


def info(meta: ClusterMeta, i: int) -> dict[str, Any]:
    return dict(call(meta.clients[i], "info", timeout=5))


def settle(meta: ClusterMeta, live: list[int], timeout: float) -> float:
    """Wait until every live member holds every live member Alive; the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        views = [view(meta, i) for i in live]
        if all(v is not None and all(v[m][1] == "Alive" for m in live) for v in views):
            return time.monotonic() - t0
        time.sleep(0.2)
    raise RuntimeError(f"the live members did not all see each other alive within {timeout:.0f} s")


def cluster_config(loss: float, constants: dict[str, int]) -> Config:
    return Config(fsync=False, loss=loss, members=MembersConfig(constants={**MembersConfig().constants, **constants}))


def expectation(n: int, tick: float, suspicion: int) -> tuple[float, float]:
    """The model's expected seconds to the first and to the last member's declaration (see the docstring)."""
    first = tick * ((n - 1) / n + 2 + suspicion + 1)
    return first, first + tick * math.log2(n)


def bench_detection(n: int, kills: int, seed: int, warmup: float, constants: dict[str, int]) -> None:
    cfg = cluster_config(0.0, constants)
    tick = cfg.timer("probe").period
    suspicion = cfg.members.constants["SUSPICION"]
    exp_first, exp_last = expectation(n, tick, suspicion)
    print(f"Detection of a kill -9: {n} nodes, probe tick {tick:g} s, K = {cfg.members.constants['K']}, "
          f"suspicion {suspicion} ticks ({suspicion * tick:g} s)")
    print(f"{'kill':>4} {'victim':>6} {'live':>5} {'first s':>8} {'median s':>9} {'last s':>7} "
          f"{'expected first':>15} {'expected last':>14}")
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "members"
        meta = start_cluster(SPEC, n, d, config=cfg, timeout=120)
        try:
            live = list(range(n))
            time.sleep(warmup)
            settle(meta, live, 60)
            firsts, lasts = [], []
            for k in range(1, kills + 1):
                victim = rng.choice(live)
                live.remove(victim)
                t_kill = now_us()
                kill_node(d, victim)
                when = detect(meta, live, victim, t_kill, timeout=60)
                secs = sorted(when)
                firsts.append(secs[0])
                lasts.append(secs[-1])
                print(f"{k:>4} {'n' + str(victim + 1):>6} {len(live):>5} {secs[0]:>8.2f} {statistics.median(secs):>9.2f} "
                      f"{secs[-1]:>7.2f} {exp_first:>15.2f} {exp_last:>14.2f}")
                exp_first, exp_last = expectation(len(live), tick, suspicion)
                time.sleep(1.0)
            print(f"mean over {kills} kill(s): first {statistics.mean(firsts):.2f} s, last {statistics.mean(lasts):.2f} s")
        finally:
            stop_cluster(d)


def detect(meta: ClusterMeta, live: list[int], victim: int, t_kill: int, timeout: float) -> list[float]:
    """Seconds from the kill to each live member's declaring the victim dead (polled until all have)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = [view(meta, i) for i in live]
        if all(v is not None and v[victim][1] == "Dead" for v in views):
            return [(v[victim][2] - t_kill) / 1e6 for v in views if v is not None]
        time.sleep(0.1)
    raise RuntimeError(f"n{victim + 1} was not declared dead by every live member within {timeout:.0f} s")


def false_suspicion(p: float, k: int) -> float:
    """SWIM's probability that a probe of a live member fails: direct and every indirect path lose a message."""
    return (1 - (1 - p) ** 2) * (1 - (1 - p) ** 4) ** k


def bench_false_positives(n: int, losses: list[float], seconds: float, warmup: float, constants: dict[str, int]) -> None:
    cfg0 = cluster_config(0.0, constants)
    k = min(cfg0.members.constants["K"], n - 2)  # helpers: members other than the prober and its target
    print(f"False positives under loss: {n} nodes, nobody killed, {seconds:g} s measured after {warmup:g} s of warm-up")
    print(f"{'loss':>5} {'probes':>7} {'suspicions':>11} {'per probe':>10} {'expected':>9} {'deaths':>7} "
          f"{'refutations':>12} {'dropped':>8}")
    for p in losses:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "members"
            meta = start_cluster(SPEC, n, d, config=cluster_config(p, constants), timeout=120)
            try:
                time.sleep(warmup)
                before = [info(meta, i) for i in range(n)]
                time.sleep(seconds)
                after = [info(meta, i) for i in range(n)]
            finally:
                stop_cluster(d)

        def delta(key: str, before: list[dict[str, Any]] = before, after: list[dict[str, Any]] = after) -> int:
            return sum(a[key] - b[key] for a, b in zip(after, before, strict=True))

        probes, sus = delta("probes"), delta("suspected")
        rate = sus / probes if probes else float("nan")
        print(f"{p:>5.2f} {probes:>7} {sus:>11} {rate:>10.4f} {false_suspicion(p, k):>9.4f} {delta('declared_dead'):>7} "
              f"{delta('refuted'):>12} {delta('dropped'):>8}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--losses", default="0,0.05,0.1,0.2", help="loss rates for the false-positive table")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per loss rate")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE",
                    help="a constant of the members service (K, SUSPICION, ...)")
    ap.add_argument("--smoke", action="store_true", help="4 nodes, one kill, one short loss row")
    args = ap.parse_args(argv)
    try:
        constants = {k: int(v) for k, v in (d.split("=", 1) for d in args.defines)}
        losses = [float(x) for x in args.losses.split(",") if x]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.smoke:
        args.nodes, args.kills, losses, args.seconds, args.warmup = 4, 1, [0.1], 2.0, 2.0
    if args.nodes < 3 or args.kills >= args.nodes - 1 or any(not 0 <= p < 1 for p in losses):
        print("error: need at least 3 nodes, fewer kills than nodes - 1, and loss rates in [0, 1)", file=sys.stderr)
        return 2
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    bench_detection(args.nodes, args.kills, args.seed, args.warmup, constants)
    print()
    bench_false_positives(args.nodes, losses, args.seconds, args.warmup, constants)
    return 0


if __name__ == "__main__":
    from entry import run

    run(main)
