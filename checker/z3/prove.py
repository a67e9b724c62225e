"""Inductive invariants: does a conjunction of invariants hold initially and survive every step?

The pre-state is any well-formed state (types, channel bounds, budgets) satisfying the
conjunction; each event of checker/model.py is one query. A failure is a counterexample
to induction (CTI): a pre-state, an event and a post-state breaking one of the
invariants. Whether the explicit checker reaches that pre-state tells a real bug (it
does) from an invariant too weak to be inductive (it does not: strengthen it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import z3

from pnyx.model import ir
from pnyx.model.compiler import CompiledSpec, PropertyEntry
from pnyx.model.errors import ArgumentError
from pnyx.model.system import Event

from .encode import and_, is_false, not_, or_
from .translate import Branch, Translator

INVARIANT_KINDS = ("invariant", "net-invariant")


@dataclass
class CTI:
    """A counterexample to induction, in checker/model.py's state and event representation."""

    kind: str  # init | step | error
    property: str  # the invariant broken (for an error: the failure)
    bindings: dict[str, Any]
    post: tuple
    pre: tuple | None = None
    event: Event | None = None
    explicit_agrees: bool | None = None  # the compiled property also fails on `post`


@dataclass
class ProofResult:
    spec: str
    invariants: list[str]
    ok: bool
    seconds: float
    branches: int
    queries: int
    channel_bound: int | None  # fifo channels bounded by the prover (None: the spec's capacity or unordered)
    cti: CTI | None = None
    notes: list[str] = field(default_factory=list)


def select_invariants(cs: CompiledSpec, names: list[str]) -> list[ir.Property]:
    """The named invariants of the spec; a clear error for unknown names or `reachable` ones."""
    known = {p.name: p for p in cs.checked.core.properties}
    out = []
    for name in names:
        p = known.get(name)
        if p is None:
            invs = ", ".join(q.name for q in cs.checked.core.properties if q.kind == "invariant") or "none"
            raise ArgumentError(f"{cs.filename} has no invariant {name!r} (invariants: {invs})")
        if p.kind != "invariant":
            raise ArgumentError(f"{name} is a `{p.kind}` property: only invariants can be proved inductive")
        if p not in out:
            out.append(p)
    return out


def entry(cs: CompiledSpec, name: str) -> PropertyEntry:
    return next(p for p in cs.properties if p.name == name)


def holds(cs: CompiledSpec, name: str, state: tuple) -> bool:
    """The compiled (explicit) evaluation of an invariant in a global state."""
    p = entry(cs, name)
    return bool(p.holds(state[0], state[1], state[2]))


def bindings(cs: CompiledSpec, name: str, state: tuple) -> dict[str, Any]:
    p = entry(cs, name)
    try:
        return p.explain(state[0], state[1], state[2]) or {}
    except Exception:  # noqa: BLE001 - bindings are a courtesy; the verdict stands without them
        return {}


def _ok(tr: Translator, props: list[ir.Property], s: Any) -> list[Any]:
    out = []
    for p in props:
        val, fails = tr.prop(p, s)
        out.append(and_(val, not_(fails)))
    return out


def prove(cs: CompiledSpec, names: list[str], channel_bound: int = 3, timeout_ms: int | None = None) -> ProofResult:
    """Check that the conjunction of the named invariants is inductive."""
    start = time.perf_counter()
    props = select_invariants(cs, names)
    tr = Translator(cs, channel_bound)
    result = ProofResult(cs.name, [p.name for p in props], False, 0.0, 0, 0,
                         tr.bound if tr.fifo and cs.capacity is None else None)
    solver = z3.Solver()
    if timeout_ms:
        solver.set("timeout", timeout_ms)

    def check() -> z3.CheckSatResult:
        result.queries += 1
        r = solver.check()
        if r == z3.unknown:
            raise ArgumentError(f"z3 gave up ({solver.reason_unknown()}); raise --timeout or shrink the constants")
        return r

    # initiation
    init = tr.init_state()
    solver.push()
    solver.add(or_(*(not_(x) for x in _ok(tr, props, init))))
    if check() == z3.sat:
        post = tr.decode_state(init, solver.model())
        name = next(p.name for p in props if not holds(cs, p.name, post))
        result.cti = CTI("init", name, bindings(cs, name, post), post, explicit_agrees=True)
        return _done(result, start)
    solver.pop()

    # consecution. The invariants are translated once, over a frame of free variables, and
    # each event's post-state is substituted into them: one translation, and queries as
    # small as a direct translation (equating frames instead makes z3 much slower). Of the
    # post-state's conjuncts, those identical to a pre-state conjunct (the event left what
    # they read alone) hold by assumption and are left out of the query.
    pre, wf = tr.fresh_state("pre")
    pre_ok = _ok(tr, props, pre)
    base = wf + pre_ok
    known = {c.get_id() for x in pre_ok for c in _conjuncts(x)}
    branches = tr.branches(pre)
    result.branches = len(branches)
    after, _ = tr.fresh_state("post")
    parts = [(i, c) for i, x in enumerate(_ok(tr, props, after)) for c in _conjuncts(x)]
    parts.append((0, z3.BoolVal(True)))  # so that `whole` is an And of several terms
    whole = z3.And(*(c for _, c in parts))  # substituted at once: one call per event
    names = tr.leaves(after)

    def fresh_solver() -> z3.Solver:
        nonlocal solver
        solver = z3.Solver()
        if timeout_ms:
            solver.set("timeout", timeout_ms)
        solver.add(*base)
        return solver

    fresh_solver()
    if check() != z3.sat:  # the initial state satisfies `base`: unsat here is a translation bug
        raise AssertionError("no well-formed state satisfies the invariants, yet the initial state does")
    for br in branches:
        if br.errors:
            fresh_solver().add(*br.side, or_(*(c for c, _, _ in br.errors)))
            if check() == z3.sat:
                result.cti = _error_cti(cs, tr, br, pre, solver.model())
                return _done(result, start)
    for br in branches:
        if is_false(br.enabled):
            continue
        values = tr.leaves(br.post)
        assert len(values) == len(names), "a post-state of another shape"
        pairs = [(a, b) for a, b in zip(names, values) if not a.eq(b)]
        subst = z3.substitute(whole, *pairs).children() if pairs else [c for _, c in parts]
        changed = [(i, c) for (i, _), c in zip(parts, subst) if c.get_id() not in known]
        if not changed:
            continue
        fresh_solver().add(*br.side, br.enabled, or_(*(not_(c) for _, c in changed)))
        if check() == z3.sat:
            m = solver.model()
            i = next(i for i, c in changed if not z3.is_true(m.eval(c, model_completion=True)))
            broken = props[i].name
            post = tr.decode_state(br.post, m)
            result.cti = CTI("step", broken, bindings(cs, broken, post), post, tr.decode_state(pre, m), tr.event(br, m),
                             explicit_agrees=_fails_explicitly(cs, broken, post))
            return _done(result, start)
    result.ok = True
    return _done(result, start)


def _conjuncts(x: Any) -> list[Any]:
    """The top-level conjuncts of a formula (a `forall` over nodes gives one per node)."""
    if z3.is_and(x):
        return [c for k in x.children() for c in _conjuncts(k)]
    return [x]


def _fails_explicitly(cs: CompiledSpec, name: str, state: tuple) -> bool:
    try:
        return not holds(cs, name, state)
    except Exception:  # noqa: BLE001 - a property that raises on this state does not hold in it
        return True


def _error_cti(cs: CompiledSpec, tr: Translator, br: Branch, pre: Any, m: z3.ModelRef) -> CTI:
    what = next((f"{msg} (spec line {line})" for c, msg, line in br.errors if z3.is_true(m.eval(c, model_completion=True))),
                "a handler fails")
    state = tr.decode_state(pre, m)
    return CTI("error", what, {}, state, state, tr.event(br, m))


def _done(result: ProofResult, start: float) -> ProofResult:
    result.seconds = time.perf_counter() - start
    return result


@dataclass
class Reach:
    """What the explicit checker says about a CTI's pre-state."""

    found: bool  # a state with the same node states and up flags was reached
    exact: bool  # ... and with the same network and budgets
    depth: int  # steps to the closest such state (the exact one if reached)
    explored: int
    complete: bool  # the whole reachable state space was explored
    network: bool = False  # a state with the same nodes and network was reached (budgets may differ)


def explicit_reach(cs: CompiledSpec, state: tuple, max_states: int = 200_000, max_seconds: float = 30.0) -> Reach:
    """Search for `state` breadth-first in the explicit model (no symmetry, so states compare as they are).

    Besides the whole state, it notes states that match on the nodes (and on the network):
    a pre-state whose nodes are reachable, but never with those messages in flight, is
    still unreachable.
    """
    from pnyx.checker.model import SpecModel, StepError

    model = SpecModel(cs)
    start = time.perf_counter()
    target = tuple(state)
    frontier = [tuple(s) for s in model.init_states()]
    seen = set(frontier)
    nodes_at = net_at = None
    depth = 0
    complete = True
    while frontier:
        for s in frontier:
            if s == target:
                return Reach(True, True, depth, len(seen), complete=False)
            if s[0] == target[0] and s[1] == target[1]:
                nodes_at = depth if nodes_at is None else nodes_at
                if s[2] == target[2] and net_at is None:
                    net_at = depth
        if len(seen) >= max_states or time.perf_counter() - start >= max_seconds:
            complete = False
            break
        nxt = []
        for s in frontier:
            try:
                succ = model.successors(s)
            except StepError:  # a handler fails here: what follows is not explored
                complete = False
                continue
            for _, s2 in succ:
                if s2 not in seen:
                    seen.add(s2)
                    nxt.append(s2)
        frontier = nxt
        depth += 1
    if nodes_at is None:
        return Reach(False, False, 0, len(seen), complete)
    return Reach(True, False, net_at if net_at is not None else nodes_at, len(seen), complete, net_at is not None)
