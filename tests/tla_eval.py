"""A small explicit-state evaluator for the TLA+ that `pnyx export --tla` writes.

TLC is not needed in CI, so the tests check the exported text with this: it parses
the module with the `tla` package, computes the initial states and successors the
way TLC does (``x' = e`` assigns an unassigned primed variable, ``\\E`` enumerates,
``/\\`` and ``\\/`` combine), and counts distinct states. It knows only the subset
of TLA+ the exporter uses; anything else raises `Unsupported`.

Values: ints, bools, strings; sets as frozensets; functions whose domain is 1..n
(tuples, sequences) as Python tuples; other functions (records, bags, maps) as
`Fcn`, so equal TLA+ values are equal Python values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import tla


class Unsupported(Exception):
    """The module uses TLA+ this evaluator does not know."""


class EvalError(Exception):
    """Evaluation failed where TLC would stop with an error (Assert, a function outside its domain...)."""


@dataclass(frozen=True)
class Fcn:
    """A function whose domain is not 1..n: a frozen set of (key, value) pairs."""

    items: frozenset

    def get(self, k: Any) -> Any:
        for a, b in self.items:
            if a == k:
                return b
        raise EvalError(f"{k!r} is not in the domain of a function")

    @property
    def domain(self) -> frozenset:
        return frozenset(a for a, _ in self.items)


def mkfcn(d: dict) -> Any:
    n = len(d)
    if all(isinstance(k, int) and not isinstance(k, bool) for k in d) and set(d) == set(range(1, n + 1)):
        return tuple(d[i] for i in range(1, n + 1))
    return Fcn(frozenset(d.items()))


def fdict(f: Any) -> dict:
    if isinstance(f, tuple):
        return {i + 1: v for i, v in enumerate(f)}
    if isinstance(f, Fcn):
        return dict(f.items)
    raise EvalError(f"not a function: {f!r}")


def apply(f: Any, k: Any) -> Any:
    if isinstance(f, tuple):
        if isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= len(f):
            return f[k - 1]
        raise EvalError(f"index {k!r} outside 1..{len(f)}")
    if isinstance(f, Fcn):
        return f.get(k)
    raise EvalError(f"cannot apply {f!r}")


class Lazy:
    """A set known by membership only (Int, Seq(S), SUBSET S, [K -> V], [f: S], S \\X T)."""

    def __init__(self, contains: Callable[[Any], bool], items: Callable[[], Iterator[Any]] | None = None) -> None:
        self.contains = contains
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        if self._items is None:
            raise Unsupported("enumerating an infinite or membership-only set")
        return self._items()


def member(x: Any, s: Any) -> bool:
    if isinstance(s, frozenset):
        return x in s
    if isinstance(s, Lazy):
        return s.contains(x)
    raise EvalError(f"not a set: {s!r}")


def elements(s: Any) -> list:
    if isinstance(s, frozenset):
        return sorted(s, key=repr)  # a fixed order, like TLC's
    return list(s)


@dataclass
class Op:
    params: list  # names; an operator parameter is (name, arity)
    body: Any
    env: dict


class Thunk:
    __slots__ = ("node", "env", "ev", "value", "done")

    def __init__(self, node: Any, env: dict, ev: Callable[[Any, dict], Any]) -> None:
        self.node, self.env, self.ev, self.done = node, env, ev, False

    def get(self) -> Any:
        if not self.done:
            self.value, self.done = self.ev(self.node, self.env), True
        return self.value


def _name(n: Any) -> str:
    return n.operator if type(n).__name__ == "OperatorApplication" else str(n)


class Module:
    """A parsed module: its definitions, variables, and a TLC-like state exploration."""

    def __init__(self, text: str) -> None:
        tree = tla.parse(text)
        self.defs: dict[str, Any] = {}
        self.vars: list[str] = []
        for u in tree.units:
            k = type(u).__name__
            if k == "Variables":
                self.vars += [_name(x) for x in u.names]
            elif k == "OperatorDefinition":
                self.defs[u.name] = u
        self.var_index = {v: i for i, v in enumerate(self.vars)}
        self.state: tuple = ()
        self.primed: dict[str, Any] | None = None

    # ---- operators -------------------------------------------------------
    def op_of(self, d: Any, env: dict) -> Op:
        params = []
        for p in d.arity or ():
            params.append((p.operator, len(p.arguments)) if p.arguments else p.operator)
        return Op(params, d.definiens, env)

    def lookup(self, name: str, env: dict) -> Any:
        if name in env:
            v = env[name]
            return v.get() if isinstance(v, Thunk) else v
        if name in self.var_index:
            return self.state[self.var_index[name]]
        if name in self.defs:
            d = self.defs[name]
            if d.arity:
                return self.op_of(d, {})
            return self.ev(d.definiens, {})
        raise Unsupported(f"unknown name {name}")

    def bind_args(self, op: Op, args: list, env: dict) -> dict:
        if len(args) != len(op.params):
            raise EvalError("wrong number of arguments")
        new = dict(op.env)
        for p, a in zip(op.params, args):
            if isinstance(p, tuple):
                new[p[0]] = self.operator_arg(a, env)
            else:
                new[p] = Thunk(a, env, self.ev)
        return new

    def operator_arg(self, a: Any, env: dict) -> Op:
        if type(a).__name__ == "Lambda":
            return Op([_name(p) for p in a.parameters], a.expression, env)
        v = self.lookup(_name(a), env)
        if not isinstance(v, Op):
            raise Unsupported(f"{_name(a)} is not an operator")
        return v

    def call(self, op: Op, args: list, env: dict) -> Any:
        return self.ev(op.body, self.bind_args(op, args, env))

    # ---- binders ---------------------------------------------------------
    def bindings(self, decls: list, env: dict) -> Iterator[dict]:
        """Every assignment of the bound names of `x, y \\in S, <<a, b>> \\in T`."""
        groups: list[tuple[list, Any]] = []
        pending: list = []
        for d in decls:
            if type(d).__name__ == "OperatorApplication" and d.operator == "\\in" and d.arguments:
                pending.append(d.arguments[0])
                groups.append((pending, d.arguments[1]))
                pending = []
            else:
                pending.append(d)
        sets = [(names, elements(self.ev(s, env))) for names, s in groups]
        flat = [(n, sv) for names, sv in sets for n in names]
        for combo in itertools.product(*(sv for _, sv in flat)):
            new = dict(env)
            for (pat, _), val in zip(flat, combo):
                if type(pat).__name__ == "Tuple":
                    for p, v in zip(pat.items, val):
                        new[_name(p)] = v
                else:
                    new[_name(pat)] = val
            yield new

    # ---- expressions -----------------------------------------------------
    def ev(self, n: Any, env: dict) -> Any:
        if isinstance(n, str):
            if n == "@":
                return env["@"]
            raise Unsupported(n)
        k = type(n).__name__
        if k == "IntegralNumeral":
            return int(n.value)
        if k == "StringLiteral":
            return n.value.strip('"')
        if k == "BooleanLiteral":
            return n.value == "TRUE"
        if k == "Parentheses":
            return self.ev(n.expression, env)
        if k == "SetEnumeration":
            return frozenset(self.ev(x, env) for x in n.items)
        if k == "Tuple":
            return tuple(self.ev(x, env) for x in n.items)
        if k == "Record":
            return mkfcn({key: self.ev(v, env) for key, v in n.key_values})
        if k == "Field":
            return apply(self.ev(n.expression, env), n.name)
        if k == "FunctionApplication":
            f = self.ev(n.function, env)
            args = [self.ev(a, env) for a in n.arguments]
            return apply(f, args[0] if len(args) == 1 else tuple(args))
        if k == "If":
            return self.ev(n.then if self.ev(n.predicate, env) else n.else_, env)
        if k == "Cases":
            for c in n.cases:
                if self.ev(c.predicate, env):
                    return self.ev(c.expression, env)
            if n.other is None:
                raise EvalError("no CASE arm applies")
            return self.ev(n.other, env)
        if k == "Let":
            return self.ev(n.expression, self.let_env(n, env))
        if k == "Choose":
            for b in self.bindings([n.declaration], env):
                if self.ev(n.predicate, b):
                    return b[_name(n.declaration.arguments[0])]
            raise EvalError("CHOOSE found nothing")
        if k == "Quantification":
            if n.quantifier == "\\A":
                return all(self.ev(n.predicate, b) for b in self.bindings(n.declarations, env))
            return any(self.ev(n.predicate, b) for b in self.bindings(n.declarations, env))
        if k == "SetComprehension":
            return frozenset(self.ev(n.item, b) for b in self.bindings(n.declarations, env))
        if k == "SetSlice":
            var = _name(n.declaration.arguments[0])
            s = self.ev(n.declaration.arguments[1], env)
            if isinstance(s, Lazy):
                return Lazy(lambda x: s.contains(x) and self.ev(n.predicate, {**env, var: x}),
                            lambda: (x for x in s if self.ev(n.predicate, {**env, var: x})))
            return frozenset(x for x in s if self.ev(n.predicate, {**env, var: x}))
        if k == "Function":
            decl = n.declaration if isinstance(n.declaration, list) else [n.declaration]
            return mkfcn({b[_name(decl[0].arguments[0])]: self.ev(n.value, b) for b in self.bindings(decl, env)})
        if k == "Except":
            f = self.ev(n.function, env)
            for ch in n.changes:
                f = self.except_(f, ch.item, ch.expression, env)
            return f
        if k == "Lambda":
            return Op([_name(p) for p in n.parameters], n.expression, env)
        if k == "SetOfBooleans":
            return frozenset({False, True})
        if k == "SetOfFunctions":
            dom, cod = self.ev(n.domain, env), self.ev(n.codomain, env)
            return Lazy(lambda f: isinstance(f, tuple | Fcn) and frozenset(fdict(f)) == frozenset(elements(dom))
                        and all(member(v, cod) for v in fdict(f).values()))
        if k == "SetOfRecords":
            bounds = {kb.name: self.ev(kb.bound, env) for kb in n.key_bounds}
            return Lazy(lambda r: isinstance(r, Fcn) and r.domain == frozenset(bounds)
                        and all(member(r.get(f), s) for f, s in bounds.items()))
        if k == "VerticalList":
            vals = (self.ev(i.expression, env) for i in n.arguments)
            return all(vals) if n.operator == "/\\" else any(vals)
        if k == "OperatorApplication":
            return self.apply_op(n, env)
        raise Unsupported(k)

    def let_env(self, n: Any, env: dict) -> dict:
        new = dict(env)
        for d in n.definitions:
            if type(d).__name__ != "OperatorDefinition":
                raise Unsupported(type(d).__name__)
            new[d.name] = self.op_of(d, new) if d.arity else Thunk(d.definiens, new, self.ev)
        return new

    def except_(self, f: Any, path: list, expr: Any, env: dict) -> Any:
        key = path[0]
        k = self.ev(key[0], env) if isinstance(key, list) else key
        d = fdict(f)
        if k not in d:
            return f  # TLA+: EXCEPT at a point outside the domain changes nothing
        d[k] = self.ev(expr, {**env, "@": d[k]}) if len(path) == 1 else self.except_(d[k], path[1:], expr, env)
        return mkfcn(d)

    def apply_op(self, n: Any, env: dict) -> Any:
        name, args = n.operator, n.arguments or []
        if name in env or name in self.var_index or name in self.defs:
            v = self.lookup(name, env)
            if not args:
                return v
            if not isinstance(v, Op):
                raise Unsupported(f"{name} applied but not an operator")
            return self.call(v, args, env)
        e = lambda i: self.ev(args[i], env)  # noqa: E731
        if name == "/\\":
            return all(self.ev(a, env) for a in args)
        if name == "\\/":
            return any(self.ev(a, env) for a in args)
        if name == "=>":
            return (not e(0)) or bool(e(1))
        if name == "~":
            return not e(0)
        if name in ("\\in", "\\notin"):
            r = member(e(0), e(1))
            return r if name == "\\in" else not r
        if name == "=":
            return e(0) == e(1)
        if name in ("#", "/="):
            return e(0) != e(1)
        binary: dict[str, Callable[[Any, Any], Any]] = {
            "+": lambda a, b: a + b, "*": lambda a, b: a * b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "=<": lambda a, b: a <= b,
            "\\div": lambda a, b: a // b, "%": lambda a, b: a % b,
            "\\cup": lambda a, b: a | b, "\\cap": lambda a, b: a & b, "\\": lambda a, b: a - b,
            "\\o": lambda a, b: a + b, "\\subseteq": lambda a, b: a <= b,
        }
        if name == "-":
            return -e(0) if len(args) == 1 else e(0) - e(1)
        if name == "-.":
            return -e(0)
        if name in binary:
            return binary[name](e(0), e(1))
        if name == "..":
            return frozenset(range(e(0), e(1) + 1))
        if name == "\\X":
            sets = [e(i) for i in range(len(args))]
            return Lazy(lambda t: isinstance(t, tuple) and len(t) == len(sets) and all(member(x, s) for x, s in zip(t, sets)),
                        lambda: iter(itertools.product(*(elements(s) for s in sets))))
        if name == "SUBSET":
            s = e(0)
            xs = elements(s)
            return Lazy(lambda t: isinstance(t, frozenset) and all(member(x, s) for x in t),
                        lambda: (frozenset(c) for r in range(len(xs) + 1) for c in itertools.combinations(xs, r)))
        if name == "UNION":
            return frozenset().union(*elements(e(0)))
        if name == "DOMAIN":
            f = e(0)
            return frozenset(range(1, len(f) + 1)) if isinstance(f, tuple) else f.domain
        if name == "Cardinality":
            return len(e(0))
        if name == "Len":
            return len(e(0))
        if name == "Append":
            return e(0) + (e(1),)
        if name == "Head":
            s = e(0)
            if not s:
                raise EvalError("Head of <<>>")
            return s[0]
        if name == "Tail":
            s = e(0)
            if not s:
                raise EvalError("Tail of <<>>")
            return s[1:]
        if name == "SubSeq":
            s, lo, hi = e(0), e(1), e(2)
            return s[lo - 1 : hi] if hi >= lo else ()
        if name == "SelectSeq":
            op = self.operator_arg(args[1], env)
            return tuple(x for x in e(0) if self.ev(op.body, {**op.env, op.params[0]: x}))
        if name == "Seq":
            s = e(0)
            return Lazy(lambda t: isinstance(t, tuple) and all(member(x, s) for x in t))
        if name == "Int":
            return Lazy(lambda x: isinstance(x, int) and not isinstance(x, bool))
        if name == "BOOLEAN":
            return frozenset({False, True})
        if name == "Assert":
            if not e(0):
                raise EvalError(str(e(1)))
            return True
        if name == ":>":
            return mkfcn({e(0): e(1)})
        if name == "@@":
            return mkfcn({**fdict(e(1)), **fdict(e(0))})
        if name == "'":
            if self.primed is None or _name(args[0]) not in self.primed:
                raise Unsupported("a primed variable read before it is assigned")
            return self.primed[_name(args[0])]
        raise Unsupported(f"operator {name}")

    # ---- actions ---------------------------------------------------------
    def act(self, n: Any, env: dict, assigned: dict, init: bool) -> list[dict]:
        """Every extension of `assigned` (variable -> value) that satisfies action n."""
        k = type(n).__name__
        if k == "Parentheses":
            return self.act(n.expression, env, assigned, init)
        if k == "VerticalList" or (k == "OperatorApplication" and n.operator in ("/\\", "\\/") and n.arguments):
            items = [i.expression for i in n.arguments] if k == "VerticalList" else n.arguments
            if n.operator == "\\/":
                return [r for it in items for r in self.act(it, env, assigned, init)]
            outs = [assigned]
            for it in items:
                outs = [r for a in outs for r in self.act(it, env, a, init)]
            return outs
        if k == "Quantification" and n.quantifier == "\\E":
            return [r for b in self.bindings(n.declarations, env) for r in self.act(n.predicate, b, assigned, init)]
        if k == "If":
            return self.act(n.then if self.ev(n.predicate, env) else n.else_, env, assigned, init)
        if k == "Let":
            return self.act(n.expression, self.let_env(n, env), assigned, init)
        if k == "OperatorApplication":
            name, args = n.operator, n.arguments or []
            if name == "=" and args:
                target = args[0]
                tk = type(target).__name__
                var = None
                if init and tk == "OperatorApplication" and target.operator in self.var_index and not target.arguments:
                    var = target.operator
                if not init and tk == "OperatorApplication" and target.operator == "'":
                    var = _name(target.arguments[0])
                if var is not None:
                    val = self.ev(args[1], env)
                    if var in assigned:
                        return [assigned] if assigned[var] == val else []
                    return [{**assigned, var: val}]
            if name == "UNCHANGED":
                t = args[0]
                names = [_name(x) for x in t.items] if type(t).__name__ == "Tuple" else [_name(t)]
                out = dict(assigned)
                for v in names:
                    cur = self.state[self.var_index[v]]
                    if v in out and out[v] != cur:
                        return []
                    out[v] = cur
                return [out]
            if name in self.defs and self.defs[name].arity and name not in env:
                op = self.op_of(self.defs[name], {})
                return self.act(op.body, self.bind_args(op, args, env), assigned, init)
            if name in self.defs and not self.defs[name].arity and name not in env and self._is_action(name):
                return self.act(self.defs[name].definiens, {}, assigned, init)
        self.primed = assigned
        try:
            return [assigned] if self.ev(n, env) else []
        finally:
            self.primed = None

    def _is_action(self, name: str) -> bool:
        return name in ("Init", "Next")

    # ---- exploration -----------------------------------------------------
    def init_states(self) -> list[tuple]:
        self.state = ()
        outs = self.act(self.defs["Init"].definiens, {}, {}, init=True)
        return [tuple(a[v] for v in self.vars) for a in outs]

    def successors(self, s: tuple) -> list[tuple]:
        self.state = s
        outs = self.act(self.defs["Next"].definiens, {}, {}, init=False)
        missing = [v for v in self.vars if any(v not in a for a in outs)]
        if missing:
            raise Unsupported(f"a step leaves {missing[0]} unassigned")
        return [tuple(a[v] for v in self.vars) for a in outs]

    def holds(self, s: tuple, name: str) -> bool:
        self.state = s
        return bool(self.ev(self.defs[name].definiens, {}))

    def explore(self, invariants: list[str] = (), limit: int = 100_000) -> tuple[int, str | None]:  # type: ignore[assignment]
        """Breadth-first: (distinct states, the first invariant violated or None)."""
        seen = set()
        frontier = []
        for s in self.init_states():
            if s not in seen:
                seen.add(s)
                frontier.append(s)
        while frontier:
            nxt = []
            for s in frontier:
                for inv in invariants:
                    if not self.holds(s, inv):
                        return len(seen), inv
                for s2 in self.successors(s):
                    if s2 not in seen:
                        seen.add(s2)
                        nxt.append(s2)
                        if len(seen) > limit:
                            raise Unsupported(f"more than {limit} states")
            frontier = nxt
        return len(seen), None
