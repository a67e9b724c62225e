"""ZAB (spec/zab.pnyx) in the deterministic simulation: random faults, the spec's invariants live."""

from __future__ import annotations

from pathlib import Path

from pnyx.impl.faults import run_fault_machine
from pnyx.impl.sim import Simulation
from pnyx.model.compiler import load

ROOT = Path(__file__).resolve().parent.parent
ZAB = str(ROOT / "spec" / "zab.pnyx")
RUNTIME = {"TXNS": 12, "VALUES": 10**9, "MAX_EPOCH": 50, "TIMEOUTS": 50, "RETAIN": 1000}  # 1000: no compaction
LEADING, BROADCAST = 2, 3


def leader(sim: Simulation) -> int | None:
    for i in range(sim.n):
        if sim.nodes[i].up and sim.var(i, "role") == LEADING and sim.var(i, "phase") == BROADCAST:
            return i
    return None


def stable(sim: Simulation) -> bool:
    return leader(sim) is not None and all(sim.var(i, "phase") == BROADCAST for i in range(sim.n) if sim.nodes[i].up)


def test_zab_elects_commits_survives_a_leader_crash_and_resyncs_it() -> None:
    cs = load(ZAB, {**RUNTIME, "RETAIN": 2})  # logs compacted as they go
    sim = Simulation(cs, seed=5)  # every invariant of the spec is checked after every step
    assert sim.run(20.0, stop=stable)
    first = leader(sim)
    assert first is not None
    for k in range(3):
        assert sim.request(first, "write", (f"w{k}",)) is not None
    assert sim.run(sim.now + 5, stop=lambda s: all(s.var(i, "commit") == 3 for i in range(3)))
    sim.crash(first)
    assert sim.run(sim.now + 30, stop=lambda s: leader(s) not in (None, first))
    second = leader(sim)
    follower = next(i for i in range(3) if i not in (first, second))
    sim.run(sim.now + 5, stop=stable)
    assert sim.request(follower, "write", (("after", b"\x00data"),)) is not None  # forwarded to the new leader
    sim.restart(first)
    assert sim.run(sim.now + 30, stop=lambda s: stable(s) and all(s.var(i, "commit") == 4 for i in range(3)))
    # every server holds the same log: a snapshot of `base` transactions (RETAIN = 2
    # compacts committed ones), then the same retained suffix
    logs = {(sim.var(i, "base"), tuple(sim.var(i, "history"))) for i in range(3)}
    assert len(logs) == 1
    ((base, h),) = logs
    assert base > 0 and base + len(h) == 4
    assert h[-1][1] == ("after", b"\x00data")  # Value is opaque: payloads as they came
    assert sim.var(first, "currentEpoch") == sim.var(second, "currentEpoch") > 1


def test_zab_under_random_fault_schedules() -> None:
    run_fault_machine(load(ZAB), examples=25, steps=40, max_crashes=2, max_losses=0, partitions=False)
