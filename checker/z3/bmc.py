"""Bounded model checking: is any invariant broken (or any handler failing) within k steps?

The transition relation is translated once, over a template state of free variables,
and each step of the unrolling is that template with the previous frame substituted
for the template state (one z3 `substitute` call per step, no Python re-translation).
Frames are terms over the event selectors and choices of the earlier steps, not fresh
variables (z3 would have to eliminate their defining equations). Each depth adds one
transition layer to the unrolling and asks one question: some invariant fails, or some
handler fails, here. It is asked of a fresh solver: z3 preprocesses a one-shot query
fully, and on gossip and ZAB that beat keeping one solver across depths (with
assumption literals or push/pop) by 1.2x to 2.5x, lemmas learned included.

Depths are tried in increasing order, so a violation is found at the same depth as the
explicit checker's shortest trace. Two reductions keep one trace per class of
equivalent ones, each of the same length as the traces it stands for, so no depth is
missed: with `symmetric` nodes, nodes first act in id order (n1, then n2, ...), and two
consecutive steps that commute (`independent`) are taken in node order. Failures that no
well-formed state allows are dropped from the per-depth question once, up front. Without
a declared capacity a fifo channel gets as many slots as k steps can fill, so the bound
never cuts a behaviour short.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from pnyx.model import ir
from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import ArgumentError
from pnyx.model.system import Deliver, Event, Request, Timer
from pnyx.model.types import SeqType, SetType, domain

from .encode import FALSE, and_, finite, is_false, not_, or_
from .prove import INVARIANT_KINDS, bindings
from .translate import Branch, SymState, Translator, free_leaves


@dataclass
class BmcResult:
    spec: str
    depth: int  # the depth searched
    seconds: float
    kind: str | None = None  # invariant | error, when something breaks
    name: str = ""  # the invariant broken, or the failure
    bindings: dict[str, Any] = field(default_factory=dict)
    states: list[tuple] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    failed_event: Event | None = None
    steps: list[int] | None = None  # successor indices replaying the trace on the explicit model
    depth_cpu: list[float] = field(default_factory=list)  # CPU seconds when each depth was settled
    solve_cpu: float = 0.0  # of the CPU seconds, those spent in z3's check (the rest: translating)
    symmetry: bool = False  # traces restricted to nodes first acting in id order
    order: bool = False  # independent consecutive steps restricted to node order

    @property
    def ok(self) -> bool:
        return self.kind is None


def sends_per_step(cs: CompiledSpec) -> int:
    """The most messages one step can put on one channel (sends times their loops' sizes)."""
    def loop_size(dom: ir.Expr) -> int:
        t = dom.type
        if isinstance(t, SetType) and finite(t.elem):
            return len(domain(t.elem))
        if isinstance(t, SeqType) and t.bound is not None:
            return t.bound
        if isinstance(dom, ir.Range) and isinstance(dom.lo, ir.Literal) and isinstance(dom.hi, ir.Literal):
            return max(0, int(dom.hi.value) - int(dom.lo.value) + 1)
        return cs.n_nodes

    def count(stmts: tuple[ir.Stmt, ...]) -> int:
        total = 0
        for s in stmts:
            if isinstance(s, ir.Send):
                total += 1
            elif isinstance(s, ir.If):
                total += max(count(s.then), count(s.other))
            elif isinstance(s, ir.For):
                total += loop_size(s.domain) * count(s.body)
        return total

    return max([count(h.body) for h in cs.checked.core.handlers] + [1])


class _Eval:
    """A model seen through a substitution: evaluates template terms as one step's terms."""

    def __init__(self, m: z3.ModelRef, pairs: list[tuple[Any, Any]]) -> None:
        self.m = m
        self.pairs = pairs

    def eval(self, e: Any, model_completion: bool = False) -> Any:
        return self.m.eval(z3.substitute(e, *self.pairs), model_completion=model_completion)


class Unrolling:
    """The transition relation over a template state, and its instances step by step."""

    def __init__(self, cs: CompiledSpec, bound: int) -> None:
        tr = self.tr = Translator(cs, bound)
        self.template, wf = tr.fresh_state("t")
        self.brs: list[Branch] = tr.branches(self.template)
        self.live = [k for k, br in enumerate(self.brs) if not is_false(br.enabled)]
        # the event taken: one Bool per branch, exactly one true (a one-hot selector propagates
        # by plain Boolean reasoning; an integer selector made z3 up to 4x slower on ZAB)
        self.is_k = [z3.Bool(f"t.event={k}") for k in range(len(self.brs))]
        seen: dict[int, Any] = {}
        for br in self.brs:
            for x in free_leaves(br):
                seen.setdefault(x.get_id(), x)
        self.free = list(seen.values())
        self.leaves = tr.leaves(self.template)
        # invariants (kept apart, to name the one broken) and handler failures
        self.props = [p for p, e in zip(cs.checked.core.properties, cs.properties) if e.kind in INVARIANT_KINDS]
        self.prop_ok = []
        for p in self.props:
            val, fails = tr.prop(p, self.template)
            self.prop_ok.append(and_(val, not_(fails)))
        self.errs = [and_(*br.side, or_(*(c for c, _, _ in _possible(br, wf)))) if br.errors else FALSE for br in self.brs]
        # the step: which event (with its side conditions), the next frame, who acted
        brs, live, is_k = self.brs, self.live, self.is_k
        step = or_(*(and_(is_k[k], brs[k].enabled, *brs[k].side) for k in live))
        if live:
            step = and_(step, z3.PbEq([(is_k[k], 1) for k in live], 1))
        posts = [tr.leaves(brs[k].post) for k in live]
        nxt = []
        for j, old in enumerate(self.leaves):
            val = old
            for k, post in zip(live, posts):
                if not post[j].eq(old):
                    val = z3.If(is_k[k], post[j], val)
            nxt.append(val)
        acted = [or_(*(is_k[k] for k in live if brs[k].node == i)) for i in tr.nodes]
        actor = z3.IntVal(tr.n - 1)
        for i in reversed(range(tr.n - 1)):
            actor = z3.If(acted[i], i, actor)
        # what decides whether two consecutive steps commute (see `independent`)
        local = or_(*(is_k[k] for k in live if _local(brs[k])))
        reads = [or_(*(is_k[k] for k in live if brs[k].event is Deliver and brs[k].src == i)) for i in tr.nodes]
        to = [_sends_to(tr, brs[k]) for k in live]
        sends_to = [or_(*(and_(is_k[k], t[i]) for k, t in zip(live, to))) for i in tr.nodes]
        self.n_next = len(nxt)
        self.step_pack = _pack([step] + nxt + acted + [actor, local] + reads + sends_to)
        self.check_pack = _pack(self.prop_ok + [or_(*self.errs)])

    def pairs(self, frame: list[Any], d: int) -> list[tuple[Any, Any]]:
        """Template terms -> step d's terms: the frame, and fresh choices and event selector."""
        out = [(a, b) for a, b in zip(self.leaves, frame) if not a.eq(b)]
        out += [(x, z3.Const(f"{x}@{d}", x.sort())) for x in self.free]
        out += [(b, z3.Bool(f"event{d + 1}={k}")) for k, b in enumerate(self.is_k)]
        return out

    def checks(self, pairs: list[tuple[Any, Any]]) -> tuple[list[Any], Any]:
        """(each invariant holds, some handler fails) in the frame of `pairs`."""
        out = z3.substitute(self.check_pack, *pairs).children()
        return out[:-1], out[-1]

    def step(self, pairs: list[tuple[Any, Any]]) -> Step:
        """The step from the frame of `pairs`."""
        out = z3.substitute(self.step_pack, *pairs).children()
        n, k = self.n_next, self.tr.n
        acted = out[1 + n:1 + n + k]
        actor, local = out[1 + n + k:3 + n + k]
        rest = out[3 + n + k:]
        return Step(out[0], out[1:1 + n], acted, actor, local, rest[:k], rest[k:])

    def state(self, frame: list[Any]) -> SymState:
        return self.tr.rebuild(self.template, frame)


def _possible(br: Branch, wf: list[Any]) -> list[tuple[Any, str, int]]:
    """The failures of a branch that can happen from some well-formed state.

    Every state an error-free run reaches is well formed (values within their types,
    channels within their bounds, budgets, down nodes as a crash left them), so a failure
    impossible from all of them (an index a loop keeps in range, a counter its guard
    bounds) never needs asking about at each depth. Most failures of a real spec are of
    that kind, and one small query each, once, is far cheaper than carrying them along.
    """
    solver = z3.Solver()
    solver.set("timeout", 2000)
    solver.add(*wf, *br.side)
    out = []
    for err in br.errors:
        if solver.check(err[0]) != z3.unsat:
            out.append(err)
    return out


@dataclass
class Step:
    """One step of the unrolling, as terms over its event selector and choices."""

    taken: Any  # the event selected is enabled (with its side conditions)
    after: list[Any]  # the next frame's leaves
    acted: list[Any]  # node i took the step (the receiver of a delivery)
    actor: Any  # the same, as an int
    local: Any  # a delivery, timer or request without `disconnect`: it touches its node and channels only
    reads: list[Any]  # it delivers a message from node i
    sends_to: list[Any]  # it sends a message to node i


def first_in_order(st: Step, seen: list[Any], classes: tuple[int, ...]) -> list[Any]:
    """Symmetry breaking: node i may act only once node i - 1 of its class has (in an earlier step).

    With symmetric nodes, renaming the nodes of a trace in the order they first act gives
    a trace of the same length that breaks the same invariants (renamed), so only such
    traces need searching. With roles only nodes of one symmetric role may be renamed
    (`classes`, blocks of consecutive ids), so the order holds within each role.
    """
    return [z3.Implies(st.acted[i], seen[i - 1]) for i in range(1, len(seen)) if classes[i] == classes[i - 1]]


def independent(a: Step, b: Step) -> Any:
    """Steps a then b commute: they could be taken in the other order, to the same state.

    Two local steps at different nodes touch disjoint node states, and channels with
    different ends; the network couples them only if one delivers from the other's node
    while the other sends to it (the send could be the very message delivered, or fill the
    channel the delivery empties). Budget counters only add up. Crashes, recoveries,
    losses, duplications and `disconnect` are never reordered.
    """
    n = range(len(a.acted))
    coupled = or_(*(and_(a.acted[i], b.sends_to[i], a.reads[j], b.acted[j]) for i in n for j in n if i != j))
    coupled_back = or_(*(and_(b.acted[i], a.sends_to[i], b.reads[j], a.acted[j]) for i in n for j in n if i != j))
    return and_(a.local, b.local, not_(a.actor == b.actor), not_(coupled), not_(coupled_back))


LOCAL_EVENTS = (Deliver, Timer, Request)  # run a handler at one live node, touching its own state and channels


def _local(br: Branch) -> bool:
    return br.event in LOCAL_EVENTS and not (br.run and any(s.msg_id < 0 for s in br.run.sends))


def _sends_to(tr: Translator, br: Branch) -> list[Any]:
    """For each node, whether the branch sends it a message (over the template state)."""
    to: list[list[Any]] = [[] for _ in tr.nodes]
    for snd in br.run.sends if br.run is not None else []:
        if snd.msg_id >= 0:
            for j, c in tr.targets(snd):
                to[j].append(c)
    return [or_(*cs) for cs in to]


def _pack(xs: list[Any]) -> Any:
    """Many terms as one (an uninterpreted application), so one `substitute` call handles them all."""
    f = z3.Function(f"pack{len(xs)}", *[x.sort() for x in xs], z3.BoolSort())
    return f(*xs)


def bmc(cs: CompiledSpec, depth: int, timeout_ms: int | None = None, symmetry: bool = True,
        order: bool = True, progress: Callable[[int, float], None] | None = None) -> BmcResult:
    """Search every path of at most `depth` steps for a broken invariant or a failing handler.

    `symmetry` restricts traces of a `symmetric` spec to nodes first acting in id order
    (no effect otherwise); `order` restricts them to independent consecutive steps taken in
    node order; `progress(d, cpu_seconds)` is called as each depth is settled.
    """
    if depth < 0:
        raise ArgumentError("the depth must be at least 0")
    start, cpu0 = time.perf_counter(), time.process_time()
    bound = cs.capacity if cs.capacity is not None else max(1, depth * sends_per_step(cs))
    u = Unrolling(cs, bound)
    tr = u.tr
    breaking = symmetry and cs.symmetric and cs.n_nodes > 1
    result = BmcResult(cs.name, depth, 0.0, symmetry=breaking, order=order)
    path: list[Any] = []  # the unrolling so far: steps taken, reductions, facts already settled

    def solve(query: Any) -> z3.ModelRef | None:
        """A model of the path to this depth and `query`, from a fresh solver (see the module doc)."""
        solver = z3.Solver()
        if timeout_ms:
            solver.set("timeout", timeout_ms)
        solver.add(*path, query)
        t = time.process_time()
        r = solver.check()
        result.solve_cpu += time.process_time() - t
        if r == z3.unknown:
            raise ArgumentError(f"z3 gave up ({solver.reason_unknown()}); lower --depth or shrink the constants")
        return solver.model() if r == z3.sat else None

    frames = [tr.leaves(tr.init_state())]
    steps: list[list[tuple[Any, Any]]] = []  # the substitution of each step taken
    seen = [FALSE] * cs.n_nodes  # node i acted in some earlier step (symmetry breaking)
    prev: Step | None = None
    for d in range(depth + 1):
        pairs = u.pairs(frames[d], d)
        oks, fails = u.checks(pairs)
        props_bad = or_(*(not_(x) for x in oks))
        m = solve(or_(fails, props_bad))
        if m is not None:
            if not any(z3.is_false(m.eval(x, model_completion=True)) for x in oks):
                # a failing step: but an invariant broken at this depth is reported first, as BFS does
                broken_too = solve(props_bad)
                m = m if broken_too is None else broken_too
            _trace(result, u, frames, steps, m)
            broken = next((p for p, x in zip(u.props, oks) if z3.is_false(m.eval(x, model_completion=True))), None)
            if broken is not None:
                result.kind, result.name = "invariant", broken.name
                result.bindings = bindings(cs, broken.name, result.states[-1])
            else:
                at = _Eval(m, pairs)
                for br in u.brs:
                    hit = [(msg, line) for c, msg, line in br.errors if z3.is_true(at.eval(and_(*br.side, c), True))]
                    if hit:
                        result.kind, result.name = "error", f"{hit[0][0]} (spec line {hit[0][1]})"
                        result.failed_event = tr.event(br, at)  # type: ignore[arg-type]
                        break
            break
        result.depth_cpu.append(time.process_time() - cpu0)
        if progress is not None:
            progress(d, result.depth_cpu[-1])
        if d == depth:
            break
        st = u.step(pairs)
        path.append(st.taken)
        if breaking:
            path += first_in_order(st, seen, cs.checked.symmetry_classes)
            seen = [or_(s, a) for s, a in zip(seen, st.acted)]
        if order and prev is not None:
            path.append(z3.Implies(independent(prev, st), prev.actor < st.actor))
        prev = st
        frames.append(st.after)
        steps.append(pairs)
    if result.kind is not None:
        result.steps = _replay_indices(cs, result.states)
    result.seconds = time.perf_counter() - start
    return result


def _trace(result: BmcResult, u: Unrolling, frames: list, steps: list, m: z3.ModelRef) -> None:
    result.states = [u.tr.decode_state(u.state(f), m) for f in frames]
    result.events = []
    for d, pairs in enumerate(steps):
        k = next(k for k in u.live if z3.is_true(m.eval(z3.Bool(f"event{d + 1}={k}"), model_completion=True)))
        result.events.append(u.tr.event(u.brs[k], _Eval(m, pairs)))  # type: ignore[arg-type]


def _replay_indices(cs: CompiledSpec, states: list[tuple]) -> list[int] | None:
    """Successor indices that take the explicit model through `states`; None if it cannot."""
    from pnyx.checker.model import SpecModel

    model = SpecModel(cs)
    if not states or tuple(model.init_states()[0]) != tuple(states[0]):
        return None
    out = []
    for a, b in zip(states, states[1:]):
        succ = model.successors(a)
        k = next((i for i, (_, s2) in enumerate(succ) if tuple(s2) == tuple(b)), None)
        if k is None:
            return None
        out.append(k)
    return out
