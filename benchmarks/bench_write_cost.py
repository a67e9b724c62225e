"""What one ZAB write costs: CPU per write across the three servers, and how it grows with the history.

    .venv/bin/python benchmarks/bench_write_cost.py                      # both tables (a few minutes)
    .venv/bin/python benchmarks/bench_write_cost.py --baseline /tmp/old  # also an older tree: before/after in one run
    .venv/bin/python benchmarks/bench_write_cost.py --lengths 0,10000,100000,1000000 --only history
    .venv/bin/python benchmarks/bench_write_cost.py --only tree --baseline /tmp/old  # tree snapshots per write
    .venv/bin/python benchmarks/bench_write_cost.py --only election --baseline /tmp/old  # a re-election's steps
    .venv/bin/python benchmarks/bench_write_cost.py --only fsync         # what one fsync'd log append costs here
    .venv/bin/python benchmarks/bench_write_cost.py --smoke              # tiny, seconds (the test suite runs it)

(`--baseline DIR`: a tree of the repository's files, e.g. `git archive 704d856 | tar -x -C DIR`.)

Cluster table: a 3-server cluster of real processes on loopback (spec/zab.pnyx, fsync on),
sequential creates from one client, then 16 outstanding creates (16 connections, round-robin
over the servers), then sequential creates again on a cluster with fsync off: the gap to the
first row is what waiting for fsyncs costs a write. CPU per write is the three server
processes' CPU-seconds (user + system, from /proc) over the writes acknowledged in the window;
ops/s and latency percentiles are wall-clock, so they depend on the machine's load, CPU per
write much less.

Fsync table: the latency of one log append (`FileStorage.append`, what a save does: write,
then fdatasync) on this machine's disk, with fsync and without, in this process.

History table: per-write CPU as the history grows, without processes, sockets or fsync: the
three nodes' compiled handlers and storage (files, no fsync) run in one process, delivering
every message at once. The history is first set to L committed transactions on every node
(and saved as their snapshot), then W writes are made one after another, each to the leader
and delivered until the cluster is quiet; CPU per write is this process's CPU-seconds / W.
Writes enough to include the periodic snapshot rewrites in the average (`--writes`).

Tree table: what the ZAB service's snapshots of its znode tree (impl/zab_snapshot.py) cost per
write at a tree of N znodes (one parent, N children, 32-byte data), without processes: the CPU
of one `take` (records, encoding, file write without fsync; the thread's CPU included) and of
loading it back, times how often each server takes one, from the tree's own rule: one per
compaction (every RETAIN / 2 commits) in a tree without `snapshot_interval`, else its mean
interval (0.75 x max(RETAIN, snapshot_share x N): the factor drawn per snapshot is uniform in
[1/2, 1)). Between two snapshots a node's log keeps what the spec compacted (its rewrite waits
for a tree snapshot covering it), and a restart replays it: the last columns give the log kept at
most (the longest interval plus RETAIN), and what replaying it costs, from the per-transaction
cost of a node's log replay (a leader's log of `--replay` writes, its rewrites held back as a
deferred tree snapshot holds them, replayed by a fresh node) plus re-applying each transaction.

Election table: a re-election's CPU with L committed transactions retained (RETAIN = L): the
leader gives up its quorum, both followers time out and elect it again; each delivery's CPU is
added up by node and message, and the slowest single step is shown (a node busy with one step
longer than its peers' failure-detector timeout, 1 s, is taken for dead).

Each implementation runs in its own child process (importing Pnyx from that tree), one after
the other, so the "before" and "after" columns come from the same machine in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = "spec/zab.pnyx"


# ---- the measurements, run inside a child that imports the tree being measured -------------
def proc_cpu(pids: list[int]) -> float:
    """CPU-seconds (user + system) the processes have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def measure_cluster(spec: str, seconds: float, fsync: bool = True,
                    workloads: tuple[tuple[str, int], ...] = (("sequential", 1), ("16 outstanding", 16))) -> dict[str, Any]:
    """Creates on a 3-server cluster, per workload (name, clients): writes, ops/s, p50/p99 ms, CPU ms per write."""
    from pnyx.impl.client import AsyncClient, ClientError, Unavailable, call
    from pnyx.impl.cluster import start_cluster, stop_cluster
    from pnyx.impl.config import Config

    async def load(meta: Any, clients: int, tag: str) -> tuple[int, list[float]]:
        conns = [await AsyncClient(*meta.clients[i % len(meta.clients)]).connect() for i in range(clients)]
        lat: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def worker(k: int, c: Any) -> None:
            n = 0
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    await c.call("create", f"/{tag}-{k}-{n}", b"x" * 32, timeout=30)
                    lat.append(time.perf_counter() - t0)
                except (ClientError, Unavailable):
                    pass
                n += 1

        await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))
        for c in conns:
            await c.close()
        return len(lat), lat

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-write-") as tmp:
        d = Path(tmp) / "zab"
        meta = start_cluster(spec, 3, d, config=Config(fsync=fsync), timeout=60)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                infos = [dict(call(c, "info", timeout=5)) for c in meta.clients]
                if all(x["phase"] == "BROADCAST" for x in infos) and sum(x["role"] == "LEADING" for x in infos) == 1:
                    break
                time.sleep(0.1)
            pids = [int((d / f"n{i + 1}" / "ready").read_text()) for i in range(3)]
            asyncio.run(load(meta, 1, "warm"))
            for name, clients in workloads:
                c0, t0 = proc_cpu(pids), time.perf_counter()
                n, lat = asyncio.run(load(meta, clients, name[:3]))
                cpu, wall = proc_cpu(pids) - c0, time.perf_counter() - t0
                out[name] = {"writes": n, "ops": n / wall, "p50": pct(lat, 50) * 1000, "p99": pct(lat, 99) * 1000,
                             "cpu_ms": cpu / n * 1000 if n else float("nan")}
        finally:
            stop_cluster(d)
    return out


class _Net:
    """Every message of every node, delivered in order, at once (no sockets); then the prompt
    timers (period 0: ZAB's leader logging its proposals), as a host fires them after a flush."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, int, tuple]] = []
        self.nodes: list[Any] = []
        self.prompt: list[Any] = []  # the handlers of the spec's prompt timers

    def send(self, src: int, dst: int, msg: tuple) -> None:
        self.queue.append((src, dst, msg))

    def settle(self) -> None:
        while True:
            while self.queue:
                batch, self.queue = self.queue, []
                for src, dst, msg in batch:
                    self.nodes[dst].deliver(src, msg)
            if not any([rt.timer(h) is not None for rt in self.nodes for h in self.prompt]):
                return


class _First:
    """A chooser that always takes the first option: every follower elects node 1."""

    def pick(self, options: Any, site: int = 0) -> Any:
        return options[0]

    def subset(self, options: Any, size: int, site: int = 0) -> tuple:
        return tuple(options[:size])


def measure_history(spec: str, lengths: list[int], writes: int, budget: float, profile: bool = False) -> dict[str, Any]:
    """CPU ms per write (3 nodes in-process) after the history was set to each length."""
    from pnyx.impl.cluster import resolve_spec

    cs = resolve_spec(spec, 3, {}, "zab")[0]  # compiled as a cluster compiles it (unbounded TXNS...)
    out: dict[str, Any] = {}
    for length in lengths:
        with tempfile.TemporaryDirectory(prefix="bench-write-") as tmp:
            out[str(length)] = history_cost(cs, Path(tmp), length, writes, budget, profile)
    return out


def cluster_with_history(cs: Any, tmp: Path, length: int, net: _Net | None = None) -> tuple[_Net, Any]:
    """Three in-process nodes (files, no fsync), node 1 leading, every history set to `length`
    committed transactions and saved as their snapshot: (the network, the leader)."""
    from pnyx.impl.config import Config
    from pnyx.impl.node import NodeRuntime
    from pnyx.impl.storage import FileStorage

    slot = {v.name: v.slot for v in cs.vars}
    net = net if net is not None else _Net()
    net.prompt = [h for h in cs.timers if Config().timer(h.name).period == 0]  # (an older tree has none)
    net.nodes = [NodeRuntime(cs, i, FileStorage(tmp / f"n{i + 1}", fsync=False), net,
                             rng=random.Random(i), keep_ghost=False, chooser=_First()) for i in range(3)]
    for rt in net.nodes:
        rt.start()
    for i in (1, 2):
        net.nodes[i].timer(net.nodes[i].timer_handler("elect"))
    net.settle()
    leader = net.nodes[0]
    if leader.get("role") != 2 or leader.get("phase") != 3:
        raise RuntimeError(f"no leader in broadcast: role {leader.get('role')}, phase {leader.get('phase')}")
    epoch = leader.get("acceptedEpoch")
    history = tuple(((epoch, k + 1), (k, ("create", f"/h{k}", b"x" * 32))) for k in range(length))
    for rt in net.nodes:
        st = list(rt.state)
        st[slot["history"]], st[slot["commit"]] = history, length
        if rt is leader:
            st[slot["counter"]], st[slot["ackIdx"]] = length, (length,) * 3
        rt.state = tuple(st)
        rt._snapshot()  # as if the history had been logged: the next saves log what follows it
    return net, leader


def history_cost(cs: Any, tmp: Path, length: int, writes: int, budget: float, profile: bool) -> dict[str, Any]:
    net, leader = cluster_with_history(cs, tmp, length)

    def write(wid: int) -> None:
        if leader.request("write", ((wid, ("create", f"/w{wid}", b"x" * 32)),)) is None:
            raise RuntimeError("the leader refused a write")
        net.settle()

    for k in range(3):
        write(length + k)  # the first steps after the history was set may convert it once
    gc.collect()  # the set-up's millions of objects would otherwise be traversed once inside the measured writes
    c0, done = time.process_time(), 0
    while done < writes and (done < 3 or time.process_time() - c0 < budget):
        write(length + 3 + done)
        done += 1
    cpu = time.process_time() - c0
    if leader.get("commit") != length + 3 + done:
        raise RuntimeError(f"commit is {leader.get('commit')}, expected {length + 3 + done}")
    out: dict[str, Any] = {"writes": done, "cpu_ms": cpu / done * 1000}
    # A snapshot rewrites the whole state; the runtime takes one every `interval` saves, so its
    # share of a write is its CPU over that (before the interval grew with the state: 1,000).
    c1 = time.process_time()
    leader._snapshot()
    snap = time.process_time() - c1
    interval = max(leader.SNAPSHOT_EVERY, length) if hasattr(leader, "_snap_items") else leader.SNAPSHOT_EVERY
    out["snapshot_ms"], out["snapshot_share_ms"] = snap * 1000, 3 * snap * 1000 / interval
    if profile:  # as many writes again, under the profiler
        prof = cProfile.Profile()
        prof.enable()
        for k in range(done):
            write(length + 3 + done + k)
        prof.disable()
        out["parts"] = breakdown(prof, done)
    return out


def measure_tree(spec: str, sizes: list[int], replay: int) -> dict[str, Any]:
    """Tree snapshots' CPU per write at each tree size, and the log a deferred snapshot leaves to replay."""
    import pnyx.impl.zab_snapshot as snapshots
    from pnyx.impl.cluster import resolve_spec
    from pnyx.impl.config import ZabConfig
    from pnyx.impl.zab_tree import Replica

    retain = ZabConfig().constants["RETAIN"]
    share = getattr(ZabConfig(), "snapshot_share", None)
    interval_rule = getattr(snapshots, "snapshot_interval", None)
    per_txn = replay_cost(resolve_spec(spec, 3, {}, "zab")[0], replay) if replay else {}
    out: dict[str, Any] = {"retain": retain, "replay": per_txn, "sizes": {}}
    for n in sizes:
        r = Replica()
        r.apply(((0, 1, 0, 0), ("create", "/t", b"")), (1, 0))
        gc.collect()
        c0 = time.process_time()
        for k in range(n - 1):
            r.apply(((0, 1, k + 1, k + 1), ("create", f"/t/c{k}", b"x" * 32)), (1, k + 1))
        apply_us = (time.process_time() - c0) / max(1, n - 1) * 1e6
        with tempfile.TemporaryDirectory(prefix="bench-tree-") as tmp:
            c0 = time.process_time()
            asyncio.run(snapshots.take(Path(tmp), r, n, False))
            take = time.process_time() - c0
            files = snapshots.snapshot_files(Path(tmp))
            size = files[-1][1].stat().st_size
            c0 = time.process_time()
            snapshots.read_snapshot(files[-1][1])
            load = time.process_time() - c0
        if interval_rule is None:
            mean, longest = retain / 2, retain / 2  # one per compaction
        else:
            longest = interval_rule(retain, share, len(r.tree.nodes))
            mean = 0.75 * longest
        row = {"take_s": take, "load_s": load, "bytes": size, "interval": mean,
               "ms_per_write": 3 * take / mean * 1000, "log_kept": longest + retain, "apply_us": apply_us}
        if per_txn:
            row["replay_s"] = (longest + retain) * (per_txn["replay_us"] + apply_us) / 1e6
            row["log_mb"] = (longest + retain) * per_txn["log_bytes"] / 1e6
        out["sizes"][str(n)] = row
        del r
    return out


def replay_cost(cs: Any, writes: int) -> dict[str, float]:
    """Per committed transaction: the bytes a leader's log holds and the CPU a fresh node spends
    replaying it, with the log's rewrites held back (as a tree snapshot not yet taken holds them)."""
    from pnyx.impl.node import NodeRuntime
    from pnyx.impl.storage import FileStorage

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        net = _Net()
        net.nodes = [NodeRuntime(cs, i, FileStorage(Path(tmp) / f"n{i + 1}", fsync=False), net,
                                 rng=random.Random(i), keep_ghost=False, chooser=_First()) for i in range(3)]
        for rt in net.nodes:
            rt.start()
            rt.snapshot_gate = lambda st: False
        for i in (1, 2):
            net.nodes[i].timer(net.nodes[i].timer_handler("elect"))
        net.settle()
        leader = net.nodes[0]
        for k in range(writes):
            if leader.request("write", ((k, ("create", f"/r{k}", b"x" * 32)),)) is None:
                raise RuntimeError("the leader refused a write")
            net.settle()
        log_bytes = sum(p.stat().st_size for p in (Path(tmp) / "n1").glob("*.log"))
        gc.collect()
        c0 = time.process_time()
        NodeRuntime(cs, 0, FileStorage(Path(tmp) / "n1", fsync=False), _Net(), rng=random.Random(0),
                    keep_ghost=False).start()
        cpu = time.process_time() - c0
    return {"replay_us": cpu / writes * 1e6, "log_bytes": log_bytes / writes}


class _TimedNet(_Net):
    """A network that adds up the CPU of each delivery, by receiving node and message name."""

    def __init__(self, cs: Any) -> None:
        super().__init__()
        self.cs = cs
        self.cpu: dict[str, list[float]] = {}

    def settle(self) -> None:
        while self.queue:
            batch, self.queue = self.queue, []
            for src, dst, msg in batch:
                c0 = time.process_time()
                self.nodes[dst].deliver(src, msg)
                self.cpu.setdefault(f"n{dst + 1} {self.cs.messages[msg[0]].name}", []).append(time.process_time() - c0)


def measure_election(spec: str, retained: list[int]) -> dict[str, Any]:
    """A re-election's CPU, step by step, with L committed transactions retained (RETAIN = L, so
    no compaction): the leader gives up its quorum, both followers time out and elect it again."""
    from pnyx.impl.cluster import resolve_spec

    out: dict[str, Any] = {}
    for length in retained:
        cs = resolve_spec(spec, 3, {"RETAIN": max(1, length)}, "zab")[0]
        with tempfile.TemporaryDirectory(prefix="bench-elect-") as tmp:
            net = _TimedNet(cs)
            net, leader = cluster_with_history(cs, Path(tmp), length, net)
            net.cpu.clear()
            gc.collect()
            leader.timer(leader.timer_handler("leaderTimeout"))
            for i in (1, 2):
                net.nodes[i].timer(net.nodes[i].timer_handler("followerTimeout"))
            for i in (1, 2):
                net.nodes[i].timer(net.nodes[i].timer_handler("elect"))
            net.settle()
            if leader.get("phase") != 3 or any(rt.get("commit") != length for rt in net.nodes):
                raise RuntimeError(f"re-election at {length}: the leader is in phase {leader.get('phase')}")
        steps = {k: max(v) * 1000 for k, v in net.cpu.items()}
        slowest = max(steps, key=lambda k: steps[k])
        out[str(length)] = {"total_ms": sum(sum(v) for v in net.cpu.values()) * 1000, "slowest": slowest,
                            "slowest_ms": steps[slowest]}
    return out


# where a write's CPU goes, by the file of the function that spent it (first match wins)
PARTS = (("compiled handlers", "<pnyx-generated>"), ("handler helpers", "model/runtime.py"),
         ("runtime: step, save", "impl/node.py"), ("sequences", "impl/pseq.py"), ("encoding", "impl/wire.py"),
         ("storage", "impl/storage.py"), ("benchmark driver", "bench_write_cost.py"))


def breakdown(prof: cProfile.Profile, writes: int) -> dict[str, float]:
    """CPU ms per write of the profiled run, by part (built-ins count where they are called from)."""
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out = {name: 0.0 for name, _ in PARTS} | {"other": 0.0}

    def part(file: str) -> str:
        return next((name for name, key in PARTS if key in file), "other")

    for (file, _, _), (_, _, tottime, _, callers) in stats.items():
        if file == "~" and callers:  # a built-in (a system call, tuple concatenation...): its callers' part
            total = sum(c[2] for c in callers.values()) or 1.0
            for (cfile, _, _), c in callers.items():
                out[part(cfile)] += tottime * c[2] / total * 1000 / writes
        else:
            out[part(file)] += tottime * 1000 / writes
    return out


def child_main(args: argparse.Namespace) -> None:
    import pnyx.impl.node as node

    result: dict[str, Any] = {"impl": str(Path(node.__file__).resolve().parent)}
    spec = str(Path(args.tree) / SPEC)
    if args.only in (None, "cluster"):
        result["cluster"] = measure_cluster(spec, args.seconds)
        result["cluster"]["sequential, no fsync"] = measure_cluster(spec, args.seconds, fsync=False)["sequential"]
    if args.only in (None, "history"):
        result["history"] = measure_history(spec, [int(x) for x in args.lengths.split(",")], args.writes, args.budget,
                                            args.profile)
    if args.only == "election":
        result["election"] = measure_election(spec, [int(x) for x in args.retained.split(",")])
    if args.only == "tree":
        result["tree"] = measure_tree(spec, [int(x) for x in args.znodes.split(",")], args.replay)
    print("RESULT " + json.dumps(result))


def measure_fsync(appends: int) -> dict[str, dict[str, float]]:
    """Latency of one log append (write, then fdatasync when on), percentiles in ms, fsync on and off."""
    from pnyx.impl.storage import FileStorage

    out = {}
    for fsync in (True, False):
        with tempfile.TemporaryDirectory(prefix="bench-fsync-") as tmp:
            st = FileStorage(tmp, fsync=fsync)
            st.append("log", ("gen", 0))
            lat = []
            for i in range(appends):
                t0 = time.perf_counter()
                st.append("log", (("history", "append", (((1, i), (i, b"x" * 32)),)),))
                lat.append(time.perf_counter() - t0)
        out["on" if fsync else "off"] = {"appends": appends, "p50": pct(lat, 50) * 1000, "p90": pct(lat, 90) * 1000,
                                         "p99": pct(lat, 99) * 1000, "mean": sum(lat) / len(lat) * 1000,
                                         "over_1ms": sum(x > 0.001 for x in lat) / len(lat)}
    return out


# ---- the parent: one child per tree, then the tables ------------------------------------------
def importable_copy(tree: Path, into: Path) -> Path:
    """A folder to put first on PYTHONPATH so that `pnyx` (and the node processes a cluster starts)
    import from `tree`: a copy of its pnyx/ with model/, checker/ and impl/ copied inside it (copies,
    not links, so the cluster module finds the copy as its own root)."""
    pkg = into / "pnyx"
    shutil.copytree(tree / "pnyx", pkg)
    for sub in ("model", "checker", "impl"):
        shutil.copytree(tree / sub, pkg / sub)
    return into


def run_child(tree: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    env = dict(os.environ)
    path = importable_copy(tree, tmp / f"py-{len(list(tmp.iterdir()))}")
    env["PYTHONPATH"] = str(path)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--tree", str(tree), "--seconds", str(args.seconds),
           "--lengths", args.lengths, "--writes", str(args.writes), "--budget", str(args.budget),
           "--znodes", args.znodes, "--replay", str(args.replay), "--retained", args.retained]
    if args.profile:
        cmd.append("--profile")
    if args.only:
        cmd += ["--only", args.only]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=path)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            if not res["impl"].startswith(str(path)):
                raise SystemExit(f"the child measured {res['impl']}, not the copy of {tree}")
            return res
    raise SystemExit(f"measuring {tree} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def ratio(before: float | None, after: float) -> str:
    return f"{before / after:.1f}x" if before and after else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, metavar="DIR", help="also measure the tree in DIR (the 'before' column)")
    ap.add_argument("--only", choices=("cluster", "history", "tree", "election", "fsync"),
                    help="one table (default: cluster and history; tree, election and fsync only when asked)")
    ap.add_argument("--appends", type=int, default=2000, help="log appends timed per row of the fsync table")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per cluster row")
    ap.add_argument("--lengths", default="0,10000,100000,1000000", help="history lengths")
    ap.add_argument("--writes", type=int, default=1500, help="writes measured per history length (at most)")
    ap.add_argument("--budget", type=float, default=20.0, help="CPU seconds per history length, at most")
    ap.add_argument("--profile", action="store_true",
                    help="history table: also where each write's CPU goes, by part (under cProfile, so slower)")
    ap.add_argument("--znodes", default="10000,100000,1000000", help="tree table: tree sizes")
    ap.add_argument("--replay", type=int, default=5000, help="tree table: writes logged to measure a log's replay")
    ap.add_argument("--retained", default="10000,50000,100000", help="election table: retained log lengths")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: seconds")
    ap.add_argument("--json", action="store_true", help="the measurements as JSON")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tree", default=str(ROOT), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args)
        return 0
    if args.smoke:
        args.seconds, args.lengths, args.writes, args.budget, args.appends = 1.0, "0,200", 20, 5.0, 20
        args.znodes, args.replay, args.retained = "300,3000", 50, "100,1000"
    if args.baseline is not None and not (args.baseline / SPEC).is_file():
        print(f"--baseline {args.baseline}: no {SPEC} there (expected a tree of the repository's files)", file=sys.stderr)
        return 2
    trees = [("after", ROOT)] + ([("before", args.baseline.resolve())] if args.baseline is not None else [])
    fsync = measure_fsync(args.appends) if args.only in (None, "fsync") else None
    results: dict[str, Any] = {}
    if args.only != "fsync":
        with tempfile.TemporaryDirectory(prefix="bench-write-") as tmp:
            results = {name: run_child(tree, args, Path(tmp)) for name, tree in trees}
    if args.json:
        print(json.dumps({**results, "fsync": fsync} if fsync else results, indent=1))
        return 0
    if fsync:
        print(f"One log append (write + fdatasync) on this disk, {args.appends} appends per row, ms")
        print(f"{'fsync':>6} {'p50':>7} {'p90':>7} {'p99':>7} {'mean':>7} {'> 1 ms':>7}")
        for k, r in fsync.items():
            print(f"{k:>6} {r['p50']:>7.3f} {r['p90']:>7.3f} {r['p99']:>7.3f} {r['mean']:>7.3f} {r['over_1ms']:>6.1%}")
        print()
    if not results:
        return 0
    before = results.get("before")
    after = results["after"]
    if "cluster" in after:
        print(f"ZAB cluster, 3 servers on loopback, fsync on (but the last row), {args.seconds:g} s per row; "
              "CPU per write = the servers' CPU / writes")
        print(f"{'workload':>20} {'tree':>7} {'writes':>7} {'ops/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/write':>13}")
        for w in after["cluster"]:
            for name, res in results.items():
                r = res["cluster"][w]
                print(f"{w:>20} {name:>7} {r['writes']:>7} {r['ops']:>7.0f} {r['p50']:>7.1f} {r['p99']:>7.1f} "
                      f"{r['cpu_ms']:>13.2f}")
            if before:
                b, a = before["cluster"][w], after["cluster"][w]
                print(f"{'':>20} {'ratio':>7} {'':>7} {a['ops'] / b['ops']:>6.2f}x {'':>7} {'':>7} "
                      f"{ratio(b['cpu_ms'], a['cpu_ms']):>13}  (before/after CPU)")
        print()
    if "history" in after:
        print("CPU per write as the history grows: 3 nodes' handlers and storage in one process (no fsync, no sockets)")
        print("(ms per write; + snapshot: the share of the periodic snapshot rewrite, its CPU over the saves between two)")
        print(f"{'history':>9} " + " ".join(f"{name + ' ms':>10} {'writes':>6} {'+ snapshot':>10}" for name in results)
              + (f" {'before/after':>12}" if before else ""))
        for length in after["history"]:
            cells = [results[name]["history"][length] for name in results]
            row = f"{int(length):>9,} " + " ".join(f"{c['cpu_ms']:>10.3f} {c['writes']:>6} {c['snapshot_share_ms']:>10.3f}"
                                                   for c in cells)
            if before:
                b, a = (c["cpu_ms"] + c["snapshot_share_ms"] for c in (cells[1], cells[0]))
                row += f" {ratio(b, a):>12}"
            print(row)
        if args.profile:
            print("\nWhere it goes, ms per write under cProfile (its overhead inflates every part):")
            parts = [name for name, _ in PARTS] + ["other"]
            print(f"{'history':>9} {'tree':>7} " + " ".join(f"{p[:12]:>12}" for p in parts))
            for length in after["history"]:
                for name, res in results.items():
                    got = res["history"][length]["parts"]
                    print(f"{int(length):>9,} {name:>7} " + " ".join(f"{got[p]:>12.3f}" for p in parts))
    if "tree" in after:
        print_tree(results)
    if "election" in after:
        print("Re-election with L committed transactions retained: CPU of every message the three nodes handle, and the")
        print("slowest single step (what a peer's failure detector waits through); 3 nodes in one process, no fsync")
        print(f"{'retained':>9} {'tree':>7} {'total ms':>9} {'slowest step ms':>16}  step")
        for length in after["election"]:
            for name, res in results.items():
                r = res["election"][length]
                print(f"{int(length):>9,} {name:>7} {r['total_ms']:>9.1f} {r['slowest_ms']:>16.1f}  {r['slowest']}")
            if before:
                b, a = before["election"][length], after["election"][length]
                print(f"{'':>9} {'ratio':>7} {ratio(b['total_ms'], a['total_ms']):>9} "
                      f"{ratio(b['slowest_ms'], a['slowest_ms']):>16}")
    return 0


def print_tree(results: dict[str, Any]) -> None:
    after = results["after"]["tree"]
    print(f"Tree snapshots: CPU per write of the three servers' snapshots of an N-znode tree (RETAIN {after['retain']:,})")
    for name, res in results.items():
        rp = res["tree"]["replay"]
        if rp:
            print(f"  {name}: a node's log replay {rp['replay_us']:.1f} CPU-us and {rp['log_bytes']:.0f} bytes "
                  f"per logged transaction")
    print(f"{'znodes':>9} {'tree':>7} {'take s':>7} {'load s':>7} {'MB':>6} {'txns between':>12} "
          f"{'ms/write':>9} {'log kept':>9} {'log MB':>7} {'replay s':>8}")
    for n in after["sizes"]:
        for name, res in results.items():
            r = res["tree"]["sizes"][n]
            print(f"{int(n):>9,} {name:>7} {r['take_s']:>7.2f} {r['load_s']:>7.2f} {r['bytes'] / 1e6:>6.1f} "
                  f"{r['interval']:>12,.0f} {r['ms_per_write']:>9.4f} {r['log_kept']:>9,.0f} "
                  f"{r.get('log_mb', float('nan')):>7.1f} {r.get('replay_s', float('nan')):>8.2f}")
        if "before" in results:
            b, a = results["before"]["tree"]["sizes"][n], after["sizes"][n]
            print(f"{'':>9} {'ratio':>7} {'':>7} {'':>7} {'':>6} {'':>12} {ratio(b['ms_per_write'], a['ms_per_write']):>9}"
                  "  (before/after ms/write)")


if __name__ == "__main__":
    from entry import run

    run(main)
