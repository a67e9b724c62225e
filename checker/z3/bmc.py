"""Bounded model checking: is any invariant broken (or any handler failing) within k steps?

The transition relation is unrolled from the initial state, one frame of free variables
per step and one selector per step naming the event taken. Depths are tried in
increasing order, so a violation is found at the same depth as the explicit checker's
shortest trace. Without a declared capacity a fifo channel gets as many slots as k steps
can fill, so the bound never cuts a behaviour short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import z3

from pnyx.model import ast as A
from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import ArgumentError
from pnyx.model.types import SeqType, SetType, domain

from .encode import and_, finite, is_false, not_, or_
from .prove import INVARIANT_KINDS, bindings
from .translate import Translator


@dataclass
class BmcResult:
    spec: str
    depth: int  # the depth searched
    seconds: float
    kind: str | None = None  # invariant | error, when something breaks
    name: str = ""  # the invariant broken, or the failure
    bindings: dict[str, Any] = field(default_factory=dict)
    states: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    failed_event: tuple | None = None
    steps: list[int] | None = None  # successor indices replaying the trace on the explicit model

    @property
    def ok(self) -> bool:
        return self.kind is None


def sends_per_step(cs: CompiledSpec) -> int:
    """The most messages one step can put on one channel (sends times their loops' sizes)."""
    ct = cs.checked

    def loop_size(dom: A.Expr) -> int:
        t = ct.expr_types.get(dom)
        if isinstance(t, SetType) and finite(t.elem):
            return len(domain(t.elem))
        if isinstance(t, SeqType) and t.bound is not None:
            return t.bound
        if isinstance(dom, A.RangeExpr) and isinstance(dom.lo, A.Num) and isinstance(dom.hi, A.Num):
            return max(0, dom.hi.value - dom.lo.value + 1)
        return cs.n_nodes

    def count(stmts: tuple[A.Stmt, ...]) -> int:
        total = 0
        for s in stmts:
            if isinstance(s, A.Send):
                total += 1
            elif isinstance(s, A.If):
                total += max(count(s.then), count(s.other))
            elif isinstance(s, A.For):
                total += loop_size(s.domain) * count(s.body)
        return total

    return max([count(h.body) for h in ct.handlers] + [1])


def bmc(cs: CompiledSpec, depth: int, timeout_ms: int | None = None) -> BmcResult:
    """Search every path of at most `depth` steps for a broken invariant or a failing handler."""
    if depth < 0:
        raise ArgumentError("the depth must be at least 0")
    start = time.perf_counter()
    bound = cs.capacity if cs.capacity is not None else max(1, depth * sends_per_step(cs))
    tr = Translator(cs, bound)
    props = [p for p, e in zip(cs.checked.properties, cs.properties) if e.kind in INVARIANT_KINDS]
    solver = z3.Then("simplify", "solve-eqs", "smt").solver()
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    frames = [tr.init_state()]
    steps: list[tuple[Any, list]] = []  # (selector, branches) per step
    result = BmcResult(cs.name, depth, 0.0)

    def check() -> z3.CheckSatResult:
        r = solver.check()
        if r == z3.unknown:
            raise ArgumentError(f"z3 gave up ({solver.reason_unknown()}); lower --depth or shrink the constants")
        return r

    for d in range(depth + 1):
        s = frames[d]
        oks = []
        for p in props:
            val, fails = tr.prop(p, s)
            oks.append(and_(val, not_(fails)))
        solver.push()
        solver.add(or_(*(not_(x) for x in oks)))
        if check() == z3.sat:
            m = solver.model()
            p = next(p for p, x in zip(props, oks) if not z3.is_true(m.eval(x, model_completion=True)))
            _trace(result, tr, frames, steps, m)
            result.kind, result.name = "invariant", p.name
            result.bindings = bindings(cs, p.name, result.states[-1])
            break
        solver.pop()
        brs = tr.branches(s)
        errs = [and_(*br.side, or_(*(c for c, _, _ in br.errors))) for br in brs if br.errors]
        if errs:
            solver.push()
            solver.add(or_(*errs))
            if check() == z3.sat:
                m = solver.model()
                _trace(result, tr, frames, steps, m)
                for br in brs:
                    hit = [(msg, line) for c, msg, line in br.errors
                           if z3.is_true(m.eval(and_(*br.side, c), model_completion=True))]
                    if hit:
                        result.kind, result.name = "error", f"{hit[0][0]} (spec line {hit[0][1]})"
                        result.failed_event = tr.event(br, m)
                        break
                break
            solver.pop()
        if d == depth:
            break
        nxt, _ = tr.fresh_state(f"s{d + 1}")
        sel = z3.Int(f"event{d + 1}")
        live = [k for k, br in enumerate(brs) if not is_false(br.enabled)]
        solver.add(or_(*(and_(sel == k, brs[k].enabled, *brs[k].side) for k in live)))
        # each term of the next frame is defined by one top-level equation (a case split on
        # the event taken), which z3's equation solver eliminates
        now = tr.leaves(s)
        posts = [tr.leaves(brs[k].post) for k in live]
        for j, (var, old) in enumerate(zip(tr.leaves(nxt), now)):
            val = old
            for k, post in zip(live, posts):
                if not post[j].eq(old):
                    val = z3.If(sel == k, post[j], val)
            solver.add(var == val)
        frames.append(nxt)
        steps.append((sel, brs))
    if result.kind is not None:
        result.steps = _replay_indices(cs, result.states)
    result.seconds = time.perf_counter() - start
    return result


def _trace(result: BmcResult, tr: Translator, frames: list, steps: list, m: z3.ModelRef) -> None:
    result.states = [tr.decode_state(f, m) for f in frames]
    result.events = []
    for sel, brs in steps:
        k = m.eval(sel, model_completion=True).as_long()
        result.events.append(tr.event(brs[k], m))


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
