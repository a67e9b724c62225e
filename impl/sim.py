"""Deterministic simulation: the node runtime on an in-process network and a virtual clock.

Every source of nondeterminism (delays, losses, `choose`, timer jitter) draws from one
seeded generator, so a run replays exactly from its seed. Two ways to drive it:
- step by step (`deliver`, `fire`, `request`, `crash`, `restart`, `lose`, `duplicate`), as a
  hypothesis state machine or a trace replay does;
- by time (`run`): messages arrive after a random delay, timers fire periodically, faults
  (loss rate, partitions) apply as configured; a prompt timer (period 0) fires right after
  each step of its node, again while it takes steps.

The network follows the checker's semantics (pnyx.model.system): `fifo` channels keep their
order per ordered pair and break when either end crashes; `unordered` messages to a crashed
node are lost; a send to a down node is dropped. After every step the spec's invariants are evaluated on the live
node states; a violation raises `InvariantViolation` with the steps that led to it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pnyx.model.compiler import CompiledSpec, HandlerEntry
from pnyx.model.runtime import Chooser
from pnyx.model.system import Network, breaks_on_crash
from pnyx.model.types import node_name

from .config import Config
from .node import NodeRuntime, Step
from .storage import MemoryStorage


class InvariantViolation(AssertionError):
    """A spec invariant is false in a state the simulation reached."""

    def __init__(self, name: str, bindings: dict | None, log: list[str]) -> None:
        binds = ", ".join(f"{k} = {node_name(v) if isinstance(v, int) else v}" for k, v in (bindings or {}).items())
        tail = "\n".join("  " + x for x in log[-30:])
        super().__init__(f"invariant {name} violated" + (f" with {binds}" if binds else "") + f"; last steps:\n{tail}")
        self.name = name
        self.bindings = bindings


@dataclass
class Packet:
    """A message in flight."""

    seq: int
    at: float  # virtual time at which it arrives (timed mode)
    src: int
    dst: int
    msg: tuple


@dataclass
class SimStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    steps: int = 0
    timer_steps: int = 0
    by_message: dict[str, int] = field(default_factory=dict)


class _SimTransport:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def send(self, src: int, dst: int, msg: tuple) -> None:
        self.sim._enqueue(src, dst, msg)

    def disconnect(self, a: int, b: int) -> None:
        """The connection between a and b closes: what is in flight between them is lost."""
        self.sim.net = [p for p in self.sim.net if {p.src, p.dst} != {a, b}]


class Simulation:
    """N nodes of one compiled spec, an in-process network and a virtual clock."""

    def __init__(self, cs: CompiledSpec, seed: int = 0, config: Config | None = None, loss: float = 0.0,
                 delay: tuple[float, float] = (0.001, 0.01), check_invariants: bool = True,
                 choosers: list[Chooser] | None = None) -> None:
        self.cs = cs
        self.n = cs.n_nodes
        self.fifo = cs.network == "fifo"
        self.layout = Network.of(cs.network, self.n, cs.capacity)  # the checker's network, to compare states with
        self.rng = random.Random(seed)
        self.config = config or Config()
        self.prompt = [h for h in cs.timers if self.config.timer(h.name).prompt]  # period 0: fired after each step
        self.loss = loss
        self.delay = delay
        self.check_invariants = check_invariants
        self.now = 0.0
        self.net: list[Packet] = []
        self.stats = SimStats()
        self.log: list[str] = []
        self.groups: list[int] | None = None  # partition: the group number of each node
        self.storages = [MemoryStorage() for _ in range(self.n)]
        transport = _SimTransport(self)
        self.nodes = [
            NodeRuntime(cs, i, self.storages[i], transport, rng=random.Random(self.rng.getrandbits(64)),
                        keep_ghost=True, chooser=choosers[i] if choosers else None)
            for i in range(self.n)
        ]
        self.reached = {p.name: False for p in cs.properties if p.kind == "reachable"}
        self._seq = 0
        self._timers: dict[tuple[int, int], float] = {}
        self._reset_index = self._reset_table()
        self.observers: list[Callable[[Simulation, str], None]] = []
        for node in self.nodes:
            node.start()
            self._arm_all(node.id)
        self.check()

    # ---- state -----------------------------------------------------------------
    @property
    def states(self) -> tuple:
        return tuple(n.state for n in self.nodes)

    @property
    def up(self) -> tuple:
        return tuple(n.up for n in self.nodes)

    def var(self, node: int, name: str) -> Any:
        return self.nodes[node].get(name)

    def check(self) -> None:
        """Evaluate every property on the current states; raise on a false invariant."""
        for p in self.cs.properties:
            if p.kind == "invariant":
                if self.check_invariants and not self.holds(p):
                    args = self._args(p)
                    raise InvariantViolation(p.name, p.explain(*args), self.log)
            elif not self.reached.get(p.name, True) and self.holds(p):
                self.reached[p.name] = True

    def _args(self, p: Any) -> tuple:
        if getattr(p, "reads_network", False):
            return (self.states, self.up, self.net_value())
        return (self.states, self.up)

    def holds(self, p: Any) -> bool:
        """Whether a property of the spec holds in the current state."""
        return bool(p.holds(*self._args(p)))

    def net_value(self) -> tuple:
        """The messages in flight in the checker's representation (pnyx.model.system.Network)."""
        return self.layout.from_in_flight([(p.src, p.dst, p.msg) for p in sorted(self.net, key=lambda p: p.seq)])

    def _after(self, what: str, step: Step | None = None) -> None:
        self.stats.steps += 1
        self.log.append(f"t={self.now:.4f} {what}")
        if len(self.log) > 1000:
            del self.log[:500]
        self.check()
        for ob in self.observers:
            ob(self, what)

    # ---- network -----------------------------------------------------------------
    def _cut(self, src: int, dst: int) -> bool:
        return self.groups is not None and self.groups[src] != self.groups[dst]

    def _enqueue(self, src: int, dst: int, msg: tuple) -> None:
        self.stats.sent += 1
        name = self.cs.messages[msg[0]].name
        self.stats.by_message[name] = self.stats.by_message.get(name, 0) + 1
        if not self.nodes[dst].up or self._cut(src, dst):
            self.stats.lost += 1
            return
        if self.loss and self.rng.random() < self.loss:
            self.stats.lost += 1
            return
        at = self.now + self.rng.uniform(*self.delay)
        if self.fifo:  # a TCP stream never reorders
            for p in self.net:
                if p.src == src and p.dst == dst and p.at > at:
                    at = p.at
        self._seq += 1
        self.net.append(Packet(self._seq, at, src, dst, msg))

    def inflight(self) -> list[Packet]:
        """The messages that may be delivered next: every one (unordered) or each channel's head (fifo)."""
        if not self.fifo:
            return list(self.net)
        heads: dict[tuple[int, int], Packet] = {}
        for p in self.net:
            if (p.src, p.dst) not in heads:
                heads[(p.src, p.dst)] = p
        return sorted(heads.values(), key=lambda p: p.seq)

    def deliver(self, p: Packet, only: HandlerEntry | None = None) -> Step | None:
        """Hand a message to its destination's handlers (or to `only` that one)."""
        self.net.remove(p)
        what = f"{node_name(p.dst)} receives {self.cs.show_message(p.msg)} from {node_name(p.src)}"
        if self._cut(p.src, p.dst) or not self.nodes[p.dst].up:
            self.stats.lost += 1
            self._after(what + " (lost: partitioned)")
            return None
        self.stats.delivered += 1
        self._reset_timers(p.dst, p.msg[0])
        step = self.nodes[p.dst].deliver(p.src, p.msg, only)
        self._after(what if step is not None else what + " (no handler enabled: dropped)", step)
        return step

    def lose(self, p: Packet) -> None:
        self.net.remove(p)
        self.stats.lost += 1
        self._after(f"the network loses {self.cs.show_message(p.msg)} from {node_name(p.src)} to {node_name(p.dst)}")

    def duplicate(self, p: Packet) -> None:
        self._seq += 1
        self.net.append(Packet(self._seq, p.at, p.src, p.dst, p.msg))
        self._after(f"the network duplicates {self.cs.show_message(p.msg)} from {node_name(p.src)} to {node_name(p.dst)}")

    def partition(self, groups: list[set[int]] | list[list[int]]) -> None:
        """Split the network: nodes in different groups cannot talk (unlisted nodes: a group of their own)."""
        g = [-1 - i for i in range(self.n)]
        for k, members in enumerate(groups):
            for i in members:
                g[i] = k
        self.groups = g
        self._after("partition " + " | ".join(",".join(node_name(i) for i in sorted(m)) for m in groups))

    def heal(self) -> None:
        self.groups = None
        self._after("the partition heals")

    # ---- node events ----------------------------------------------------------------
    def fire(self, node: int, timer: str | HandlerEntry) -> Step | None:
        h = timer if isinstance(timer, HandlerEntry) else self.nodes[node].timer_handler(timer)
        step = self.nodes[node].timer(h)
        self.stats.timer_steps += step is not None
        if step is not None:
            self._after(f"{node_name(node)} fires timer {h.name}", step)
        return step

    def request(self, node: int, name: str, args: tuple, only: HandlerEntry | None = None) -> Step | None:
        step = self.nodes[node].request(name, args, only)
        if step is not None:
            self._after(f"client calls {name}{args} at {node_name(node)} -> {step.replies}", step)
        return step

    def crash(self, node: int) -> None:
        self.nodes[node].crash()
        self.net = [p for p in self.net if not breaks_on_crash(self.fifo, p.src, p.dst, node)]
        self._after(f"{node_name(node)} crashes")

    def restart(self, node: int) -> Step | None:
        step = self.nodes[node].start()
        self._arm_all(node)
        self._after(f"{node_name(node)} recovers", step)
        return step

    def rebuild(self, node: int) -> Step | None:
        """A crashed node restarts with its disk lost: empty storage, started as `cluster restart
        --rebuild` starts a real node (it runs the spec's `on rebuild`)."""
        rt = self.nodes[node]
        self.storages[node] = rt.storage = MemoryStorage()
        rt.rebuilt = True
        step = rt.start()
        self._arm_all(node)
        self._after(f"{node_name(node)} restarts with its disk lost", step)
        return step

    # ---- timed mode ----------------------------------------------------------------
    def _reset_table(self) -> dict[int, list[HandlerEntry]]:
        """For each message type, the timers whose countdown it restarts (failure detectors)."""
        out: dict[int, list[HandlerEntry]] = {}
        for h in self.cs.timers:
            for mname in self.config.timer(h.name).reset_on:
                for m in self.cs.messages:
                    if m.name == mname:
                        out.setdefault(m.id, []).append(h)
        return out

    def _period(self, h: HandlerEntry) -> float:
        t = self.config.timer(h.name)
        return t.period * (1 + self.rng.uniform(-t.jitter, t.jitter))

    def _arm_all(self, node: int) -> None:
        for h in self.cs.timers:
            if h not in self.prompt:
                self._timers[(node, h.index)] = self.now + self._period(h)

    def _fire_prompt(self, node: int) -> None:
        """Fire the node's prompt timers (period 0) until none of them takes a step."""
        for _ in range(10_000):  # a guard that never turns false must not stall the clock forever
            if not (self.nodes[node].up and any([self.fire(node, h) is not None for h in self.prompt])):
                return

    def _reset_timers(self, node: int, msg_id: int) -> None:
        for h in self._reset_index.get(msg_id, ()):
            self._timers[(node, h.index)] = self.now + self._period(h)

    def run(self, until: float, stop: Callable[[Simulation], bool] | None = None, max_steps: int = 10**7) -> bool:
        """Advance virtual time to `until` (or until `stop` holds); True if `stop` held."""
        handlers = {h.index: h for h in self.cs.timers}
        for node in range(self.n):  # steps taken outside `run` (requests) may have enabled them
            self._fire_prompt(node)
        for _ in range(max_steps):
            if stop is not None and stop(self):
                return True
            nxt_t, nxt_p = None, None
            for p in self.inflight():
                if nxt_p is None or (p.at, p.seq) < (nxt_p.at, nxt_p.seq):
                    nxt_p = p
            key, t_at = None, None
            for k, at in self._timers.items():
                if self.nodes[k[0]].up and (t_at is None or at < t_at):
                    key, t_at = k, at
            nxt_t = t_at
            if nxt_p is not None and (nxt_t is None or nxt_p.at <= nxt_t):
                if nxt_p.at > until:
                    break
                self.now = max(self.now, nxt_p.at)
                if self.deliver(nxt_p) is not None:
                    self._fire_prompt(nxt_p.dst)
            elif key is not None and nxt_t is not None:
                if nxt_t > until:
                    break
                self.now = max(self.now, nxt_t)
                h = handlers[key[1]]
                self._timers[key] = self.now + self._period(h)
                if self.fire(key[0], h) is not None:
                    self._fire_prompt(key[0])
            else:
                break
        self.now = max(self.now, until)
        return stop is not None and stop(self)
