"""kill -9 at scale: a ZAB cluster killed over and over under recorded client load, then judged.

Clients (threads, blocking connections to random servers) run a mix of operations on a few
registers (`/lin/kN`, whose data is the value) and an append-only directory (`/lin/log`):
- `set` of a value unique to the write; `create` of a child unique to the write;
- plain `get` at one server, and synced reads: `sync` then `get` on the same connection.
Every operation is recorded with its invocation and return times and its outcome: ok, failed
(the server refused it: it took no effect) or unknown (the connection broke or timed out after
the request left, or the server answered that the write was not committed in time: it may
still take effect). A killer meanwhile sends SIGKILL to a random server, the leader (found
by asking each server's `info`) first and then with probability `leader_share`, restarts it
after a short pause, and waits for a leader before the next kill.

Afterwards every server syncs and is read. The run fails on:
- servers that do not all serve one leader within `settle_timeout` after the last kill
  (`stuck` then holds what each says of itself and the end of its log);
- a lost write: an acknowledged create missing at a live server, or a register whose version
  (one per applied set) is below its acknowledged sets; a phantom: a child nobody created;
- a history that is not linearizable (checker/linearizability.py): the sets, the synced reads
  and the final reads. Plain reads are not promised linearizable (a follower may lag its leader,
  as ZooKeeper's may), so they are only checked to return a value someone wrote before they
  returned; whether they happen to be linearizable too is reported, not required.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnyx.checker.linearizability import Op, Verdict, check, write_history

from .client import NOT_COMMITTED, Client, ClientError, Unavailable, call
from .cluster import kill_node, log_tail, node_pid, start_cluster, start_node, stop_cluster, wait_ready
from .meta import ClusterMeta

ROOT = "/lin"
LOG = f"{ROOT}/log"
INITIAL = "init"
# a client's mix: weights of set, create, plain get, synced get
MIX = (("set", 4), ("create", 1), ("get", 2), ("sync-get", 3))


@dataclass
class ChaosConfig:
    kills: int = 100
    clients: int = 4
    keys: int = 3
    interval: float = 0.3  # mean seconds of load between the cluster's recovery and the next kill
    leader_share: float = 0.5  # the share of kills aimed at the leader
    recover_timeout: float = 30.0  # seconds to wait for a leader after a restart before killing again
    settle_timeout: float = 60.0  # seconds for all servers to serve one leader after the last kill
    op_timeout: float = 5.0  # a client's socket timeout: a write unanswered by then is unknown
    min_seconds: float = 0.0  # load runs at least this long (with kills=0: a baseline without faults)
    seed: int = 1


@dataclass
class ChaosReport:
    kills: int = 0
    leader_kills: int = 0
    no_leader: int = 0  # kills after which no leader was found within recover_timeout
    recovery: list[float] = field(default_factory=list)  # per leader kill: seconds until a leader again
    ops: int = 0
    acknowledged: int = 0  # ok writes (sets and creates)
    unknown: int = 0  # writes whose outcome is unknown
    failed: int = 0  # writes refused or never sent
    reads: int = 0  # ok reads, plain and synced
    lost: list[str] = field(default_factory=list)
    phantoms: list[str] = field(default_factory=list)
    bad_plain_reads: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    plain_reads_linearizable: bool | None = None
    stuck: str = ""  # the servers' state and logs when they did not all serve one leader after the last kill
    seconds: float = 0.0  # the whole run: start, load, final reads, stop
    load_seconds: float = 0.0  # the clients' load, kills included
    server_cpu: float = 0.0  # user + system seconds of every server process, killed ones included
    check_seconds: float = 0.0  # CPU seconds of the linearizability check of the history
    history: list[Op] = field(default_factory=list)  # what the linearizability check judged
    plain_reads: list[Op] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.stuck and not self.lost and not self.phantoms and not self.bad_plain_reads
                and self.verdict is not None and self.verdict.linearizable is True)


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a live process, from /proc (0 when it is gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def key_path(k: int) -> str:
    return f"{ROOT}/k{k}"


class LoadClient(threading.Thread):
    """One client: random operations at random servers until stopped, each recorded."""

    def __init__(self, cid: int, meta: ClusterMeta, cfg: ChaosConfig, clock: Any, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"chaos-client-{cid}")
        self.cid, self.meta, self.cfg, self.clock, self.stop_event = cid, meta, cfg, clock, stop
        self.rng = random.Random(cfg.seed * 1000 + cid)
        self.ops: list[Op] = []  # sets and synced reads: the register history
        self.plain: list[Op] = []  # plain reads
        self.creates: dict[str, str] = {}  # child name -> outcome
        self.conn: Client | None = None
        self.seq = 0

    def _connect(self) -> Client | None:
        """A connection to a random server, trying each in turn; None if none answers (nothing sent)."""
        if self.conn is not None:
            return self.conn
        servers = list(self.meta.clients)
        self.rng.shuffle(servers)
        for host, port in servers:
            with contextlib.suppress(Unavailable):
                self.conn = Client(host, port, timeout=self.cfg.op_timeout)
                return self.conn
        return None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def run(self) -> None:
        kinds, weights = zip(*MIX)
        while not self.stop_event.is_set():
            kind = self.rng.choices(kinds, weights)[0]
            if self._connect() is None:
                time.sleep(0.05)
                continue
            self.seq += 1
            if kind in ("set", "create"):
                self._write(kind)
            else:
                self._read(kind == "sync-get")
            if self.rng.random() < 0.05:
                self.close()  # move to another server now and then

    def _write(self, kind: str) -> None:
        assert self.conn is not None
        value = f"c{self.cid}-{self.seq}"
        key = key_path(self.rng.randrange(self.cfg.keys))
        t0 = self.clock()
        try:
            if kind == "set":
                self.conn.call("set", key, value.encode(), -1)
            else:
                self.conn.call("create", f"{LOG}/{value}", b"")
            outcome = "ok"
        except ClientError as exc:
            outcome = "unknown" if NOT_COMMITTED in str(exc) else "failed"
        except Unavailable:  # sent, then the connection broke or timed out: it may have taken effect
            outcome = "unknown"
            self.close()
        t1 = self.clock()
        if kind == "set":
            self.ops.append(Op(self.cid, "write", key, value, t0, t1 if outcome != "unknown" else None, outcome))
        else:
            self.creates[value] = outcome

    def _read(self, synced: bool) -> None:
        assert self.conn is not None
        key = key_path(self.rng.randrange(self.cfg.keys))
        t0 = self.clock()
        try:
            if synced:
                self.conn.call("sync")
            data = self.conn.call("get", key)[0]
        except ClientError:  # syncing, or a sync not committed in time: nothing observed
            return
        except Unavailable:
            self.close()
            return
        op = Op(self.cid, "read", key, data.decode(), t0, self.clock())
        (self.ops if synced else self.plain).append(op)


def _info(meta: ClusterMeta, i: int) -> dict[str, Any] | None:
    try:
        return dict(call(meta.clients[i], "info", timeout=2.0))
    except (Unavailable, ClientError):
        return None


def leader(meta: ClusterMeta) -> int | None:
    """The server that says it leads an established epoch, if exactly one does."""
    leading = [i for i in range(meta.nodes)
               if (x := _info(meta, i)) is not None and x.get("role") == "LEADING" and x.get("phase") == "BROADCAST"]
    return leading[0] if len(leading) == 1 else None


def all_serving(meta: ClusterMeta) -> bool:
    """One leader, and every server synchronized with it (answering reads)."""
    infos = [_info(meta, i) for i in range(meta.nodes)]
    return (all(x is not None and x.get("serving") for x in infos)
            and sum(x is not None and x.get("role") == "LEADING" for x in infos) == 1)


def describe(directory: Path, meta: ClusterMeta) -> str:
    """Each server's view of itself and the end of its log: why the cluster is stuck."""
    out = []
    for i in range(meta.nodes):
        x = _info(meta, i)
        view = "not answering" if x is None else ", ".join(
            f"{k} {x.get(k)}" for k in ("role", "phase", "leader", "epoch", "accepted_epoch", "serving", "commit", "log"))
        out.append(f"n{i + 1} (pid {node_pid(directory, i)}): {view}\n{log_tail(directory, i, 25)}")
    return "\n".join(out)


def _wait(pred: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def killer(directory: Path, meta: ClusterMeta, cfg: ChaosConfig, report: ChaosReport, rng: random.Random) -> None:
    """kill -9 a random server (the leader first, then in `leader_share` of the kills), restart it,
    wait for a leader; then let the load run on until `min_seconds` have passed."""
    end = time.monotonic() + cfg.min_seconds
    for n in range(cfg.kills):
        time.sleep(rng.uniform(0.5, 1.5) * cfg.interval)
        lead = leader(meta)
        if lead is not None and (n == 0 or rng.random() < cfg.leader_share):
            target = lead
        else:
            target = rng.choice([i for i in range(meta.nodes) if i != lead])
        killed_at = time.monotonic()
        report.server_cpu += process_cpu(node_pid(directory, target))
        kill_node(directory, target)
        report.kills += 1
        report.leader_kills += target == lead
        time.sleep(rng.uniform(0.0, cfg.interval))  # down a while: the others may elect meanwhile
        p = start_node(directory, target)
        wait_ready(directory, [target], {target: p}, timeout=60)
        if not _wait(lambda: leader(meta) is not None, cfg.recover_timeout):
            report.no_leader += 1
        elif target == lead:
            report.recovery.append(time.monotonic() - killed_at)
    time.sleep(max(0.0, end - time.monotonic()))


def final_reads(meta: ClusterMeta, cfg: ChaosConfig, clock: Any) -> tuple[list[Op], dict[int, dict[str, int]],
                                                                         dict[int, set[str]]]:
    """Each server, after a sync: every register (as synced reads for the history), its version,
    and the children of the append-only directory."""
    reads: list[Op] = []
    versions: dict[int, dict[str, int]] = {}
    children: dict[int, set[str]] = {}
    for i, (host, port) in enumerate(meta.clients):
        with Client(host, port, timeout=30) as c:
            versions[i] = {}
            for k in range(cfg.keys):
                t0 = clock()
                c.call("sync")
                data, version, _, _ = c.call("get", key_path(k))
                reads.append(Op(-1 - i, "read", key_path(k), data.decode(), t0, clock()))
                versions[i][key_path(k)] = version
            c.call("sync")
            children[i] = set(c.call("ls", LOG))
    return reads, versions, children


def check_plain_reads(plain: list[Op], writes: list[Op]) -> list[str]:
    """Plain reads that returned a value no write (ok or unknown) invoked before their return wrote."""
    first: dict[tuple[str, str], float] = {}
    for w in writes:
        if w.outcome != "failed":
            first[(w.key, w.value)] = min(first.get((w.key, w.value), float("inf")), w.invoke)
    return [r.describe() for r in plain
            if r.value != INITIAL and first.get((r.key, r.value), float("inf")) > (r.ret or 0)]


def run_chaos(directory: str | Path, cfg: ChaosConfig, spec: str, history_dir: str | Path | None = None) -> ChaosReport:
    """Start a 3-node ZAB cluster in `directory`, run the campaign, judge it, stop the cluster.

    With `history_dir`, the judged history (history.jsonl) and the plain reads
    (plain-reads.jsonl) are written there whatever the outcome, for a closer look."""
    d = Path(directory)
    report = ChaosReport()
    t_start = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - t_start

    meta = start_cluster(spec, 3, d, timeout=60)
    try:
        if not _wait(lambda: all_serving(meta), 60):
            raise RuntimeError("the cluster did not elect a leader within 60 s")
        with Client(*meta.clients[leader(meta) or 0], timeout=30) as c:
            c.call("create", ROOT, b"")
            c.call("create", LOG, b"")
            for k in range(cfg.keys):
                c.call("create", key_path(k), INITIAL.encode())
        stop = threading.Event()
        clients = [LoadClient(i, meta, cfg, clock, stop) for i in range(cfg.clients)]
        load_start = clock()
        for t in clients:
            t.start()
        try:
            killer(d, meta, cfg, report, random.Random(cfg.seed))
        finally:
            stop.set()
            for t in clients:
                t.join(timeout=cfg.op_timeout * 3)
                t.close()
        report.load_seconds = clock() - load_start
        finals: list[Op] = []
        versions: dict[int, dict[str, int]] = {}
        children: dict[int, set[str]] = {}
        if _wait(lambda: all_serving(meta), cfg.settle_timeout):
            finals, versions, children = final_reads(meta, cfg, clock)
        else:
            report.stuck = describe(d, meta)
        report.server_cpu += sum(process_cpu(node_pid(d, i)) for i in range(meta.nodes))
    finally:
        stop_cluster(d)
    report.seconds = clock()
    judge(report, [op for c in clients for op in c.ops], [op for c in clients for op in c.plain],
          {name: out for c in clients for name, out in c.creates.items()}, finals, versions, children, cfg.keys)
    if history_dir is not None:
        Path(history_dir).mkdir(parents=True, exist_ok=True)
        initial = {key_path(k): INITIAL for k in range(cfg.keys)}
        write_history(Path(history_dir) / "history.jsonl", report.history, initial)
        write_history(Path(history_dir) / "plain-reads.jsonl", report.plain_reads, initial)
    return report


def judge(report: ChaosReport, ops: list[Op], plain: list[Op], creates: dict[str, str], finals: list[Op],
          versions: dict[int, dict[str, int]], children: dict[int, set[str]], keys: int) -> None:
    """Count the outcomes and fill in the losses, the phantoms and the verdicts.

    `ops`: the clients' sets and synced reads; `plain`: their plain reads; `creates`: each
    child's outcome; `finals`, `versions`, `children`: what `final_reads` found at each server."""
    sets = [op for op in ops if op.kind == "write"]
    outcomes = [op.outcome for op in sets] + list(creates.values())
    report.ops = len(ops) + len(plain) + len(creates)
    report.acknowledged, report.unknown, report.failed = (outcomes.count(x) for x in ("ok", "unknown", "failed"))
    report.reads = len(ops) - len(sets) + len(plain)
    acked = {n for n, out in creates.items() if out == "ok"}
    possible = {n for n, out in creates.items() if out != "failed"}
    for i in sorted(children):
        report.lost += [f"n{i + 1} lacks the acknowledged create {LOG}/{n}" for n in sorted(acked - children[i])]
        report.phantoms += [f"n{i + 1} has {LOG}/{n}, which no client created" for n in sorted(children[i] - possible)]
        for k in range(keys):
            path = key_path(k)
            ok_sets = sum(op.key == path and op.outcome == "ok" for op in sets)
            if versions[i][path] < ok_sets:
                report.lost.append(f"n{i + 1}: {path} is at version {versions[i][path]} after {ok_sets} acknowledged sets")
    initial = {key_path(k): INITIAL for k in range(keys)}
    report.history = ops + finals
    report.plain_reads = plain
    c0 = time.process_time()
    report.verdict = check(report.history, initial)
    report.check_seconds = time.process_time() - c0
    report.bad_plain_reads = check_plain_reads(plain, sets)
    report.plain_reads_linearizable = check(report.history + plain, initial, max_states=200_000).linearizable
