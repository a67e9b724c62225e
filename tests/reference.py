"""A naive explorer that interprets the spec's AST directly, for cross-checking the checker.

It shares only the type checker's result (`Checked`: constant values, resolved types, what
each name refers to) with the real pipeline. It never calls the compiler's generated code
nor `checker.model`: expression evaluation, statement execution, choice enumeration and the
global step semantics (deliver, timer, request, crash, recover, loss, duplication) are
written again here, plainly and slowly, from the language description. Full states are
stored in a Python set, so the reachable set can be compared exactly.

States use the documented value representation (model/types.py) and global layout
(checker/model.py): ``(NS, UP, NET, BUDGET)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from pnyx.model import ast as A
from pnyx.model.typecheck import Checked
from pnyx.model.types import (
    BoolType,
    EnumType,
    IntType,
    MapType,
    NodeType,
    OptionType,
    RecordType,
    SeqType,
    SetType,
    TupleType,
    Type,
    domain,
)


class RefError(Exception):
    """A handler did something its types forbid (the checker reports these as errors)."""


def canon_set(items: object) -> tuple:
    return tuple(sorted(set(items)))  # type: ignore[call-overload]


def fits(v: object, t: Type) -> bool:
    """Whether value v belongs to type t (ranges, sequence bounds, nested)."""
    if isinstance(t, IntType):
        return (t.lo is None or t.lo <= v) and (t.hi is None or v <= t.hi)  # type: ignore[operator]
    if isinstance(t, SeqType):
        return (t.bound is None or len(v) <= t.bound) and all(fits(x, t.elem) for x in v)  # type: ignore[arg-type,attr-defined]
    if isinstance(t, (SetType, OptionType)):
        return all(fits(x, t.elem) for x in v)  # type: ignore[attr-defined]
    if isinstance(t, MapType):
        return all(fits(x, t.value) for x in v)  # type: ignore[attr-defined]
    if isinstance(t, RecordType):
        return all(fits(x, ft) for x, (_, ft) in zip(v, t.fields))  # type: ignore[call-overload]
    if isinstance(t, TupleType):
        return all(fits(x, it) for x, it in zip(v, t.items))  # type: ignore[call-overload]
    return True


def key_pos(kt: Type, k: object) -> int:
    keys = domain(kt)
    if k not in keys:
        raise RefError(f"map key {k!r} outside {kt}")
    return keys.index(k)


class _Env:
    """Lexically scoped locals, the node's variables and the step's outputs."""

    def __init__(self, ct: Checked, self_id: int | None, st: dict[str, object] | None) -> None:
        self.ct = ct
        self.self_id = self_id
        self.st = dict(st) if st is not None else {}
        self.scopes: list[dict[str, object]] = [{}]
        self.sends: list[tuple[int, tuple]] = []
        self.ns: tuple | None = None  # global node states, for properties
        self.net: tuple | None = None  # the network, for properties over messages in flight

    def copy(self) -> _Env:
        e = _Env(self.ct, self.self_id, self.st)
        e.scopes = [dict(s) for s in self.scopes]
        e.sends = list(self.sends)
        e.ns = self.ns
        e.net = self.net
        return e

    def lookup(self, name: str) -> tuple[str, object]:
        for s in reversed(self.scopes):
            if name in s:
                return "local", s[name]
        if name in self.st:
            return "state", self.st[name]
        raise KeyError(name)

    def set(self, name: str, v: object) -> None:
        for s in reversed(self.scopes):
            if name in s:
                s[name] = v
                return
        self.st[name] = v


class Interpreter:
    """Evaluates expressions and runs handlers of one checked spec."""

    def __init__(self, ct: Checked) -> None:
        self.ct = ct
        self.n = ct.n_nodes

    # ---- expressions -------------------------------------------------------
    def dom(self, e: A.Expr, env: _Env) -> tuple:
        if isinstance(e, A.RangeExpr):
            return tuple(range(self.ev(e.lo, env), self.ev(e.hi, env) + 1))  # type: ignore[operator]
        return tuple(self.ev(e, env))  # type: ignore[arg-type]

    def scoped(self, env: _Env, binds: dict[str, object], e: A.Expr) -> object:
        env.scopes.append(binds)
        try:
            return self.ev(e, env)
        finally:
            env.scopes.pop()

    def ev(self, e: A.Expr, env: _Env) -> object:
        ct = self.ct
        if isinstance(e, (A.Num, A.BoolLit)):
            return e.value
        if isinstance(e, A.NoneLit):
            return ()
        if isinstance(e, A.SelfRef):
            return env.self_id
        if isinstance(e, A.Name):
            sym = ct.refs[e]
            if sym.kind in ("const", "enum"):
                return sym.value
            if sym.kind == "typeset":
                return domain(sym.type.elem)  # type: ignore[attr-defined]
            if sym.kind == "role":  # its block of node ids, in declaration order of the roles
                r = next(x for x in ct.roles if x.name == e.id)
                return tuple(range(r.first, r.first + r.count))
            if sym.kind == "inflight":  # the distinct in-flight messages of one type, as (src, dst, field...)
                return canon_set((src, dst) + m[1:] for src, dst, m in self.in_flight(env.net) if m[0] == sym.value)
            return env.lookup(e.id)[1]
        if isinstance(e, (A.TupleLit, A.SeqLit)):
            return tuple(self.ev(x, env) for x in e.items)
        if isinstance(e, A.SetLit):
            return canon_set(self.ev(x, env) for x in e.items)
        if isinstance(e, A.RangeExpr):
            return self.dom(e, env)
        if isinstance(e, A.SetFilter):
            return canon_set(x for x in self.dom(e.domain, env) if self.scoped(env, {e.var: x}, e.cond))
        if isinstance(e, A.SetMap):
            return canon_set(self.scoped(env, {e.var: x}, e.expr) for x in self.dom(e.domain, env))
        if isinstance(e, A.Quant):
            d = self.dom(e.domain, env)
            combos = itertools.product(d, repeat=len(e.vars))
            vals = (self.scoped(env, dict(zip(e.vars, c)), e.body) for c in combos)
            return all(vals) if e.kind == "forall" else any(vals)
        if isinstance(e, A.Cond):
            return self.ev(e.then, env) if self.ev(e.cond, env) else self.ev(e.other, env)
        if isinstance(e, A.Unary):
            v = self.ev(e.operand, env)
            return (not v) if e.op == "not" else -v  # type: ignore[operator]
        if isinstance(e, A.Binary):
            return self.binary(e, env)
        if isinstance(e, A.FieldGet):
            ot = ct.expr_types[e.obj]
            obj = self.ev(e.obj, env)
            if isinstance(ot, NodeType):
                assert env.ns is not None
                return env.ns[obj][ct.var(e.name).slot]  # type: ignore[index,union-attr]
            assert isinstance(ot, RecordType)
            return obj[ot.field_index(e.name)]  # type: ignore[index]
        if isinstance(e, A.Index):
            ot = ct.expr_types[e.obj]
            obj, i = self.ev(e.obj, env), self.ev(e.index, env)
            if isinstance(ot, SeqType):
                if not 0 <= i < len(obj):  # type: ignore[operator,arg-type]
                    raise RefError("sequence index out of range")
                return obj[i]  # type: ignore[index]
            if isinstance(ot, MapType):
                return obj[key_pos(ot.key, i)]  # type: ignore[index]
            return obj[i]  # type: ignore[index]
        if isinstance(e, A.Slice):
            obj = self.ev(e.obj, env)
            lo = self.ev(e.lo, env) if e.lo is not None else None
            hi = self.ev(e.hi, env) if e.hi is not None else None
            return obj[lo:hi]  # type: ignore[index,misc]
        if isinstance(e, A.Call):
            return self.call(e, env)
        raise AssertionError(e)

    def binary(self, e: A.Binary, env: _Env) -> object:
        op = e.op
        if op == "and":
            return bool(self.ev(e.left, env)) and bool(self.ev(e.right, env))
        if op == "or":
            return bool(self.ev(e.left, env)) or bool(self.ev(e.right, env))
        if op == "=>":
            return (not self.ev(e.left, env)) or bool(self.ev(e.right, env))
        a = self.ev(e.left, env)
        if op in ("in", "not in"):
            inside = a in self.dom(e.right, env)
            return inside if op == "in" else not inside
        b = self.ev(e.right, env)
        lt = self.ct.expr_types[e.left]
        if isinstance(lt, SetType) and op in ("|", "&", "-"):
            sa, sb = set(a), set(b)  # type: ignore[call-overload]
            return canon_set(sa | sb if op == "|" else sa & sb if op == "&" else sa - sb)
        if op == "++":
            return a + b  # type: ignore[operator]
        if op in ("/", "%"):
            if b == 0:
                raise RefError("division by zero")
            return a // b if op == "/" else a % b  # type: ignore[operator]
        table = {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,  # type: ignore[operator]
            "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,  # type: ignore[operator]
            "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,  # type: ignore[operator]
        }
        return table[op]()

    def call(self, e: A.Call, env: _Env) -> object:
        rec = self.ct.types.get(e.func)
        if isinstance(rec, RecordType):
            vals = {}
            for i, a in enumerate(e.args):
                vals[a.name if a.name is not None else rec.fields[i][0]] = self.ev(a.expr, env)
            return tuple(vals[f] for f, _ in rec.fields)
        args = [self.ev(a.expr, env) for a in e.args]
        f = e.func
        d = next((d for d in self.ct.spec.defs if d.name == f), None)
        if d is not None:  # a definition sees its arguments and nothing of the caller
            inner = _Env(self.ct, None, None)
            inner.scopes = [{p.name: v for p, v in zip(d.params, args)}]
            return self.ev(d.body, inner)
        if f == "len":
            return len(args[0])  # type: ignore[arg-type]
        if f == "append":
            return args[0] + (args[1],)  # type: ignore[operator]
        if f in ("last", "head"):
            if not args[0]:
                raise RefError(f"{f} of an empty sequence")
            return args[0][-1 if f == "last" else 0]  # type: ignore[index]
        if f == "tail":
            return args[0][1:]  # type: ignore[index]
        if f in ("max", "min"):
            pick = max if f == "max" else min
            if len(args) == 2:
                return pick(args[0], args[1])  # type: ignore[type-var]
            if not args[0]:
                raise RefError(f"{f} of an empty collection")
            return pick(args[0])  # type: ignore[call-overload]
        if f == "is_prefix":
            a, b = args
            return len(a) <= len(b) and b[: len(a)] == a  # type: ignore[arg-type,index]
        if f == "some":
            return (args[0],)
        if f == "value":
            if not args[0]:
                raise RefError("value of none")
            return args[0][0]  # type: ignore[index]
        if f == "node":
            if not 1 <= args[0] <= self.n:  # type: ignore[operator]
                raise RefError("node() out of range")
            return args[0] - 1  # type: ignore[operator]
        raise AssertionError(f)

    def in_flight(self, net: tuple | None) -> list[tuple[int, int, tuple]]:
        assert net is not None
        if self.ct.network == "fifo":
            return [(c // self.n, c % self.n, m) for c, ch in enumerate(net) for m in ch]
        return [(src, dst, m) for dst, src, m in net]

    # ---- statements: each yields every outcome (choices branch) -------------
    def run_block(self, stmts: tuple[A.Stmt, ...], env: _Env) -> Iterator[_Env]:
        env.scopes.append({})
        for out in self._seq(stmts, 0, env):
            out.scopes.pop()
            yield out

    def _seq(self, stmts: tuple[A.Stmt, ...], k: int, env: _Env) -> Iterator[_Env]:
        if k == len(stmts):
            yield env
            return
        for env2 in self.run_stmt(stmts[k], env):
            yield from self._seq(stmts, k + 1, env2)

    def updated(self, base: object, t: Type, path: tuple[A.Accessor, ...], value: object, env: _Env) -> object:
        if not path:
            return value
        acc, rest = path[0], path[1:]
        if acc.field is not None:
            assert isinstance(t, RecordType)
            i = t.field_index(acc.field)
            ft = t.fields[i][1]  # type: ignore[index]
        else:
            k = self.ev(acc.index, env)  # type: ignore[arg-type]
            if isinstance(t, MapType):
                i, ft = key_pos(t.key, k), t.value
            else:
                assert isinstance(t, SeqType)
                if not 0 <= k < len(base):  # type: ignore[operator,arg-type]
                    raise RefError("sequence index out of range")
                i, ft = k, t.elem  # type: ignore[assignment]
        old = base[i]  # type: ignore[index]
        return base[:i] + (self.updated(old, ft, rest, value, env),) + base[i + 1 :]  # type: ignore[index,operator]

    def run_stmt(self, s: A.Stmt, env: _Env) -> Iterator[_Env]:
        ct = self.ct
        if isinstance(s, A.Assign):
            sym = ct.refs[s]
            value = self.ev(s.expr, env)
            _, cur = env.lookup(s.target)
            new = self.updated(cur, sym.type, s.path, value, env)
            if sym.kind == "statevar" and not fits(new, sym.type):
                raise RefError(f"{s.target} leaves its type")
            env.set(s.target, new)
            yield env
        elif isinstance(s, A.Let):
            env.scopes[-1][s.name] = self.ev(s.expr, env)
            yield env
        elif isinstance(s, A.If):
            branch = s.then if self.ev(s.cond, env) else s.other
            yield from self.run_block(branch, env)
        elif isinstance(s, A.For):
            yield from self._loop(s, list(self.dom(s.domain, env)), env)
        elif isinstance(s, A.Send):
            msg = ct.message(s.message)
            assert msg is not None
            vals = {}
            for i, a in enumerate(s.args):
                vals[a.name if a.name is not None else msg.fields[i][0]] = self.ev(a.expr, env)
            m = (msg.id,) + tuple(vals[f] for f, _ in msg.fields)
            dest = self.ev(s.dest, env)
            for d in ((dest,) if isinstance(ct.expr_types[s.dest], NodeType) else dest):  # type: ignore[union-attr]
                env.sends.append((d, m))
            yield env
        elif isinstance(s, A.Reply):
            self.ev(s.expr, env)
            yield env
        elif isinstance(s, A.Reset):
            fresh = self.init_node(env.self_id)  # type: ignore[arg-type]
            for name in s.names:
                env.st[name] = fresh[ct.var(name).slot]  # type: ignore[union-attr]
            yield env
        elif isinstance(s, A.CallStmt):  # the body sees its arguments and the node's state, not the caller's locals
            proc = next(p for p in ct.spec.procs if p.name == s.func)
            args = {p.name: self.ev(a.expr, env) for p, a in zip(proc.params, s.args)}
            caller = env.scopes
            env.scopes = [args]
            for out in self.run_block(proc.body, env):
                out.scopes = [dict(x) for x in caller]
                yield out
        elif isinstance(s, A.ChooseOne):
            options = self.dom(s.domain, env)
            for v in options:  # no option: the handler is disabled
                e2 = env.copy()
                e2.scopes[-1][s.var] = v
                yield e2
        elif isinstance(s, A.ChooseSubset):
            options = self.dom(s.domain, env)
            size = max(0, min(self.ev(s.size, env), len(options)))  # type: ignore[type-var,call-overload]
            for c in itertools.combinations(options, size):
                e2 = env.copy()
                e2.scopes[-1][s.var] = tuple(c)
                yield e2
        else:
            raise AssertionError(s)

    def _loop(self, s: A.For, items: list, env: _Env) -> Iterator[_Env]:
        if not items:
            yield env
            return
        env.scopes.append({s.var: items[0]})
        for out in self.run_block(s.body, env):
            out.scopes.pop()
            yield from self._loop(s, items[1:], out)

    # ---- handlers ----------------------------------------------------------
    def node_env(self, self_id: int, st: tuple) -> _Env:
        return _Env(self.ct, self_id, {v.name: st[v.slot] for v in self.ct.vars})

    def outcomes(self, h: A.Handler, self_id: int, st: tuple, binds: dict[str, object]) -> list[tuple[tuple, list]]:
        """Every (new node state, sends) of handler h; empty when it is disabled."""
        env = self.node_env(self_id, st)
        env.scopes.append(dict(binds))
        if h.guard is not None and not self.ev(h.guard, env):
            return []
        res = []
        for out in self.run_block(h.body, env):
            res.append((tuple(out.st[v.name] for v in self.ct.vars), out.sends))
        return res

    def guard_holds(self, h: A.OnMessage, self_id: int, st: tuple, src: int, m: tuple) -> bool:
        """Whether a message handler's guard holds (strict mode asks whether any does)."""
        if h.guard is None:
            return True
        env = self.node_env(self_id, st)
        env.scopes.append({b: v for b, v in zip(h.binders, m[1:]) if b != "_"} | ({h.sender: src} if h.sender else {}))
        return bool(self.ev(h.guard, env))

    def init_node(self, i: int) -> tuple:
        env = _Env(self.ct, i, None)
        from pnyx.model.types import default

        return tuple(self.ev(v.init, env) if v.init is not None else default(v.type) for v in self.ct.vars)

    def holds(self, p: A.Property, ns: tuple, net: tuple | None = None) -> bool:
        env = _Env(self.ct, None, None)
        env.ns, env.net = ns, net
        return bool(self.ev(p.expr, env))


@dataclass
class Explored:
    states: set
    errors: int  # handler failures met (the successor is then missing)


class NaiveExplorer:
    """The global step semantics, written from the language description."""

    def __init__(self, ct: Checked) -> None:
        self.ct = ct
        self.it = Interpreter(ct)
        self.n = ct.n_nodes
        self.fifo = ct.network == "fifo"
        self.cap = ct.capacity
        self.budget = ct.budget
        self.names = list(ct.budget)  # the budget counters in the state's order (built-in ones first)
        self.msg_handlers = {m.id: [h for h in ct.handlers if isinstance(h, A.OnMessage) and h.message == m.name]
                             for m in ct.messages}
        self.timers = [h for h in ct.handlers if isinstance(h, A.OnTimer)]
        self.requests = [h for h in ct.handlers if isinstance(h, A.OnRequest)]
        self.recover = next((h for h in ct.handlers if isinstance(h, A.OnRecover)), None)
        self.rebuild = next((h for h in ct.handlers if isinstance(h, A.OnRebuild)), None)

    def initial(self) -> tuple:
        ns = tuple(self.it.init_node(i) for i in range(self.n))
        net: tuple = ((),) * (self.n * self.n) if self.fifo else ()
        return (ns, (True,) * self.n, net, (0,) * len(self.names))

    # network as a multiset of (src, dst, msg) for unordered, dict of channels for fifo
    def _send(self, up: tuple, net: tuple, src: int, sends: list) -> tuple | None:
        if self.fifo:
            chans = list(net)
            for dst, m in sends:
                if up[dst]:
                    chans[src * self.n + dst] = chans[src * self.n + dst] + (m,)
            if self.cap is not None and any(len(c) > self.cap for c in chans):
                return None
            return tuple(chans)
        bag = list(net) + [(dst, src, m) for dst, m in sends if up[dst]]
        if self.cap is not None:
            counts: dict[tuple[int, int], int] = {}
            for d, s, _ in bag:
                counts[(d, s)] = counts.get((d, s), 0) + 1
            if any(c > self.cap for c in counts.values()):
                return None
        return tuple(sorted(bag))

    def _step(self, state: tuple, node: int, outs: list, net: tuple, budget: tuple) -> list[tuple]:
        ns, up = state[0], state[1]
        res = []
        for st2, sends in outs:
            net2 = self._send(up, net, node, sends)
            if net2 is not None:
                ns2 = tuple(st2 if j == node else ns[j] for j in range(self.n))
                res.append((ns2, up, net2, budget))
        return res

    def use(self, budget: tuple, name: str) -> tuple:
        k = self.names.index(name)
        return tuple(v + 1 if j == k else v for j, v in enumerate(budget))

    def successors(self, state: tuple) -> list[tuple]:
        ns, up, net, budget = state
        n, it = self.n, self.it
        out: list[tuple] = []
        # delivery: the head of each fifo channel, or any in-flight message
        pending = []
        if self.fifo:
            for c, ch in enumerate(net):
                if ch:
                    pending.append((c // n, c % n, ch[0], net[:c] + (ch[1:],) + net[c + 1 :]))
        else:
            for k, (d, s, m) in enumerate(net):
                pending.append((s, d, m, net[:k] + net[k + 1 :]))
        for src, dst, m, rest in pending:
            any_enabled = False
            for h in self.msg_handlers[m[0]]:
                binds = {b: v for b, v in zip(h.binders, m[1:]) if b != "_"}
                if h.sender is not None:
                    binds[h.sender] = src
                outs = it.outcomes(h, dst, ns[dst], binds)
                any_enabled = any_enabled or bool(outs)
                out += self._step(state, dst, outs, rest, budget)
            if not any_enabled:
                name = self.ct.messages[m[0]].name
                if self.ct.strict and name not in self.ct.ignored and not any(
                        it.guard_holds(h, dst, ns[dst], src, m) for h in self.msg_handlers[m[0]]):
                    raise RefError(f"no handler accepts {name} (strict)")
                out.append((ns, up, rest, budget))
        for h in self.timers:
            b_t = budget
            spends = getattr(h, "spends", None)  # a timer may use up a budget of its own
            if spends is not None:
                k = self.names.index(spends)
                if budget[k] >= self.budget[spends]:
                    continue
                b_t = self.use(budget, spends)
            for i in range(n):
                if up[i]:
                    out += self._step(state, i, it.outcomes(h, i, ns[i], {}), net, b_t)
        if budget[self.names.index("requests")] < self.budget["requests"]:
            b2 = self.use(budget, "requests")
            for h in self.requests:
                ptypes = self.ct.request_params[h]
                for i in range(n):
                    if up[i]:
                        for args in itertools.product(*(domain(t) for _, t in ptypes)):
                            binds = {p: v for (p, _), v in zip(ptypes, args)}
                            out += self._step(state, i, it.outcomes(h, i, ns[i], binds), net, b2)
        if budget[self.names.index("crashes")] < self.budget["crashes"]:
            b2 = self.use(budget, "crashes")
            for i in range(n):
                if up[i]:
                    init = it.init_node(i)
                    st = tuple(init[v.slot] if v.storage == "volatile" else ns[i][v.slot] for v in self.ct.vars)
                    ns2 = tuple(st if j == i else ns[j] for j in range(n))
                    up2 = tuple(False if j == i else up[j] for j in range(n))
                    if self.fifo:
                        net2 = tuple(() if (c // n == i or c % n == i) else ch for c, ch in enumerate(net))
                    else:
                        net2 = tuple(x for x in net if x[0] != i)
                    out.append((ns2, up2, net2, b2))
        for i in range(n):
            if not up[i]:
                up2 = tuple(True if j == i else up[j] for j in range(n))
                s_up = (ns, up2, net, budget)
                if self.recover is None:
                    out.append(s_up)
                else:
                    out += self._step(s_up, i, it.outcomes(self.recover, i, ns[i], {}), net, budget)
        if "rebuilds" in self.budget and budget[self.names.index("rebuilds")] < self.budget["rebuilds"]:
            b2 = self.use(budget, "rebuilds")
            for i in range(n):
                if not up[i]:  # back with its disk lost: only ghost variables survive
                    init = it.init_node(i)
                    st = tuple(ns[i][v.slot] if v.storage == "ghost" else init[v.slot] for v in self.ct.vars)
                    ns2 = tuple(st if j == i else ns[j] for j in range(n))
                    s_up = (ns2, tuple(True if j == i else up[j] for j in range(n)), net, b2)
                    if self.rebuild is None:
                        out.append(s_up)
                    else:
                        out += self._step(s_up, i, it.outcomes(self.rebuild, i, st, {}), net, b2)
        if budget[self.names.index("losses")] < self.budget["losses"]:
            b2 = self.use(budget, "losses")
            if self.fifo:
                for c, ch in enumerate(net):
                    for k in range(len(ch)):
                        out.append((ns, up, net[:c] + (ch[:k] + ch[k + 1 :],) + net[c + 1 :], b2))
            else:
                for k in range(len(net)):
                    out.append((ns, up, net[:k] + net[k + 1 :], b2))
        if not self.fifo and budget[self.names.index("duplicates")] < self.budget["duplicates"]:
            b2 = self.use(budget, "duplicates")
            for x in net:
                net2 = tuple(sorted(net + (x,)))
                if self.cap is None or sum(1 for y in net2 if y[:2] == x[:2]) <= self.cap:
                    out.append((ns, up, net2, b2))
        return out

    def explore(self, limit: int = 200_000) -> set:
        """Every reachable state (breadth-first); raises RefError if a handler fails."""
        init = self.initial()
        seen = {init}
        todo = [init]
        while todo:
            nxt = []
            for s in todo:
                for s2 in self.successors(s):
                    if s2 not in seen:
                        seen.add(s2)
                        nxt.append(s2)
                        if len(seen) > limit:
                            raise RuntimeError("reference exploration exceeded its limit")
            todo = nxt
        return seen

    def shortest_violation(self) -> tuple[str, int] | None:
        """The first invariant violated and the depth of the shallowest violating state."""
        invs = [p for p in self.ct.properties if p.kind == "invariant"]
        init = self.initial()
        seen, todo, depth = {init}, [init], 0
        while todo:
            for s in todo:
                for p in invs:
                    if not self.it.holds(p, s[0], s[2]):
                        return p.name, depth
            nxt = []
            for s in todo:
                for s2 in self.successors(s):
                    if s2 not in seen:
                        seen.add(s2)
                        nxt.append(s2)
            todo, depth = nxt, depth + 1
        return None

    # ---- symmetry: orbits under renaming of node ids ------------------------
    def perm_value(self, v: object, t: Type, p: tuple[int, ...]) -> object:
        if isinstance(t, NodeType):
            return p[v]  # type: ignore[index]
        if isinstance(t, RecordType):
            return tuple(self.perm_value(x, ft, p) for x, (_, ft) in zip(v, t.fields))  # type: ignore[call-overload]
        if isinstance(t, TupleType):
            return tuple(self.perm_value(x, it, p) for x, it in zip(v, t.items))  # type: ignore[call-overload]
        if isinstance(t, (SeqType, OptionType)):
            return tuple(self.perm_value(x, t.elem, p) for x in v)  # type: ignore[attr-defined]
        if isinstance(t, SetType):
            return canon_set(self.perm_value(x, t.elem, p) for x in v)  # type: ignore[attr-defined]
        if isinstance(t, MapType):
            vals = [self.perm_value(x, t.value, p) for x in v]  # type: ignore[attr-defined]
            if isinstance(t.key, NodeType):
                new = [None] * len(vals)
                for k, x in enumerate(vals):
                    new[p[k]] = x
                return tuple(new)
            return tuple(vals)
        if isinstance(t, (BoolType, IntType, EnumType)):
            return v
        raise AssertionError(t)

    def perm_state(self, s: tuple, p: tuple[int, ...]) -> tuple:
        ns, up, net, budget = s
        n = self.n
        ns2: list = [None] * n
        up2: list = [None] * n
        for i in range(n):
            ns2[p[i]] = tuple(self.perm_value(ns[i][v.slot], v.type, p) for v in self.ct.vars)
            up2[p[i]] = up[i]

        def pm(m: tuple) -> tuple:
            info = self.ct.messages[m[0]]
            return (m[0],) + tuple(self.perm_value(x, ft, p) for x, (_, ft) in zip(m[1:], info.fields))

        if self.fifo:
            chans: list = [()] * (n * n)
            for c, ch in enumerate(net):
                chans[p[c // n] * n + p[c % n]] = tuple(pm(m) for m in ch)
            net2 = tuple(chans)
        else:
            net2 = tuple(sorted((p[d], p[s_], pm(m)) for d, s_, m in net))
        return (tuple(ns2), tuple(up2), net2, budget)

    def keeps_roles(self, p: tuple[int, ...]) -> bool:
        """Whether a renaming maps each symmetric role onto itself and fixes every other role's nodes."""
        for r in self.ct.roles:
            block = range(r.first, r.first + r.count)
            if any((p[i] not in block) if r.symmetric else (p[i] != i) for i in block):
                return False
        return True

    def orbits(self, states: set) -> int:
        """The number of classes of states equal up to a renaming of node ids."""
        perms = [p for p in itertools.permutations(range(self.n)) if self.keeps_roles(p)]
        return len({min(self.perm_state(s, p) for p in perms) for s in states})
