"""Translate a spec's core IR (model/ir.py) into z3: handlers by symbolic execution, properties,
and the transition relation over global states (NS, UP, NET, BUDGET).

The global step is the one `pnyx.model.system` describes, and the explicit checker runs: its
event catalogue in its order, the budget each event spends, what a crash breaks. A step from a
symbolic state is a list of `Branch`es, one per event the explicit checker would try (a
delivery on one channel by one handler, a timer at one node, a request, a crash, a recovery,
a loss, a duplication), each with the condition under which it is enabled and the symbolic
state after it. `choose` becomes a free variable constrained to its options; a request's
arguments likewise. Nodes are unrolled concretely, so `self` and the sender of a delivered
message are constants.

Handlers and properties are read from the IR, where names come resolved, fields in declared
order and `choose` sites numbered: `_Symbolic` is the z3 back end's `ir.Visitor`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import z3

from pnyx.model import ir
from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import SpecError
from pnyx.model.system import (
    EVENTS,
    Crash,
    Deliver,
    Duplicate,
    Event,
    Lose,
    Network,
    Rebuild,
    Recover,
    Request,
    Timer,
    breaks_on_crash,
    budget_slot,
)
from pnyx.model.types import (
    BOOL,
    INT,
    BoolType,
    EnumType,
    IntType,
    MapType,
    NodeType,
    SeqType,
    SetType,
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
    budget: list[Any]  # used so far, in the budget layout of pnyx.model.system


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
    event: type  # the event's class in pnyx.model.system's catalogue
    node: int  # the node that takes the step (the receiver of a delivery)
    enabled: Any
    post: SymState
    errors: list[tuple[Any, str, int]] = field(default_factory=list)
    side: list[Any] = field(default_factory=list)
    run: Run | None = None
    handler: int = -1  # the IR index of the handler run (-1: none; a delivery: the message is dropped)
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


def _can_duplicate(kind: str) -> bool:
    """Whether the network of this kind duplicates messages: asked of its description, with one
    message in flight."""
    net = Network.of(kind, 1, None)
    return bool(net.duplicates(net.from_in_flight([(0, 0, (0,))])))


class Translator:
    """The z3 view of one compiled spec; `channel_bound` bounds fifo channels without a capacity."""

    def __init__(self, cs: CompiledSpec, channel_bound: int = 3) -> None:
        self.cs = cs
        self.program = p = cs.checked.core
        self.n = p.n_nodes
        self.network = Network.of(p.network, p.n_nodes, p.capacity)
        self.fifo = self.network.fifo
        self.duplicating = _can_duplicate(p.network)
        self.cap = p.capacity
        self.bound = p.capacity if p.capacity is not None else channel_bound
        if not p.messages:
            self.bound = 0
        self.nodes = range(self.n)
        self.names = itertools.count()
        self.budget = {b.name: b.value for b in p.budget}  # name -> limit, in the state's order
        self.limits = list(self.budget.values())
        self.blank = tuple(tuple(const(default(ft), ft) for _, ft in m.fields) for m in p.messages)
        self.msg_values: list[tuple] = []
        rebuilds = next((b for b in p.budget if b.name == Rebuild.SPENDS and b.value > 0), None)
        if rebuilds is not None:
            raise self.error("restarts with the disk lost (a `rebuilds` budget); check this spec with `pnyx check`",
                             rebuilds)
        for v in p.vars:
            self.located(lambda v=v: fresh(v.type, "probe", []), v)
        for m in p.messages:
            for (_, ft), where in zip(m.fields, m.field_spans):
                self.located(lambda ft=ft: fresh(ft, "probe", []), where)
            if not self.fifo:
                if not all(finite(ft) for _, ft in m.fields):
                    raise self.error("an unordered network with a message field of unbounded type", m)
                vals = list(itertools.product(*(domain(ft) for _, ft in m.fields)))
                if len(self.msg_values) + len(vals) > MAX_MESSAGE_VALUES:
                    raise self.error(f"an unordered network with more than {MAX_MESSAGE_VALUES} message values", m)
                self.msg_values += [(m.id,) + v for v in vals]

    # ---- errors -------------------------------------------------------------
    def error(self, what: str, where: ir.Node | ir.Span) -> TranslationError:
        """A located error; `where` is an IR node or a span."""
        p = self.program
        span = where.span if isinstance(where, ir.Node) else where
        return TranslationError(f"the z3 back end does not support {what}", p.filename, p.source, span)

    def located(self, fn: Callable[[], Any], where: ir.Node | ir.Span) -> Any:
        try:
            return fn()
        except Unsupported as exc:
            raise self.error(str(exc), where) from None

    def fresh_name(self, base: str) -> str:
        return f"{base}!{next(self.names)}"

    # ---- the budget layout (pnyx.model.system) ------------------------------
    def slot_of(self, event: type) -> int | None:
        """The position of the budget one occurrence of an event kind spends (None: none)."""
        return None if event.SPENDS is None else budget_slot(self.budget, event.SPENDS)

    def spending(self, s: SymState, slot: int | None) -> tuple[Any, list[Any]] | None:
        """(whether the budget at `slot` allows one more use, the counters after it); None if
        the spec allows none at all (the explicit checker never tries the event: no branch)."""
        if slot is None:
            return TRUE, s.budget
        if self.limits[slot] == 0:
            return None
        return s.budget[slot] < self.limits[slot], s.budget[:slot] + [s.budget[slot] + 1] + s.budget[slot + 1:]

    # ---- states -------------------------------------------------------------
    def fresh_state(self, tag: str) -> tuple[SymState, list[Any]]:
        """A state of free variables, constrained to be well formed (types, bounds, budgets)."""
        out: list[Any] = []
        p = self.program
        ns = [[fresh(v.type, f"{tag}.n{i + 1}.{v.name}", out) for v in p.vars] for i in self.nodes]
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
                    out.append(z3.And(t >= 0, t < len(p.messages)))
                    fields = tuple(tuple(fresh(ft, f"{name}[{k}].{m.name}.{f}", out) for f, ft in m.fields)
                                   for m in p.messages)
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
        budget = [z3.Int(f"{tag}.budget.{k}") for k in self.budget]
        for x, limit in zip(budget, self.limits):
            out.append(z3.And(x >= 0, x <= limit))
        state = SymState(ns, up, net, budget)
        return state, out + self.down_facts(state)

    def down_facts(self, s: SymState) -> list[Any]:
        """What every reachable state says about down nodes, whatever the spec.

        A crash resets a node's volatile variables and breaks the channels
        `pnyx.model.system.breaks_on_crash` says (fifo: both ways; unordered: those to it);
        while down it takes no step and sends to it are dropped. So a down node has its
        volatile variables at their initial values and nothing in flight on those channels,
        and no more nodes are down than crashes were spent. Without these, a counterexample
        to induction could start from a state no run reaches (a down node with messages waiting).
        """
        out = []
        for i in self.nodes:
            init = self.cs.init_node(i)
            facts = [eq(s.ns[i][v.slot], const(init[v.slot], v.type)) for v in self.program.vars
                     if v.storage == "volatile"]
            if self.fifo:
                facts += [ch.n == 0 for ci, ch in enumerate(s.net) if self.breaks(ci // self.n, ci % self.n, i)]
            else:
                facts += [c == 0 for (d, src, _), c in s.net.items() if self.breaks(src, d, i)]
            fact = and_(*facts)
            if not is_true(fact):
                out.append(implies(not_(s.up[i]), fact))
        crashes = self.slot_of(Crash)
        if s.up and crashes is not None:
            out.append(z3.Sum([z3.If(u, 0, 1) for u in s.up]) <= s.budget[crashes])
        return out

    def breaks(self, src: int, dst: int, node: int) -> bool:
        """Whether what is in flight from src to dst is lost when `node` crashes."""
        return breaks_on_crash(self.fifo, src, dst, node)

    def keys(self) -> Iterator[tuple[int, int, tuple]]:
        for d in self.nodes:
            for s in self.nodes:
                for mv in self.msg_values:
                    yield d, s, mv

    def count(self, net: dict, d: int, s: int) -> Any:
        return z3.Sum([net[(d, s, mv)] for mv in self.msg_values]) if self.msg_values else z3.IntVal(0)

    def initial(self, i: int) -> list[Any]:
        """Node i's variables as it starts (and as `reset` sets them), from the compiled `init_node`."""
        return [const(x, v.type) for x, v in zip(self.cs.init_node(i), self.program.vars)]

    def init_state(self) -> SymState:
        ns = [self.initial(i) for i in self.nodes]
        up = [TRUE for _ in self.nodes]
        if self.fifo:
            empty = tuple(MsgV(z3.IntVal(0), self.blank) for _ in range(self.bound))
            net: Any = [SeqV(z3.IntVal(0), empty) for _ in range(self.n * self.n)]
        else:
            net = {k: z3.IntVal(0) for k in self.keys()}
        return SymState(ns, up, net, [z3.IntVal(0)] * len(self.budget))

    def concrete_state(self, state: tuple) -> SymState:
        """A global state of checker/model.py as symbolic constants (to run the relation on it)."""
        ns_c, up_c, net_c, budget_c = state
        vars_ = self.program.vars
        ns = [[const(x, v.type) for x, v in zip(ns_c[i], vars_)] for i in self.nodes]
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
            for src, d, m in self.network.in_flight(net_c):
                net[(d, src, tuple(m))] = z3.IntVal(net[(d, src, tuple(m))].as_long() + 1)
        return SymState(ns, up, net, [z3.IntVal(int(x)) for x in budget_c])

    def const_msg(self, m: tuple) -> MsgV:
        """A concrete message `(type id, field, ...)` in the tagged shape of fifo slots."""
        info = self.program.messages[m[0]]
        mine = tuple(const(x, ft) for x, (_, ft) in zip(m[1:], info.fields))
        return MsgV(z3.IntVal(m[0]), tuple(mine if j == m[0] else self.blank[j] for j in range(len(self.blank))))

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
        vars_ = self.program.vars
        ns = tuple(tuple(decode(x, v.type, m) for x, v in zip(s.ns[i], vars_)) for i in self.nodes)
        up = tuple(z3.is_true(m.eval(x, model_completion=True)) for x in s.up)
        if self.fifo:
            net = tuple(tuple(self.decode_msg(ch.items[k], m) for k in range(decode(ch.n, INT, m))) for ch in s.net)
        else:
            msgs = []
            for (d, src, mv), c in s.net.items():
                msgs += [(src, d, mv)] * m.eval(c, model_completion=True).as_long()
            net = self.network.from_in_flight(msgs)
        budget = tuple(m.eval(x, model_completion=True).as_long() for x in s.budget)
        return ns, up, net, budget

    def decode_msg(self, msg: Any, m: z3.ModelRef) -> tuple:
        if isinstance(msg, tuple):
            return msg
        tag = m.eval(msg.tag, model_completion=True).as_long()
        info = self.program.messages[tag]
        return (tag,) + tuple(decode(x, ft, m) for x, (_, ft) in zip(msg.fields[tag], info.fields))

    # ---- properties ---------------------------------------------------------
    def prop(self, p: ir.Property, s: SymState) -> tuple[Any, Any]:
        """(value, fails): the property in state s, and whether evaluating it raises."""
        errors: list[tuple[Any, str, int]] = []
        ex = _Symbolic(self, {}, None, s, errors)
        val = ex.ev(p.expr, TRUE)
        return val, or_(*(c for c, _, _ in errors))

    # ---- handlers -----------------------------------------------------------
    def run(self, h: ir.Handler, node: int, st: list[Any], binds: dict[str, Any]) -> Run:
        env = {v.name: st[v.slot] for v in self.program.vars}
        env.update(binds)
        acc = _Acc()
        ex = _Symbolic(self, env, node, None, acc.errors, acc)
        guard = ex.ev(h.guard, TRUE) if h.guard is not None else TRUE
        ex.block(h.body, guard)
        enabled = and_(guard, not_(or_(*acc.disabled)))
        state = [ex.env[v.name] for v in self.program.vars]
        return Run(enabled, state, acc.sends, acc.errors, acc.side, acc.choices)

    def apply(self, s: SymState, node: int, run: Run, net: Any, up: list[Any]) -> tuple[Any, Any]:
        """(network after the sends, overflow), as `pnyx.model.system.Network.push` has it: sends
        to a down node are dropped; overflow is judged on the channels as the step leaves them."""
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
                                                          for j in range(len(self.blank))))
                for j, cj in self.targets(snd):
                    cj = and_(cj, up[j])
                    if is_false(cj):
                        continue
                    ci = node * self.n + j
                    ch = net[ci]
                    touched.add(ci)
                    items = tuple(ite(and_(cj, ch.n == k), msg, x) for k, x in enumerate(ch.items))
                    net[ci] = SeqV(ch.n + z3.If(cj, 1, 0) if not is_true(cj) else ch.n + 1, items)
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
                    info = self.program.messages[snd.msg_id]
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

    def handler_run(self, cls: type, h: ir.Handler, s: SymState, node: int, pre: tuple, budget: list[Any],
                    binds: dict[str, Any] | None = None, up: list[Any] | None = None, net: Any = None,
                    **extra: Any) -> Branch:
        """The branch of an event that runs handler h at `node` when the conjuncts `pre` hold."""
        run = self.run(h, node, s.ns[node], binds or {})
        post, overflow = self.step(s, node, run, s.net if net is None else net, s.up if up is None else up, budget)
        return Branch(cls, node, and_(*pre, run.enabled, not_(overflow)), post,
                      [(and_(*pre, c), m, ln) for c, m, ln in run.errors], extra.pop("side", []) + run.side, run,
                      h.index, **extra)

    # ---- the transition relation: pnyx.model.system's catalogue, in its order ----
    def branches(self, s: SymState) -> list[Branch]:
        """Every event from state s, in the order of `pnyx.model.system.EVENTS`."""
        out: list[Branch] = []
        for cls in EVENTS:
            _EVENT_BRANCHES[cls](self, s, out)
        return out

    def _deliver(self, s: SymState, out: list[Branch]) -> None:
        """A message leaves the network (fifo: a channel's head) and a handler of its type runs."""
        p = self.program
        by_msg: list[list[ir.OnMessage]] = [[p.handlers[e.index] for e in hs]  # type: ignore[misc]
                                            for hs in self.cs.message_handlers]
        if self.fifo:
            for ci, ch in enumerate(s.net):
                if not ch.items:
                    continue  # no message types: channels stay empty
                src, dst = divmod(ci, self.n)
                head = ch.items[0]
                rest = SeqV(ch.n - 1, ch.items[1:] + ch.items[-1:])
                net1 = s.net[:ci] + [rest] + s.net[ci + 1:]
                for mid in range(len(p.messages)):
                    pre = and_(s.up[dst], ch.n > 0, head.tag == mid)  # a down node never acts
                    self.deliveries(out, s, pre, dst, src, head.fields[mid], by_msg[mid], net1, head)
        else:
            for key, c in s.net.items():
                dst, src, mv = key
                net1 = dict(s.net)
                net1[key] = c - 1
                info = p.messages[mv[0]]
                fields = tuple(const(x, ft) for x, (_, ft) in zip(mv[1:], info.fields))
                self.deliveries(out, s, and_(s.up[dst], c > 0), dst, src, fields, by_msg[mv[0]], net1, mv)

    def _timer(self, s: SymState, out: list[Branch]) -> None:
        """Any timer at any live node, within the budget its handler spends (if any)."""
        for e in self.cs.timers:
            h = self.program.handlers[e.index]
            assert isinstance(h, ir.OnTimer)
            spent = self.spending(s, None if h.spends is None else budget_slot(self.budget, h.spends))
            if spent is None:
                continue
            can, budget = spent
            for i in self.nodes:
                out.append(self.handler_run(Timer, h, s, i, (can, s.up[i]), budget))

    def _request(self, s: SymState, out: list[Branch]) -> None:
        """A client request at a live node, with any arguments."""
        spent = self.spending(s, self.slot_of(Request))
        if spent is None:
            return
        can, budget = spent
        for e in self.cs.requests:
            h = self.program.handlers[e.index]
            assert isinstance(h, ir.OnRequest)
            for i in self.nodes:
                side: list[Any] = []
                args = tuple(fresh(prm.type, self.fresh_name(f"arg.{prm.name}"), side) for prm in h.params)
                out.append(self.handler_run(Request, h, s, i, (and_(can, s.up[i]),), budget,
                                            {prm.name: a for prm, a in zip(h.params, args)}, side=side,
                                            args=args, arg_types=tuple(prm.type for prm in h.params)))

    def _crash(self, s: SymState, out: list[Branch]) -> None:
        """A live node crashes: volatile variables reset, channels broken (see `cut`)."""
        spent = self.spending(s, self.slot_of(Crash))
        if spent is None:
            return
        can, budget = spent
        for i in self.nodes:
            init = self.cs.init_node(i)
            st = [const(init[v.slot], v.type) if v.storage == "volatile" else s.ns[i][v.slot] for v in self.program.vars]
            ns = list(s.ns)
            ns[i] = st
            up = list(s.up)
            up[i] = FALSE
            out.append(Branch(Crash, i, and_(can, s.up[i]), SymState(ns, up, self.cut(s.net, i), budget)))

    def _recover(self, s: SymState, out: list[Branch]) -> None:
        """A down node comes back, running `on recover` if the spec has one."""
        rec = self.cs.recover
        for i in self.nodes:
            up = list(s.up)
            up[i] = TRUE
            if rec is None:
                out.append(Branch(Recover, i, not_(s.up[i]), SymState(s.ns, up, s.net, s.budget)))
            else:
                out.append(self.handler_run(Recover, self.program.handlers[rec.index], s, i, (not_(s.up[i]),),
                                            s.budget, up=up))

    def _rebuild(self, s: SymState, out: list[Branch]) -> None:
        """None: a spec that gives a `rebuilds` budget is refused up front (see `__init__`)."""

    def _lose(self, s: SymState, out: list[Branch]) -> None:
        """The network loses a message in flight (fifo: any position of a channel)."""
        spent = self.spending(s, self.slot_of(Lose))
        if spent is None:
            return
        can, budget = spent
        if self.fifo:
            for ci, ch in enumerate(s.net):
                for k in range(self.bound):
                    rest = SeqV(ch.n - 1, ch.items[:k] + ch.items[k + 1:] + ch.items[-1:])
                    net1 = s.net[:ci] + [rest] + s.net[ci + 1:]
                    out.append(Branch(Lose, ci % self.n, and_(can, ch.n > k), SymState(s.ns, s.up, net1, budget),
                                      src=ci // self.n, msg=ch.items[k], slot=k))
        else:
            for key, c in s.net.items():
                net1 = dict(s.net)
                net1[key] = c - 1
                out.append(Branch(Lose, key[0], and_(can, c > 0), SymState(s.ns, s.up, net1, budget),
                                  src=key[1], msg=key[2]))

    def _duplicate(self, s: SymState, out: list[Branch]) -> None:
        """The network duplicates a message in flight (if the network kind does), within capacity."""
        spent = self.spending(s, self.slot_of(Duplicate))
        if not self.duplicating or spent is None:
            return
        can, budget = spent
        for key, c in s.net.items():
            net1 = dict(s.net)
            net1[key] = c + 1
            room = TRUE if self.cap is None else self.count(s.net, key[0], key[1]) < self.cap
            out.append(Branch(Duplicate, key[0], and_(can, c > 0, room), SymState(s.ns, s.up, net1, budget),
                              src=key[1], msg=key[2]))

    def deliveries(self, out: list[Branch], s: SymState, pre: Any, dst: int, src: int, fields: tuple,
                   handlers: list[ir.OnMessage], net1: Any, msg: Any) -> None:
        if is_false(pre):
            return
        runs = []
        for h in handlers:
            binds = {b: f for b, f in zip(h.binders, fields) if b != "_"}
            if h.sender is not None:
                binds[h.sender] = z3.IntVal(src)
            br = self.handler_run(Deliver, h, s, dst, (pre,), s.budget, binds, net=net1, src=src, msg=msg)
            assert br.run is not None
            runs.append(br.run)
            out.append(br)
        drop = and_(pre, *(self.never(r) for r in runs))
        side = [x for r in runs for x in r.side]
        out.append(Branch(Deliver, dst, drop, SymState(s.ns, s.up, net1, s.budget), side=side, src=src, msg=msg))

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
        """The network after node i crashed (`pnyx.model.system.breaks_on_crash`)."""
        if self.fifo:
            return [SeqV(z3.IntVal(0), ch.items) if self.breaks(ci // self.n, ci % self.n, i) else ch
                    for ci, ch in enumerate(net)]
        return {k: (z3.IntVal(0) if self.breaks(k[1], k[0], i) else c) for k, c in net.items()}

    # ---- events, typed as pnyx.model.system's catalogue ---------------------------
    def event(self, br: Branch, m: Any) -> Event:
        """The explicit checker's event for a branch taken in model m (anything with `eval`),
        built from the event class's own fields."""
        def on(c: Any) -> bool:
            return z3.is_true(m.eval(c, model_completion=True))

        names = br.event._fields[1:]  # type: ignore[attr-defined]
        run = br.run
        values: dict[str, Any] = {"node": br.node, "dst": br.node, "src": br.src, "slot": br.slot,
                                  "handler": br.handler if run is not None else -1,
                                  "choices": (), "sends": (), "replies": (), "args": ()}
        if run is not None:
            values["choices"] = tuple((site, decode(v, t, m)) for site, t, v, done in run.choices if on(done))
            sends = []
            for snd in run.sends:
                if snd.msg_id < 0:
                    sends += [(j, None) for j, c in self.targets(snd) if on(c)]
                    continue
                info = self.program.messages[snd.msg_id]
                msg = (snd.msg_id,) + tuple(decode(x, ft, m) for x, (_, ft) in zip(snd.fields, info.fields))
                sends += [(j, msg) for j, c in self.targets(snd) if on(c)]
            values["sends"] = tuple(sends)
        if "msg" in names:
            values["msg"] = self.decode_msg(br.msg, m)
        if br.args:
            values["args"] = tuple(decode(a, t, m) for a, t in zip(br.args, br.arg_types))
        return br.event(*(values[f] for f in names))  # type: ignore[no-any-return]


# Each event kind of the catalogue, and how its branches are built: a kind added to
# pnyx.model.system without one here stops the import, rather than going missing from z3.
_EVENT_BRANCHES: dict[type, Callable[[Translator, SymState, list[Branch]], None]] = {
    Deliver: Translator._deliver, Timer: Translator._timer, Request: Translator._request, Crash: Translator._crash,
    Recover: Translator._recover, Rebuild: Translator._rebuild, Lose: Translator._lose, Duplicate: Translator._duplicate,
}
if set(_EVENT_BRANCHES) != set(EVENTS):  # pragma: no cover - a catalogue change z3 has not followed
    raise ImportError(f"the z3 back end has no branches for {set(EVENTS) - set(_EVENT_BRANCHES)}")


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



class _Symbolic(ir.Visitor):
    """The z3 back end over the IR: visiting an expression gives its symbolic value, visiting a
    statement runs it (updating `env`, recording sends, choices and side conditions in `acc`).

    `ctx` is the path condition under which the node being visited runs: a failure (an index
    out of range, a value leaving its type) is recorded only under it. One evaluator runs one
    handler or evaluates one property.
    """

    backend = "z3"

    def __init__(self, tr: Translator, env: dict[str, Any], node: int | None, state: SymState | None,
                 errors: list[tuple[Any, str, int]], acc: _Acc | None = None) -> None:
        self.tr = tr
        self.program = tr.program
        self.env = env
        self.node = node
        self.state = state
        self.errors = errors
        self.acc = acc
        self.ctx: Any = TRUE
        self.bounds: dict[str, tuple[int, int] | None] = {}  # known bounds of integer locals (let, assigned)

    def unsupported(self, node: ir.Node) -> SpecError:
        return self.tr.error(type(node).__name__, node)

    def fail(self, cond: Any, what: str, node: ir.Node) -> None:
        if not is_false(cond):
            self.errors.append((cond, what, node.span.line))

    def under(self, node: ir.Node, ctx: Any) -> Any:
        """Visit `node` with path condition `ctx`; a construct z3 cannot bound is located at it."""
        outer, self.ctx = self.ctx, ctx
        try:
            return self.visit(node)
        except Unsupported as exc:
            raise self.tr.error(str(exc), node) from None
        finally:
            self.ctx = outer

    def ev(self, e: ir.Expr, ctx: Any) -> Any:
        """The value of `e` under path condition `ctx`."""
        return self.under(e, ctx)

    # ---- names and literals -------------------------------------------------
    @staticmethod
    def _value(v: int | bool) -> Any:
        return z3.BoolVal(v) if isinstance(v, bool) else z3.IntVal(v)

    def visit_Literal(self, e: ir.Literal) -> Any:
        return self._value(e.value)

    def visit_ConstRef(self, e: ir.ConstRef) -> Any:
        return self._value(e.value)

    def visit_NoneLit(self, e: ir.NoneLit) -> Any:
        return OptV(FALSE, None)

    def visit_EnumMember(self, e: ir.EnumMember) -> Any:
        return z3.IntVal(e.value)

    def visit_SelfId(self, e: ir.SelfId) -> Any:
        if self.node is None:
            raise self.tr.error("`self` outside a handler", e)
        return z3.IntVal(self.node)

    def visit_StateVar(self, e: ir.StateVar) -> Any:
        return self.env[e.name]

    def visit_Local(self, e: ir.Local) -> Any:
        return self.env[e.name]

    def visit_NodeVar(self, e: ir.NodeVar) -> Any:
        obj = self.ev(e.node, self.ctx)
        if self.state is None:
            raise self.tr.error("reading another node's state", e)
        return select([self.state.ns[j][e.slot] for j in self.tr.nodes], obj)

    def visit_TypeValues(self, e: ir.TypeValues) -> Any:
        return SetV(tuple((const(d, e.elem), TRUE) for d in domain(e.elem)))

    def visit_RoleNodes(self, e: ir.RoleNodes) -> Any:
        return SetV(tuple((const(d, NodeType(self.tr.n)), TRUE if d in e.members else FALSE)
                          for d in range(self.tr.n)))

    def visit_InFlight(self, e: ir.InFlight) -> Any:
        """The copies of one message type in flight, as records (src, dst, fields...)."""
        if self.state is None:
            raise Unsupported("messages in flight outside a property")
        mid = e.message_id
        tr = self.tr
        items = []
        if tr.fifo:
            for ci, ch in enumerate(self.state.net):
                ends = (z3.IntVal(ci // tr.n), z3.IntVal(ci % tr.n))
                for k, msg in enumerate(ch.items):
                    items.append((ends + msg.fields[mid], and_(k < ch.n, msg.tag == mid)))
        else:
            info = self.program.messages[mid]
            for (d, s, mv), c in self.state.net.items():
                if mv[0] == mid:
                    fields = tuple(const(x, ft) for x, (_, ft) in zip(mv[1:], info.fields))
                    items.append(((z3.IntVal(s), z3.IntVal(d)) + fields, c > 0))
        return SetV(tuple(items))

    # ---- collections ----------------------------------------------------------
    def visit_TupleLit(self, e: ir.TupleLit) -> Any:
        return tuple(self.ev(x, self.ctx) for x in e.items)

    def visit_SetLit(self, e: ir.SetLit) -> Any:
        return SetV(tuple((self.ev(x, self.ctx), TRUE) for x in e.items))

    def visit_SeqLit(self, e: ir.SeqLit) -> Any:
        return SeqV(z3.IntVal(len(e.items)), tuple(self.ev(x, self.ctx) for x in e.items))

    def visit_RecordLit(self, e: ir.RecordLit) -> Any:
        return tuple(self.ev(x, self.ctx) for _, x in e.fields)

    def visit_Apply(self, e: ir.Apply) -> Any:
        """A `def` applied: its body evaluated with the parameters bound to the arguments (a
        definition reads nothing else), failures in it recorded under the caller's condition."""
        d = self.program.definitions[e.index]
        args = [self.ev(a, self.ctx) for a in e.args]
        outer, self.env = self.env, {p.name: a for p, a in zip(d.params, args)}
        try:
            return self.ev(d.body, self.ctx)
        finally:
            self.env = outer

    def visit_Range(self, e: ir.Range) -> Any:
        ctx = self.ctx
        lo, hi = self.ev(e.lo, ctx), self.ev(e.hi, ctx)
        bl, bh = static_bounds(e.lo, self.bounds), static_bounds(e.hi, self.bounds)
        if bl is None or bh is None:
            raise self.tr.error("a range whose ends have no known bounds (give them a bounded type)", e)
        return SetV(tuple((z3.IntVal(k), and_(lo <= k, k <= hi)) for k in range(bl[0], bh[1] + 1)))

    def visit_SetFilter(self, e: ir.SetFilter) -> Any:
        ctx, items = self.ctx, []
        self.bounds[e.var] = _element_bounds(e.domain, self.bounds)
        for v, k in self.iterate(e.domain, ctx, dedup=False):
            self.env[e.var] = v
            items.append((v, and_(k, self.ev(e.cond, and_(ctx, k)))))
        self.env.pop(e.var, None)
        return SetV(tuple(items))

    def visit_SetMap(self, e: ir.SetMap) -> Any:
        ctx, items = self.ctx, []
        self.bounds[e.var] = _element_bounds(e.domain, self.bounds)
        for v, k in self.iterate(e.domain, ctx, dedup=False):
            self.env[e.var] = v
            items.append((self.ev(e.expr, and_(ctx, k)), k))
        self.env.pop(e.var, None)
        return SetV(tuple(items))

    def visit_Quant(self, e: ir.Quant) -> Any:
        return self.quant(e, list(e.vars), self.ctx)

    def quant(self, e: ir.Quant, names: list[str], ctx: Any) -> Any:
        if not names:
            return self.ev(e.body, ctx)
        parts = []
        self.bounds[names[0]] = _element_bounds(e.domain, self.bounds)
        for v, k in self.iterate(e.domain, ctx, dedup=False):
            self.env[names[0]] = v
            body = self.quant(e, names[1:], and_(ctx, k))
            parts.append(implies(k, body) if e.kind == "forall" else and_(k, body))
        self.env.pop(names[0], None)
        return and_(*parts) if e.kind == "forall" else or_(*parts)

    def iterate(self, dom: ir.Expr, ctx: Any, dedup: bool = True) -> list[tuple[Any, Any]]:
        """The (element, present) pairs a loop or a choice ranges over, in run-time order."""
        coll = self.ev(dom, ctx)
        t = dom.type
        if isinstance(coll, SetV) and dedup:
            if isinstance(t, SetType) and finite(t.elem):
                return list(canon(coll, t).items)
            out = []
            for i, (v, k) in enumerate(coll.items):
                dup = or_(*(and_(kj, eq(v, vj)) for vj, kj in coll.items[:i]))
                out.append((v, and_(k, not_(dup))))
            return out
        return members(coll)

    # ---- operators ----------------------------------------------------------
    def visit_Cond(self, e: ir.Cond) -> Any:
        ctx = self.ctx
        c = self.ev(e.cond, ctx)
        return ite(c, self.ev(e.then, and_(ctx, c)), self.ev(e.other, and_(ctx, not_(c))))

    def visit_Unary(self, e: ir.Unary) -> Any:
        v = self.ev(e.operand, self.ctx)
        return not_(v) if e.op == "not" else -v

    def visit_Binary(self, e: ir.Binary) -> Any:
        op, ctx = e.op, self.ctx
        if op in ("in", "not in") and isinstance(e.right, ir.Range):
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
        simple = _BINARY.get(op)
        if simple is not None:
            return simple(a, b)
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

    # ---- access -------------------------------------------------------------
    def visit_RecordField(self, e: ir.RecordField) -> Any:
        return self.ev(e.obj, self.ctx)[e.index]

    def visit_TupleItem(self, e: ir.TupleItem) -> Any:
        return self.ev(e.obj, self.ctx)[e.index]

    def visit_SeqIndex(self, e: ir.SeqIndex) -> Any:
        obj = self.ev(e.obj, self.ctx)
        return self.at(obj, self.ev(e.index, self.ctx), self.ctx, e)

    def visit_MapGet(self, e: ir.MapGet) -> Any:
        obj = self.ev(e.obj, self.ctx)
        k = self.ev(e.key, self.ctx)
        mt = e.obj.type
        assert isinstance(mt, MapType)
        hits = self.key_pos(mt.key, k, self.ctx, e)
        out = obj[-1]
        for j in range(len(obj) - 2, -1, -1):
            out = ite(hits[j], obj[j], out)
        return out

    def visit_Slice(self, e: ir.Slice) -> Any:
        s = self.ev(e.obj, self.ctx)
        n = s.n
        lo = self.clamp(self.ev(e.lo, self.ctx), n) if e.lo is not None else z3.IntVal(0)
        hi = self.clamp(self.ev(e.hi, self.ctx), n) if e.hi is not None else n
        ln = z3.If(hi > lo, hi - lo, 0)
        items = tuple(select(list(s.items), lo + k) if k < len(s.items) else s.items[-1] for k in range(len(s.items)))
        if concrete_int(lo) == 0:
            items = s.items
        return SeqV(z3.simplify(ln), items)

    def at(self, s: SeqV, i: Any, ctx: Any, e: ir.Expr) -> Any:
        self.fail(and_(ctx, or_(i < 0, i >= s.n)), "sequence index out of range", e)
        if not s.items:
            return self.unreachable(e)  # the failure recorded above covers every use
        return select(list(s.items), i)

    def key_pos(self, kt: Type, k: Any, ctx: Any, e: ir.Node) -> list[Any]:
        """For each key of a map's key domain, whether `k` is that key."""
        keys = [const(d, kt) for d in domain(kt)]
        hits = [eq(k, d) for d in keys]
        if not isinstance(kt, (NodeType, EnumType, BoolType)):
            self.fail(and_(ctx, not_(or_(*hits))), "map key outside the key domain", e)
        return hits

    def unreachable(self, e: ir.Expr) -> Any:
        """A placeholder value for an expression that always fails where it is evaluated (the
        failure is recorded): `last(s)` of a sequence bounded at 0 elements, in a branch a
        guard like `len(s) == 0` keeps it from."""
        return const(default(e.type), e.type)

    def clamp(self, i: Any, n: Any) -> Any:
        """Python's slice bound: negative counts from the end, then clipped to 0..n."""
        j = z3.If(i < 0, i + n, i)
        return z3.If(j < 0, 0, z3.If(j > n, n, j))

    # ---- built-in functions ---------------------------------------------------
    def visit_BuiltinCall(self, e: ir.BuiltinCall) -> Any:
        ctx = self.ctx
        args = [self.ev(a, ctx) for a in e.args]
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
    def block(self, stmts: tuple[ir.Stmt, ...], pc: Any) -> None:
        for s in stmts:
            self.under(s, pc)

    def branch(self, stmts: tuple[ir.Stmt, ...], pc: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
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

    def visit_Assign(self, s: ir.Assign) -> None:
        pc, target = self.ctx, s.target
        val = self.ev(s.expr, pc)
        new = self.update(self.env[target.name], target.type, s.path, val, pc)
        if isinstance(target, ir.StateVar):
            self.fail(and_(pc, not_(fits(new, target.type))), f"{target.name} leaves its declared type", s)
            new = canon(new, target.type)
        elif not s.path and target.name in self.bounds:  # a local's bounds widen to cover each value assigned
            old, got = self.bounds[target.name], static_bounds(s.expr, self.bounds)
            self.bounds[target.name] = None if old is None or got is None else (min(old[0], got[0]), max(old[1], got[1]))
        self.env[target.name] = new

    def update(self, base: Any, t: Type, path: tuple[ir.FieldStep | ir.KeyStep, ...], value: Any, pc: Any) -> Any:
        """A functional update of `base` along an assignment's path."""
        if not path:
            return value
        step, rest = path[0], path[1:]
        if isinstance(step, ir.FieldStep):
            i = step.index
            return base[:i] + (self.update(base[i], step.type, rest, value, pc),) + base[i + 1:]
        k = self.ev(step.key, pc)
        if isinstance(t, MapType):
            hits = self.key_pos(t.key, k, pc, step)
            return tuple(ite(hit, self.update(x, step.type, rest, value, pc), x) for hit, x in zip(hits, base))
        assert isinstance(t, SeqType)
        self.fail(and_(pc, or_(k < 0, k >= base.n)), "sequence index out of range", step)
        items = tuple(ite(k == j, self.update(x, step.type, rest, value, pc), x) for j, x in enumerate(base.items))
        return SeqV(base.n, items)

    def visit_Reset(self, s: ir.Reset) -> None:
        """Each variable takes its initial value at this node again (the compiled `init_node`'s)."""
        assert self.node is not None
        init = self.tr.initial(self.node)
        for v in s.vars:
            self.env[v.name] = init[v.slot]

    def visit_Let(self, s: ir.Let) -> None:
        self.env[s.name] = self.ev(s.expr, self.ctx)
        self.bounds[s.name] = static_bounds(s.expr, self.bounds)

    def visit_If(self, s: ir.If) -> None:
        pc = self.ctx
        c = self.ev(s.cond, pc)
        a = self.branch(s.then, and_(pc, c))
        b = self.branch(s.other, and_(pc, not_(c)))
        self.merge(c, a, b)

    def visit_For(self, s: ir.For) -> None:
        pc = self.ctx
        self.bounds[s.var] = _element_bounds(s.domain, self.bounds)
        for v, k in self.iterate(s.domain, pc):
            if is_false(k):
                continue
            after = self.branch(s.body, and_(pc, k), {s.var: v})
            self.merge(k, after, self.env)

    def visit_Send(self, s: ir.Send) -> None:
        pc, acc = self.ctx, self.acc
        assert acc is not None
        msg = self.program.messages[s.message_id]
        fields = []
        for (f, x), (_, ft) in zip(s.fields, msg.fields):
            v = self.ev(x, pc)
            self.fail(and_(pc, not_(fits(v, ft))), f"field {f} of {msg.name} leaves its declared type", s)
            fields.append(canon(v, ft))
        acc.sends.append(Send(pc, self.ev(s.dest, pc), msg.id, tuple(fields)))

    def visit_Disconnect(self, s: ir.Disconnect) -> None:
        assert self.acc is not None
        self.acc.sends.append(Send(self.ctx, self.ev(s.dest, self.ctx), -1, ()))

    def visit_Reply(self, s: ir.Reply) -> None:
        self.ev(s.expr, self.ctx)

    def visit_Fail(self, s: ir.Fail) -> None:
        self.fail(self.ctx, s.what, s)

    def visit_ChooseOne(self, s: ir.ChooseOne) -> None:
        pc, acc = self.ctx, self.acc
        self.bounds[s.var] = _element_bounds(s.domain, self.bounds)
        assert acc is not None
        opts = self.iterate(s.domain, pc)
        some = or_(*(k for _, k in opts))
        acc.disabled.append(and_(pc, not_(some)))
        x = self.tr.located(lambda: fresh(s.type, self.tr.fresh_name(f"choose.{s.var}"), acc.side), s)
        # constrained only when there is an option: an empty choice disables the handler, and
        # the side conditions must stay satisfiable for the "dropped" delivery that follows
        acc.side.append(implies(and_(pc, some), or_(*(and_(k, eq(x, v)) for v, k in opts))))
        acc.choices.append((s.site, s.type, x, pc))
        self.env[s.var] = x

    def visit_ChooseSubset(self, s: ir.ChooseSubset) -> None:
        pc, acc = self.ctx, self.acc
        assert acc is not None
        opts = self.iterate(s.domain, pc)
        want = self.ev(s.size, pc)
        bits = [z3.Bool(self.tr.fresh_name(f"choose.{s.var}")) for _ in opts]
        avail = z3.Sum([z3.If(k, 1, 0) for _, k in opts]) if opts else z3.IntVal(0)
        chosen = z3.Sum([z3.If(b, 1, 0) for b in bits]) if bits else z3.IntVal(0)
        target = z3.If(want < 0, 0, z3.If(want > avail, avail, want))
        acc.side += [implies(b, k) for b, (_, k) in zip(bits, opts)] + [implies(pc, chosen == target)]
        x = SetV(tuple((v, b) for (v, _), b in zip(opts, bits)))
        acc.choices.append((s.site, s.type, x, pc))
        self.env[s.var] = x


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": eq,
    "!=": lambda a, b: not_(eq(a, b)),
    "<": lt,
    ">": lambda a, b: lt(b, a),
    "<=": lambda a, b: not_(lt(b, a)),
    ">=": lambda a, b: not_(lt(a, b)),
    "in": member,
    "not in": lambda a, b: not_(member(a, b)),
}


def static_bounds(e: ir.Expr, local: dict[str, tuple[int, int] | None] | None = None) -> tuple[int, int] | None:
    """Bounds of an integer expression known before solving (for ranges with variable ends).

    `local` holds what is known of locals (a `let`'s value, a bound variable's domain); the
    largest or smallest element of a range,
    a filtered range or a set literal lies within its elements' bounds.
    """
    if isinstance(e, ir.Literal | ir.ConstRef) and not isinstance(e.value, bool):
        return e.value, e.value
    t = e.type
    if isinstance(t, IntType) and t.lo is not None and t.hi is not None:
        return t.lo, t.hi
    if isinstance(e, ir.Local) and local is not None:
        return local.get(e.name)
    if isinstance(e, ir.Binary) and e.op in ("+", "-"):
        a, b = static_bounds(e.left, local), static_bounds(e.right, local)
        if a is None or b is None:
            return None
        return (a[0] + b[0], a[1] + b[1]) if e.op == "+" else (a[0] - b[1], a[1] - b[0])
    if isinstance(e, ir.Cond):
        return _hull(static_bounds(e.then, local), static_bounds(e.other, local))
    if isinstance(e, ir.BuiltinCall) and e.func == "len":
        at = e.args[0].type
        if isinstance(at, SeqType) and at.bound is not None:
            return 0, at.bound
        if isinstance(at, SetType) and finite(at.elem):
            return 0, len(domain(at.elem))
    if isinstance(e, ir.BuiltinCall) and e.func in ("max", "min") and len(e.args) == 2:
        return _hull(static_bounds(e.args[0], local), static_bounds(e.args[1], local))
    if isinstance(e, ir.BuiltinCall) and e.func in ("max", "min") and len(e.args) == 1:
        return _element_bounds(e.args[0], local)
    return None


def _hull(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    return None if a is None or b is None else (min(a[0], b[0]), max(a[1], b[1]))


def _element_bounds(e: ir.Expr, local: dict[str, tuple[int, int] | None] | None) -> tuple[int, int] | None:
    """Bounds of the elements of an integer collection, where they are known statically."""
    if isinstance(e, ir.Range):
        lo, hi = static_bounds(e.lo, local), static_bounds(e.hi, local)
        return None if lo is None or hi is None else (lo[0], hi[1])
    if isinstance(e, ir.SetFilter):
        return _element_bounds(e.domain, local)
    if isinstance(e, ir.SetLit | ir.SeqLit) and e.items:
        out = static_bounds(e.items[0], local)
        for x in e.items[1:]:
            out = _hull(out, static_bounds(x, local))
        return out
    if isinstance(e, ir.Binary) and e.op == "|":
        return _hull(_element_bounds(e.left, local), _element_bounds(e.right, local))
    t = e.type
    if isinstance(t, SetType | SeqType) and isinstance(t.elem, IntType) and t.elem.lo is not None and t.elem.hi is not None:
        return t.elem.lo, t.elem.hi
    return None


__all__ = ["Translator", "SymState", "Branch", "TranslationError", "BOOL", "static_bounds"]
