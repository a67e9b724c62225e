"""Shrinking counterexamples: among the traces that violate the same property, a simpler one.

Breadth-first search gives a shortest counterexample, but which of the many shortest ones it
gives depends on the order of successors: it may crash a node, or hop from node to node, where
an equally short trace needs no fault. A trace's shape (`Shape`) is measured as its steps,
its faults (crashes, recoveries, losses, duplicates, and timers that spend a budget: the
failure detector's suspicions), its context switches (consecutive steps at different nodes),
the nodes it involves and the magnitude of the values its events carry. Shrinking looks for
the least shape in this order:

- `shortest`: a least-cost search over the state graph whose cost is (steps, faults,
  switches, nodes, values), so among the shortest traces to a violation of the property.
  Every shortest counterexample passes only through states at their breadth-first depth, so
  a state is never expanded at two depths. States are keyed by (state, last node), which
  makes steps, faults and switches (sums along the path) exact minima; nodes and values
  break ties at each state as they come (a greedy choice, not a global minimum).
- `longer`: the same search with faults first, (faults, steps, switches, nodes, values), so
  a trace with fewer faults wins even when it is longer (at most `max_steps` steps).
- `walk`: for a random walk's trace (pnyx simulate), where the state space may be too large
  to search: steps are deleted (halves, quarters, ... single steps), events replaced by other
  events enabled at the same point and neighbouring steps swapped, each candidate replayed
  with the model's own successor function and kept when it still violates the property and
  its shape is smaller by (steps, faults, switches, nodes, values). Then the `shortest`
  search runs, bounded by the shrunk length and a smaller state budget: when it fits, the
  result is the least shape up to that length; when it does not, the local passes' result
  stands.

Nothing here has its own semantics: every candidate is a path of `SpecModel.successors`,
rebuilt at the end by checker/trace.py's `replay`, and the property is the spec's own.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pnyx.model.compiler import CompiledSpec
from pnyx.model.system import Crash, Duplicate, Lose, Recover, Timer, fairness_class

from .bfs import Violation
from .model import SpecModel, State, StepError
from .protocol import Property
from .trace import Trace, replay

MODES = ("shortest", "longer", "walk")
DEFAULT_MAX_STATES = 2_000_000  # (state, last node) pairs a search may hold before it gives up
WALK_MAX_STATES = 200_000  # the same, for the search that follows a walk's deletions
DEFAULT_MAX_REPLAYS = 3_000  # candidate traces a walk shrink may replay


@dataclass(frozen=True)
class Shape:
    """What makes a trace hard to read, in the order shrinking minimizes it."""

    steps: int
    faults: int
    switches: int  # consecutive steps at different nodes
    nodes: int  # distinct nodes where steps happen
    values: int  # sum of the magnitudes of the values the events carry

    def key(self, mode: str) -> tuple[int, ...]:
        """The order a mode minimizes: faults first for `longer`, steps first otherwise."""
        if mode == "longer":
            return (self.faults, self.steps, self.switches, self.nodes, self.values)
        return (self.steps, self.faults, self.switches, self.nodes, self.values)

    def as_dict(self) -> dict[str, int]:
        return {"steps": self.steps, "faults": self.faults, "context_switches": self.switches,
                "nodes": self.nodes, "values": self.values}


@dataclass
class Shrunk:
    """A shrunk counterexample and how it compares with the one it replaces."""

    violation: Violation
    before: Shape
    after: Shape
    mode: str
    explored: int  # (state, last node) pairs the search held, plus the candidate traces a walk replayed
    complete: bool  # False: the state budget stopped the search; the result is the best found before it
    seconds: float
    local: Shape | None = None  # walk: the shape after deletions, replacements and swaps, before the search

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"mode": self.mode, "before": self.before.as_dict(), "after": self.after.as_dict(),
                                  "explored": self.explored, "complete": self.complete, "seconds": round(self.seconds, 3)}
        if self.local is not None:
            out["after_local_passes"] = self.local.as_dict()
        return out


def _magnitude(x: object) -> int:
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return abs(x)
    if isinstance(x, tuple | frozenset):
        return sum(_magnitude(y) for y in x)
    return 0


def _chosen(choices: tuple) -> int:
    """The magnitude of the values a handler chose (`choices` pairs a choice site with its value)."""
    return sum(_magnitude(v) for _, v in choices)


class Costs:
    """Each event's fault count, node and value magnitude, for one spec."""

    def __init__(self, cs: CompiledSpec) -> None:
        self.fault_timers = frozenset(h.index for h in cs.timers if h.spends >= 0)
        self._memo: dict[int, tuple[tuple, tuple[int, int, int]]] = {}

    def of(self, ev: tuple) -> tuple[int, int, int]:
        """(node, fault, value) of an event, remembered: a search meets one event object (the model
        memoizes them) in many states. Keyed by identity (events hold lists of sends, which do not
        hash); the entry keeps the event alive, so that its id is not reused."""
        hit = self._memo.get(id(ev))
        if hit is None or hit[0] is not ev:
            if len(self._memo) >= 1_000_000:
                self._memo.clear()
            hit = self._memo[id(ev)] = (ev, (ev.at, self.fault(ev), self.value(ev)))  # type: ignore[attr-defined]
        return hit[1]

    def fault(self, ev: tuple) -> int:
        if isinstance(ev, Crash | Recover | Lose | Duplicate):
            return 1
        return int(isinstance(ev, Timer) and ev.handler in self.fault_timers)

    @staticmethod
    def value(ev: tuple) -> int:
        kind = ev[0]
        if kind in ("deliver", "lose", "duplicate"):
            total = _magnitude(ev[3][1:])  # the message's fields, not its type number
            return total + (_chosen(ev[5]) if kind == "deliver" else 0)
        if kind == "request":
            return _magnitude(ev[3]) + _chosen(ev[4])
        if kind in ("timer", "recover"):
            return _chosen(ev[3] if kind == "timer" else ev[2])
        return 0

    def shape(self, events: Sequence[tuple]) -> Shape:
        nodes = [ev.at for ev in events]  # type: ignore[attr-defined]
        return Shape(len(events), sum(self.fault(ev) for ev in events),
                     sum(1 for a, b in itertools.pairwise(nodes) if a != b), len(set(nodes)),
                     sum(self.value(ev) for ev in events))


def _property(model: SpecModel, name: str) -> Property:
    for p in model.properties():
        if p.name == name and p.kind == "invariant":
            return p
    raise ValueError(f"no invariant named {name}")


def shrink(cs: CompiledSpec, violation: Violation, mode: str = "shortest", *, max_states: int | None = None,
           max_steps: int | None = None, max_replays: int = DEFAULT_MAX_REPLAYS) -> Shrunk:
    """A counterexample for the same invariant with the least shape `mode` finds (see the module's doc).

    Only invariant violations are shrunk; a failing handler's trace is returned as it is.
    `max_steps` bounds the traces `longer` considers (default: twice the original's steps).
    """
    if mode not in MODES:
        raise ValueError(f"unknown shrink mode {mode!r}: expected one of {', '.join(MODES)}")
    if max_states is None:
        max_states = WALK_MAX_STATES if mode == "walk" else DEFAULT_MAX_STATES
    start = time.perf_counter()
    model = SpecModel(cs)
    costs = Costs(cs)
    before = costs.shape(violation.trace.events)
    if violation.kind != "invariant":
        return Shrunk(violation, before, before, mode, 0, True, time.perf_counter() - start, None)
    prop = _property(model, violation.name)
    local: Shape | None = None
    if mode == "walk":
        steps, explored, _ = _shrink_walk(model, costs, prop, violation.trace, max_replays)
        local = costs.shape(replay(model, steps).events)
        # then a search bounded by the shrunk length, if it fits in its budget: the least shape at any length up to it
        found, held, complete = _search(model, costs, prop, "shortest", max_states, len(steps))
        explored += held
        if found is not None:
            steps = found
    else:
        limit = max_steps if max_steps is not None else 2 * len(violation.trace)
        found, explored, complete = _search(model, costs, prop, mode, max_states, limit)
        steps = found if found is not None else list(violation.trace.steps)
    trace = replay(model, steps)
    after = costs.shape(trace.events)
    if after.key(mode) >= before.key(mode):  # never worse than what it was given
        trace, after = replay(model, list(violation.trace.steps)), before
    last = trace.states[-1]
    shrunk = Violation(violation.kind, violation.name, violation.message, prop.explain(last) or {}, trace)
    return Shrunk(shrunk, before, after, mode, explored, complete, time.perf_counter() - start, local)


def _search(model: SpecModel, costs: Costs, prop: Property, mode: str, max_states: int,
            max_steps: int) -> tuple[list[int] | None, int, bool]:
    """A least-cost path (in `mode`'s order) to a state that violates `prop`: its successor
    indices, the (state, last node) pairs held, and whether the search was not cut short."""
    fp = model.fingerprint
    steps_first = mode != "longer"
    init = model.init_states()[0]
    # a search key is (state fingerprint, the node of the last step); each holds its best cost so far
    k0 = (fp(init), -1)
    best: dict[tuple[int, int], tuple[int, ...]] = {k0: (0, 0, 0, 0, 0)}
    state_of: dict[tuple[int, int], State] = {k0: init}
    parent: dict[tuple[int, int], tuple[tuple[int, int], int, int]] = {}  # key -> (parent key, step index, nodes mask)
    depth_of: dict[int, int] = {k0[0]: 0}  # the breadth-first depth of each state seen (steps-first order)
    mask0 = 0
    heap: list[tuple[tuple[int, ...], int, tuple[int, int], int]] = [((0, 0, 0, 0, 0), 0, k0, mask0)]
    tick = itertools.count(1)
    if not prop.holds(init):
        return [], 1, True
    while heap:
        cost, _, key, mask = heapq.heappop(heap)
        if best.get(key) != cost:
            continue  # a better path to this key was found after this entry was queued
        state = state_of[key]
        if not prop.holds(state):
            return _path(parent, key), len(best), True
        steps = cost[0] if steps_first else cost[1]
        if steps >= max_steps:
            continue
        if len(best) >= max_states:
            return None, len(best), False
        try:
            succ = model.successors(state)
        except StepError:
            continue  # a handler fails here: not a path to this property's violation
        for i, (ev, s2) in enumerate(succ):
            f2 = fp(s2)
            if steps_first:
                d = depth_of.setdefault(f2, steps + 1)
                if d < steps + 1:
                    continue  # reached in fewer steps: a shortest counterexample never passes it later
            node, fault, value = costs.of(ev)
            m2 = mask | (1 << node)
            switch = int(key[1] >= 0 and key[1] != node)
            if steps_first:
                c2 = (cost[0] + 1, cost[1] + fault, cost[2] + switch, m2.bit_count(), cost[4] + value)
            else:
                c2 = (cost[0] + fault, cost[1] + 1, cost[2] + switch, m2.bit_count(), cost[4] + value)
            k2 = (f2, node)
            old = best.get(k2)
            if old is not None and old <= c2:
                continue
            best[k2] = c2
            state_of[k2] = s2
            parent[k2] = (key, i, m2)
            heapq.heappush(heap, (c2, next(tick), k2, m2))
    return None, len(best), True


def _path(parent: dict[tuple[int, int], tuple[tuple[int, int], int, int]], key: tuple[int, int]) -> list[int]:
    out = []
    while key in parent:
        key, i, _ = parent[key]
        out.append(i)
    return out[::-1]


# ---- random walks: delete, replace, swap --------------------------------------------------
def _source(ev: tuple) -> int | None:
    """The node a delivered, lost or duplicated message came from."""
    return ev[2] if ev[0] in ("deliver", "lose", "duplicate") else None


def _loose(ev: tuple) -> tuple:
    """An event with its message's fields, arguments and outcome left out: after a deletion an
    earlier step may have sent the message with other values (a later zxid, another epoch)."""
    kind = ev[0]
    if kind in ("deliver", "lose", "duplicate"):
        return (kind, ev[1], ev[2], ev[3][0])
    return ev[:3] if kind in ("timer", "request") else ev[:2]


def _follow(model: SpecModel, prop: Property, events: Sequence[tuple]) -> tuple[list[int], list[tuple]] | None:
    """Take `events` in order from the initial state, each as the enabled successor with the same
    event (or else the same event class: the same message, timer or request at the same node);
    an event not enabled is left out. The path up to the first state that violates `prop`
    (successor indices and events), or None if no state on it does."""
    state = model.init_states()[0]
    if not prop.holds(state):
        return [], []
    steps: list[int] = []
    taken: list[tuple] = []
    for want in events:
        try:
            succ = model.successors(state)
        except StepError:
            return None
        pick = next((i for i, (ev, _) in enumerate(succ) if ev == want), None)
        for similar in (fairness_class, _loose):
            if pick is None:
                cls = similar(want)
                pick = next((i for i, (ev, _) in enumerate(succ) if similar(ev) == cls), None)
        if pick is None:
            continue
        ev, state = succ[pick]
        steps.append(pick)
        taken.append(ev)
        if not prop.holds(state):
            return steps, taken
    return None


def _shrink_walk(model: SpecModel, costs: Costs, prop: Property, trace: Trace,
                 max_replays: int) -> tuple[list[int], int, bool]:
    """Greedy passes of deletions, replacements and swaps until none helps or the budget is spent."""
    steps, events = list(trace.steps), list(trace.events)
    best_key = costs.shape(events).key("walk")
    replays = 0

    def attempt(candidate: list[tuple]) -> bool:
        nonlocal steps, events, best_key, replays
        replays += 1
        got = _follow(model, prop, candidate)
        if got is None:
            return False
        key = costs.shape(got[1]).key("walk")
        if key >= best_key:
            return False
        steps, events, best_key = got[0], got[1], key
        return True

    improved = True
    while improved and replays < max_replays:
        improved = False
        for node in sorted({ev.at for ev in events}):  # type: ignore[attr-defined]  # leave a node out altogether
            if replays < max_replays and attempt([ev for ev in events if node not in (ev.at, _source(ev))]):  # type: ignore[attr-defined]
                improved = True
        chunk = max(1, len(events) // 2)  # delete halves, then quarters, ... then single steps
        while chunk >= 1 and replays < max_replays:
            i = 0
            while i < len(events) and replays < max_replays:
                if attempt(events[:i] + events[i + chunk :]):
                    improved = True
                else:
                    i += chunk
            chunk //= 2
        # replace each event by another enabled at its point (the fewest faults and switches first)
        i = 0
        while i < len(events) and replays < max_replays:
            state = replay(model, steps[:i]).states[-1]
            try:
                succ = model.successors(state)
            except StepError:
                break
            alternatives = sorted((ev for ev, _ in succ if ev != events[i]), key=lambda ev: (costs.fault(ev), costs.value(ev)))
            for alt in alternatives:
                if replays >= max_replays:
                    break
                if attempt(events[:i] + [alt] + events[i + 1 :]):
                    improved = True
                    break
            i += 1
        for i in range(len(events) - 1):  # swap neighbours (fewer context switches)
            if replays >= max_replays:
                break
            if i + 1 < len(events) and attempt(events[:i] + [events[i + 1], events[i]] + events[i + 2 :]):
                improved = True
    return steps, replays, replays < max_replays
