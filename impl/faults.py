"""A hypothesis state machine generated from a spec: random fault schedules on the simulation.

One rule per event or fault (deliver, fire a timer, client request, crash, restart, lose,
duplicate, partition, heal, let time pass), preconditions for the budgets, and the spec's own
invariants checked by the simulation after every step. Users never subclass: they call
`fault_machine(cs)` and run the class it returns (``run_state_machine_as_test`` or
``Machine.TestCase``). A failure shrinks to a short list of steps and is replayed from its seed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pnyx.model.compiler import CompiledSpec

from .sim import Simulation


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
            if self.s.nodes[node].up:
                self.crashes += 1
                self.s.crash(node)

        @rule(node=nodes)
        def restart(self, node: int) -> None:
            if not self.s.nodes[node].up:
                self.s.restart(node)

        @precondition(lambda self: self.sim is not None and bool(self.sim.net) and self.losses < max_losses)
        @rule(data=st.data())
        def lose(self, data: Any) -> None:
            self.losses += 1
            self.s.lose(data.draw(st.sampled_from(self.s.net), label="lost"))

        if partitions and n > 1:
            @rule(side=st.sets(nodes, min_size=1, max_size=n - 1))
            def partition(self, side: set[int]) -> None:
                self.s.partition([side, set(range(n)) - side])

            @rule()
            def heal(self) -> None:
                self.s.heal()

        @rule(dt=st.floats(0.001, 0.3))
        def wait(self, dt: float) -> None:
            self.s.run(self.s.now + dt, max_steps=200)

        @invariant()
        def spec_invariants(self) -> None:
            if self.sim is not None:
                self.sim.check()

    SpecFaults.__name__ = f"{cs.name.capitalize()}Faults"
    return SpecFaults
