"""Operating the ZAB service as one operates ZooKeeper: a retried write applied once through a
leader change (the simulation), and on a real 3-server cluster `pnyx kv` parity with
ZooKeeper's CLI (sequential nodes, its error words, JSON), the bounded table of applied
writes under constant re-submission, `cluster status` with the leader's followers, and a
restarted follower that refuses reads ("syncing") until it has resynchronized."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, eventually, run_cli
from test_impl_zab_sim import RUNTIME, leader, stable

from pnyx.cli import main
from pnyx.impl.client import Client, ClientError, call
from pnyx.impl.cluster import kill_node, start_cluster, start_node, stop_cluster, wait_ready
from pnyx.impl.config import Config, TimerConfig, ZabConfig
from pnyx.impl.meta import ClusterMeta
from pnyx.impl.node import NodeRuntime
from pnyx.impl.sim import Simulation
from pnyx.impl.storage import FileStorage, MemoryStorage
from pnyx.impl.zab_service import ZabService
from pnyx.impl.zab_snapshot import frames, snapshot_files, take
from pnyx.impl.zab_tree import Replica, fresh_incarnation
from pnyx.model.compiler import load

ZAB = str(ROOT / "spec" / "zab.pnyx")


# ---- the simulation: a write submitted again after a leader change ---------------------------
def committed_replica(sim: Simulation, node: int) -> tuple[Replica, list]:
    """What the service computes at `node`: its committed history applied in order."""
    r = Replica()
    history = sim.var(node, "history")[: sim.var(node, "commit")]
    return r, [r.apply(v, z)[1] for z, v in history]


def test_a_write_resubmitted_through_a_leader_change_is_applied_once_everywhere() -> None:
    cs = load(ZAB, RUNTIME)
    sim = Simulation(cs, seed=5)
    assert sim.run(20.0, stop=stable)
    first = leader(sim)
    assert first is not None
    follower = (first + 1) % 3
    create = ((follower, 1, 1, 1), ("create", "/c", b""))
    bump = ((follower, 1, 2, 1), ("set", "/c", b"x", -1))  # any version: a second application would show
    assert sim.request(follower, "write", (create,)) is not None
    assert sim.request(follower, "write", (bump,)) is not None
    assert sim.run(sim.now + 5, stop=lambda s: all(s.var(i, "commit") == 2 for i in range(3)))
    # the answer did not reach the follower's client in time: it submits the same write again,
    # after the leader died, to the next leader
    sim.crash(first)
    assert sim.run(sim.now + 30, stop=lambda s: leader(s) not in (None, first) and stable(s))
    assert sim.request(follower, "write", (bump,)) is not None
    sim.restart(first)
    assert sim.run(sim.now + 30, stop=lambda s: stable(s) and all(s.var(i, "commit") == 3 for i in range(3)))
    outcomes = []
    for i in range(3):
        values = [v for _, v in sim.var(i, "history")]
        assert values == [create, bump, bump]  # the copy is in every log ...
        r, out = committed_replica(sim, i)
        assert r.tree.nodes["/c"].version == 1  # ... and applied once
        outcomes.append(out)
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0][1] == outcomes[0][2] and outcomes[0][1][0] is True  # the copy gets the first answer


# ---- a real cluster ------------------------------------------------------------------------------
def _cfg() -> Config:
    """Writes submitted again every 0.1 ms (many copies of each in the log); the random election
    with elections at least 0.5 s apart, so a restarted follower stays unsynchronized long enough
    to be asked (under FLE it rejoins its leader within milliseconds of starting)."""
    cfg = Config(fsync=False, zab=ZabConfig(resubmit=0.0001, election="random"))
    cfg.timers["elect"] = TimerConfig(period=1.0, jitter=0.5)
    return cfg


def _info(meta: ClusterMeta, i: int) -> dict:
    return dict(call(meta.clients[i], "info", timeout=5))


def _leader(meta: ClusterMeta) -> int | None:
    infos = [_info(meta, i) for i in range(3)]
    leaders = [i for i, x in enumerate(infos) if x["role"] == "LEADING" and x["phase"] == "BROADCAST"]
    if len(leaders) == 1 and all(x["serving"] for x in infos):
        return leaders[0]
    return None


@pytest.fixture(scope="module")
def zab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ClusterMeta, list[str]]]:
    d = tmp_path_factory.mktemp("zabops") / "c"
    meta = start_cluster(ZAB, 3, d, config=_cfg(), timeout=60)
    try:
        assert eventually(lambda: _leader(meta) is not None, 60), "no leader elected"
        yield d, meta, ["{}:{}".format(*c) for c in meta.clients]
    finally:
        stop_cluster(d)


@pytest.fixture
def kv(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """`pnyx kv --server SERVER ARGS...` in this process: (exit status, stdout, stderr)."""
    def run(server: str, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main(["kv", "--server", server, *args])
        except SystemExit as exc:  # argparse refusing the arguments
            rc = int(exc.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err
    return run


def test_kv_speaks_zookeepers_cli(zab: tuple[Path, ClusterMeta, list[str]], kv: Callable[..., tuple[int, str, str]]) -> None:
    _, _, s = zab
    assert kv(s[0], "create", "/app") == (0, "Created /app\n", "")  # data is optional
    assert kv(s[1], "create", "-s", "/app/job-", "a") == (0, "Created /app/job-0000000000\n", "")
    assert kv(s[2], "create", "/app/plain", "p")[0] == 0
    assert kv(s[0], "create", "--sequential", "/app/job-", "b") == (0, "Created /app/job-0000000002\n", "")
    rc, out, _ = kv(s[1], "--json", "create", "-s", "/app/", "c")
    assert rc == 0 and json.loads(out)["path"] == "/app/0000000003"
    assert kv(s[2], "sync")[0] == 0
    assert kv(s[2], "ls", "/app") == (0, "0000000003\njob-0000000000\njob-0000000002\nplain\n", "")
    assert kv(s[2], "create", "/app/plain/leaf")[0] == 0
    assert kv(s[2], "ls", "-R", "/app") == (0, "/app\n/app/0000000003\n/app/job-0000000000\n/app/job-0000000002\n"
                                                "/app/plain\n/app/plain/leaf\n", "")
    rc, out, _ = kv(s[2], "--json", "ls", "-R", "/")
    assert rc == 0 and json.loads(out)["paths"][:3] == ["/", "/app", "/app/0000000003"]
    assert kv(s[2], "delete", "/app/plain/leaf")[0] == 0
    # ZooKeeper's words for its four refusals, exit 1
    assert kv(s[0], "create", "/app") == (1, "", "error: Node already exists: /app\n")
    assert kv(s[1], "create", "/none/x") == (1, "", "error: Node does not exist: /none/x (no parent /none)\n")
    assert kv(s[2], "set", "/app/plain", "q", "-v", "3") == (1, "", "error: Bad version: /app/plain is at version 0, not 3\n")
    assert kv(s[0], "delete", "/app") == (1, "", "error: Node not empty: /app (it has 4 children; delete them first)\n")
    assert kv(s[1], "get", "/ghost") == (1, "", "error: Node does not exist: /ghost\n")
    assert kv(s[1], "set", "/app/plain", "q", "-v", "0")[0] == 0
    bad = "error: Bad version: /app/plain is at version 1, not 0\n"
    assert kv(s[2], "delete", "/app/plain", "--version", "0") == (1, "", bad)
    assert kv(s[2], "delete", "/app/plain", "-v", "1")[0] == 0
    assert kv(s[0], "sync")[0] == 0
    assert kv(s[0], "exists", "/app/plain") == (1, "no\n", "")
    assert kv(s[0], "exists", "/app") == (0, "yes\n", "")
    # machine-readable answers and errors
    rc, out, _ = kv(s[1], "--json", "get", "/app/job-0000000000")
    assert rc == 0 and {k: v for k, v in json.loads(out).items() if k not in ("czxid", "mzxid")} == \
        {"path": "/app/job-0000000000", "data": "a", "version": 0}
    rc, out, err = kv(s[1], "--json", "delete", "/app")
    assert rc == 1 and err == "" and json.loads(out) == {"error": "Node not empty: /app (it has 3 children; delete them first)"}
    rc, out, _ = kv(s[0], "--json", "exists", "/nothing")
    assert rc == 1 and json.loads(out) == {"path": "/nothing", "exists": False}
    # bad arguments: exit 2, no traceback
    for args in (("create", "app"), ("set", "/app", "x", "-v", "x"), ("create", "-s")):
        rc, _, err = kv(s[0], *args)
        assert rc == 2 and "Traceback" not in err, (args, err)


def test_writes_submitted_many_times_apply_once_and_the_table_stays_small(zab: tuple[Path, ClusterMeta, list[str]]) -> None:
    _, meta, _ = zab
    before = [_info(meta, i)["log"] for i in range(3)]
    with Client(*meta.clients[1], timeout=15) as c:
        c.call("create", "/counter", b"")
        for _ in range(20):
            c.call("set", "/counter", b"+1", -1)  # any version: every extra application would add one
        c.call("sync")
    for i in range(3):
        with Client(*meta.clients[i], timeout=15) as c:
            c.call("sync")
            assert c.call("get", "/counter")[1] == 20, f"n{i + 1}"
    infos = [_info(meta, i) for i in range(3)]
    assert len({x["log"] for x in infos}) == 1
    copies = infos[0]["log"] - before[0]
    assert copies > 22 + 3, "no write was submitted twice: resubmit did not produce copies"
    # what replicas remember: per server session, the writes still outstanding there (none now)
    assert all(x["write_ids"] <= 3 * x["sessions"] for x in infos), infos


def test_status_shows_the_leaders_followers_and_who_serves(zab: tuple[Path, ClusterMeta, list[str]]) -> None:
    d, meta, _ = zab
    lead = _leader(meta)
    assert lead is not None
    proc = run_cli("cluster", "status", str(d))
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split()[4:] == ["role", "epoch", "last", "zxid", "committed", "phase", "leader", "followers",
                                  "serving", "znodes"]
    others = sorted(f"n{i + 1}" for i in range(3) if i != lead)
    cells = {r.split()[0]: r.split() for r in rows}
    assert cells[f"n{lead + 1}"][4] == "leading" and cells[f"n{lead + 1}"][-3] == ",".join(others)
    assert all(cells[n][-3] == "-" and cells[n][-2] == "yes" for n in others)
    data = json.loads(run_cli("cluster", "status", str(d), "--json").stdout)
    infos = {n["node"]: n["info"] for n in data["nodes"]}
    assert infos[f"n{lead + 1}"]["followers"] == others and all(x["serving"] for x in infos.values())
    assert all(isinstance(x["epoch"], int) and len(x["last_zxid"]) == 2 for x in infos.values())
    # a follower killed is no longer among the leader's followers
    gone = int(others[0][1:]) - 1
    assert kill_node(d, gone)
    try:
        assert eventually(lambda: _info(meta, lead)["followers"] == (others[1],), 10)
    finally:
        p = start_node(d, gone)
        wait_ready(d, [gone], {gone: p}, timeout=60)
    assert eventually(lambda: _info(meta, lead)["followers"] == tuple(others), 30)


def test_a_restarted_follower_answers_syncing_until_it_has_resynchronized(zab: tuple[Path, ClusterMeta, list[str]]) -> None:
    d, meta, _ = zab
    assert eventually(lambda: _leader(meta) is not None, 30)
    lead = _leader(meta)
    assert lead is not None
    follower = (lead + 1) % 3
    with Client(*meta.clients[lead], timeout=15) as c:
        c.call("create", "/before", b"old")
    assert kill_node(d, follower)
    with Client(*meta.clients[lead], timeout=15) as c:
        c.call("create", "/while-down", b"new")
    p = start_node(d, follower)
    wait_ready(d, [follower], {follower: p}, timeout=60)
    answers: list[str] = []

    def read() -> bool:
        with Client(*meta.clients[follower], timeout=5) as c:
            try:
                data = c.call("get", "/while-down")[0]
            except ClientError as exc:
                answers.append(str(exc))
                return False
            answers.append(data.decode())
            return True

    assert eventually(read, 30), answers
    # never an answer from an empty or stale tree: refusals say "syncing", then the data
    assert answers[0].startswith("syncing: this server is ") and "not yet synchronized with a leader" in answers[0], answers
    assert all(a.startswith("syncing: ") for a in answers[:-1]) and answers[-1] == "new", answers
    with Client(*meta.clients[follower], timeout=5) as c:
        assert c.call("get", "/before")[0] == b"old"
    proc = run_cli("cluster", "status", str(d), "--json")
    assert all(n["info"]["serving"] for n in json.loads(proc.stdout)["nodes"])


# ---- the serving rule, step by step (a stand-in host, no sockets) ------------------------------
class _Timer:
    def __init__(self, cfg: TimerConfig) -> None:
        self.cfg = cfg
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def fire(self) -> None: ...


class _Host:
    """What ZabService may use of a host: in-memory storage, a transport that keeps what was sent."""

    def __init__(self, node_id: int, storage: Any = None, constants: dict[str, int] | None = None,
                 election: str = "fle") -> None:
        self.cs = load(ZAB, {**RUNTIME, **(constants or {})})
        self.cfg = Config()
        self.cfg.zab = replace(self.cfg.zab, election=election)
        self.node_id = node_id
        self.storage = storage if storage is not None else MemoryStorage()
        self.rng = random.Random(1)
        self.rebuilt = False
        self.peers = self
        self.sent: list[tuple[int, tuple]] = []
        self.timers: dict[str, _Timer] = {}

    def send(self, src: int, dst: int, msg: tuple) -> None:
        self.sent.append((dst, msg))

    def group_commit(self, rt: NodeRuntime) -> None:
        rt.save_pending()
        rt.send_pending()

    def timer(self, name: str, callback: Callable[[], Any], cfg: TimerConfig | None = None) -> _Timer:
        t = self.timers[name] = _Timer(cfg or self.cfg.timer(name))
        return t

    def on_peer_lost(self, listener: Callable[[int], None]) -> None: ...


def test_a_follower_serves_reads_only_from_its_leaders_uptodate_on() -> None:
    """Between NEWLEADER (phase BROADCAST, history logged) and UPTODATE its commit point may be
    behind its leader's: the service still says `syncing`, and serves from UPTODATE on."""
    host = _Host(0, election="random")  # `elect` is driven by hand here
    svc = ZabService(host)
    cs = host.cs
    msg = {m.name: m.id for m in cs.messages}

    def get(path: str) -> Any:
        return asyncio.run(svc.op_get(path))

    asyncio.run(svc.start())
    rt = svc.node.rt
    assert not svc.serving
    with pytest.raises(ClientError, match=r"^syncing: this server is looking in phase connect"):
        get("/a")
    rt.timer(rt.timer_handler("elect"))  # follows a peer
    lead = next(dst for dst, m in host.sent if m[0] == msg["FollowerInfo"])
    rt.deliver(lead, (msg["NewEpoch"], 1))
    written = ((lead, 7, 1, 1), ("create", "/a", b"x"))
    rt.deliver(lead, (msg["NewLeader"], 1, False, (0, 0), 0, (), (((1, 1), written),), True))  # a DIFF from (0, 0)
    assert (svc._name(rt.state, "role"), svc._name(rt.state, "phase")) == ("FOLLOWING", "BROADCAST")
    assert not svc.serving and svc.applied == 0
    with pytest.raises(ClientError, match=r"^syncing: this server is following in phase broadcast"):
        get("/a")
    rt.deliver(lead, (msg["UpToDate"], 1, 1))
    assert svc.serving and get("/a")[:2] == (b"x", 0)
    assert svc.info()["serving"] is True and svc.info()["followers"] == ()
    rt.timer(rt.timer_handler("followerTimeout"))  # back to election: no longer serving
    assert not svc.serving
    with pytest.raises(ClientError, match=r"^syncing: "):
        get("/a")


def test_a_restarted_server_starts_a_session_above_its_logged_ones() -> None:
    logged = [((0, 5_000, 1, 1), ("sync",)), ((1, 9_000, 1, 1), ("sync",)), "a checker value"]
    assert fresh_incarnation(0, 10_000, logged) == 10_000  # the clock is ahead: it wins
    assert fresh_incarnation(0, 4_000, logged) == 5_001  # set back: above its own last run
    assert fresh_incarnation(2, 4_000, logged) == 4_000  # others' sessions do not matter


def test_snapshot_frames_from_the_leader_restart_the_followers_failure_detector() -> None:
    """A SNAP of a large tree takes many frames: each counts as the leader at work (as NEWLEADER
    does, config reset_on), so the transfer is not cut short by the follower's timeout."""
    host = _Host(0, election="random")
    svc = ZabService(host)
    asyncio.run(svc.start())
    rt = svc.node.rt
    rt.timer(rt.timer_handler("elect"))  # follows a peer
    lead = svc._name(rt.state, "leader")
    src = int(lead[len("some(n"):-1]) - 1
    other = ({1, 2} - {src}).pop()
    timeout = host.timers["followerTimeout"]
    seen = timeout.resets
    for f in frames(0, Replica()):
        svc.on_peer(other, f)
    assert timeout.resets == seen  # frames from a server it does not follow say nothing of its leader
    for f in frames(0, Replica()):
        svc.on_peer(src, f)
    assert timeout.resets == seen + 1


def test_a_restart_recovers_the_compacted_transactions_its_tree_snapshot_lacks(tmp_path: Path) -> None:
    """The spec compacts as it commits; the tree snapshot is taken later, in the background. A
    server that stops in between restarts from its newest tree snapshot and re-applies the
    compacted transactions past it, which its log file still holds (the node rewrites its record,
    dropping them, only behind a durable tree snapshot)."""
    host = _Host(0, FileStorage(tmp_path / "data", fsync=False), {"RETAIN": 4})
    svc = ZabService(host)
    msg = {m.name: m.id for m in host.cs.messages}
    rt = svc.node.rt

    def write(k: int) -> None:
        assert rt.request("write", (((0, 1, k + 1, 0), ("create", f"/k{k}", b"")),)) is not None
        assert rt.timer(rt.timer_handler("logProposals")) is not None  # the leader logs it (a host fires it at once)
        rt.deliver(1, (msg["Ack"], (1, k + 1)))  # n2 logged it: a quorum

    async def lead_and_write() -> None:
        await svc.start()
        rt.deliver(1, (msg["FollowerInfo"], 0, 0, (0, 0), False))
        rt.deliver(1, (msg["AckEpoch"], 1, True, 0, (0, 0), False))
        rt.deliver(1, (msg["AckLeader"], 1, 0))
        assert svc._established(rt.state)
        for k in range(5):
            write(k)
        await take(tmp_path / "data", svc.replica, svc.applied, fsync=False)  # a tree snapshot at 5
        for k in range(5, 12):
            write(k)
        # no await from here on: the background snapshots these compactions started never run

    asyncio.run(lead_and_write())
    base = rt.state[svc.slot["base"]]
    assert svc.applied == 12 and base > 5 and [p for p, _ in snapshot_files(tmp_path / "data")] == [5]
    again = ZabService(_Host(0, FileStorage(tmp_path / "data", fsync=False), {"RETAIN": 4}))
    asyncio.run(again.start())
    # the tree at 5, then 5..base - 1 from the log's replay; the rest awaits a leader's commit
    assert again.applied == base == again.node.rt.state[again.slot["base"]]
    assert sorted(p for p in again.tree.nodes if p != "/") == sorted(f"/k{k}" for k in range(base))



def test_tree_snapshots_are_spaced_by_the_tree_size_and_a_restart_recovers_between_them(tmp_path: Path) -> None:
    """A tree snapshot costs O(znodes): one is taken only once the transactions applied since the
    newest reach max(RETAIN, snapshot_share x znodes) times a factor in [1/2, 1), not at every
    compaction; the log keeps what was compacted in between, so a restart still has every write."""
    host = _Host(0, FileStorage(tmp_path / "data", fsync=False), {"RETAIN": 4, "TXNS": 1000})
    svc = ZabService(host)
    msg = {m.name: m.id for m in host.cs.messages}
    rt = svc.node.rt
    taken: list[tuple[int, int]] = []  # (position, znodes at the time), as each snapshot completes
    writes = 400

    async def lead_and_write() -> None:
        await svc.start()
        rt.deliver(1, (msg["FollowerInfo"], 0, 0, (0, 0), False))
        rt.deliver(1, (msg["AckEpoch"], 1, True, 0, (0, 0), False))
        rt.deliver(1, (msg["AckLeader"], 1, 0))
        for k in range(writes):
            assert rt.request("write", (((0, 1, k + 1, 0), ("create", f"/k{k}", b"")),)) is not None
            assert rt.timer(rt.timer_handler("logProposals")) is not None  # the leader logs it, as a host does
            rt.deliver(1, (msg["Ack"], (1, k + 1)))
            if svc.snapshotting is not None and not svc.snapshotting.done():
                pos = await svc.snapshotting
                taken.append((pos, len(svc.tree.nodes)))

    asyncio.run(lead_and_write())
    compactions = rt.state[svc.slot["base"]] // 2  # RETAIN / 2 committed transactions compacted each time
    assert svc.applied == writes and 3 <= len(taken) < compactions / 4, (len(taken), compactions)
    for (p0, n0), (p1, _) in zip(taken, taken[1:], strict=False):
        assert p1 - p0 >= 0.5 * max(4, svc.cfg.snapshot_share * n0), taken  # never closer than the rule allows
    assert [p for p, _ in snapshot_files(tmp_path / "data")] == [p for p, _ in taken[-2:]]
    again = ZabService(_Host(0, FileStorage(tmp_path / "data", fsync=False), {"RETAIN": 4, "TXNS": 1000}))
    asyncio.run(again.start())
    base = again.node.rt.state[again.slot["base"]]
    assert base > taken[-1][0] or base == taken[-1][0] == svc.applied - 2  # compacted past the newest tree snapshot
    assert again.applied == base and sorted(again.tree.nodes) == sorted(["/"] + [f"/k{k}" for k in range(base)])
