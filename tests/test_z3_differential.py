"""The z3 translation and the explicit model agree event by event at reachable states.

For generated specs (tests/gen_specs.py) and the bundled ones, the states the explicit
checker reaches are sampled; at each, the events the translation enables and the states
they lead to (read back from z3 models, one per choice) must be exactly
`SpecModel.successors`, events typed as pnyx.model.system's catalogue. Independently of
that enumeration, the event classes z3 enables (one query per branch: is it enabled at all?)
must be the explicit checker's. Deliberately broken translations and a perturbed state show
that the comparisons do catch a difference.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import z3
from gen_specs import small_specs
from hypothesis import HealthCheck, Phase, find, given, settings
from specs import compiled

from pnyx.checker.model import SpecModel
from pnyx.checker.z3.encode import TRUE, const, not_
from pnyx.checker.z3.successors import z3_successors
from pnyx.checker.z3.translate import Translator, _leaves, _Symbolic
from pnyx.model import ir
from pnyx.model.compiler import CompiledSpec, load
from pnyx.model.system import EVENTS, Deliver, Lose, Request, fairness_class
from pnyx.model.types import default

ROOT = Path(__file__).resolve().parent.parent
GOSSIP = ROOT / "spec" / "gossip.pnyx"
ZAB = ROOT / "spec" / "zab_broadcast.pnyx"
LANGUAGE = (ROOT / "docs" / "language.md").read_text()
EXPLORE = 2000  # reachable states explored per spec (breadth-first)
SAMPLE = 40  # states compared per spec

# A `choose` whose options depend on an earlier one: the handler is enabled (c1 = n2, c2 = n1)
# although c1 = n1 leaves nothing to choose, so the message is delivered, never dropped.
DEPENDENT_CHOICE = """
spec dep
nodes 2
network fifo capacity 1
budget { requests = 1 }
message A(v: 0..1)
state {
  volatile s: set[Node] = {}
  volatile got: 0..1 = 0
}
on request go() {
  s = {self}
  send A(0) to self
}
on A(x) from src {
  choose c1 in Node
  choose c2 in {p in Node where p != c1 and p in s}
  got = 1
}
"""


# `choose` over an empty set: the handler is disabled and the message dropped (the choice's
# side conditions once made the drop impossible, so the message stayed at the channel's head)
EMPTY_CHOICE = """
spec empty
nodes 2
network fifo capacity 1
budget { requests = 1 }
message A(v: 0..1)
state { volatile s: set[Node] = {} }
on request go() { send A(0) to self }
on A(x) from src {
  choose c in s
  s = {c}
}
"""


def _freeze(x: Any) -> Any:
    return tuple(_freeze(y) for y in x) if isinstance(x, (list, tuple)) else x


def _event(ev: tuple, fifo: bool) -> tuple:
    """An event without what only one side records: a request's replies, an unordered loss's index.
    Both sides give the typed events of pnyx.model.system (a plain tuple compares equal: checked apart)."""
    assert type(ev) in EVENTS, f"not an event of the catalogue: {ev!r}"
    e = tuple.__new__(type(ev), _freeze(ev))
    if isinstance(e, Request):
        return e._replace(replies=())
    if isinstance(e, Lose) and not fifo:
        return e._replace(slot=-1)
    return e


def reachable_sample(cs: CompiledSpec, seed: int = 0) -> list[tuple]:
    """Up to SAMPLE states among the first EXPLORE the explicit model reaches, always the initial one."""
    model = SpecModel(cs)
    init = model.init_states()
    seen, order, k = set(init), list(init), 0
    while k < len(order) and len(order) < EXPLORE:
        for _, s2 in model.successors(order[k]):
            if s2 not in seen:
                seen.add(s2)
                order.append(s2)
        k += 1
    rest = order[1:]
    return order[:1] + random.Random(seed).sample(rest, min(len(rest), SAMPLE - 1))


def differences(cs: CompiledSpec, states: list[tuple], explicit_states: list[tuple] | None = None) -> list[str]:
    """Where the two relations disagree, state by state (compared with `explicit_states` if given)."""
    model = SpecModel(cs)
    tr = Translator(cs)
    out = []
    for s, e in zip(states, explicit_states or states):
        want = {(_event(ev, tr.fifo), s2) for ev, s2 in model.successors(e)}
        got = {(_event(ev, tr.fifo), s2) for ev, s2 in z3_successors(tr, s)}
        if want != got:
            out.append(f"at {s}: explicit only {sorted(want - got, key=repr)[:2]}, z3 only {sorted(got - want, key=repr)[:2]}")
    return out


def enabled_classes(tr: Translator, state: tuple) -> set[tuple]:
    """The fairness classes (events without their outcome) z3 enables at a concrete state: a
    satisfiability query per branch, the class read from its model (a request's arguments are
    part of its class: one query per argument tuple)."""
    out = set()
    for br in tr.branches(tr.concrete_state(state)):
        solver = z3.Solver()
        solver.add(br.enabled, *br.side)
        args = [x for x in (z3_leaves(a) for a in br.args) for x in x]
        while solver.check() == z3.sat:
            m = solver.model()
            out.add(fairness_class(tr.event(br, m)))
            if not args:
                break
            solver.add(z3.Or(*(x != m.eval(x, model_completion=True) for x in args)))
    return out


def z3_leaves(v: Any) -> list[Any]:
    out: list[Any] = []
    _leaves(v, out)
    return out


def class_differences(cs: CompiledSpec, states: list[tuple]) -> list[str]:
    """Where the event classes enabled differ, state by state."""
    model, tr = SpecModel(cs), Translator(cs)
    out = []
    for s in states:
        want = {fairness_class(ev) for ev, _ in model.successors(s)}
        got = enabled_classes(tr, s)
        if want != got:
            out.append(f"at {s}: explicit only {sorted(want - got, key=repr)[:2]}, z3 only {sorted(got - want, key=repr)[:2]}")
    return out


def down_facts_hold(cs: CompiledSpec, state: tuple) -> bool:
    tr = Translator(cs)
    facts = tr.down_facts(tr.concrete_state(state))
    return all(z3.is_true(z3.simplify(f)) for f in facts)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_specs())
def test_generated_specs_z3_successors_are_the_explicit_ones(src: str) -> None:
    cs = compiled(src)
    states = reachable_sample(cs)
    assert differences(cs, states) == []
    assert class_differences(cs, states[:10]) == []
    # the facts the prover assumes about down nodes hold in every sampled reachable state
    assert all(down_facts_hold(cs, s) for s in states)


@pytest.mark.parametrize("path,consts", [(GOSSIP, {"N": 2, "WRITES": 1, "CRASHES": 1}),
                                         (ZAB, {"TXNS": 1, "VALUES": 1, "CAP": 2})])
def test_bundled_specs_z3_successors_are_the_explicit_ones(path: Path, consts: dict[str, int]) -> None:
    cs = load(str(path), consts)
    states = reachable_sample(cs)
    assert len(states) == SAMPLE
    assert any(not all(s[1]) for s in states)  # states with a node down are among them
    assert differences(cs, states) == []


def test_a_delivery_is_dropped_when_a_choice_has_no_option() -> None:
    cs = compiled(EMPTY_CHOICE)
    states = reachable_sample(cs)
    assert len(states) == 4 and differences(cs, states) == []  # initial, A in flight at n1 or n2, dropped
    drops = [ev for s in states for ev, _ in z3_successors(Translator(cs), s) if isinstance(ev, Deliver)]
    assert drops and all(ev.handler == -1 for ev in drops)


def test_a_delivery_is_dropped_only_when_no_choice_enables_a_handler() -> None:
    cs = compiled(DEPENDENT_CHOICE)
    states = reachable_sample(cs)
    assert differences(cs, states) == []
    with broken("never"):  # the former translation: dropped if *some* choice disables the handler
        assert differences(cs, states)


# ---- negative controls: the comparison sees a broken relation or a wrong state ----
@contextmanager
def broken(what: str) -> Iterator[None]:
    """The translator with one deliberate bug."""
    mp = pytest.MonkeyPatch()
    if what == "never":
        mp.setattr(Translator, "never", lambda self, r: not_(r.enabled))
    elif what == "cut":  # a crash leaves the channels as they are
        mp.setattr(Translator, "cut", lambda self, net, i: net)
    elif what == "sends to down nodes":  # a message to a down node is kept
        orig = Translator.apply
        mp.setattr(Translator, "apply", lambda self, s, node, run, net, up: orig(self, s, node, run, net,
                                                                                   [z3.BoolVal(True)] * len(up)))
    elif what == "reset ignored":  # `reset` leaves the variables as they are
        mp.setitem(_Symbolic._dispatch, ir.Reset, lambda self, s: None)
    elif what == "definitions ignored":  # a `def` applied gives its result type's default
        mp.setitem(_Symbolic._dispatch, ir.Apply, lambda self, e: const(default(e.type), e.type))
    elif what == "untyped events":  # events as plain tuples in the catalogue's layout
        event = Translator.event
        mp.setattr(Translator, "event", lambda self, br, m: tuple(event(self, br, m)))
    elif what == "budgets unlimited":  # an event stays enabled once its budget is spent
        spending = Translator.spending
        mp.setattr(Translator, "spending", lambda self, s, slot: None if (spent := spending(self, s, slot)) is None
                   else (TRUE, spent[1]))
    try:
        yield
    finally:
        mp.undo()


@pytest.mark.parametrize("bug", ["cut", "sends to down nodes"])
def test_a_broken_translation_differs_on_gossip(bug: str) -> None:
    cs = load(str(GOSSIP), {"N": 2, "WRITES": 1, "CRASHES": 1})
    states = reachable_sample(cs)
    with broken(bug):
        assert differences(cs, states)


def test_a_broken_translation_differs_on_some_generated_spec() -> None:
    def caught(src: str) -> bool:
        cs = compiled(src)
        states = reachable_sample(cs)
        with broken("cut"):
            return bool(differences(cs, states))

    found = find(small_specs(), caught, settings=settings(max_examples=200, phases=[Phase.generate], database=None,
                                                         deadline=None, suppress_health_check=list(HealthCheck)))
    assert "crashes = 1" in found


def doc_example(section: str) -> str:
    """The first spec shown under a heading of docs/language.md."""
    return re.findall(r"```\n(.*?)```", LANGUAGE[LANGUAGE.index(section):], flags=re.S)[0]


@pytest.mark.parametrize("section,bug", [("## Definitions", "definitions ignored"), ("## Procedures", "reset ignored")])
def test_definitions_and_procedures_z3_successors_are_the_explicit_ones(section: str, bug: str) -> None:
    cs = compiled(doc_example(section))
    states = reachable_sample(cs)
    assert differences(cs, states) == []
    with broken(bug):
        assert differences(cs, states)


def test_untyped_events_are_a_difference() -> None:
    cs = load(str(GOSSIP), {"N": 2, "WRITES": 1, "CRASHES": 1})
    states = reachable_sample(cs)[:3]
    with broken("untyped events"), pytest.raises(AssertionError, match="not an event of the catalogue"):
        differences(cs, states)


def test_bundled_specs_z3_enables_the_explicit_event_classes() -> None:
    cs = load(str(GOSSIP), {"N": 2, "WRITES": 1, "CRASHES": 1})
    states = reachable_sample(cs)
    assert class_differences(cs, states) == []
    with broken("budgets unlimited"):  # a request or crash after the budget is spent
        assert class_differences(cs, states)


def test_a_perturbed_state_differs() -> None:
    cs = load(str(GOSSIP), {"N": 2, "WRITES": 1, "CRASHES": 1})
    s = reachable_sample(cs)[5]
    ns, up, net, budget = s
    other = (ns, up, net, (budget[0] + 1,) + budget[1:])  # one request fewer left
    assert differences(cs, [s], [other])


def test_down_facts_fail_on_a_state_no_run_reaches() -> None:
    cs = load(str(ZAB), {"TXNS": 1, "VALUES": 1, "CAP": 2})
    model = SpecModel(cs)
    init = model.init_states()[0]
    _, s1 = next((ev, s2) for ev, s2 in model.successors(init) if isinstance(ev, Request))  # a Propose in flight
    assert down_facts_hold(cs, s1)
    ns, up, net, budget = s1
    dst = next(ci % cs.n_nodes for ci, ch in enumerate(net) if ch)
    down = tuple(u and i != dst for i, u in enumerate(up))
    assert not down_facts_hold(cs, (ns, down, net, budget[:1] + (1,) + budget[2:]))  # down with a message waiting
    assert not down_facts_hold(cs, (ns, down, tuple(() for _ in net), budget))  # down without a crash spent
