"""BMC finds a violation at exactly the depth of BFS's shortest trace, with and without its
reductions (node symmetry, independent steps in node order, failures no well-formed state
allows pruned), on generated specs (tests/test_z3.py does it on broken gossip and
zab_broadcast models). Deliberately unsound
reductions show that the comparison catches a missed or deepened violation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import z3
from gen_specs import small_specs
from hypothesis import HealthCheck, Phase, find, given, settings
from specs import compiled

import pnyx.checker.z3.bmc as bmc_module
from pnyx.checker.bfs import Options
from pnyx.checker.bfs import check as bfs_check
from pnyx.checker.model import SpecModel
from pnyx.checker.z3.bmc import bmc
from pnyx.model.compiler import CompiledSpec

MAX_DEPTH = 5  # deeper generated violations are checked for absence up to here only


def signature(cs: CompiledSpec, st: tuple) -> str:
    """A formula true of a node with this generated-spec node state (sizes and values, no node ids)."""
    v = {x.name: st[x.slot] for x in cs.vars}
    return (f"n.a == {v['a']} and n.b == {v['b']} and len(n.s) == {len(v['s'])} and "
            f"(n.o == none) == {str(not v['o']).lower()} and len(n.g) == {len(v['g'])}")


def global_signature(cs: CompiledSpec, model: SpecModel, state: tuple) -> str:
    """A formula true of the states with as many nodes of each node signature, and messages of each type."""
    sigs: dict[str, int] = {}
    for st in state[0]:
        sig = signature(cs, st)
        sigs[sig] = sigs.get(sig, 0) + 1
    parts = [f"len({{n in Node where {sig}}}) == {c}" for sig, c in sorted(sigs.items())]
    flight = [m[0] for _, _, m in set(model.in_flight(state))]  # a message name is the *set* of its copies
    parts += [f"len({m.name}) == {flight.count(m.id)}" for m in cs.checked.messages]
    return " and ".join(parts)


def deepest_target(src: str) -> str:
    """The generated spec with the invariant "the state does not look like X", for the X that
    BFS meets last within MAX_DEPTH steps: a violation as deep as the spec allows."""
    lines = [ln for ln in src.splitlines() if not ln.startswith("reachable ")]
    cs = compiled("\n".join(lines) + "\n")
    model = SpecModel(cs)
    frontier = model.init_states()
    seen, first = set(frontier), {}
    for d in range(MAX_DEPTH + 1):
        for s in frontier:
            first.setdefault(global_signature(cs, model, s), d)
        nxt = []
        for s in frontier:
            for _, s2 in model.successors(s):
                if s2 not in seen and len(seen) < 20_000:
                    seen.add(s2)
                    nxt.append(s2)
        frontier = nxt
    target = max(first, key=lambda k: first[k])
    return "\n".join(lines) + f"\ninvariant Target: not ({target})\n"


def bfs_shortest(cs: CompiledSpec) -> int | None:
    """The length of BFS's shortest violation, None if there is none (the search must complete)."""
    res = bfs_check(cs, Options(symmetry=False, max_states=50_000))
    if res.violation is not None:
        return len(res.violation.trace)
    assert res.complete
    return None


def bmc_depth(cs: CompiledSpec, depth: int, **reductions: bool) -> int | None:
    res = bmc(cs, depth, **reductions)
    if res.ok:
        return None
    assert res.kind == "invariant" and res.steps is not None, res  # the trace replays on the explicit model
    return len(res.events)


def agree(cs: CompiledSpec, **reductions: bool) -> bool:
    want = bfs_shortest(cs)
    depth = MAX_DEPTH if want is None else min(want, MAX_DEPTH)
    return bmc_depth(cs, depth, **reductions) == (want if want is not None and want <= MAX_DEPTH else None)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_specs())
def test_generated_specs_bmc_depth_is_bfs_depth(src: str) -> None:
    cs = compiled(deepest_target(src))
    assert agree(cs)
    assert agree(cs, symmetry=False, order=False)


# ---- negative controls ---------------------------------------------------------
@contextmanager
def unsound(what: str) -> Iterator[None]:
    """A reduction made deliberately unsound."""
    mp = pytest.MonkeyPatch()
    if what == "every pair independent":
        mp.setattr(bmc_module, "independent", lambda a, b: z3.BoolVal(True))
    elif what == "only n1 acts":
        mp.setattr(bmc_module, "first_in_order", lambda st, seen, classes: [z3.Not(x) for x in st.acted[1:]])
    elif what == "no failure possible":
        mp.setattr(bmc_module, "_possible", lambda br, wf: [])
    try:
        yield
    finally:
        mp.undo()


# a fixed search (derandomized, no database): the same specs on every run
SEARCH = settings(max_examples=200, phases=[Phase.generate], database=None, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))


def test_an_unsound_order_reduction_misses_a_violation_on_some_generated_spec() -> None:
    def missed(src: str) -> bool:
        cs = compiled(deepest_target(src))
        with unsound("every pair independent"):
            return not agree(cs)

    found = find(small_specs(), missed, settings=SEARCH)  # raises NoSuchExample if the check never fails
    assert missed(found)  # and the miss is repeatable


def test_an_unsound_symmetry_reduction_misses_a_violation_on_some_generated_spec() -> None:
    def missed(src: str) -> bool:
        cs = compiled(deepest_target(src))
        with unsound("only n1 acts"):
            return cs.symmetric and not agree(cs)

    found = find(small_specs(), missed, settings=SEARCH)
    assert re.search(r"nodes [23] symmetric", found)


FAILS_LATE = """
spec late
nodes 2
budget { requests = 1 }
state {
  volatile x: 0..2 = 0
  volatile armed: bool = false
}
on request arm() { armed = true }
on timer tick when armed { x = x + 1 }
invariant Fine: forall n in Node: n.x >= 0
"""

GUARDED = FAILS_LATE.replace("when armed", "when armed and x < 2")


def test_a_failure_after_several_steps_is_found_at_bfs_depth() -> None:
    cs = compiled(FAILS_LATE)
    explicit = bfs_check(cs, Options(symmetry=False)).violation
    assert explicit is not None and explicit.kind == "error" and len(explicit.trace) == 3
    res = bmc(cs, 4)
    assert res.kind == "error" and "x leaves its declared type" in res.name and len(res.events) == 3
    assert res.failed_event is not None and res.failed_event[0] == "timer"
    with unsound("no failure possible"):  # the control: without its failure the model is fine
        assert bmc(cs, 4).ok
    # with the guard, the increment can fail from no well-formed state: pruned, and nothing found
    guarded = compiled(GUARDED)
    assert bfs_check(guarded).violation is None and bmc(guarded, 4).ok


ROLES = """spec R
nodes a: 1, b: 2 symmetric
state { volatile x: 0..1 = 0 }
on timer set when self in b and x == 0 { x = 1 }
invariant NoB: forall n in b: n.x == 0
"""


def test_symmetry_breaking_orders_nodes_within_their_role_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only b's nodes act. Ordered within b, n2 may act first: the violation is at depth 1.
    cs = compiled(ROLES)
    assert bfs_shortest(cs) == 1 and bmc_depth(cs, 3) == 1
    # Control: ordering every node as one class would make n2 wait for n1, which never acts.
    monkeypatch.setattr(type(cs.checked), "symmetry_classes", property(lambda self: (0,) * self.n_nodes))
    assert bmc_depth(cs, 3) is None


LET_RANGE = """spec L
const MAX = 3
nodes 1
budget { requests = 3 }
state { volatile s: seq[0..MAX, MAX] = []
        volatile total: 0..10 = 0 }
on request add(v: 0..MAX) when len(s) < MAX {
  s = append(s, v)
  let top = max({k in 0..<len(s) where s[k] > 0 and (forall i in 0..k - 1: s[i] <= s[k])} | {0})
  let upto = top
  upto = upto + 1
  for j in top..upto - 1 { total = total + 1 }
}
invariant Small: forall n in Node: n.total < 2
"""


def test_a_range_ending_at_a_let_local_has_static_bounds() -> None:
    # `top` is the max of a filtered range: bounded by the range's ends; `upto` widens with each
    # assignment; `k` is bounded by its domain, so `0..k - 1` is too. Without those bounds z3
    # refused the ranges; with them bmc agrees with BFS.
    cs = compiled(LET_RANGE)
    assert bfs_shortest(cs) == 2 and bmc_depth(cs, 3) == 2
