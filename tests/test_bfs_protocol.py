"""The explorer is generic over checker.protocol.Model: driven here by a hand-written model,
not one compiled from a spec, with exact state counts and an exact shortest path."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from pnyx.checker.bfs import Options, explore
from pnyx.checker.protocol import Model
from pnyx.model.errors import ModelError

Clock = tuple[int, int]  # two counters, each 0..LIMIT


@dataclass
class Counts:
    """A predicate on the two counters, reading only the counters named in `reads`."""

    name: str
    kind: str
    reads: frozenset[Hashable] | None
    test: Callable[[Clock], bool]

    def holds(self, state: Clock) -> bool:
        return self.test(state)

    def explain(self, state: Clock) -> dict[str, int] | None:
        return None if self.test(state) else {"a": state[0], "b": state[1]}

    def error(self, exc: Exception) -> ModelError:
        return ModelError(f"{self.name}: {exc}")


class TwoCounters:
    """Two counters 0..limit; either may be incremented, or, if `swap`, exchanged (a symmetry:
    (a, b) and (b, a) are one state up to renaming). Reachable: (limit + 1)^2 states; the
    diameter is 2 * limit; (x, y) is first reached after x + y steps."""

    name = "two-counters"

    def __init__(self, limit: int, props: list[Counts], symmetric: bool = False) -> None:
        self.limit, self.props, self.symmetric = limit, props, symmetric

    def init_states(self) -> list[Clock]:
        return [(0, 0)]

    def successors(self, state: Clock) -> list[tuple[str, Clock]]:
        a, b = state
        out = []
        if a < self.limit:
            out.append(("inc a", (a + 1, b)))
        if b < self.limit:
            out.append(("inc b", (a, b + 1)))
        return out

    def properties(self) -> list[Counts]:
        return self.props

    def changed(self, before: Clock, after: Clock) -> set[Hashable]:
        return {k for k in (0, 1) if before[k] != after[k]}

    def fingerprint(self, state: Clock) -> int:
        return hash(state)

    def representative(self) -> Callable[[Clock], Clock]:
        return lambda s: (min(s), max(s))


def test_a_hand_written_model_is_explored_exactly() -> None:
    model: Model = TwoCounters(3, [Counts("Bounded", "invariant", frozenset({0, 1}), lambda s: max(s) <= 3),
                                   Counts("Corner", "reachable", frozenset({0, 1}), lambda s: s == (3, 3))])
    r = explore(model)
    assert (r.stats.distinct, r.stats.transitions, r.stats.depth) == (16, 24, 6)  # 4*4 states, 2*3*4 edges
    assert r.ok and r.complete and r.violation is None
    corner = r.reached["Corner"]
    assert corner is not None and corner.events == ["inc a"] * 3 + ["inc b"] * 3  # the first successor first
    assert corner.states[-1] == (3, 3)


def test_the_shortest_violation_and_its_bindings() -> None:
    r = explore(TwoCounters(3, [Counts("SumBelow3", "invariant", frozenset({0, 1}), lambda s: s[0] + s[1] < 3)]))
    v = r.violation
    assert v is not None and v.name == "SumBelow3" and len(v.trace) == 3
    assert v.trace.states[-1] == (3, 0) and v.bindings == {"a": 3, "b": 0}


def test_a_property_is_reevaluated_only_when_its_reads_change() -> None:
    seen: list[Clock] = []

    def a_small(s: Clock) -> bool:
        seen.append(s)
        return s[0] <= 3

    explore(TwoCounters(2, [Counts("ASmall", "invariant", frozenset({0}), a_small)]))
    assert sorted(seen) == [(0, 0), (1, 0), (2, 0)]  # states that change only b are skipped


def test_symmetry_goes_through_the_representative() -> None:
    props = [Counts("Any", "invariant", None, lambda s: True)]
    assert explore(TwoCounters(3, props, symmetric=True)).stats.distinct == 10  # pairs a <= b
    assert explore(TwoCounters(3, props, symmetric=True), Options(symmetry=False)).stats.distinct == 16


def test_a_property_that_raises_is_reported_as_an_error() -> None:
    r = explore(TwoCounters(2, [Counts("Div", "invariant", frozenset({0}), lambda s: 1 // (1 - s[0]) >= 0)]))
    assert r.violation is not None and r.violation.kind == "error" and "Div:" in r.violation.message
    assert r.violation.trace.states[-1] == (1, 0)
