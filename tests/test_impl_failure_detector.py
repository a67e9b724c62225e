"""A failure-detector timer that watches a peer (`watch` in the node config): it fires when the
connection to that peer breaks, and only that peer's messages postpone it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from pnyx.impl.config import Config, TimerConfig
from pnyx.impl.service import ServiceError, SpecNode
from pnyx.impl.storage import MemoryStorage
from pnyx.model.compiler import load
from pnyx.model.types import show

ROOT = Path(__file__).resolve().parent.parent
ZAB = load(str(ROOT / "spec" / "zab.pnyx"), Config().constants("zab"))


class FakeTimer:
    def __init__(self, cfg: TimerConfig) -> None:
        self.cfg = cfg
        self.resets = 0
        self.fired = 0

    def reset(self) -> None:
        self.resets += 1

    def fire(self) -> None:
        self.fired += 1


class FakeHost:
    """Just enough of a node's host for one SpecNode: no clock, no network."""

    def __init__(self, cfg: Config) -> None:
        self.cs, self.cfg, self.node_id = ZAB, cfg, 0
        self.storage, self.rng, self.rebuilt = MemoryStorage(), random.Random(0), False
        self.timers: dict[str, FakeTimer] = {}
        self.lost: list[Any] = []

    @property
    def peers(self) -> Any:
        return self

    def send(self, src: int, dst: int, msg: tuple) -> None: ...

    def group_commit(self, rt: Any) -> None:
        rt.save_pending()
        rt.send_pending()

    def timer(self, name: str, callback: Any, cfg: TimerConfig | None = None) -> FakeTimer:
        self.timers[name] = FakeTimer(cfg or self.cfg.timer(name))
        return self.timers[name]

    def on_peer_lost(self, listener: Any) -> None:
        self.lost.append(listener)


def following(node: SpecNode, leader: int) -> None:
    """Put the node in broadcast as a follower of `leader` (as if elected and synchronized)."""
    slot = {v.name: v.slot for v in ZAB.vars}
    st = list(node.rt.state)
    st[slot["role"]] = 1  # enum values count from 0 in declaration order: FOLLOWING
    st[slot["phase"]] = 3  # BROADCAST
    st[slot["leader"]] = (leader,)  # some(leader)
    node.rt.state = tuple(st)
    types = {v.name: v.type for v in ZAB.vars}
    shown = [show(st[slot[n]], types[n]) for n in ("role", "phase", "leader")]
    assert shown == ["FOLLOWING", "BROADCAST", f"some(n{leader + 1})"]


def message_id(name: str) -> int:
    return next(m.id for m in ZAB.messages if m.name == name)


def test_a_watching_timer_fires_when_its_peer_is_lost_and_hears_only_that_peer() -> None:
    host = FakeHost(Config())
    node = SpecNode(host, host)  # type: ignore[arg-type]
    node.start()
    fd = host.timers["followerTimeout"]
    assert fd.cfg.watch == "leader" and len(host.lost) == 1
    following(node, 1)
    host.lost[0](2)  # another peer's connection broke: not the leader's
    assert fd.fired == 0
    host.lost[0](1)
    assert fd.fired == 1
    resets = fd.resets
    node.deliver(2, (message_id("Commit"), (1, 1)))  # a Commit from a server it does not follow
    assert fd.resets == resets
    node.deliver(1, (message_id("Commit"), (1, 1)))
    assert fd.resets == resets + 1
    # a timer without `watch` still restarts on any sender's message
    lt = host.timers["leaderTimeout"]
    before = lt.resets
    node.deliver(2, (message_id("Ack"), (1, 1)))
    assert lt.resets == before + 1 and lt.fired == 0


def test_a_watching_timer_starts_over_when_its_peer_changes() -> None:
    host = FakeHost(Config())
    node = SpecNode(host, host)  # type: ignore[arg-type]
    node.start()
    fd = host.timers["followerTimeout"]
    before = fd.resets
    elect = next(h for h in ZAB.timers if h.name == "elect")
    assert node.rt.timer(elect) is not None  # LOOKING: follows some peer
    assert fd.resets == before + 1


def test_watching_a_variable_the_spec_lacks_is_refused() -> None:
    cfg = Config()
    cfg.timers["followerTimeout"] = TimerConfig(period=0.5, reset_on=("Commit",), watch="chief")
    host = FakeHost(cfg)
    with pytest.raises(ServiceError, match="watches variable 'chief'"):
        SpecNode(host, host).start()  # type: ignore[arg-type]
