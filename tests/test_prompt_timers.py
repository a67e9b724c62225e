"""Prompt timers (period 0): a step the spec takes as soon as it is enabled, in a step of its own.

The host fires them after each flush, once the burst's saves are made and its messages handed
to the network, so a step that changes nothing persistent sends at once and the prompt step's
save follows (ZAB's leader sends PROPOSE, then logs it: spec/zab.pnyx, logProposals). The
simulation fires them right after each step of their node, at the same virtual time.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from pnyx.impl.config import Config, ConfigError, TimerConfig, load_config
from pnyx.impl.host import Host
from pnyx.impl.node import NodeRuntime
from pnyx.impl.sim import Simulation
from pnyx.impl.storage import MemoryStorage
from pnyx.model.compiler import load

# `put` changes only volatile state and sends; the timer `save` logs what was put
RELAY = """
spec relay
const N = 2
nodes N
network fifo
type C = 0..5
message Put(v: C)
state {
  persistent logged: C = 0
  volatile queued: C = 0
}
on request put() when queued < 5 {
  queued = queued + 1
  send Put(queued) to {p in Node where p != self}
}
on timer save when logged < queued { logged = queued }
"""


def relay(tmp_path: Path):
    p = tmp_path / "relay.pnyx"
    p.write_text(RELAY)
    return load(str(p))


def test_a_period_of_zero_is_a_prompt_timer(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[timers.save]\nperiod = 0\n")
    assert load_config(p).timer("save").prompt
    assert not TimerConfig(period=0.1).prompt
    p.write_text("[timers.save]\nperiod = -1\n")
    with pytest.raises(ConfigError, match="period"):
        load_config(p)


def test_the_zab_leader_logs_its_proposals_promptly() -> None:
    assert Config().timer("logProposals").prompt


def _config(period: float) -> Config:
    cfg = Config()
    cfg.timers["save"] = TimerConfig(period=period, jitter=0.0)
    return cfg


def test_the_simulation_fires_a_prompt_timer_right_after_the_step(tmp_path: Path) -> None:
    sim = Simulation(relay(tmp_path), seed=1, config=_config(0.0))
    sim.request(0, "put", ())
    sim.run(until=0.0)
    assert sim.var(0, "logged") == 1 and sim.now == 0.0
    sim.request(0, "put", ())
    sim.request(0, "put", ())
    sim.run(until=0.0)
    assert sim.var(0, "logged") == 3 and sim.stats.timer_steps == 2


def test_a_periodic_timer_waits_for_its_period(tmp_path: Path) -> None:
    # the control: the same spec with a period of one second
    sim = Simulation(relay(tmp_path), seed=1, config=_config(1.0))
    sim.request(0, "put", ())
    sim.run(until=0.5)
    assert sim.var(0, "logged") == 0
    sim.run(until=1.5)
    assert sim.var(0, "logged") == 1


def durable_logged(storage: MemoryStorage, cs) -> int:
    """`logged` as a node restarted now would load it."""
    copy = MemoryStorage()
    copy.records = dict(storage.records)
    copy.logs = {k: list(v) for k, v in storage.logs.items()}
    rt = NodeRuntime(cs, 0, copy, Sent(MemoryStorage(), cs))
    rt.start()
    return rt.get("logged")


class Sent:
    """A transport noting, for each message, the persistent `logged` saved when it was handed over."""

    def __init__(self, storage: MemoryStorage, cs) -> None:
        self.storage, self.cs = storage, cs
        self.sent: list[tuple[tuple, int]] = []

    def send(self, src: int, dst: int, msg: tuple) -> None:
        self.sent.append((msg, durable_logged(self.storage, self.cs)))


def _host_parts() -> Host:
    """The part of a Host that group commit and timers use (no process, sockets or files)."""
    host = Host.__new__(Host)
    host.timers, host._prompt = [], []
    host._pending, host._flush_scheduled, host._durable_waiters = [], False, []
    host.rng = random.Random(1)
    return host


@pytest.mark.parametrize("period", [0.0, 30.0])
def test_the_host_sends_a_burst_before_the_prompt_step_saves(tmp_path: Path, period: float) -> None:
    cs = relay(tmp_path)
    storage = MemoryStorage()

    async def run() -> tuple[Sent, NodeRuntime]:
        host = _host_parts()
        tr = Sent(storage, cs)
        rt = NodeRuntime(cs, 0, storage, tr, group_commit=host.group_commit)
        rt.start()
        host.timer("save", lambda: rt.timer(rt.timer_handler("save")), TimerConfig(period=period, jitter=0.0))
        rt.request("put", ())
        for _ in range(10):  # a few turns of the event loop: the flush, then the prompt step's flush
            await asyncio.sleep(0)
        for t in host.timers:
            if t.task is not None:
                t.task.cancel()
        return tr, rt

    tr, rt = asyncio.run(run())
    assert tr.sent == [((0, 1), 0)]  # Put(1) left before anything was saved
    # prompt: logged and saved at once, with no clock; periodic: still waiting for its period
    assert rt.get("logged") == durable_logged(storage, cs) == (1 if period == 0 else 0)
