"""Random fault schedules on the simulation, as hypothesis generates them.

Two shapes, one description of each fault (the step classes below):
- `fault_schedules(nodes)`: a strategy for a list of steps (crash, restart, lose, partition,
  heal, wait) valid for that many nodes: a node crashes only while up and restarts only while
  down, within the budgets. `run_schedule(sim, steps)` plays it; time passing (`Wait`) is what
  delivers messages and fires timers, as on a real network.
- `fault_machine(cs)`: a state machine class generated from the spec, one rule per event or
  fault (deliver, fire a timer, client request, and the steps above), preconditions for the
  budgets. Users never subclass: `run_fault_machine(cs)` runs it as a test (or they run the
  class with ``run_state_machine_as_test`` or ``Machine.TestCase``).
Either way the simulation checks the spec's own invariants after every step, and a failure
shrinks to a short list of steps, replayed from its seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from pnyx.model.compiler import CompiledSpec
from pnyx.model.types import node_name

from .sim import Simulation

# How far one `Wait` moves the virtual clock, and how many events it may run meanwhile.
MAX_WAIT = 0.3
WAIT_STEPS = 200


@dataclass(frozen=True)
class Crash:
    """The node stops at once; its volatile state and its fifo channels are lost."""

    node: int

    def apply(self, sim: Simulation) -> bool:
        if not sim.nodes[self.node].up:
            return False
        sim.crash(self.node)
        return True

    def __repr__(self) -> str:
        return f"Crash({node_name(self.node)})"


@dataclass(frozen=True)
class Restart:
    """A crashed node starts again from what it saved (and runs `on recover`)."""

    node: int

    def apply(self, sim: Simulation) -> bool:
        if sim.nodes[self.node].up:
            return False
        sim.restart(self.node)
        return True

    def __repr__(self) -> str:
        return f"Restart({node_name(self.node)})"


@dataclass(frozen=True)
class Lose:
    """The network loses a message in flight: the `pick`-th (modulo how many there are), if any."""

    pick: int

    def apply(self, sim: Simulation) -> bool:
        if not sim.net:
            return False
        sim.lose(sim.net[self.pick % len(sim.net)])
        return True


@dataclass(frozen=True)
class Partition:
    """The nodes of `side` and the others can no longer talk (until `Heal`)."""

    side: tuple[int, ...]

    def apply(self, sim: Simulation) -> bool:
        sim.partition([set(self.side), set(range(sim.n)) - set(self.side)])
        return True

    def __repr__(self) -> str:
        return f"Partition({','.join(node_name(i) for i in self.side)})"


@dataclass(frozen=True)
class Heal:
    """Every node can talk to every other again."""

    def apply(self, sim: Simulation) -> bool:
        sim.heal()
        return True


@dataclass(frozen=True)
class Wait:
    """Virtual time passes: messages arrive and timers fire as the simulation's clock says."""

    seconds: float

    def apply(self, sim: Simulation) -> bool:
        sim.run(sim.now + self.seconds, max_steps=WAIT_STEPS)
        return True


FaultStep = Crash | Restart | Lose | Partition | Heal | Wait


def _node_count(nodes: int | CompiledSpec) -> int:
    n = nodes.n_nodes if isinstance(nodes, CompiledSpec) else int(nodes)
    if n < 1:
        raise ValueError(f"a fault schedule needs at least one node, not {n}")
    return n


def fault_schedules(nodes: int | CompiledSpec, *, max_steps: int = 20, max_crashes: int = 1, max_losses: int = 2,
                    partitions: bool = True, max_wait: float = MAX_WAIT) -> st.SearchStrategy[list[FaultStep]]:
    """Lists of at most `max_steps` fault steps for `nodes` nodes (a number, or a spec's).

    Each list is valid as it is played: a `Crash` names a node up at that point (at most
    `max_crashes` of them), a `Restart` one down; at most `max_losses` `Lose`; `Partition` and
    `Heal` only when `partitions` and there are two nodes or more. Shrinking goes towards
    fewer steps and towards `Wait`.
    """
    n = _node_count(nodes)

    @st.composite
    def schedule(draw: Any) -> list[FaultStep]:
        up, crashes, losses = set(range(n)), 0, 0
        out: list[FaultStep] = []
        for _ in range(draw(st.integers(0, max_steps), label="steps")):
            kinds = ["wait"]
            if crashes < max_crashes and up:
                kinds.append("crash")
            if len(up) < n:
                kinds.append("restart")
            if losses < max_losses:
                kinds.append("lose")
            if partitions and n > 1:
                kinds += ["partition", "heal"]
            kind = draw(st.sampled_from(kinds))
            if kind == "wait":
                out.append(Wait(draw(st.floats(0.001, max_wait))))
            elif kind == "crash":
                node = draw(st.sampled_from(sorted(up)))
                up.discard(node)
                crashes += 1
                out.append(Crash(node))
            elif kind == "restart":
                node = draw(st.sampled_from(sorted(set(range(n)) - up)))
                up.add(node)
                out.append(Restart(node))
            elif kind == "lose":
                losses += 1
                out.append(Lose(draw(st.integers(0, 2 * n))))
            elif kind == "partition":
                out.append(Partition(tuple(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n - 1))))))
            else:
                out.append(Heal())
        return out

    return schedule()


def run_schedule(sim: Simulation, steps: Iterable[FaultStep]) -> None:
    """Play `steps` on the simulation; it raises `InvariantViolation` at the first state breaking an invariant."""
    for step in steps:
        step.apply(sim)


def fault_machine(cs: CompiledSpec, max_crashes: int = 2, max_losses: int = 3, partitions: bool = True,
                  requests: int | None = None) -> type[RuleBasedStateMachine]:
    """A state machine class exploring `cs` in the simulation under random faults."""
    n = cs.n_nodes
    nodes = st.integers(0, n - 1)
    max_requests = cs.budget.get("requests", 0) if requests is None else requests

    class SpecFaults(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sim: Simulation | None = None
            self.crashes = self.losses = self.requests = 0

        @initialize(seed=st.integers(0, 2**32 - 1))
        def boot(self, seed: int) -> None:
            self.sim = Simulation(cs, seed=seed)

        @property
        def s(self) -> Simulation:
            assert self.sim is not None
            return self.sim

        @precondition(lambda self: self.sim is not None and bool(self.sim.net))
        @rule(data=st.data())
        def deliver(self, data: Any) -> None:
            self.s.deliver(data.draw(st.sampled_from(self.s.inflight()), label="message"))

        if cs.timers:
            @rule(node=nodes, k=st.integers(0, len(cs.timers) - 1))
            def fire(self, node: int, k: int) -> None:
                if self.s.nodes[node].up:
                    self.s.fire(node, cs.timers[k])

        if cs.requests:
            @precondition(lambda self: self.requests < max_requests)
            @rule(node=nodes, data=st.data())
            def request(self, node: int, data: Any) -> None:
                h = data.draw(st.sampled_from(cs.requests), label="handler")
                args = data.draw(st.sampled_from(h.arg_domain), label="args") if h.params else ()
                if self.s.nodes[node].up and self.s.request(node, h.name, args, h) is not None:
                    self.requests += 1

        @precondition(lambda self: self.crashes < max_crashes)
        @rule(node=nodes)
        def crash(self, node: int) -> None:
            self.crashes += Crash(node).apply(self.s)

        @rule(node=nodes)
        def restart(self, node: int) -> None:
            Restart(node).apply(self.s)

        @precondition(lambda self: self.sim is not None and bool(self.sim.net) and self.losses < max_losses)
        @rule(data=st.data())
        def lose(self, data: Any) -> None:
            self.losses += Lose(data.draw(st.integers(0, len(self.s.net) - 1), label="lost")).apply(self.s)

        if partitions and n > 1:
            @rule(side=st.sets(nodes, min_size=1, max_size=n - 1))
            def partition(self, side: set[int]) -> None:
                Partition(tuple(sorted(side))).apply(self.s)

            @rule()
            def heal(self) -> None:
                Heal().apply(self.s)

        @rule(dt=st.floats(0.001, MAX_WAIT))
        def wait(self, dt: float) -> None:
            Wait(dt).apply(self.s)

        @invariant()
        def spec_invariants(self) -> None:
            if self.sim is not None:
                self.sim.check()

    SpecFaults.__name__ = f"{cs.name.capitalize()}Faults"
    return SpecFaults


def run_fault_machine(cs: CompiledSpec, *, examples: int = 40, steps: int = 30, max_crashes: int = 2, max_losses: int = 3,
                      partitions: bool = True, requests: int | None = None, **options: Any) -> None:
    """Run `fault_machine(cs, ...)` as a hypothesis test: `examples` runs of at most `steps` steps each.

    No deadline (a `wait` step may run the simulation for a while) and no health checks (rules
    draw from the simulation's state, which hypothesis counts as filtering); `options` are more
    hypothesis settings (`database=None`, `phases=...`). Raises the first failure, shrunk."""
    run_state_machine_as_test(
        fault_machine(cs, max_crashes=max_crashes, max_losses=max_losses, partitions=partitions, requests=requests),
        settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                          suppress_health_check=list(HealthCheck), **options))
