"""Translate a typed spec into z3: handlers by symbolic execution, properties, and the
transition relation over global states (NS, UP, NET, BUDGET) with checker/model.py's semantics.

A step from a symbolic state is a list of `Branch`es, one per event the explicit checker
would try (a delivery on one channel by one handler, a timer at one node, a request,
a crash, a recovery, a loss, a duplication), each with the condition under which it is
enabled and the symbolic state after it. `choose` becomes a free variable constrained to
its options; a request's arguments likewise. Nodes are unrolled concretely, so `self`
and the sender of a delivered message are constants.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import z3

from pnyx.model import ast as A
from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import SpecError
from pnyx.model.typecheck import Sym
from pnyx.model.types import (
    BOOL,
    INT,
    BoolType,
    EnumType,
    IntType,
    MapType,
    NodeType,
    RecordType,
    SeqType,
    SetType,
    TupleType,
    Type,
    default,
    domain,
)

from .encode import (
    FALSE,
    TRUE,
    MsgV,
    OptV,
    SeqV,
    SetV,
    Unsupported,
    and_,
    canon,
    concrete_int,
    const,
    decode,
    eq,
    finite,
    fits,
    fresh,
    implies,
    is_false,
    is_true,
    ite,
    lt,
    member,
    members,
    not_,
    or_,
    select,
    size,
)

MAX_MESSAGE_VALUES = 4096  # unordered networks count each message value: keep that table small
MAX_CHOICE_ENUMERATION = 1024  # choice combinations tried to decide that a delivery is dropped


class TranslationError(SpecError):
    """A construct the z3 back end does not translate, with its position in the spec."""


@dataclass
class SymState:
    ns: list[list[Any]]  # per node, per variable slot
    up: list[Any]
    net: Any  # fifo: list of SeqV of MsgV (index src * N + dst); unordered: {(dst, src, msg): count}
    budget: list[Any]  # used so far: requests, crashes, losses, duplicates, then the spec's own budgets


@dataclass
class Send:
    cond: Any
    dest: Any  # a node, or a SetV of nodes
    msg_id: int
    fields: tuple


@dataclass
class Run:
    """One symbolic execution of a handler."""

    enabled: Any
    state: list[Any]
    sends: list[Send]
    errors: list[tuple[Any, str, int]]
    side: list[Any]
    choices: list[tuple[int, Type, Any, Any]]  # (site, type, value, executed)


@dataclass
class Branch:
    kind: str
    node: int  # the node that takes the step (the receiver of a delivery)
    enabled: Any
    post: SymState
    errors: list[tuple[Any, str, int]] = field(default_factory=list)
    side: list[Any] = field(default_factory=list)
    run: Run | None = None
    handler: int = -1
    src: int = -1
    msg: Any = None  # the delivered (lost, duplicated) message: MsgV, or a concrete tuple
    slot: int = 0  # fifo position of a lost message
    args: tuple = ()
    arg_types: tuple = ()


class _Acc:
    """What a handler body accumulates besides its variables."""

    def __init__(self) -> None:
        self.sends: list[Send] = []
        self.side: list[Any] = []
        self.disabled: list[Any] = []
        self.choices: list[tuple[int, Type, Any, Any]] = []
        self.errors: list[tuple[Any, str, int]] = []


class Translator:
    """The z3 view of one compiled spec; `channel_bound` bounds fifo channels without a capacity."""

    def __init__(self, cs: CompiledSpec, channel_bound: int = 3) -> None:
        self.cs = cs
        self.ct = cs.checked
        self.n = cs.n_nodes
        self.fifo = cs.network == "fifo"
        self.cap = cs.capacity
        self.bound = cs.capacity if cs.capacity is not None else channel_bound
        if not self.ct.messages:
            self.bound = 0
        self.nodes = range(self.n)
        self.names = itertools.count()
        self.handlers = {id(h): i for i, h in enumerate(self.ct.handlers)}
        self.sites: dict[int, int] = {}
        for h in self.ct.handlers:
            k = itertools.count()
            for s in _walk(h.body):
                if isinstance(s, (A.ChooseOne, A.ChooseSubset)):
                    self.sites[id(s)] = next(k)
        self.blank = tuple(tuple(const(default(ft), ft) for _, ft in m.fields) for m in self.ct.messages)
        self.msg_values: list[tuple] = []
        for v in self.ct.vars:
            self.located(lambda v=v: fresh(v.type, "probe", []), v.decl)
        for m in self.ct.messages:
            for (_, ft), f in zip(m.fields, m.decl.fields):
                self.located(lambda ft=ft: fresh(ft, "probe", []), f)
            if not self.fifo:
                if not all(finite(ft) for _, ft in m.fields):
                    raise self.error("an unordered network with a message field of unbounded type", m.decl)
                vals = list(itertools.product(*(domain(ft) for _, ft in m.fields)))
                if len(self.msg_values) + len(vals) > MAX_MESSAGE_VALUES:
                    raise self.error(f"an unordered network with more than {MAX_MESSAGE_VALUES} message values", m.decl)
                self.msg_values += [(m.id,) + v for v in vals]

    # ---- errors -------------------------------------------------------------
    def error(self, what: str, node: A.Node) -> TranslationError:
        spec = self.ct.spec
        return TranslationError(f"the z3 back end does not support {what}", spec.filename, spec.source, node.span)

    def located(self, fn: Any, node: A.Node) -> Any:
        try:
            return fn()
        except Unsupported as exc:
            raise self.error(str(exc), node) from None

    def fresh_name(self, base: str) -> str:
        return f"{base}!{next(self.names)}"

    # ---- states -------------------------------------------------------------
    def fresh_state(self, tag: str) -> tuple[SymState, list[Any]]:
        """A state of free variables, constrained to be well formed (types, bounds, budgets)."""
        out: list[Any] = []
        ns = [[fresh(v.type, f"{tag}.n{i + 1}.{v.name}", out) for v in self.ct.vars] for i in self.nodes]
        up = [z3.Bool(f"{tag}.up.n{i + 1}") for i in self.nodes]
        if self.fifo:
            net = []
            for ci in range(self.n * self.n):
                name = f"{tag}.ch.n{ci // self.n + 1}n{ci % self.n + 1}"
                n = z3.Int(name + "#")
                out.append(z3.And(n >= 0, n <= self.bound))
                items = []
                for k in range(self.bound):
                    t = z3.Int(f"{name}[{k}].tag")
                    out.append(z3.And(t >= 0, t < len(self.ct.messages)))
                    fields = tuple(tuple(fresh(ft, f"{name}[{k}].{m.name}.{f}", out) for f, ft in m.fields)
                                   for m in self.ct.messages)
                    items.append(MsgV(t, fields))
                net.append(SeqV(n, tuple(items)))
        else:
            net = {}
            for d, s, mv in self.keys():
                c = z3.Int(f"{tag}.net.n{s + 1}n{d + 1}.{mv}")
                out.append(c >= 0)
                net[(d, s, mv)] = c
            if self.cap is not None:
                for d in self.nodes:
                    for s in self.nodes:
                        out.append(self.count(net, d, s) <= self.cap)
        b = self.ct.budget
        budget = [z3.Int(f"{tag}.budget.{k}") for k in b]
        for x, k in zip(budget, b):
            out.append(z3.And(x >= 0, x <= b[k]))
        state = SymState(ns, up, net, budget)
        return state, out + self.down_facts(state)

    def down_facts(self, s: SymState) -> list[Any]:
        """What every reachable state says about down nodes, whatever the spec.

        A crash resets a node's volatile variables, cuts its fifo channels both ways and
        loses the datagrams to it; while down it takes no step and sends to it are dropped.
        So a down node has its volatile variables at their initial values and nothing in
        flight to it (fifo: nor from it), and no more nodes are down than crashes were
        spent. Without these, a counterexample to induction could start from a state no
        run reaches (a down node with messages waiting).
        """
        out = []
        for i in self.nodes:
            init = self.cs.init_node(i)
            facts = [eq(s.ns[i][v.slot], const(init[v.slot], v.type)) for v in self.ct.vars if v.storage == "volatile"]
            if self.fifo:
                facts += [ch.n == 0 for ci, ch in enumerate(s.net) if i in divmod(ci, self.n)]
            else:
                facts += [c == 0 for (d, _, _), c in s.net.items() if d == i]
            fact = and_(*facts)
            if not is_true(fact):
                out.append(implies(not_(s.up[i]), fact))
        if s.up:  # budget[1]: crashes spent (checker/model.py's CRASH)
            out.append(z3.Sum([z3.If(u, 0, 1) for u in s.up]) <= s.budget[1])
        return out

    def keys(self) -> Iterator[tuple[int, int, tuple]]:
        for d in self.nodes:
            for s in self.nodes:
                for mv in self.msg_values:
                    yield d, s, mv

    def count(self, net: dict, d: int, s: int) -> Any:
        return z3.Sum([net[(d, s, mv)] for mv in self.msg_values]) if self.msg_values else z3.IntVal(0)

    def init_state(self) -> SymState:
        ns = [[const(x, v.type) for x, v in zip(self.cs.init_node(i), self.ct.vars)] for i in self.nodes]
        up = [TRUE for _ in self.nodes]
        if self.fifo:
            empty = tuple(MsgV(z3.IntVal(0), self.blank) for _ in range(self.bound))
            net: Any = [SeqV(z3.IntVal(0), empty) for _ in range(self.n * self.n)]
        else:
            net = {k: z3.IntVal(0) for k in self.keys()}
        return SymState(ns, up, net, [z3.IntVal(0)] * len(self.ct.budget))

    def concrete_state(self, state: tuple) -> SymState:
        """A global state of checker/model.py as symbolic constants (to run the relation on it)."""
        ns_c, up_c, net_c, budget_c = state
        ns = [[const(x, v.type) for x, v in zip(ns_c[i], self.ct.vars)] for i in self.nodes]
        up = [z3.BoolVal(bool(x)) for x in up_c]
        if self.fifo:
            net: Any = []
            for ch in net_c:
                if len(ch) > self.bound:
                    raise ValueError(f"a channel holds {len(ch)} messages, more than the bound {self.bound}")
                items = [self.const_msg(m) for m in ch]
                items += [MsgV(z3.IntVal(0), self.blank)] * (self.bound - len(ch))
                net.append(SeqV(z3.IntVal(len(ch)), tuple(items)))
        else:
            net = {k: z3.IntVal(0) for k in self.keys()}
            for d, s, m in net_c:
                net[(d, s, tuple(m))] = z3.IntVal(net[(d, s, tuple(m))].as_long() + 1)
        return SymState(ns, up, net, [z3.IntVal(int(x)) for x in budget_c])

    def const_msg(self, m: tuple) -> MsgV:
        """A concrete message `(type id, field, ...)` in the tagged shape of fifo slots."""
        info = self.ct.messages[m[0]]
        mine = tuple(const(x, ft) for x, (_, ft) in zip(m[1:], info.fields))
        return MsgV(z3.IntVal(m[0]), tuple(mine if j == m[0] else self.blank[j] for j in range(len(self.ct.messages))))

    def state_eq(self, a: SymState, b: SymState) -> Any:
        parts = [eq(x, y) for i in self.nodes for x, y in zip(a.ns[i], b.ns[i])]
        parts += [x == y for x, y in zip(a.up, b.up)] + [x == y for x, y in zip(a.budget, b.budget)]
        if self.fifo:
            parts += [eq(x, y) for x, y in zip(a.net, b.net)]
        else:
            parts += [a.net[k] == b.net[k] for k in a.net]
        return and_(*parts)

    def leaves(self, s: SymState) -> list[Any]:
        """Every z3 term of a state in a fixed order (states of one shape pair up term by term)."""
        out: list[Any] = []
        for node in s.ns:
            for v in node:
                _leaves(v, out)
        out += list(s.up) + list(s.budget)
        if self.fifo:
            for ch in s.net:
                _leaves(ch, out)
        else:
            out += [s.net[k] for k in sorted(s.net)]
        return out

    def rebuild(self, shape: SymState, values: list[Any]) -> SymState:
        """A state of the same shape as `shape` whose leaves are `values`, in `leaves` order."""
        it = iter(values)
        ns = [[_rebuild(v, it) for v in node] for node in shape.ns]
        up = [next(it) for _ in shape.up]
        budget = [next(it) for _ in shape.budget]
        if self.fifo:
            net: Any = [_rebuild(ch, it) for ch in shape.net]
        else:
            net = {k: next(it) for k in sorted(shape.net)}
        assert next(it, None) is None, "more values than leaves"
        return SymState(ns, up, net, budget)

    def decode_state(self, s: SymState, m: z3.ModelRef) -> tuple:
        """The state in checker/model.py's representation."""
        ns = tuple(tuple(decode(x, v.type, m) for x, v in zip(s.ns[i], self.ct.vars)) for i in self.nodes)
        up = tuple(z3.is_true(m.eval(x, model_completion=True)) for x in s.up)
        if self.fifo:
            net = tuple(tuple(self.decode_msg(ch.items[k], m) for k in range(decode(ch.n, INT, m))) for ch in s.net)
        else:
            entries = []
            for (d, src, mv), c in s.net.items():
                entries += [(d, src, mv)] * m.eval(c, model_completion=True).as_long()
            net = tuple(sorted(entries))
        budget = tuple(m.eval(x, model_completion=True).as_long() for x in s.budget)
        return ns, up, net, budget

    def decode_msg(self, msg: Any, m: z3.ModelRef) -> tuple:
        if isinstance(msg, tuple):
            return msg
        tag = m.eval(msg.tag, model_completion=True).as_long()
        info = self.ct.messages[tag]
        return (tag,) + tuple(decode(x, ft, m) for x, (_, ft) in zip(msg.fields[tag], info.fields))

    # ---- properties ---------------------------------------------------------
    def prop(self, p: A.Property, s: SymState) -> tuple[Any, Any]:
        """(value, fails): the property in state s, and whether evaluating it raises."""
        errors: list[tuple[Any, str, int]] = []
        fr = _Frame(self, {}, None, s, errors)
        val = fr.ev(p.expr, TRUE)
        return val, or_(*(c for c, _, _ in errors))

    # ---- handlers -----------------------------------------------------------
    def run(self, h: A.Handler, node: int, st: list[Any], binds: dict[str, Any]) -> Run:
        env = {v.name: st[v.slot] for v in self.ct.vars}
        env.update(binds)
        acc = _Acc()
        fr = _Frame(self, env, node, None, acc.errors, acc)
        guard = fr.ev(h.guard, TRUE) if h.guard is not None else TRUE
        fr.block(h.body, guard)
        enabled = and_(guard, not_(or_(*acc.disabled)))
        state = [fr.env[v.name] for v in self.ct.vars]
        return Run(enabled, state, acc.sends, acc.errors, acc.side, acc.choices)

    def apply(self, s: SymState, node: int, run: Run, net: Any, up: list[Any]) -> tuple[Any, Any]:
        """(network after the sends, overflow): sends to a down node are dropped."""
        overflow = []
        if self.fifo:
            net = list(net)
            touched = set()
            for snd in run.sends:
                if snd.msg_id < 0:  # `disconnect`: both channels between node and j are emptied
                    for j, cj in self.targets(snd):
                        if is_false(cj):
                            continue
                        for ci in {node * self.n + j, j * self.n + node}:
                            net[ci] = SeqV(z3.If(cj, 0, net[ci].n), net[ci].items)
                    continue
                msg = MsgV(z3.IntVal(snd.msg_id), tuple(snd.fields if j == snd.msg_id else self.blank[j]
                                                          for j in range(len(self.ct.messages))))
                for j, cj in self.targets(snd):
                    cj = and_(cj, up[j])
                    if is_false(cj):
                        continue
                    ci = node * self.n + j
                    ch = net[ci]
                    touched.add(ci)
                    items = tuple(ite(and_(cj, ch.n == k), msg, x) for k, x in enumerate(ch.items))
                    net[ci] = SeqV(ch.n + z3.If(cj, 1, 0) if not is_true(cj) else ch.n + 1, items)
            # as in checker/model.py: judged on the channels as the step leaves them
            overflow += [net[ci].n > self.bound for ci in sorted(touched)]
        else:
            net = dict(net)
            touched = set()
            for snd in run.sends:
                if snd.msg_id < 0:  # `disconnect`: every message between node and j, either way, is lost
                    for j, cj in self.targets(snd):
                        if not is_false(cj):
                            for key in [k for k in net if {k[0], k[1]} == {node, j}]:
                                net[key] = z3.If(cj, 0, net[key])
                    continue
                for j, cj in self.targets(snd):
                    cj = and_(cj, up[j])
                    if is_false(cj):
                        continue
                    touched.add(j)
                    info = self.ct.messages[snd.msg_id]
                    for mv in self.msg_values:
                        if mv[0] != snd.msg_id:
                            continue
                        hit = and_(cj, *(eq(x, const(y, ft)) for x, y, (_, ft) in zip(snd.fields, mv[1:], info.fields)))
                        if not is_false(hit):
                            net[(j, node, mv)] = net[(j, node, mv)] + z3.If(hit, 1, 0)
            if self.cap is not None:
                overflow += [self.count(net, j, node) > self.cap for j in sorted(touched)]
        return net, or_(*overflow)

    def targets(self, snd: Send) -> list[tuple[int, Any]]:
        if isinstance(snd.dest, SetV):
            bits = canon(snd.dest, SetType(NodeType(self.n)))
            return [(j, and_(snd.cond, k)) for j, (_, k) in enumerate(bits.items)]
        return [(j, and_(snd.cond, eq(snd.dest, z3.IntVal(j)))) for j in self.nodes]

    def step(self, s: SymState, node: int, run: Run, net: Any, up: list[Any], budget: list[Any]) -> tuple[SymState, Any]:
        net2, overflow = self.apply(s, node, run, net, up)
        ns = list(s.ns)
        ns[node] = run.state
        return SymState(ns, up, net2, budget), overflow

    # ---- the transition relation -------------------------------------------
    def branches(self, s: SymState) -> list[Branch]:
        """Every event from state s, in checker/model.py's order."""
        out: list[Branch] = []
        ct = self.ct
        by_msg: list[list[A.Handler]] = [[] for _ in ct.messages]
        for h in ct.handlers:
            if isinstance(h, A.OnMessage):
                by_msg[ct.message(h.message).id].append(h)  # type: ignore[union-attr]
        # deliveries
        if self.fifo:
            for ci, ch in enumerate(s.net):
                if not ch.items:
                    continue  # no message types: channels stay empty
                src, dst = divmod(ci, self.n)
                head = ch.items[0]
                rest = SeqV(ch.n - 1, ch.items[1:] + ch.items[-1:])
                net1 = s.net[:ci] + [rest] + s.net[ci + 1:]
                for mid in range(len(ct.messages)):
                    pre = and_(s.up[dst], ch.n > 0, head.tag == mid)  # a down node never acts
                    self.deliveries(out, s, pre, dst, src, mid, head.fields[mid], by_msg[mid], net1, head)
        else:
            for key, c in s.net.items():
                dst, src, mv = key
                net1 = dict(s.net)
                net1[key] = c - 1
                info = ct.messages[mv[0]]
                fields = tuple(const(x, ft) for x, (_, ft) in zip(mv[1:], info.fields))
                self.deliveries(out, s, and_(s.up[dst], c > 0), dst, src, mv[0], fields, by_msg[mv[0]], net1, mv)
        # timers
        limits = list(ct.budget.values())
        for h in ct.handlers:
            if isinstance(h, A.OnTimer):
                spends = getattr(self.cs.handlers[self.handlers[id(h)]], "spends", -1)  # a budget the timer uses up
                budget, can = s.budget, TRUE
                if spends >= 0:
                    budget = s.budget[:spends] + [s.budget[spends] + 1] + s.budget[spends + 1:]
                    can = s.budget[spends] < limits[spends]
                for i in self.nodes:
                    run = self.run(h, i, s.ns[i], {})
                    post, overflow = self.step(s, i, run, s.net, s.up, budget)
                    out.append(Branch("timer", i, and_(can, s.up[i], run.enabled, not_(overflow)), post,
                                      [(and_(can, s.up[i], c), m, ln) for c, m, ln in run.errors], run.side, run,
                                      self.handlers[id(h)]))
        # requests
        b = ct.budget
        for h in ct.handlers:
            if isinstance(h, A.OnRequest):
                params = ct.request_params[h]
                for i in self.nodes:
                    side: list[Any] = []
                    args = tuple(fresh(t, self.fresh_name(f"arg.{p}"), side) for p, t in params)
                    run = self.run(h, i, s.ns[i], {p: a for (p, _), a in zip(params, args)})
                    budget = [s.budget[0] + 1] + s.budget[1:]
                    post, overflow = self.step(s, i, run, s.net, s.up, budget)
                    pre = and_(s.budget[0] < b["requests"], s.up[i])
                    out.append(Branch("request", i, and_(pre, run.enabled, not_(overflow)), post,
                                      [(and_(pre, c), m, ln) for c, m, ln in run.errors], side + run.side, run,
                                      self.handlers[id(h)], args=args, arg_types=tuple(t for _, t in params)))
        # crashes
        for i in self.nodes:
            init = self.cs.init_node(i)
            st = [const(init[v.slot], v.type) if v.storage == "volatile" else s.ns[i][v.slot] for v in ct.vars]
            ns = list(s.ns)
            ns[i] = st
            up = list(s.up)
            up[i] = FALSE
            budget = s.budget[:1] + [s.budget[1] + 1] + s.budget[2:]
            post = SymState(ns, up, self.cut(s.net, i), budget)
            out.append(Branch("crash", i, and_(s.budget[1] < b["crashes"], s.up[i]), post))
        # recoveries
        rec = next((h for h in ct.handlers if isinstance(h, A.OnRecover)), None)
        for i in self.nodes:
            up = list(s.up)
            up[i] = TRUE
            if rec is None:
                out.append(Branch("recover", i, not_(s.up[i]), SymState(s.ns, up, s.net, s.budget)))
                continue
            run = self.run(rec, i, s.ns[i], {})
            post, overflow = self.step(s, i, run, s.net, up, s.budget)
            out.append(Branch("recover", i, and_(not_(s.up[i]), run.enabled, not_(overflow)), post,
                              [(and_(not_(s.up[i]), c), m, ln) for c, m, ln in run.errors], run.side, run,
                              self.handlers[id(rec)]))
        # losses and duplicates
        if b["losses"] > 0:
            budget = s.budget[:2] + [s.budget[2] + 1] + s.budget[3:]
            can = s.budget[2] < b["losses"]
            if self.fifo:
                for ci, ch in enumerate(s.net):
                    for k in range(self.bound):
                        rest = SeqV(ch.n - 1, ch.items[:k] + ch.items[k + 1:] + ch.items[-1:])
                        net1 = s.net[:ci] + [rest] + s.net[ci + 1:]
                        out.append(Branch("lose", ci % self.n, and_(can, ch.n > k), SymState(s.ns, s.up, net1, budget),
                                          src=ci // self.n, msg=ch.items[k], slot=k))
            else:
                for key, c in s.net.items():
                    net1 = dict(s.net)
                    net1[key] = c - 1
                    out.append(Branch("lose", key[0], and_(can, c > 0), SymState(s.ns, s.up, net1, budget),
                                      src=key[1], msg=key[2]))
        if not self.fifo and b["duplicates"] > 0:
            budget = s.budget[:3] + [s.budget[3] + 1] + s.budget[4:]
            for key, c in s.net.items():
                net1 = dict(s.net)
                net1[key] = c + 1
                room = TRUE if self.cap is None else self.count(s.net, key[0], key[1]) < self.cap
                out.append(Branch("duplicate", key[0], and_(s.budget[3] < b["duplicates"], c > 0, room),
                                  SymState(s.ns, s.up, net1, budget), src=key[1], msg=key[2]))
        return out

    def deliveries(self, out: list[Branch], s: SymState, pre: Any, dst: int, src: int, mid: int, fields: tuple,
                   handlers: list[A.Handler], net1: Any, msg: Any) -> None:
        if is_false(pre):
            return
        runs = []
        for h in handlers:
            assert isinstance(h, A.OnMessage)
            binds = {b: f for b, f in zip(h.binders, fields) if b != "_"}
            if h.sender is not None:
                binds[h.sender] = z3.IntVal(src)
            run = self.run(h, dst, s.ns[dst], binds)
            runs.append(run)
            post, overflow = self.step(s, dst, run, net1, s.up, s.budget)
            out.append(Branch("deliver", dst, and_(pre, run.enabled, not_(overflow)), post,
                              [(and_(pre, c), m, ln) for c, m, ln in run.errors], run.side, run,
                              self.handlers[id(h)], src=src, msg=msg))
        drop = and_(pre, *(self.never(r) for r in runs))
        side = [x for r in runs for x in r.side]
        out.append(Branch("deliver", dst, drop, SymState(s.ns, s.up, net1, s.budget), side=side, src=src, msg=msg))

    def never(self, r: Run) -> Any:
        """The run is disabled whatever it chooses (the explicit checker drops a message then).

        Usually `not enabled`. When a `choose` over an empty set disables the handler only for
        some values of an earlier `choose`, the choices that decide it are enumerated (they
        have small finite domains) and the run must be disabled for each allowed one.
        """
        if is_false(r.enabled) or not r.choices:
            return not_(r.enabled)
        leaf_ids = []
        for _, _, v, _ in r.choices:
            ls: list[Any] = []
            _leaves(v, ls)
            leaf_ids.append({x.get_id() for x in ls})
        everyone = set().union(*leaf_ids)
        need = {i for i, ids in enumerate(leaf_ids) if ids & _consts(r.enabled, everyone)}
        if not need:
            return not_(r.enabled)
        sides = [(c, _consts(c, everyone)) for c in r.side]
        grew = True
        while grew:  # the choices constraining those (an option set that depends on another choice)
            grew = False
            for _, ids in sides:
                touched = {i for i, own in enumerate(leaf_ids) if own & ids}
                if touched & need and not touched <= need:
                    need |= touched
                    grew = True
        mine = set().union(*(leaf_ids[i] for i in need))
        relevant = [c for c, ids in sides if ids & mine]
        options = []
        for i in sorted(need):
            _, t, v, _ = r.choices[i]
            ls = []
            _leaves(v, ls)
            if isinstance(v, SetV):
                vals = [[z3.BoolVal(b) for b in bits] for bits in itertools.product((False, True), repeat=len(ls))]
            elif finite(t):
                vals = []
                for d in domain(t):
                    out: list[Any] = []
                    _leaves(const(d, t), out)
                    vals.append(out)
            else:
                return not_(r.enabled)  # unbounded: keep the over-approximation (docs/z3.md)
            options.append([list(zip(ls, val)) for val in vals])
        if math.prod(len(o) for o in options) > MAX_CHOICE_ENUMERATION:
            return not_(r.enabled)
        body = or_(not_(and_(*relevant)), not_(r.enabled))
        return and_(*(z3.substitute(body, *[p for part in combo for p in part]) for combo in itertools.product(*options)))

    def cut(self, net: Any, i: int) -> Any:
        if self.fifo:
            return [SeqV(z3.IntVal(0), ch.items) if (ci // self.n == i or ci % self.n == i) else ch for ci, ch in enumerate(net)]
        return {k: (z3.IntVal(0) if k[0] == i else c) for k, c in net.items()}

    # ---- events as checker/model.py writes them -----------------------------
    def event(self, br: Branch, m: z3.ModelRef) -> tuple:
        """The explicit checker's event tuple for a branch taken in model m (for `describe`)."""
        def on(c: Any) -> bool:
            return z3.is_true(m.eval(c, model_completion=True))

        run = br.run
        choices: tuple = ()
        sends: tuple = ()
        if run is not None:
            choices = tuple((site, decode(v, t, m)) for site, t, v, done in run.choices if on(done))
            out = []
            for snd in run.sends:
                if snd.msg_id < 0:
                    out += [(j, None) for j, c in self.targets(snd) if on(c)]
                    continue
                info = self.ct.messages[snd.msg_id]
                msg = (snd.msg_id,) + tuple(decode(x, ft, m) for x, (_, ft) in zip(snd.fields, info.fields))
                out += [(j, msg) for j, c in self.targets(snd) if on(c)]
            sends = tuple(out)
        if br.kind == "deliver":
            return ("deliver", br.node, br.src, self.decode_msg(br.msg, m), br.handler if run else -1, choices, sends)
        if br.kind == "timer":
            return ("timer", br.node, br.handler, choices, sends)
        if br.kind == "request":
            args = tuple(decode(a, t, m) for a, t in zip(br.args, br.arg_types))
            return ("request", br.node, br.handler, args, choices, sends, ())
        if br.kind == "crash":
            return ("crash", br.node)
        if br.kind == "recover":
            return ("recover", br.node, choices, sends)
        if br.kind == "lose":
            return ("lose", br.node, br.src, self.decode_msg(br.msg, m), br.slot)
        return ("duplicate", br.node, br.src, self.decode_msg(br.msg, m))


def _leaves(v: Any, out: list[Any]) -> None:
    if isinstance(v, z3.ExprRef):
        out.append(v)
    elif isinstance(v, tuple):
        for x in v:
            _leaves(x, out)
    elif isinstance(v, SetV):
        out += [k for _, k in v.items]
    elif isinstance(v, SeqV):
        out.append(v.n)
        _leaves(v.items, out)
    elif isinstance(v, OptV):
        out.append(v.some)
        if v.val is not None:
            _leaves(v.val, out)
    elif isinstance(v, MsgV):
        out.append(v.tag)
        _leaves(v.fields, out)


def _rebuild(v: Any, it: Iterator[Any]) -> Any:
    """`v` with its leaves (in `_leaves` order) taken from `it`."""
    if isinstance(v, z3.ExprRef):
        return next(it)
    if isinstance(v, tuple):
        return tuple(_rebuild(x, it) for x in v)
    if isinstance(v, SetV):
        return SetV(tuple((e, next(it)) for e, _ in v.items))
    if isinstance(v, SeqV):
        n = next(it)
        return SeqV(n, tuple(_rebuild(x, it) for x in v.items))
    if isinstance(v, OptV):
        some = next(it)
        return OptV(some, None if v.val is None else _rebuild(v.val, it))
    if isinstance(v, MsgV):
        tag = next(it)
        return MsgV(tag, _rebuild(v.fields, it))
    raise TypeError(f"not a symbolic value: {v!r}")


def free_leaves(br: Branch) -> list[Any]:
    """The terms a branch depends on besides the state: its choices and request arguments."""
    out: list[Any] = []
    if br.run is not None:
        for _, _, v, _ in br.run.choices:
            _leaves(v, out)
    _leaves(tuple(br.args), out)
    return out


def _consts(e: Any, among: set[int]) -> set[int]:
    """The ids of the constants of `among` that occur in formula e (a DAG walk)."""
    found: set[int] = set()
    seen: set[int] = set()
    todo = [e]
    while todo:
        x = todo.pop()
        i = x.get_id()
        if i in seen:
            continue
        seen.add(i)
        if i in among:
            found.add(i)
        todo.extend(x.children())
    return found


def _walk(stmts: tuple[A.Stmt, ...]) -> Iterator[A.Stmt]:
    """Statements in the compiler's order (it numbers `choose` sites this way)."""
    for s in stmts:
        yield s
        if isinstance(s, A.If):
            yield from _walk(s.then)
            yield from _walk(s.other)
        elif isinstance(s, A.For):
            yield from _walk(s.body)


class _Frame:
    """Evaluates expressions and runs statements of one handler or property."""

    def __init__(self, tr: Translator, env: dict[str, Any], node: int | None, state: SymState | None,
                 errors: list[tuple[Any, str, int]], acc: _Acc | None = None) -> None:
        self.tr = tr
        self.ct = tr.ct
        self.env = env
        self.node = node
        self.state = state
        self.errors = errors
        self.acc = acc

    def fail(self, cond: Any, what: str, node: A.Node) -> None:
        if not is_false(cond):
            self.errors.append((cond, what, node.span.line))

    def t(self, e: A.Node) -> Type:
        return self.ct.expr_types[e]

    # ---- expressions --------------------------------------------------------
    def ev(self, e: A.Expr, ctx: Any) -> Any:
        try:
            return self._ev(e, ctx)
        except Unsupported as exc:
            raise self.tr.error(str(exc), e) from None

    def _ev(self, e: A.Expr, ctx: Any) -> Any:
        if isinstance(e, A.Num):
            return z3.IntVal(e.value)
        if isinstance(e, A.BoolLit):
            return z3.BoolVal(e.value)
        if isinstance(e, A.NoneLit):
            return OptV(FALSE, None)
        if isinstance(e, A.SelfRef):
            if self.node is None:
                raise self.tr.error("`self` outside a handler", e)
            return z3.IntVal(self.node)
        if isinstance(e, A.Name):
            return self.name(e, self.ct.refs[e])
        if isinstance(e, A.TupleLit):
            return tuple(self.ev(x, ctx) for x in e.items)
        if isinstance(e, A.SetLit):
            return SetV(tuple((self.ev(x, ctx), TRUE) for x in e.items))
        if isinstance(e, A.SeqLit):
            return SeqV(z3.IntVal(len(e.items)), tuple(self.ev(x, ctx) for x in e.items))
        if isinstance(e, A.RangeExpr):
            return self.range(e, ctx)
        if isinstance(e, A.SetFilter):
            items = []
            for v, k in self.iterate(e.domain, ctx, dedup=False):
                self.env[e.var] = v
                items.append((v, and_(k, self.ev(e.cond, and_(ctx, k)))))
            self.env.pop(e.var, None)
            return SetV(tuple(items))
        if isinstance(e, A.SetMap):
            items = []
            for v, k in self.iterate(e.domain, ctx, dedup=False):
                self.env[e.var] = v
                items.append((self.ev(e.expr, and_(ctx, k)), k))
            self.env.pop(e.var, None)
            return SetV(tuple(items))
        if isinstance(e, A.Quant):
            return self.quant(e, list(e.vars), ctx)
        if isinstance(e, A.Cond):
            c = self.ev(e.cond, ctx)
            return ite(c, self.ev(e.then, and_(ctx, c)), self.ev(e.other, and_(ctx, not_(c))))
        if isinstance(e, A.Unary):
            v = self.ev(e.operand, ctx)
            return not_(v) if e.op == "not" else -v
        if isinstance(e, A.Binary):
            return self.binary(e, ctx)
        if isinstance(e, A.FieldGet):
            obj = self.ev(e.obj, ctx)
            ot = self.t(e.obj)
            if isinstance(ot, NodeType):
                if self.state is None:
                    raise self.tr.error("reading another node's state", e)
                slot = self.ct.refs[e].slot
                return select([self.state.ns[j][slot] for j in self.tr.nodes], obj)
            assert isinstance(ot, RecordType)
            return obj[ot.field_index(e.name)]
        if isinstance(e, A.Index):
            return self.index(e, ctx)
        if isinstance(e, A.Slice):
            s = self.ev(e.obj, ctx)
            n = s.n
            lo = self.clamp(self.ev(e.lo, ctx), n) if e.lo is not None else z3.IntVal(0)
            hi = self.clamp(self.ev(e.hi, ctx), n) if e.hi is not None else n
            ln = z3.If(hi > lo, hi - lo, 0)
            items = tuple(select(list(s.items), lo + k) if k < len(s.items) else s.items[-1] for k in range(len(s.items)))
            if concrete_int(lo) == 0:
                items = s.items
            return SeqV(z3.simplify(ln), items)
        if isinstance(e, A.Call):
            return self.call(e, ctx)
        raise self.tr.error(type(e).__name__, e)

    def unreachable(self, e: A.Node) -> Any:
        """A placeholder value for an expression that always fails where it is evaluated (the
        failure is recorded): `last(s)` of a sequence bounded at 0 elements, in a branch a
        guard like `len(s) == 0` keeps it from."""
        t = self.t(e)
        return const(default(t), t)

    def clamp(self, i: Any, n: Any) -> Any:
        """Python's slice bound: negative counts from the end, then clipped to 0..n."""
        j = z3.If(i < 0, i + n, i)
        return z3.If(j < 0, 0, z3.If(j > n, n, j))

    def name(self, e: A.Name, sym: Sym) -> Any:
        if sym.kind == "const":
            return z3.BoolVal(sym.value) if isinstance(sym.value, bool) else z3.IntVal(sym.value)
        if sym.kind == "enum":
            return z3.IntVal(sym.value)
        if sym.kind in ("local", "statevar"):
            return self.env[e.id]
        if sym.kind == "typeset":
            assert isinstance(sym.type, SetType)
            return SetV(tuple((const(d, sym.type.elem), TRUE) for d in domain(sym.type.elem)))
        if sym.kind == "inflight":
            return self.inflight(sym)
        raise self.tr.error(f"the name {e.id!r} here", e)

    def inflight(self, sym: Sym) -> SetV:
        if self.state is None:
            raise Unsupported("messages in flight outside a property")
        mid = int(sym.value)  # type: ignore[call-overload]
        tr = self.tr
        items = []
        if tr.fifo:
            for ci, ch in enumerate(self.state.net):
                ends = (z3.IntVal(ci // tr.n), z3.IntVal(ci % tr.n))
                for k, msg in enumerate(ch.items):
                    items.append((ends + msg.fields[mid], and_(k < ch.n, msg.tag == mid)))
        else:
            info = self.ct.messages[mid]
            for (d, s, mv), c in self.state.net.items():
                if mv[0] == mid:
                    fields = tuple(const(x, ft) for x, (_, ft) in zip(mv[1:], info.fields))
                    items.append(((z3.IntVal(s), z3.IntVal(d)) + fields, c > 0))
        return SetV(tuple(items))

    def static_bounds(self, e: A.Expr) -> tuple[int, int] | None:
        """Bounds of an integer expression known before solving (for ranges with variable ends)."""
        if isinstance(e, A.Num):
            return e.value, e.value
        t = self.t(e)
        if isinstance(e, A.Name) and self.ct.refs[e].kind == "const":
            v = int(self.ct.refs[e].value)  # type: ignore[call-overload]
            return v, v
        if isinstance(t, IntType) and t.lo is not None and t.hi is not None:
            return t.lo, t.hi
        if isinstance(e, A.Binary) and e.op in ("+", "-"):
            a, b = self.static_bounds(e.left), self.static_bounds(e.right)
            if a is None or b is None:
                return None
            return (a[0] + b[0], a[1] + b[1]) if e.op == "+" else (a[0] - b[1], a[1] - b[0])
        if isinstance(e, A.Call) and e.func == "len":
            at = self.t(e.args[0].expr)
            if isinstance(at, SeqType) and at.bound is not None:
                return 0, at.bound
            if isinstance(at, SetType) and finite(at.elem):
                return 0, len(domain(at.elem))
        if isinstance(e, A.Call) and e.func in ("max", "min") and len(e.args) == 2:
            a, b = self.static_bounds(e.args[0].expr), self.static_bounds(e.args[1].expr)
            if a is None or b is None:
                return None
            return min(a[0], b[0]), max(a[1], b[1])
        return None

    def range(self, e: A.RangeExpr, ctx: Any) -> SetV:
        lo, hi = self.ev(e.lo, ctx), self.ev(e.hi, ctx)
        bl, bh = self.static_bounds(e.lo), self.static_bounds(e.hi)
        if bl is None or bh is None:
            raise self.tr.error("a range whose ends have no known bounds (give them a bounded type)", e)
        return SetV(tuple((z3.IntVal(k), and_(lo <= k, k <= hi)) for k in range(bl[0], bh[1] + 1)))

    def iterate(self, dom: A.Expr, ctx: Any, dedup: bool = True) -> list[tuple[Any, Any]]:
        """The (element, present) pairs a loop or a choice ranges over, in run-time order."""
        coll = self.ev(dom, ctx)
        t = self.t(dom)
        if isinstance(coll, SetV) and dedup:
            if isinstance(t, SetType) and finite(t.elem):
                return list(canon(coll, t).items)
            out = []
            for i, (v, k) in enumerate(coll.items):
                dup = or_(*(and_(kj, eq(v, vj)) for vj, kj in coll.items[:i]))
                out.append((v, and_(k, not_(dup))))
            return out
        return members(coll)

    def quant(self, e: A.Quant, names: list[str], ctx: Any) -> Any:
        if not names:
            return self.ev(e.body, ctx)
        parts = []
        for v, k in self.iterate(e.domain, ctx, dedup=False):
            self.env[names[0]] = v
            body = self.quant(e, names[1:], and_(ctx, k))
            parts.append(implies(k, body) if e.kind == "forall" else and_(k, body))
        self.env.pop(names[0], None)
        return and_(*parts) if e.kind == "forall" else or_(*parts)

    def binary(self, e: A.Binary, ctx: Any) -> Any:
        op = e.op
        if op in ("in", "not in") and isinstance(e.right, A.RangeExpr):
            x = self.ev(e.left, ctx)
            r = and_(self.ev(e.right.lo, ctx) <= x, x <= self.ev(e.right.hi, ctx))
            return r if op == "in" else not_(r)
        a = self.ev(e.left, ctx)
        if op == "and":
            return and_(a, self.ev(e.right, and_(ctx, a)))
        if op == "or":
            return or_(a, self.ev(e.right, and_(ctx, not_(a))))
        if op == "=>":
            return implies(a, self.ev(e.right, and_(ctx, a)))
        b = self.ev(e.right, ctx)
        if op == "==":
            return eq(a, b)
        if op == "!=":
            return not_(eq(a, b))
        if op == "<":
            return lt(a, b)
        if op == ">":
            return lt(b, a)
        if op == "<=":
            return not_(lt(b, a))
        if op == ">=":
            return not_(lt(a, b))
        if op == "in":
            return member(a, b)
        if op == "not in":
            return not_(member(a, b))
        if op == "++":
            return self.concat(a, b)
        if isinstance(a, SetV):
            if op == "|":
                return SetV(a.items + b.items)
            if op == "&":
                return SetV(tuple((v, and_(k, member(v, b))) for v, k in a.items))
            return SetV(tuple((v, and_(k, not_(member(v, b)))) for v, k in a.items))
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op in ("/", "%"):
            self.fail(and_(ctx, b == 0), "division by zero" if op == "/" else "modulo by zero", e)
            q = z3.If(b > 0, a / b, (-a) / (-b))
            return q if op == "/" else a - b * q
        raise self.tr.error(f"the operator {op}", e)

    def concat(self, a: SeqV, b: SeqV) -> SeqV:
        items = []
        for k in range(len(a.items) + len(b.items)):
            from_b = select(list(b.items), k - a.n) if b.items else None
            if k < len(a.items):
                items.append(ite(k < a.n, a.items[k], from_b) if from_b is not None else a.items[k])
            else:
                items.append(from_b)
        return SeqV(a.n + b.n, tuple(items))

    def at(self, s: SeqV, i: Any, ctx: Any, e: A.Node) -> Any:
        self.fail(and_(ctx, or_(i < 0, i >= s.n)), "sequence index out of range", e)
        if not s.items:
            return self.unreachable(e)  # the failure recorded above covers every use
        return select(list(s.items), i)

    def key_pos(self, kt: Type, k: Any, ctx: Any, e: A.Node) -> list[Any]:
        """For each key of a map's key domain, whether `k` is that key."""
        keys = [const(d, kt) for d in domain(kt)]
        hits = [eq(k, d) for d in keys]
        if not isinstance(kt, (NodeType, EnumType, BoolType)):
            self.fail(and_(ctx, not_(or_(*hits))), "map key outside the key domain", e)
        return hits

    def index(self, e: A.Index, ctx: Any) -> Any:
        obj = self.ev(e.obj, ctx)
        ot = self.t(e.obj)
        if isinstance(ot, TupleType):
            assert isinstance(e.index, A.Num)
            return obj[e.index.value]
        k = self.ev(e.index, ctx)
        if isinstance(ot, SeqType):
            return self.at(obj, k, ctx, e)
        assert isinstance(ot, MapType)
        hits = self.key_pos(ot.key, k, ctx, e)
        out = obj[-1]
        for j in range(len(obj) - 2, -1, -1):
            out = ite(hits[j], obj[j], out)
        return out

    def call(self, e: A.Call, ctx: Any) -> Any:
        rec = self.ct.types.get(e.func)
        if isinstance(rec, RecordType):
            by_name = {(a.name if a.name is not None else rec.fields[i][0]): a.expr for i, a in enumerate(e.args)}
            return tuple(self.ev(by_name[f], ctx) for f, _ in rec.fields)
        args = [self.ev(a.expr, ctx) for a in e.args]
        f = e.func
        if f == "len":
            return size(args[0])
        if f == "append":
            s, x = args
            items = tuple(ite(s.n == k, x, y) for k, y in enumerate(s.items)) + (x,)
            return SeqV(s.n + 1, items)
        if f in ("last", "head"):
            s = args[0]
            self.fail(and_(ctx, s.n == 0), f"{f}() of an empty sequence", e)
            if not s.items:
                return self.unreachable(e)
            return s.items[0] if f == "head" else select(list(s.items), s.n - 1)
        if f == "tail":
            s = args[0]
            return SeqV(z3.If(s.n > 0, s.n - 1, 0), s.items[1:] + s.items[-1:])
        if f in ("max", "min"):
            pick = (lambda x, y: lt(y, x)) if f == "max" else lt
            if len(args) == 2:
                return ite(pick(args[1], args[0]), args[1], args[0])
            items = members(args[0])
            self.fail(and_(ctx, not_(or_(*(k for _, k in items)))), f"{f}() of an empty collection", e)
            if not items:
                return self.unreachable(e)
            best, have = items[0][0], items[0][1]
            for v, k in items[1:]:
                take = and_(k, or_(not_(have), pick(v, best)))
                best, have = ite(take, v, best), or_(have, k)
            return best
        if f == "is_prefix":
            a, b = args
            m = min(len(a.items), len(b.items))
            fits_in = a.n <= b.n
            tail = TRUE if len(a.items) <= m else a.n <= m
            return and_(fits_in, tail, *(implies(k < a.n, eq(a.items[k], b.items[k])) for k in range(m)))
        if f == "some":
            return OptV(TRUE, args[0])
        if f == "value":
            o = args[0]
            self.fail(and_(ctx, not_(o.some)), "value() of none", e)
            if o.val is None:
                return self.unreachable(e)
            return o.val
        if f == "node":
            i = args[0]
            self.fail(and_(ctx, or_(i < 1, i > self.tr.n)), "node(i) out of range", e)
            return i - 1
        raise self.tr.error(f"the function {f}", e)

    # ---- statements ---------------------------------------------------------
    def block(self, stmts: tuple[A.Stmt, ...], pc: Any) -> None:
        for s in stmts:
            try:
                self.stmt(s, pc)
            except Unsupported as exc:
                raise self.tr.error(str(exc), s) from None

    def branch(self, stmts: tuple[A.Stmt, ...], pc: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        saved = self.env
        self.env = dict(saved)
        if extra:
            self.env.update(extra)
        try:
            self.block(stmts, pc)
            return self.env
        finally:
            self.env = saved

    def merge(self, c: Any, a: dict[str, Any], b: dict[str, Any]) -> None:
        for k in list(self.env):
            self.env[k] = ite(c, a[k], b[k])

    def stmt(self, s: A.Stmt, pc: Any) -> None:
        acc = self.acc
        assert acc is not None
        if isinstance(s, A.Assign):
            sym = self.ct.refs[s]
            val = self.ev(s.expr, pc)
            new = self.update(self.env[s.target], sym.type, s.path, val, pc)
            if sym.kind == "statevar":
                self.fail(and_(pc, not_(fits(new, sym.type))), f"{s.target} leaves its declared type", s)
                new = canon(new, sym.type)
            self.env[s.target] = new
        elif isinstance(s, A.Let):
            self.env[s.name] = self.ev(s.expr, pc)
        elif isinstance(s, A.If):
            c = self.ev(s.cond, pc)
            a = self.branch(s.then, and_(pc, c))
            b = self.branch(s.other, and_(pc, not_(c)))
            self.merge(c, a, b)
        elif isinstance(s, A.For):
            for v, k in self.iterate(s.domain, pc):
                if is_false(k):
                    continue
                after = self.branch(s.body, and_(pc, k), {s.var: v})
                self.merge(k, after, self.env)
        elif isinstance(s, A.Send):
            msg = self.ct.message(s.message)
            assert msg is not None
            by_name = {(a.name if a.name is not None else msg.fields[i][0]): a.expr for i, a in enumerate(s.args)}
            fields = []
            for f, ft in msg.fields:
                v = self.ev(by_name[f], pc)
                self.fail(and_(pc, not_(fits(v, ft))), f"field {f} of {msg.name} leaves its declared type", s)
                fields.append(canon(v, ft))
            acc.sends.append(Send(pc, self.ev(s.dest, pc), msg.id, tuple(fields)))
        elif isinstance(s, A.Disconnect):
            acc.sends.append(Send(pc, self.ev(s.dest, pc), -1, ()))
        elif isinstance(s, A.Reply):
            self.ev(s.expr, pc)
        elif isinstance(s, A.ChooseOne):
            et = self.ct.refs_choice[s]
            opts = self.iterate(s.domain, pc)
            some = or_(*(k for _, k in opts))
            acc.disabled.append(and_(pc, not_(some)))
            x = self.tr.located(lambda: fresh(et, self.tr.fresh_name(f"choose.{s.var}"), acc.side), s)
            # constrained only when there is an option: an empty choice disables the handler, and
            # the side conditions must stay satisfiable for the "dropped" delivery that follows
            acc.side.append(implies(and_(pc, some), or_(*(and_(k, eq(x, v)) for v, k in opts))))
            acc.choices.append((self.tr.sites[id(s)], et, x, pc))
            self.env[s.var] = x
        elif isinstance(s, A.ChooseSubset):
            et = self.ct.refs_choice[s]
            opts = self.iterate(s.domain, pc)
            want = self.ev(s.size, pc)
            bits = [z3.Bool(self.tr.fresh_name(f"choose.{s.var}")) for _ in opts]
            avail = z3.Sum([z3.If(k, 1, 0) for _, k in opts]) if opts else z3.IntVal(0)
            chosen = z3.Sum([z3.If(b, 1, 0) for b in bits]) if bits else z3.IntVal(0)
            target = z3.If(want < 0, 0, z3.If(want > avail, avail, want))
            acc.side += [implies(b, k) for b, (_, k) in zip(bits, opts)] + [implies(pc, chosen == target)]
            x = SetV(tuple((v, b) for (v, _), b in zip(opts, bits)))
            acc.choices.append((self.tr.sites[id(s)], et, x, pc))
            self.env[s.var] = x
        else:
            raise self.tr.error(type(s).__name__, s)

    def update(self, base: Any, t: Type, path: tuple[A.Accessor, ...], value: Any, pc: Any) -> Any:
        """A functional update of `base` along an assignment's path."""
        if not path:
            return value
        acc, rest = path[0], path[1:]
        inner = self.ct.expr_types[acc]
        if acc.field is not None:
            assert isinstance(t, RecordType)
            i = t.field_index(acc.field)
            assert i is not None
            return base[:i] + (self.update(base[i], inner, rest, value, pc),) + base[i + 1:]
        assert acc.index is not None
        k = self.ev(acc.index, pc)
        if isinstance(t, MapType):
            hits = self.key_pos(t.key, k, pc, acc)
            return tuple(ite(hit, self.update(x, inner, rest, value, pc), x) for hit, x in zip(hits, base))
        assert isinstance(t, SeqType)
        self.fail(and_(pc, or_(k < 0, k >= base.n)), "sequence index out of range", acc)
        items = tuple(ite(k == j, self.update(x, inner, rest, value, pc), x) for j, x in enumerate(base.items))
        return SeqV(base.n, items)


__all__ = ["Translator", "SymState", "Branch", "TranslationError", "BOOL"]
