"""The node runtime and the deterministic simulation, on gossip and small fixture specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import Phase

from pnyx.impl.faults import run_fault_machine
from pnyx.impl.node import HandlerError, NodeRuntime
from pnyx.impl.sim import InvariantViolation, Simulation
from pnyx.impl.storage import FileStorage, MemoryStorage, StorageError, scan_log
from pnyx.impl.wire import Tagged
from pnyx.model.compiler import load

ROOT = Path(__file__).resolve().parent.parent
GOSSIP = str(ROOT / "spec" / "gossip.pnyx")

COUNTER = """
spec counter
const N = 2
nodes N
network fifo
type C = 0..5
message Bump(v: C)
state {
  persistent count: C = 0
  volatile seen: C = 0
  ghost boots: C = 0
}
on request bump() when count < 5 {
  count = count + 1
  send Bump(count) to {p in Node where p != self}
  reply count
}
on Bump(v) from src { seen = v }
on recover { boots = boots + 1 }
invariant Small: forall n in Node: n.count <= 3
"""


def compile_text(tmp_path: Path, text: str, name: str = "s.pnyx", **defines: object):
    p = tmp_path / name
    p.write_text(text)
    return load(str(p), defines)


class Recorder:
    """A transport that notes, for every message, the state a node restarted right then would load."""

    def __init__(self, storage: MemoryStorage, cs=None) -> None:
        self.storage = storage
        self.cs = cs
        self.sent: list[tuple[int, int, tuple, object]] = []

    def send(self, src: int, dst: int, msg: tuple) -> None:
        self.sent.append((src, dst, msg, durable_state(self.cs, self.storage) if self.cs else None))


def durable_state(cs, storage: MemoryStorage) -> tuple:
    """What a node would hold after a crash now: a fresh runtime on a copy of its storage."""
    copy = MemoryStorage()
    copy.records = dict(storage.records)
    copy.logs = {k: list(v) for k, v in storage.logs.items()}
    rt = NodeRuntime(cs, 0, copy, Recorder(MemoryStorage()))
    rt.start()
    return rt.state


def test_state_is_durable_before_a_step_message_leaves(tmp_path: Path) -> None:
    cs = compile_text(tmp_path, COUNTER)
    storage = MemoryStorage()
    tr = Recorder(storage, cs)
    rt = NodeRuntime(cs, 0, storage, tr)
    rt.start()
    step = rt.request("bump", ())
    assert step is not None and step.replies == [1] and step.persisted
    (src, dst, msg, stored), = tr.sent
    assert (src, dst, msg) == (0, 1, (0, 1))
    assert stored[0] == 1  # the new count was durable before Bump(1) was handed over


def test_group_commit_holds_messages_until_the_burst_is_saved(tmp_path: Path) -> None:
    cs = compile_text(tmp_path, COUNTER)
    storage = MemoryStorage()
    tr = Recorder(storage, cs)
    flushes: list[NodeRuntime] = []
    rt = NodeRuntime(cs, 0, storage, tr, group_commit=flushes.append)
    rt.start()
    writes = storage.writes
    rt.request("bump", ())
    rt.request("bump", ())
    assert not tr.sent and storage.writes == writes and len(flushes) == 2
    rt.save_pending()
    rt.send_pending()
    assert storage.writes == writes + 1  # one save for the burst
    assert [(m, st[0]) for _, _, m, st in tr.sent] == [((0, 1), 2), ((0, 2), 2)]


SEQ = """
spec seqlog
const N = 1
nodes N
network fifo
type V = 0..1000
state {
  persistent log: seq[V, 1000] = []
  persistent mark: V = 0
}
on request add(v: V) { log = append(log, v) }
on request cut(k: V) { log = log[0:k]  mark = k }
"""


@pytest.mark.parametrize("snapshot_every", [3, 1000])
def test_a_log_of_appends_and_rewrites_reloads_exactly(tmp_path: Path, snapshot_every: int) -> None:
    cs = compile_text(tmp_path, SEQ)
    storage = FileStorage(tmp_path / "data", fsync=False)
    rt = NodeRuntime(cs, 0, storage, Recorder(MemoryStorage()))
    rt.SNAPSHOT_EVERY = snapshot_every
    rt.start()
    for k in range(10):
        rt.request("add", (k,))
    rt.request("cut", (4,))
    rt.request("add", (99,))
    again = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()))
    again.start()
    assert again.get("log") == (0, 1, 2, 3, 99) and again.get("mark") == 4
    logged = FileStorage(tmp_path / "data").load_log("node")
    assert logged[0][0] == "gen" and len(logged) <= snapshot_every + 1
    if snapshot_every == 1000:
        # each add logs just its item (the first one too: appended to the empty log); the cut
        # logs the whole new value, the add after it just its item again
        assert logged[1] == (("log", "append", (0,)),) and logged[2] == (("log", "append", (1,)),)
        assert logged[11] == (("log", "set", (0, 1, 2, 3)), ("mark", "set", 4)) and logged[12] == (("log", "append", (99,)),)


def test_snapshots_come_less_often_as_the_state_grows(tmp_path: Path) -> None:
    """A snapshot of n items follows at least max(SNAPSHOT_EVERY, n) saves, so rewriting it costs a
    constant share of each save however long the sequence; a restart still reloads it exactly."""
    cs = compile_text(tmp_path, SEQ)
    storage = MemoryStorage()
    rt = NodeRuntime(cs, 0, storage, Recorder(MemoryStorage()))
    rt.SNAPSHOT_EVERY = 4
    rt.start()
    taken = []  # the number of saves before each snapshot after the first
    for k in range(300):
        gen = rt._gen
        rt.request("add", (k,))
        if rt._gen != gen:
            taken.append(k + 1)
            items = len(rt.get("log"))
            assert len(storage.load_log("node")) == 1 and storage.load("node")[2][0] == ("log", tuple(range(items)))
    assert len(taken) >= 3
    for before, after in zip(taken, taken[1:], strict=False):
        assert after - before > max(4, before)  # the snapshot at `before` held `before` items
    assert len(taken) <= 7  # 300 saves: about log2(300 / 4) snapshots, not 300 / 4
    again = NodeRuntime(cs, 0, storage, Recorder(MemoryStorage()))
    again.start()
    assert again.get("log") == tuple(range(300))


def test_a_torn_log_tail_is_dropped_and_reported_a_corrupt_record_refused(tmp_path: Path) -> None:
    cs = compile_text(tmp_path, SEQ)
    storage = FileStorage(tmp_path / "data", fsync=False)
    rt = NodeRuntime(cs, 0, storage, Recorder(MemoryStorage()))
    rt.start()
    for k in range(3):
        rt.request("add", (k,))
    path = storage.log_path("node")
    data = path.read_bytes()
    end = scan_log(data, "log").end
    path.write_bytes(data[: end - 3] + bytes(len(data) - end + 3))  # a crash in the middle of the last append
    s2 = FileStorage(tmp_path / "data", fsync=False)
    again = NodeRuntime(cs, 0, s2, Recorder(MemoryStorage()))
    again.start()
    assert again.get("log") == (0, 1) and len(s2.torn_tails) == 1 and "incomplete last record" in s2.torn_tails[0]
    bad = bytearray(data)
    bad[22] ^= 0xFF  # inside the first record's body
    path.write_bytes(bytes(bad))
    with pytest.raises(StorageError, match="checksum mismatch"):
        NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage())).start()


def test_a_log_older_than_its_snapshot_is_ignored(tmp_path: Path) -> None:
    cs = compile_text(tmp_path, SEQ)
    storage = MemoryStorage()
    rt = NodeRuntime(cs, 0, storage, Recorder(MemoryStorage()))
    rt.SNAPSHOT_EVERY = 2
    rt.start()
    rt.request("add", (0,))
    rt.request("add", (1,))
    stale = list(storage.logs["node"])  # generation 0 and two appends
    rt.request("add", (2,))  # the log is full: a snapshot of generation 1 is written, the log reset
    assert len(storage.logs["node"]) == 1
    storage.logs["node"] = stale  # as if the crash came between the snapshot and the log reset
    again = NodeRuntime(cs, 0, storage, Recorder(MemoryStorage()))
    again.start()
    assert again.get("log") == (0, 1, 2)  # the snapshot alone; the stale appends are not applied twice


def test_restart_reloads_persistent_state_and_runs_recover(tmp_path: Path) -> None:
    cs = compile_text(tmp_path, COUNTER)
    storage = FileStorage(tmp_path / "data", fsync=False)
    rt = NodeRuntime(cs, 0, storage, Recorder(MemoryStorage()))
    rt.start()
    rt.request("bump", ())
    rt.request("bump", ())
    rt.deliver(1, (0, 4))
    assert rt.get("seen") == 4
    again = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()))
    step = again.start()
    assert step is not None and step.handler is cs.recover
    assert again.get("count") == 2 and again.get("seen") == 0  # persistent kept, volatile reset


def test_a_data_dir_of_another_spec_is_refused(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "data", fsync=False)
    NodeRuntime(compile_text(tmp_path, COUNTER), 0, storage, Recorder(MemoryStorage())).start()
    other = load(GOSSIP)
    with pytest.raises(StorageError, match="written by spec 'counter'"):
        NodeRuntime(other, 0, storage, Recorder(MemoryStorage())).start()


def test_malformed_messages_are_dropped_not_run(tmp_path: Path) -> None:
    rt = NodeRuntime(compile_text(tmp_path, COUNTER), 0, MemoryStorage(), Recorder(MemoryStorage()))
    rt.start()
    for bad in [(), (7, 1), (0,), (0, 1, 2), "x", (0, 1)]:
        src = 5 if bad == (0, 1) else 1
        assert rt.deliver(src, bad) is None
    assert rt.get("seen") == 0


def test_a_handler_leaving_its_type_is_a_handler_error(tmp_path: Path) -> None:
    rt = NodeRuntime(compile_text(tmp_path, COUNTER), 0, MemoryStorage(), Recorder(MemoryStorage()))
    rt.start()
    with pytest.raises(HandlerError, match="seen"):
        rt.deliver(1, (0, 9))


def test_simulation_catches_a_broken_invariant(tmp_path: Path) -> None:
    sim = Simulation(compile_text(tmp_path, COUNTER), seed=3)
    for _ in range(3):
        sim.request(0, "bump", ())
    with pytest.raises(InvariantViolation, match="Small.*n = n1"):
        sim.request(0, "bump", ())


def test_crash_keeps_only_what_was_saved_and_cuts_fifo_channels(tmp_path: Path) -> None:
    sim = Simulation(compile_text(tmp_path, COUNTER), seed=1)
    sim.request(0, "bump", ())
    assert len(sim.net) == 1
    sim.crash(1)
    assert not sim.net and not sim.nodes[1].up
    sim.request(0, "bump", ())
    assert not sim.net  # a send to a down node is dropped
    sim.restart(1)
    assert sim.var(1, "boots") == 1  # ghost survives, recover ran


def gossip_converged(value: int):
    return lambda s: all(s.var(i, "value") == value for i in range(s.n) if s.nodes[i].up)


def test_gossip_converges_in_simulation_and_payload_rides_along() -> None:
    cs = load(GOSSIP, {"N": 5, "WRITES": 1000})
    sim = Simulation(cs, seed=7)
    sim.request(2, "write", (Tagged(42, ("k", b"v")),))
    sim.request(4, "write", (17,))
    assert sim.run(10.0, stop=gossip_converged(42))
    assert all(sim.var(i, "value").payload == ("k", b"v") for i in range(5))
    assert sim.stats.by_message["Push"] >= 4


def test_same_seed_same_run() -> None:
    cs = load(GOSSIP, {"N": 6, "WRITES": 10, "FANOUT": 2})

    def run(seed: int) -> list[str]:
        sim = Simulation(cs, seed=seed, loss=0.2)
        sim.request(0, "write", (3,))
        sim.request(5, "write", (9,))
        sim.run(2.0)
        return [line.split(" ", 1)[1] for line in sim.log]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_partition_blocks_then_heals() -> None:
    cs = load(GOSSIP, {"N": 4, "WRITES": 10})
    sim = Simulation(cs, seed=2)
    sim.partition([{0, 1}, {2, 3}])
    sim.request(0, "write", (5,))
    sim.run(2.0)
    assert [sim.var(i, "value") for i in range(4)] == [5, 5, 0, 0]
    sim.heal()
    sim.crash(0)  # a restarted node forgets whom it told, so it pushes again
    sim.restart(0)
    assert sim.run(5.0, stop=gossip_converged(5))


@pytest.mark.parametrize("anti_entropy", [True, False])
def test_a_node_that_missed_the_pushes_converges_by_anti_entropy(anti_entropy: bool) -> None:
    """n5 is down while a write spreads: the pushes to it are lost and gossip stops (every peer
    was told). Back up, n5 learns the write only from the spec's anti-entropy; without it, never."""
    cs = load(GOSSIP, {"N": 5, "WRITES": 1000, "FANOUT": 2, "ANTI_ENTROPY": anti_entropy})
    sim = Simulation(cs, seed=3)
    sim.crash(4)
    sim.request(0, "write", (7,))
    assert sim.run(10.0, stop=lambda s: all(s.var(i, "value") == 7 and len(s.var(i, "sent")) == 4 for i in range(4)))
    pushes = sim.stats.by_message["Push"]
    sim.restart(4)
    assert sim.run(sim.now + 20.0, stop=gossip_converged(7)) is anti_entropy
    assert sim.stats.by_message["Push"] == pushes  # no push round reached n5
    assert (sim.stats.by_message.get("Digest", 0) > 0) is anti_entropy


def test_gossip_under_random_fault_schedules() -> None:
    run_fault_machine(load(GOSSIP, {"N": 3, "WRITES": 2}), examples=40, steps=30, max_crashes=2)


def test_random_fault_schedules_find_a_broken_gossip(tmp_path: Path) -> None:
    text = Path(GOSSIP).read_text().replace("{p in Node where p != self and p not in sent}", "{p in Node where p != self}")
    broken = compile_text(tmp_path, text, "broken.pnyx", N=3)
    # Without the guard a round may push to a peer already told (NeverTwice) or to the node the
    # news came from (NeverBack): whichever a schedule shows first is a catch.
    with pytest.raises(InvariantViolation, match="NeverTwice|NeverBack"):
        run_fault_machine(broken, examples=200, steps=30, database=None, phases=[Phase.generate])


def test_a_symmetric_spec_instantiates_with_many_nodes() -> None:
    # renaming tables for symmetry are filled lazily: N! * 2**N entries could never be built
    cs = load(GOSSIP, {"N": 40, "WRITES": 10})
    sim = Simulation(cs, seed=1)
    sim.request(0, "write", (1,))
    assert sim.run(60.0, stop=gossip_converged(1))
    p = tuple(reversed(range(40)))
    assert cs.perm_node_state(sim.nodes[0].state, p, p)[1] == tuple(sorted(39 - x for x in sim.var(0, "sent")))
