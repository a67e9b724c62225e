"""Resolve names and types of a parsed spec; evaluate its constants.

The result, `Checked`, holds constant values (after `-D` overrides), resolved types, state
slots, message layouts, the type of every expression and what every name refers to; its
`core` is the lowered IR (model/ir.py) the back ends read. The side tables stay for the
independent oracles in tests/ and for the back ends not yet ported to the IR.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from . import ast as A
from . import ir
from .errors import SpecError
from .types import (
    ANY,
    BOOL,
    INT,
    AnyType,
    EnumType,
    IntType,
    MapType,
    NodeType,
    OpaqueType,
    OptionType,
    RecordType,
    SeqType,
    SetType,
    TupleType,
    Type,
    compatible,
    contains_node,
    contains_opaque,
    domain_size,
    is_finite,
    is_int,
    join,
    opaque_default,
    ordered,
)

BUDGETS = ("requests", "crashes", "losses", "duplicates")  # built in; specs may add budgets their timers spend
# Built in, but a counter of the state only when the spec gives it: a spec without it keeps its state layout.
REBUILDS = "rebuilds"  # how many times a crashed node may restart with its disk lost (`on rebuild`)
BUILTINS = ("len", "append", "last", "max", "min", "is_prefix", "some", "value", "node", "head", "tail")

# What a spec can use. Constants are 64-bit integers (or booleans). Nodes: the checker keeps
# N * N channels in every state of a fifo spec and a cluster runs one process per node, so a
# hundred is already far beyond what either explores or starts. A type whose every value is
# listed (a map's keys, a type name used as a set) holds at most MAX_ENUMERATION values.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_NODES = 100
MAX_ENUMERATION = 100_000
OPAQUE_VALUES = 2  # values the checker tries for `opaque` without a count: enough to tell two apart
MAX_LOOP_NESTING = 16  # nested `for` loops (and outer `forall` variables): Python allows 20 nested blocks


@dataclass(frozen=True)
class Sym:
    """What a name refers to. `kind` is const, enum, local, statevar, nodeset, typeset, message or inflight."""

    kind: str
    type: Type
    value: object = None  # for const / enum
    slot: int = -1  # for statevar
    mutable: bool = False  # for local


@dataclass(frozen=True)
class VarInfo:
    name: str
    storage: str
    type: Type
    init: A.Expr | None
    slot: int
    decl: A.VarDecl


@dataclass(frozen=True)
class DefInfo:
    """A checked `def`: parameter types and result type resolved; `index` is its position."""

    name: str
    index: int
    params: tuple[tuple[str, Type], ...]
    result: Type
    decl: A.DefDecl


@dataclass(frozen=True)
class ProcInfo:
    """A checked `proc`: parameter types resolved; `index` is its position."""

    name: str
    index: int
    params: tuple[tuple[str, Type], ...]
    decl: A.ProcDecl


@dataclass(frozen=True)
class RoleInfo:
    """A role of `nodes`: node ids first .. first + count - 1 (0-based), interchangeable if symmetric."""

    name: str
    first: int
    count: int
    symmetric: bool
    decl: A.RoleDecl

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(range(self.first, self.first + self.count))


@dataclass(frozen=True)
class MsgInfo:
    name: str
    id: int
    fields: tuple[tuple[str, Type], ...]
    decl: A.MessageDecl


@dataclass
class Checked:
    spec: A.Spec
    consts: dict[str, object]
    types: dict[str, Type]
    n_nodes: int
    symmetric: bool
    network: str
    capacity: int | None
    budget: dict[str, int]
    messages: list[MsgInfo]
    vars: list[VarInfo]
    handlers: list[A.Handler]
    properties: list[A.Property]
    expr_types: dict[A.Node, Type] = field(default_factory=dict)
    refs: dict[A.Node, Sym] = field(default_factory=dict)
    request_params: dict[A.OnRequest, tuple[tuple[str, Type], ...]] = field(default_factory=dict)
    has_choice: set[A.Handler] = field(default_factory=set)
    symmetry_breakers: list[tuple[A.Span, str]] = field(default_factory=list)
    record_types: dict[str, RecordType] = field(default_factory=dict)
    refs_choice: dict[A.Stmt, Type] = field(default_factory=dict)
    defs: list[DefInfo] = field(default_factory=list)
    procs: list[ProcInfo] = field(default_factory=list)
    roles: list[RoleInfo] = field(default_factory=list)
    strict: bool = False
    ignored: frozenset[str] = frozenset()  # in strict mode, messages that may be dropped unhandled

    @property
    def symmetry_classes(self) -> tuple[int, ...]:
        """Per node id, a class: symmetry reduction may interchange only nodes of one class.

        Without roles every node is in class 0 (all interchangeable, if the spec is symmetric);
        a symmetric role is one class, and each node of any other role is a class of its own.
        """
        if not self.roles:
            return (0,) * self.n_nodes
        out: list[int] = []
        for r in self.roles:
            out.extend([len(out)] * r.count if r.symmetric else range(len(out), len(out) + r.count))
        return tuple(out)
    fairness: list[A.Fairness] = field(default_factory=list)

    @property
    def node_type(self) -> NodeType:
        return NodeType(self.n_nodes)

    @functools.cached_property
    def core(self) -> ir.Program:
        """The core IR the back ends read: names resolved, fields ordered, choices numbered."""
        from .lower import lower

        return lower(self)

    def message(self, name: str) -> MsgInfo | None:
        for m in self.messages:
            if m.name == name:
                return m
        return None

    def var(self, name: str) -> VarInfo | None:
        for v in self.vars:
            if v.name == name:
                return v
        return None


class _Scope:
    def __init__(self, parent: _Scope | None = None) -> None:
        self.names: dict[str, Sym] = {}
        self.parent = parent

    def get(self, name: str) -> Sym | None:
        s: _Scope | None = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None


class _Checker:
    def __init__(self, spec: A.Spec, overrides: dict[str, object]) -> None:
        self.spec = spec
        self.overrides = dict(overrides)
        self.expr_types: dict[A.Node, Type] = {}
        self.refs: dict[A.Node, Sym] = {}
        self.globals = _Scope()
        self.types: dict[str, Type] = {}
        self.consts: dict[str, object] = {}
        self.breakers: list[tuple[A.Span, str]] = []
        self.has_choice: set[A.Handler] = set()
        self.refs_choice: dict[A.Stmt, Type] = {}
        self.handler: A.Handler | None = None
        self.in_property = False
        self.allow_self = False
        self.allow_state = False
        self.overridden: dict[str, object] = {}  # -D values in effect
        self.const_deps: dict[str, frozenset[str]] = {}  # constant -> the overridden constants it follows
        self.loop_depth = 0
        self.defining: A.DefDecl | None = None
        self.defs: dict[str, DefInfo] = {}
        self.procs: dict[str, ProcInfo] = {}  # the procedures checked so far
        self.in_proc: A.ProcDecl | None = None  # the definitions checked so far (a body uses earlier ones)

    # -- errors
    def error(self, message: str, node: A.Node | A.Span | None, hint: str = "") -> SpecError:
        span = node if isinstance(node, A.Span) or node is None else node.span
        return SpecError(message, self.spec.filename, self.spec.source, span, hint)

    def const_error(self, message: str, e: A.Node) -> SpecError:
        """An error about a constant's value; when -D chose it, the hint says which override."""
        deps = {d for name in _names_in(e) for d in self.const_deps.get(name, ())}
        return self.error(message, e, _deps_hint(deps, self.overridden))

    # -- constants
    def const_eval(self, e: A.Expr) -> object:
        if isinstance(e, A.Num):
            return e.value
        if isinstance(e, A.BoolLit):
            return e.value
        if isinstance(e, A.Name):
            if e.id in self.consts:
                return self.consts[e.id]
            raise self.error(f"unknown constant {e.id!r}", e)
        if isinstance(e, A.Unary):
            v = self.const_eval(e.operand)
            return (not v) if e.op == "not" else -v  # type: ignore[operator]
        if isinstance(e, A.Cond):
            return self.const_eval(e.then) if self.const_eval(e.cond) else self.const_eval(e.other)
        if isinstance(e, A.Call) and e.func in ("max", "min") and len(e.args) == 2:
            vals = [self.const_eval(a.expr) for a in e.args]
            return max(vals) if e.func == "max" else min(vals)  # type: ignore[type-var]
        if isinstance(e, A.Binary):
            a, b = self.const_eval(e.left), self.const_eval(e.right)
            ops = {
                "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,  # type: ignore[operator]
                "/": lambda: a // b, "%": lambda: a % b,  # type: ignore[operator]
                "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b,  # type: ignore[operator]
                "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,  # type: ignore[operator]
                "and": lambda: a and b, "or": lambda: a or b, "=>": lambda: (not a) or b,
            }
            if e.op in ops:
                try:
                    return ops[e.op]()
                except ZeroDivisionError:
                    raise self.error("division by zero in a constant", e) from None
        raise self.error("a constant must be built from numbers, booleans and other constants", e)

    def const_int(self, e: A.Expr, what: str) -> int:
        v = self.const_eval(e)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(f"{what} must be an integer constant", e)
        if not INT_MIN <= v <= INT_MAX:
            raise self.const_error(f"{what} is {v}, outside the 64-bit integers a spec can use", e)
        return v

    def maybe_const(self, e: A.Expr) -> object:
        """The value of an expression built only from numbers and constants, else None."""
        for name in _names_in(e):
            if name not in self.consts:
                return None
        try:
            return self.const_eval(e)
        except SpecError:
            return None

    # -- types
    def resolve_type(self, t: A.TypeExpr, name: str = "record") -> Type:
        if isinstance(t, A.TBool):
            return BOOL
        if isinstance(t, A.TInt):
            return INT
        if isinstance(t, A.TRange):
            lo, hi = self.const_int(t.lo, "a range bound"), self.const_int(t.hi, "a range bound")
            if lo > hi:
                raise self.const_error(f"empty range {lo}..{hi}", t)
            return IntType(lo, hi)
        if isinstance(t, A.TEnum):
            if len(set(t.members)) != len(t.members):
                raise self.error("an enum lists each member once", t)
            et = EnumType(name, t.members)
            for i, m in enumerate(t.members):
                if self.globals.get(m) is not None:
                    raise self.error(f"enum member {m!r} is already defined", t)
                self.globals.names[m] = Sym("enum", et, value=i)
            return et
        if isinstance(t, A.TRecord):
            names = [f.name for f in t.fields]
            if len(set(names)) != len(names):
                raise self.error("a record names each field once", t)
            return RecordType(name, tuple((f.name, self.resolve_type(f.type)) for f in t.fields))
        if isinstance(t, A.TTuple):
            return TupleType(tuple(self.resolve_type(x) for x in t.items))
        if isinstance(t, A.TSeq):
            bound = self.const_int(t.bound, "a sequence bound")
            if bound < 0:
                raise self.const_error(f"a sequence bound is a length, at least 0; got {bound}", t.bound)
            return SeqType(self.resolve_type(t.elem), bound)
        if isinstance(t, A.TSet):
            return SetType(self.resolve_type(t.elem))
        if isinstance(t, A.TMap):
            kt = self.resolve_type(t.key)
            if contains_opaque(kt):
                raise self.error(f"{kt} cannot be a map key: a map holds a value for every key, and values of an "
                                 "opaque type cannot be listed (at run time they are client payloads)", t.key,
                                 "keep them in a set, a sequence or an option, or key the map by something else")
            if not is_finite(kt) or isinstance(kt, SeqType | SetType | MapType):
                raise self.error(f"map keys must be of a finite scalar type, not {kt}", t.key)
            keys = domain_size(kt, MAX_ENUMERATION)
            if keys > MAX_ENUMERATION:
                raise self.const_error(f"a map holds a value for every key: {kt} has more than {MAX_ENUMERATION:,} "
                                       f"keys ({_size_text(kt)})", t.key)
            return MapType(kt, self.resolve_type(t.value))
        if isinstance(t, A.TOption):
            return OptionType(self.resolve_type(t.elem))
        if isinstance(t, A.TOpaque):
            raise self.error("an opaque type is declared by name: `type Value = opaque`, then written as Value", t,
                             "two `opaque` written in place would be two types whose values never compare")
        if isinstance(t, A.TNamed):
            if t.name in self.types:
                return self.types[t.name]
            raise self.error(f"unknown type {t.name!r}", t, "declare it with `type Name = ...` before its use")
        raise AssertionError(t)

    # -- names
    def check_names(self) -> None:
        """Constants, types, enum members, messages and state variables share one namespace.

        A type and a message both called `Val` would let `forall p in Val` silently mean the
        type; each such clash is reported at the later declaration, naming the earlier one.
        """
        decls: list[tuple[A.Span, str, str, A.Node]] = []
        for c in self.spec.consts:
            decls.append((c.span, c.name, "constant", c))
        for td in self.spec.types:
            decls.append((td.span, td.name, "type", td))
        for m in self.spec.messages:
            decls.append((m.span, m.name, "message", m))
        for d in self.spec.defs:
            decls.append((d.span, d.name, "definition", d))
        for pd in self.spec.procs:
            decls.append((pd.span, pd.name, "procedure", pd))
        for rd in self.spec.nodes.roles if self.spec.nodes is not None else ():
            decls.append((rd.span, rd.name, "role", rd))
        for vd in self.spec.state:
            decls.append((vd.span, vd.name, "state variable", vd))
        for te in _enum_types(self.spec):
            decls.extend((te.span, member, "enum member", te) for member in te.members)
        decls.sort(key=lambda d: (d[0].line, d[0].col))
        seen: dict[str, tuple[str, A.Node]] = {}
        for _, name, kind, node in decls:
            if name == "Node":
                raise self.error(f"{kind} 'Node': Node is the built-in type of node ids", node, "choose another name")
            if kind in ("type", "message", "definition", "procedure") and name in BUILTINS:
                raise self.error(f"{kind} {name!r} has the name of a built-in function", node, "choose another name")
            if name not in seen:
                seen[name] = (kind, node)
                continue
            first_kind, first = seen[name]
            if first_kind == kind:
                if kind == "enum member" and first is node:
                    raise self.error(f"an enum lists each member once: {name!r} is listed twice", node)
                raise self.error(f"{kind} {name!r} is declared twice (first at line {first.span.line})", node)
            raise self.error(f"{kind} {name!r} has the name of the {first_kind} {name!r} declared at line "
                             f"{first.span.line}", node,
                             "constants, types, enum members, messages, definitions, procedures, roles and state "
                             "variables share one namespace: "
                             "rename one of them")

    # -- the whole spec
    def run(self) -> Checked:
        spec = self.spec
        self.check_names()
        for c in spec.consts:
            if c.name in self.consts:
                raise self.error(f"constant {c.name!r} is declared twice", c)
            v = self.const_eval(c.expr)
            deps = frozenset(d for name in _names_in(c.expr) for d in self.const_deps.get(name, ()))
            if c.name in self.overrides:
                ov = self.overrides.pop(c.name)
                if type(ov) not in (bool, int):  # overrides also come from trace and cluster files
                    raise self.error(f"-D {c.name}={ov!r}: expected an integer or true/false", c)
                if isinstance(v, bool) != isinstance(ov, bool):
                    kind = "true or false" if isinstance(v, bool) else "an integer"
                    raise self.error(f"-D {c.name}={_shown(ov)}: {c.name} expects {kind}", c)
                v = ov
                self.overridden[c.name] = ov
                deps = frozenset((c.name,))
            self.const_deps[c.name] = deps
            if not isinstance(v, bool) and isinstance(v, int) and not INT_MIN <= v <= INT_MAX:
                where = f"-D {c.name}={v}" if c.name in self.overridden else f"constant {c.name} = {v}"
                raise self.error(f"{where}: outside the 64-bit integers a spec can use "
                                 f"({INT_MIN} to {INT_MAX})", c, _deps_hint(deps - {c.name}, self.overridden))
            self.consts[c.name] = v
            self.globals.names[c.name] = Sym("const", BOOL if isinstance(v, bool) else INT, value=v)
        if self.overrides:
            unknown = ", ".join(sorted(self.overrides))
            known = ", ".join(c.name for c in spec.consts) or "none"
            raise SpecError(f"-D names an unknown constant: {unknown} (constants: {known})", spec.filename, spec.source, None)

        if spec.nodes is None:
            raise self.error("a spec declares its nodes, e.g. `nodes N`", A.Span(1, 1, 1, 5))
        n = self.const_int(spec.nodes.count, "the number of nodes")
        if not 1 <= n <= MAX_NODES:
            raise self.const_error(f"the number of nodes must be from 1 to {MAX_NODES}, got {n}", spec.nodes.count)
        node_t = NodeType(n)
        self.types["Node"] = node_t
        self.globals.names["Node"] = Sym("typeset", SetType(node_t))
        roles: list[RoleInfo] = []
        for rd in spec.nodes.roles:
            k = self.const_int(rd.count, f"the number of {rd.name} nodes")
            if k < 1:
                raise self.const_error(f"a role has at least one node; {rd.name} has {k}", rd.count)
            roles.append(RoleInfo(rd.name, sum(r.count for r in roles), k, rd.symmetric, rd))
            self.globals.names[rd.name] = Sym("role", SetType(node_t), value=roles[-1].members)
        for td in spec.types:
            if td.name in self.types:
                raise self.error(f"type {td.name!r} is declared twice", td)
            self.types[td.name] = (self.opaque(td.type, td.name) if isinstance(td.type, A.TOpaque)
                                   else self.resolve_type(td.type, td.name))
            t = self.types[td.name]
            if is_finite(t) and not isinstance(t, RecordType | TupleType | SetType | SeqType | MapType | OptionType):
                self.globals.names.setdefault(td.name, Sym("typeset", SetType(t)))
        record_types = {k: v for k, v in self.types.items() if isinstance(v, RecordType)}

        network = spec.network.kind if spec.network else "fifo"
        capacity = None
        if spec.network and spec.network.capacity is not None:
            capacity = self.const_int(spec.network.capacity, "a channel capacity")
            if capacity < 1:
                raise self.const_error(f"a channel capacity must be at least 1, got {capacity}", spec.network.capacity)
        budget = dict.fromkeys(BUDGETS, 0)
        spent = {h.spends for h in spec.handlers if isinstance(h, A.OnTimer) and h.spends is not None}
        given: set[str] = set()
        for item in spec.budget:
            if item.name in given:
                raise self.error(f"budget {item.name!r} is given twice", item)
            given.add(item.name)
            if item.name not in BUDGETS and item.name != REBUILDS and item.name not in spent:
                raise self.error(f"unknown budget {item.name!r}", item,
                                 "budgets are " + ", ".join((*BUDGETS, REBUILDS)) + ", or a name that a timer `spends`")
            budget[item.name] = self.const_int(item.expr, f"the {item.name} budget")
            if budget[item.name] < 0:
                raise self.const_error(f"a budget is a count, at least 0; got {budget[item.name]}", item.expr)
        for h in spec.handlers:
            if isinstance(h, A.OnTimer) and h.spends is not None and h.spends not in budget:
                raise self.error(f"timer {h.name} spends {h.spends!r}, which the budget does not give", h,
                                 f"add `{h.spends} = K` to the budget block")
            if isinstance(h, A.OnTimer) and (h.spends in BUDGETS or h.spends == REBUILDS):
                raise self.error(f"{h.spends!r} is a built-in budget; a timer spends a budget of its own", h)
        if network == "fifo" and budget["duplicates"] > 0:
            raise self.error("duplication applies to `unordered` networks only", spec.network or spec.nodes)

        messages: list[MsgInfo] = []
        for m in spec.messages:
            if any(x.name == m.name for x in messages):
                raise self.error(f"message {m.name!r} is declared twice", m)
            fields = tuple((f.name, self.resolve_type(f.type)) for f in m.fields)
            if len({f for f, _ in fields}) != len(fields):
                raise self.error("a message names each field once", m)
            messages.append(MsgInfo(m.name, len(messages), fields, m))
        self.messages = {m.name: m for m in messages}
        for d in spec.defs:
            self.definition(d)

        variables: list[VarInfo] = []
        for vd in spec.state:
            if any(v.name == vd.name for v in variables):
                raise self.error(f"state variable {vd.name!r} is declared twice", vd)
            if self.globals.get(vd.name) is not None:
                raise self.error(f"{vd.name!r} is already the name of a constant or enum member", vd)
            variables.append(VarInfo(vd.name, vd.storage, self.resolve_type(vd.type), vd.init, len(variables), vd))
            ot = opaque_default(variables[-1].type)
            if ot is not None and vd.init is None:
                raise self.error(f"state variable {vd.name} needs a value of the opaque type {ot} to start with, "
                                 f"and an opaque type has no constants", vd,
                                 f"hold it as option[{ot}] (starts as none), or in a set or a sequence")
        self.vars = variables
        self.node_t = node_t

        # initial values: may use `self` and constants, not other state
        self.allow_self = True
        for v in variables:
            if v.init is not None:
                t = self.expr(v.init, self.globals)
                self.expect(v.init, t, v.type, f"the initial value of {v.name}")
        self.allow_self = False

        for pd in spec.procs:
            self.procedure(pd)

        request_params: dict[A.OnRequest, tuple[tuple[str, Type], ...]] = {}
        recovers = [h for h in spec.handlers if isinstance(h, A.OnRecover)]
        if len(recovers) > 1:
            raise self.error("a spec has at most one `on recover` handler", recovers[1])
        rebuilds = [h for h in spec.handlers if isinstance(h, A.OnRebuild)]
        if len(rebuilds) > 1:
            raise self.error("a spec has at most one `on rebuild` handler", rebuilds[1])
        for h in spec.handlers:
            self.handler = h
            self.allow_self = self.allow_state = True
            scope = _Scope(self.globals)
            for v in variables:
                scope.names[v.name] = Sym("statevar", v.type, slot=v.slot)
            scope = _Scope(scope)
            if isinstance(h, A.OnMessage):
                msg = self.messages.get(h.message)
                if msg is None:
                    raise self.error(f"unknown message {h.message!r}", h, self.suggest(h.message, self.messages))
                if len(h.binders) != len(msg.fields):
                    raise self.error(f"{h.message} has {_count(len(msg.fields), 'field')}, the pattern binds {len(h.binders)}", h,
                                     f"write on {h.message}(" + ", ".join(f for f, _ in msg.fields) + ")")
                for b, (_, ft) in zip(h.binders, msg.fields):
                    if b != "_":
                        self.bind(scope, b, Sym("local", ft), h)
                if h.sender is not None:
                    self.bind(scope, h.sender, Sym("local", node_t), h)
            elif isinstance(h, A.OnRequest):
                params = tuple((p.name, self.resolve_type(p.type)) for p in h.params)
                for (pn, pt), p in zip(params, h.params):
                    if not is_finite(pt):
                        raise self.error(f"request parameter {pn} needs a finite type (the checker tries every value)", p)
                    self.bind(scope, pn, Sym("local", pt), p)
                request_params[h] = params
            if h.guard is not None:
                self.allow_state_write = False
                self.expect(h.guard, self.expr(h.guard, scope), BOOL, "a guard")
            self.block(h.body, scope)
        self.handler = None
        self.allow_self = self.allow_state = False

        names: set[str] = set()
        for p in spec.properties:
            if p.name in names:
                raise self.error(f"property {p.name!r} is declared twice", p)
            names.add(p.name)
            outer, body = 0, p.expr
            while isinstance(body, A.Quant) and body.kind == "forall":  # become nested loops when compiled
                outer += len(body.vars)
                if outer > MAX_LOOP_NESTING:
                    raise self.error(f"too many variables in the leading foralls: more than {MAX_LOOP_NESTING}", body)
                body = body.body
            self.in_property = True
            self.expect(p.expr, self.expr(p.expr, self.property_scope(messages, node_t)), BOOL, f"{p.kind} {p.name}")
            if p.target is not None:
                self.expect(p.target, self.expr(p.target, self.property_scope(messages, node_t)), BOOL,
                            f"the right side of leadsto {p.name}")
            self.in_property = False
        self.check_fairness()

        if spec.nodes.symmetric:
            if self.breakers:
                span, why = self.breakers[0]
                raise self.error(f"nodes are declared symmetric, but {why}", span,
                                 "remove `symmetric` from the nodes declaration, or avoid depending on node identity")
            for v in variables:
                if isinstance(v.type, MapType) and contains_node(v.type.key) and not isinstance(v.type.key, NodeType):
                    raise self.error("with symmetric nodes a map's key is Node or holds no node ids", v.decl)
        return Checked(
            spec=spec, consts=self.consts, types=self.types, n_nodes=n, symmetric=spec.nodes.symmetric,
            network=network, capacity=capacity, budget=budget, messages=messages, vars=variables,
            handlers=list(spec.handlers), properties=list(spec.properties), expr_types=self.expr_types,
            refs=self.refs, request_params=request_params, has_choice=self.has_choice,
            symmetry_breakers=self.breakers, record_types=record_types, refs_choice=self.refs_choice,
            defs=list(self.defs.values()), procs=list(self.procs.values()), roles=roles,
            strict=spec.strict is not None, ignored=self.check_ignores(),
            fairness=list(spec.fairness),
        )

    def definition(self, d: A.DefDecl) -> None:
        """A definition's body sees its parameters, constants, types and earlier definitions.

        No state and no `self`, so a definition means the same in a handler and in a property,
        and no recursion, since only earlier definitions are in scope.
        """
        params = tuple((p.name, self.resolve_type(p.type)) for p in d.params)
        if len({n for n, _ in params}) != len(params):
            raise self.error(f"definition {d.name} names each parameter once", d)
        scope = _Scope(self.globals)
        for (pn, pt), p in zip(params, d.params):
            self.bind(scope, pn, Sym("local", pt), p)
        result = self.resolve_type(d.result)
        self.defining = d
        self.expect(d.body, self.expr(d.body, scope), result, f"the body of {d.name}")
        self.defining = None
        self.defs[d.name] = DefInfo(d.name, len(self.defs), params, result, d)

    def procedure(self, pd: A.ProcDecl) -> None:
        """A procedure's body is checked once, like a handler's, with its parameters bound.

        It may read and assign the state and send; it may not `choose` or `reply` (the
        handler does, and passes what it chose), and it runs only earlier procedures.
        """
        params = tuple((p.name, self.resolve_type(p.type)) for p in pd.params)
        scope = _Scope(self.globals)
        for v in self.vars:
            scope.names[v.name] = Sym("statevar", v.type, slot=v.slot)
        scope = _Scope(scope)
        for (pn, pt), p in zip(params, pd.params):
            self.bind(scope, pn, Sym("local", pt), p)
        self.allow_self = self.allow_state = True
        self.in_proc = pd
        self.block(pd.body, scope)
        self.in_proc = None
        self.allow_self = self.allow_state = False
        self.procs[pd.name] = ProcInfo(pd.name, len(self.procs), params, pd)

    def call_stmt(self, s: A.CallStmt, scope: _Scope) -> None:
        info = self.procs.get(s.func)
        if info is None:
            later = next((p for p in self.spec.procs if p.name == s.func), None)
            if later is not None:
                why = "itself" if later is self.in_proc else f"{s.func}, declared at line {later.span.line}"
                raise self.error(f"a procedure runs only procedures written before it, not {why}", s,
                                 "move the procedure up; recursion is not supported")
            if s.func in self.defs or s.func in BUILTINS:
                raise self.error(f"{s.func} is a function: use its value (in `let`, an assignment...)", s)
            raise self.error(f"unknown procedure {s.func!r}", s, self.suggest(s.func, list(self.procs)))
        if any(a.name is not None for a in s.args):
            raise self.error(f"{s.func} takes positional arguments", s)
        if len(s.args) != len(info.params):
            want = ", ".join(f"{n}: {t}" for n, t in info.params)
            raise self.error(f"{s.func} takes {_count(len(info.params), 'argument')}, {len(s.args)} given", s,
                             f"{s.func}({want})")
        for a, (pn, pt) in zip(s.args, info.params):
            self.expect(a.expr, self.expr(a.expr, scope), pt, f"argument {pn} of {s.func}")
        self.refs[s] = Sym("proc", BOOL, value=info.index)

    def apply(self, e: A.Call, info: DefInfo, scope: _Scope) -> Type:
        if any(a.name is not None for a in e.args):
            raise self.error(f"{e.func} takes positional arguments", e)
        if len(e.args) != len(info.params):
            want = ", ".join(f"{n}: {t}" for n, t in info.params)
            raise self.error(f"{e.func} takes {_count(len(info.params), 'argument')}, {len(e.args)} given", e,
                             f"{e.func}({want})")
        for a, (pn, pt) in zip(e.args, info.params):
            self.expect(a.expr, self.expr(a.expr, scope), pt, f"argument {pn} of {e.func}")
        self.refs[e] = Sym("def", info.result, value=info.index)
        return info.result

    def check_ignores(self) -> frozenset[str]:
        """`ignore` names messages, each once, and only takes effect with `strict`."""
        out: set[str] = set()
        for ig in self.spec.ignores:
            if self.spec.strict is None:
                raise self.error("`ignore` takes effect in strict mode only", ig, "add `strict` to the spec")
            for name, span in ig.names:
                if name not in self.messages:
                    raise self.error(f"unknown message {name!r} in `ignore`", span, self.suggest(name, self.messages))
                if name in out:
                    raise self.error(f"message {name} is ignored twice", span)
                out.add(name)
        return frozenset(out)

    def check_fairness(self) -> None:
        """Each `fair` declaration names an event kind of the catalogue and, for the kinds that
        have them, messages or handlers of the spec; no event class is declared twice."""
        from .system import FAIRNESS_NAMES  # system imports this module: no cycle at import time

        names_of = {"message": list(self.messages), "timer": _handler_names(self.spec, A.OnTimer),
                    "request": _handler_names(self.spec, A.OnRequest)}
        seen: dict[tuple[str, str], A.Fairness] = {}
        for f in self.spec.fairness:
            if f.kind not in FAIRNESS_NAMES:
                raise self.error(f"unknown event kind {f.kind!r} in a fairness declaration", f.kind_span,
                                 "event kinds are " + ", ".join(FAIRNESS_NAMES))
            named = FAIRNESS_NAMES[f.kind]
            if f.names and named is None:
                raise self.error(f"`fair {f.kind}` takes no names: it covers every {f.kind} event", f.names[0][1])
            known = names_of.get(named or "", [])
            for name, span in f.names:
                if name not in known:
                    what = {"message": "message", "timer": "timer", "request": "request handler"}[named or ""]
                    raise self.error(f"unknown {what} {name!r} in `fair {f.kind}`", span, self.suggest(name, known))
            for name in [n for n, _ in f.names] or ["*"]:
                key = (f.kind, name)
                if key in seen or (f.kind, "*") in seen or (name == "*" and any(k[0] == f.kind for k in seen)):
                    raise self.error(f"{f.kind} events{'' if name == '*' else ' of ' + name} are declared fair twice", f)
                seen[key] = f

    # -- helpers
    def property_scope(self, messages: list[MsgInfo], node_t: NodeType) -> _Scope:
        """Properties may range over the messages in flight: `forall p in Propose: p.src ...`.

        Each message name stands for the set of its in-flight copies as records
        `(src, dst, field...)`; inductive invariants of message-passing protocols need them.
        """
        scope = _Scope(self.globals)
        for m in messages:
            if any(f in ("src", "dst") for f, _ in m.fields) or self.globals.get(m.name) is not None:
                continue
            rec = RecordType(m.name, (("src", node_t), ("dst", node_t)) + m.fields)
            scope.names[m.name] = Sym("inflight", SetType(rec), value=m.id)
        return scope

    def suggest(self, name: str, known: object) -> str:
        import difflib

        close = difflib.get_close_matches(name, list(known), n=1)  # type: ignore[call-overload]
        return f"did you mean {close[0]!r}?" if close else ""

    def bind(self, scope: _Scope, name: str, sym: Sym, where: A.Node) -> None:
        if name in scope.names:
            raise self.error(f"{name!r} is bound twice", where)
        existing = scope.get(name)
        if existing is not None and existing.kind in ("statevar", "const", "enum", "typeset", "inflight", "role"):
            what = {"statevar": "state variable", "const": "const", "enum": "enum", "typeset": "type",
                    "inflight": "message", "role": "role"}[existing.kind]
            raise self.error(f"{name!r} would hide the {what} of that name", where)
        if existing is not None and existing.kind == "local":
            # Locals live in one flat namespace at run time: an inner binding would overwrite the outer one.
            raise self.error(f"{name!r} is already bound in an enclosing scope", where,
                             "choose another name: locals cannot be shadowed")
        scope.names[name] = sym

    def expect(self, node: A.Node, got: Type, want: Type, what: str) -> None:
        if not compatible(got, want):
            raise self.error(f"{what} must be {want}, got {got}", node, _opaque_hint(got, want))

    def opaque(self, t: A.TOpaque, name: str) -> OpaqueType:
        """`type name = opaque(K)`: the checker tries K values, 1..K (OPAQUE_VALUES without K)."""
        k = OPAQUE_VALUES if t.count is None else self.const_int(t.count, "the number of opaque values")
        if k < 1:
            raise self.const_error(f"an opaque type needs at least one value for the checker to try, got {k}",
                                   t.count or t)
        return OpaqueType(1, k, name)

    def elem_of(self, e: A.Expr, t: Type) -> Type:
        if isinstance(t, (SetType, SeqType)):
            return t.elem
        if isinstance(t, AnyType):
            return ANY
        raise self.error(f"expected a set, a sequence or a range, got {t}", e)

    # -- statements
    def block(self, stmts: tuple[A.Stmt, ...], scope: _Scope) -> None:
        scope = _Scope(scope)
        for s in stmts:
            self.stmt(s, scope)

    def stmt(self, s: A.Stmt, scope: _Scope) -> None:
        if isinstance(s, A.Assign):
            sym = scope.get(s.target)
            if sym is None:
                raise self.error(f"unknown variable {s.target!r}", s, self.suggest(s.target, [v.name for v in self.vars]))
            if sym.kind not in ("statevar", "local") or (sym.kind == "local" and not sym.mutable):
                raise self.error(f"cannot assign to {s.target!r}: only state variables and `let` variables are assignable", s)
            self.refs[s] = sym
            t = sym.type
            for acc in s.path:
                if acc.field is not None:
                    if not isinstance(t, RecordType) or t.field_index(acc.field) is None:
                        raise self.error(f"{t} has no field {acc.field!r}", acc)
                    t = dict(t.fields)[acc.field]
                else:
                    assert acc.index is not None
                    it = self.expr(acc.index, scope)
                    if isinstance(t, MapType):
                        self.expect(acc.index, it, t.key, "a map key")
                        t = t.value
                    elif isinstance(t, SeqType):
                        self.expect(acc.index, it, INT, "a sequence index")
                        t = t.elem
                    else:
                        raise self.error(f"cannot index into {t}", acc)
                self.expr_types[acc] = t
            self.expect(s.expr, self.expr(s.expr, scope), t, f"the value assigned to {s.target}")
        elif isinstance(s, A.Let):
            t = self.expr(s.expr, scope)
            self.bind(scope, s.name, Sym("local", t, mutable=True), s)
            self.refs[s] = scope.names[s.name]
        elif isinstance(s, A.If):
            self.expect(s.cond, self.expr(s.cond, scope), BOOL, "a condition")
            self.block(s.then, scope)
            self.block(s.other, scope)
        elif isinstance(s, A.For):
            dt = self.expr(s.domain, scope)
            et = self.elem_of(s.domain, dt)
            if isinstance(dt, SetType) and contains_opaque(et):
                raise self.error(f"a loop over a set of {et} visits opaque values in an order, which the spec may "
                                 "not depend on: the checker's values and the runtime's payloads sort differently",
                                 s.domain, "loop over a sequence (it keeps its own order), or use forall/exists or "
                                 "a set comprehension")
            inner = _Scope(scope)
            self.bind(inner, s.var, Sym("local", et), s)
            if self.loop_depth >= MAX_LOOP_NESTING:
                raise self.error(f"loops nested too deeply: more than {MAX_LOOP_NESTING}", s,
                                 "move the inner loops into a set comprehension or a quantifier")
            self.loop_depth += 1
            try:
                for x in s.body:
                    self.stmt(x, inner)
            finally:
                self.loop_depth -= 1
        elif isinstance(s, A.Send):
            msg = self.messages.get(s.message)
            if msg is None:
                raise self.error(f"unknown message {s.message!r}", s, self.suggest(s.message, self.messages))
            self.message_args(s, msg, scope)
            dt = self.expr(s.dest, scope)
            if not isinstance(dt, NodeType) and not (isinstance(dt, SetType) and isinstance(dt.elem, NodeType | AnyType)):
                raise self.error(f"send goes to a node or a set of nodes, got {dt}", s.dest)
        elif isinstance(s, A.Disconnect):
            dt = self.expr(s.dest, scope)
            if not isinstance(dt, NodeType) and not (isinstance(dt, SetType) and isinstance(dt.elem, NodeType | AnyType)):
                raise self.error(f"disconnect names a node or a set of nodes, got {dt}", s.dest)
        elif isinstance(s, A.CallStmt):
            self.call_stmt(s, scope)
        elif isinstance(s, A.Reset):
            for i, name in enumerate(s.names):
                sym = scope.get(name)
                if sym is None or sym.kind != "statevar":
                    raise self.error(f"reset names state variables; {name!r} is not one", s,
                                     self.suggest(name, [v.name for v in self.vars]))
                if name in s.names[:i]:
                    raise self.error(f"reset names {name!r} twice", s)
        elif isinstance(s, A.Reply):
            if self.in_proc is not None:
                raise self.error("a procedure cannot `reply`: the request handler does", s)
            if not isinstance(self.handler, A.OnRequest):
                raise self.error("`reply` is only allowed in a request handler", s)
            self.expr(s.expr, scope)
        elif isinstance(s, A.ChooseOne | A.ChooseSubset) and self.in_proc is not None:
            raise self.error("a procedure cannot `choose`: choose in the handler and pass the value", s)
        elif isinstance(s, A.ChooseOne):
            assert self.handler is not None
            self.has_choice.add(self.handler)
            et = self.elem_of(s.domain, self.expr(s.domain, scope))
            self.bind(scope, s.var, Sym("local", et), s)
            self.refs_choice[s] = et
        elif isinstance(s, A.ChooseSubset):
            assert self.handler is not None
            self.has_choice.add(self.handler)
            dt = self.expr(s.domain, scope)
            et = self.elem_of(s.domain, dt)
            self.expect(s.size, self.expr(s.size, scope), INT, "a subset size")
            size = self.maybe_const(s.size)
            if isinstance(size, int) and not isinstance(size, bool) and size < 0:
                raise self.const_error(f"a subset size is a count, at least 0; got {size}", s.size)
            self.bind(scope, s.var, Sym("local", SetType(et)), s)
            self.refs_choice[s] = SetType(et)
        else:  # pragma: no cover
            raise AssertionError(s)

    def message_args(self, s: A.Send, msg: MsgInfo, scope: _Scope) -> None:
        fields = dict(msg.fields)
        seen: set[str] = set()
        named = any(a.name is not None for a in s.args)
        if named and not all(a.name is not None for a in s.args):
            raise self.error("pass a message's fields all by name or all by position", s)
        if len(s.args) != len(msg.fields):
            raise self.error(f"{msg.name} has {_count(len(msg.fields), 'field')}, {len(s.args)} given", s,
                             f"{msg.name}(" + ", ".join(f"{f}: {t}" for f, t in msg.fields) + ")")
        for i, a in enumerate(s.args):
            fname = a.name if a.name is not None else msg.fields[i][0]
            if fname not in fields:
                raise self.error(f"{msg.name} has no field {fname!r}", a, self.suggest(fname, fields))
            if fname in seen:
                raise self.error(f"field {fname!r} given twice", a)
            seen.add(fname)
            self.expect(a.expr, self.expr(a.expr, scope), fields[fname], f"field {fname} of {msg.name}")

    # -- expressions
    def expr(self, e: A.Expr, scope: _Scope) -> Type:
        t = self._expr(e, scope)
        self.expr_types[e] = t
        return t

    def _expr(self, e: A.Expr, scope: _Scope) -> Type:
        if isinstance(e, A.Num):
            return INT
        if isinstance(e, A.BoolLit):
            return BOOL
        if isinstance(e, A.NoneLit):
            return OptionType(ANY)
        if isinstance(e, A.SelfRef):
            if not self.allow_self:
                raise self.error("`self` is only defined inside handlers and initial values", e)
            return self.node_t
        if isinstance(e, A.Name):
            sym = scope.get(e.id)
            if sym is None:
                if self.in_property and any(v.name == e.id for v in self.vars):
                    raise self.error(f"{e.id!r} is a node's variable: write n.{e.id} for a node n", e)
                if self.defining is not None and any(v.name == e.id for v in self.spec.state):
                    raise self.error(f"{e.id!r} is a state variable: a definition reads only its parameters "
                                     "and constants", e, f"add a parameter and pass {e.id} as an argument")
                known = [n for s in self.scopes(scope) for n in s.names]
                raise self.error(f"unknown name {e.id!r}", e, self.suggest(e.id, known))
            if sym.kind == "statevar" and not self.allow_state:
                raise self.error(f"state variable {e.id!r} cannot be read here", e)
            if sym.kind == "typeset":
                assert isinstance(sym.type, SetType)
                if contains_opaque(sym.type.elem):
                    raise self.error(f"{e.id} is an opaque type: its values cannot be listed (at run time they are "
                                     "client payloads), so it is no domain to range over or choose from", e,
                                     f"values of {e.id} enter as request parameters; range over a set or "
                                     "sequence that holds them")
                if domain_size(sym.type.elem, MAX_ENUMERATION) > MAX_ENUMERATION:
                    raise self.const_error(f"{e.id} stands here for the set of its values, more than "
                                           f"{MAX_ENUMERATION:,} ({_size_text(sym.type.elem)})", e)
            self.refs[e] = sym
            return sym.type
        if isinstance(e, A.TupleLit):
            return TupleType(tuple(self.expr(x, scope) for x in e.items))
        if isinstance(e, A.SetLit | A.SeqLit):
            et: Type = ANY
            for x in e.items:
                xt = self.expr(x, scope)
                if not compatible(xt, et):
                    raise self.error(f"elements of one collection share a type: {xt} is not {et}", x)
                et = join(et, xt)
            return SetType(et) if isinstance(e, A.SetLit) else SeqType(et)
        if isinstance(e, A.RangeExpr):
            self.expect(e.lo, self.expr(e.lo, scope), INT, "a range bound")
            self.expect(e.hi, self.expr(e.hi, scope), INT, "a range bound")
            return SetType(INT)
        if isinstance(e, A.SetFilter):
            et = self.elem_of(e.domain, self.expr(e.domain, scope))
            inner = _Scope(scope)
            self.bind(inner, e.var, Sym("local", et), e)
            self.expect(e.cond, self.expr(e.cond, inner), BOOL, "a filter condition")
            return SetType(et)
        if isinstance(e, A.SetMap):
            et = self.elem_of(e.domain, self.expr(e.domain, scope))
            inner = _Scope(scope)
            self.bind(inner, e.var, Sym("local", et), e)
            return SetType(self.expr(e.expr, inner))
        if isinstance(e, A.Quant):
            et = self.elem_of(e.domain, self.expr(e.domain, scope))
            inner = _Scope(scope)
            for v in e.vars:
                self.bind(inner, v, Sym("local", et), e)
            self.expect(e.body, self.expr(e.body, inner), BOOL, "a quantifier's body")
            return BOOL
        if isinstance(e, A.Cond):
            self.expect(e.cond, self.expr(e.cond, scope), BOOL, "a condition")
            a, b = self.expr(e.then, scope), self.expr(e.other, scope)
            if not compatible(a, b):
                raise self.error(f"both branches must have one type, got {a} and {b}", e)
            return join(a, b)
        if isinstance(e, A.Unary):
            t = self.expr(e.operand, scope)
            if e.op == "not":
                self.expect(e.operand, t, BOOL, "the operand of `not`")
                return BOOL
            self.expect(e.operand, t, INT, "the operand of `-`")
            return INT
        if isinstance(e, A.Binary):
            return self.binary(e, scope)
        if isinstance(e, A.FieldGet):
            ot = self.expr(e.obj, scope)
            if isinstance(ot, NodeType):
                if not self.in_property:
                    raise self.error("a handler reads only its own node's state", e,
                                     "global properties may read n.var; handlers read their variables by name")
                v = next((v for v in self.vars if v.name == e.name), None)
                if v is None:
                    raise self.error(f"nodes have no variable {e.name!r}", e, self.suggest(e.name, [v.name for v in self.vars]))
                self.refs[e] = Sym("statevar", v.type, slot=v.slot)
                return v.type
            if isinstance(ot, RecordType):
                i = ot.field_index(e.name)
                if i is None:
                    raise self.error(f"{ot} has no field {e.name!r}", e, self.suggest(e.name, [f for f, _ in ot.fields]))
                return ot.fields[i][1]
            raise self.error(f"{ot} has no fields", e)
        if isinstance(e, A.Index):
            ot = self.expr(e.obj, scope)
            it = self.expr(e.index, scope)
            if isinstance(ot, SeqType):
                self.expect(e.index, it, INT, "a sequence index")
                return ot.elem
            if isinstance(ot, MapType):
                self.expect(e.index, it, ot.key, "a map key")
                if isinstance(ot.key, NodeType) and not isinstance(it, NodeType):
                    pass
                return ot.value
            if isinstance(ot, TupleType):
                if not isinstance(e.index, A.Num) or not 0 <= e.index.value < len(ot.items):
                    raise self.error(f"a tuple is indexed by a constant 0..{len(ot.items) - 1}", e.index)
                return ot.items[e.index.value]
            raise self.error(f"cannot index into {ot}", e)
        if isinstance(e, A.Slice):
            ot = self.expr(e.obj, scope)
            if not isinstance(ot, SeqType):
                raise self.error(f"only sequences can be sliced, got {ot}", e)
            for b in (e.lo, e.hi):
                if b is not None:
                    self.expect(b, self.expr(b, scope), INT, "a slice bound")
            return ot
        if isinstance(e, A.Call):
            return self.call(e, scope)
        raise AssertionError(e)  # pragma: no cover

    def scopes(self, scope: _Scope | None) -> list[_Scope]:
        out = []
        while scope is not None:
            out.append(scope)
            scope = scope.parent
        return out

    def binary(self, e: A.Binary, scope: _Scope) -> Type:
        a, b = self.expr(e.left, scope), self.expr(e.right, scope)
        op = e.op
        if op in ("and", "or", "=>"):
            self.expect(e.left, a, BOOL, f"the left of `{op}`")
            self.expect(e.right, b, BOOL, f"the right of `{op}`")
            return BOOL
        if op in ("==", "!="):
            if not compatible(a, b):
                raise self.error(f"cannot compare {a} with {b}", e, _opaque_hint(a, b))
            return BOOL
        if op in ("<", "<=", ">", ">="):
            if not (compatible(a, b) and ordered(a) and ordered(b)):
                raise self.error(f"`{op}` compares integers or tuples of them, got {a} and {b}", e, _opaque_hint(a, b))
            if contains_node(a) or contains_node(b):
                self.breakers.append((e.span, "this compares node ids by order"))
            return BOOL
        if op in ("in", "not in"):
            et = self.elem_of(e.right, b)
            if not compatible(a, et):
                raise self.error(f"{a} cannot be a member of {b}", e, _opaque_hint(a, et))
            return BOOL
        if op == "++":
            if not (isinstance(a, SeqType) and isinstance(b, SeqType) and compatible(a, b)):
                raise self.error(f"`++` joins two sequences, got {a} and {b}", e)
            return join(a, b)
        if op in ("|", "&") or (op == "-" and isinstance(a, SetType)):
            if not (isinstance(a, SetType) and isinstance(b, SetType) and compatible(a, b)):
                raise self.error(f"`{op}` on sets needs two sets, got {a} and {b}", e)
            return join(a, b)
        if op in ("+", "-", "*", "/", "%"):
            if not (is_int(a) and is_int(b)):
                raise self.error(f"`{op}` needs integers, got {a} and {b}", e, _opaque_hint(a, b))
            return INT
        raise AssertionError(op)  # pragma: no cover

    def call(self, e: A.Call, scope: _Scope) -> Type:
        rec = self.types.get(e.func)
        if isinstance(rec, RecordType):
            return self.record_ctor(e, rec, scope)
        if e.func in self.messages:
            raise self.error(f"{e.func} is a message: messages are only built in `send`", e)
        if e.func in self.defs:
            return self.apply(e, self.defs[e.func], scope)
        later = next((d for d in self.spec.defs if d.name == e.func), None)
        if later is not None:
            why = "itself" if later is self.defining else f"{e.func}, defined at line {later.span.line}"
            raise self.error(f"a definition uses only definitions written before it, not {why}", e,
                             "move the definition up; recursion is not supported")
        if e.func not in BUILTINS:
            raise self.error(f"unknown function {e.func!r}", e,
                             self.suggest(e.func, list(BUILTINS) + list(self.types) + list(self.defs)))
        if any(a.name is not None for a in e.args):
            raise self.error(f"{e.func} takes positional arguments", e)
        ts = [self.expr(a.expr, scope) for a in e.args]
        f, n = e.func, len(ts)

        def arity(k: int) -> None:
            if n != k:
                raise self.error(f"{f} takes {k} argument{'s' if k != 1 else ''}, {n} given", e)

        if f == "len":
            arity(1)
            if not isinstance(ts[0], SeqType | SetType | AnyType):
                raise self.error(f"len needs a sequence or a set, got {ts[0]}", e.args[0])
            return INT
        if f == "append":
            arity(2)
            if not isinstance(ts[0], SeqType):
                raise self.error(f"append needs a sequence, got {ts[0]}", e.args[0])
            self.expect(e.args[1], ts[1], ts[0].elem, "the appended element")
            return SeqType(join(ts[0].elem, ts[1]), ts[0].bound)
        if f in ("last", "head"):
            arity(1)
            if not isinstance(ts[0], SeqType):
                raise self.error(f"{f} needs a sequence, got {ts[0]}", e.args[0])
            return ts[0].elem
        if f == "tail":
            arity(1)
            if not isinstance(ts[0], SeqType):
                raise self.error(f"tail needs a sequence, got {ts[0]}", e.args[0])
            return ts[0]
        if f in ("max", "min"):
            if n == 1:
                et = self.elem_of(e.args[0].expr, ts[0])
                if not ordered(et):
                    raise self.error(f"{f} needs ordered elements, got {et}", e, _opaque_hint(et))
                if contains_node(et):
                    self.breakers.append((e.span, f"{f} picks a node by id order"))
                return et
            arity(2)
            if not (compatible(ts[0], ts[1]) and ordered(ts[0])):
                raise self.error(f"{f} needs two ordered values of one type, got {ts[0]} and {ts[1]}", e,
                                 _opaque_hint(ts[0], ts[1]))
            if contains_node(ts[0]):
                self.breakers.append((e.span, f"{f} picks a node by id order"))
            return join(ts[0], ts[1])
        if f == "is_prefix":
            arity(2)
            if not (isinstance(ts[0], SeqType) and isinstance(ts[1], SeqType) and compatible(ts[0], ts[1])):
                raise self.error("is_prefix needs two sequences of one type", e)
            return BOOL
        if f == "some":
            arity(1)
            return OptionType(ts[0])
        if f == "value":
            arity(1)
            if not isinstance(ts[0], OptionType):
                raise self.error(f"value needs an option, got {ts[0]}", e.args[0])
            return ts[0].elem
        if f == "node":
            arity(1)
            self.expect(e.args[0], ts[0], INT, "a node number")
            i = self.maybe_const(e.args[0].expr)
            if isinstance(i, int) and not isinstance(i, bool) and not 1 <= i <= self.node_t.count:
                raise self.const_error(f"node({i}) does not exist: nodes are 1..{self.node_t.count}", e.args[0].expr)
            self.breakers.append((e.span, "node(i) names one node"))
            return self.node_t
        raise AssertionError(f)  # pragma: no cover

    def record_ctor(self, e: A.Call, rec: RecordType, scope: _Scope) -> Type:
        if len(e.args) != len(rec.fields):
            raise self.error(f"{rec.name} has {_count(len(rec.fields), 'field')}, {len(e.args)} given", e,
                             f"{rec.name}(" + ", ".join(f"{f}: ..." for f, _ in rec.fields) + ")")
        named = [a.name is not None for a in e.args]
        if any(named) and not all(named):
            raise self.error("give a record's fields all by name or all by position", e)
        seen = set()
        for i, a in enumerate(e.args):
            fname = a.name if a.name is not None else rec.fields[i][0]
            fi = rec.field_index(fname)
            if fi is None:
                raise self.error(f"{rec.name} has no field {fname!r}", a)
            if fname in seen:
                raise self.error(f"field {fname!r} given twice", a)
            seen.add(fname)
            self.expect(a.expr, self.expr(a.expr, scope), rec.fields[fi][1], f"field {fname} of {rec.name}")
        return rec


def _handler_names(spec: A.Spec, kind: type) -> list[str]:
    return [h.name for h in spec.handlers if isinstance(h, kind)]  # type: ignore[attr-defined]


def _children(node: object) -> list[A.Node]:
    """The AST nodes directly inside a node (through tuples), for walks that keep no Python stack."""
    out: list[A.Node] = []
    for f in getattr(node, "__dataclass_fields__", {}):
        v = getattr(node, f)
        if isinstance(v, A.Node):
            out.append(v)
        elif isinstance(v, tuple):
            out.extend(x for x in v if isinstance(x, A.Node))
    return out


def _names_in(e: A.Node) -> list[str]:
    """Every name an expression mentions, found iteratively."""
    out, stack = [], [e]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Name):
            out.append(x.id)
        stack.extend(_children(x))
    return out


def _enum_types(spec: A.Spec) -> list[A.TEnum]:
    """Every `enum {...}` written in the spec: in type declarations, messages, state and requests."""
    roots: list[A.Node] = [td.type for td in spec.types]
    roots += [f.type for m in spec.messages for f in m.fields]
    roots += [vd.type for vd in spec.state]
    roots += [p.type for h in spec.handlers if isinstance(h, A.OnRequest) for p in h.params]
    out, stack = [], roots[::-1]
    while stack:
        x = stack.pop()
        if isinstance(x, A.TEnum):
            out.append(x)
        elif isinstance(x, A.TypeExpr | A.Field):
            stack.extend(c for c in reversed(_children(x)) if isinstance(c, A.TypeExpr | A.Field))
    return out


def _shown(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _deps_hint(deps: frozenset[str] | set[str], overridden: dict[str, object]) -> str:
    return ("with " + ", ".join(f"-D {d}={_shown(overridden[d])}" for d in sorted(deps))) if deps else ""


def _size_text(t: Type) -> str:
    if isinstance(t, IntType) and t.lo is not None and t.hi is not None:
        return f"{t} has {t.hi - t.lo + 1:,} values"
    return f"{t} has more values than that"


def _opaque_hint(*types: Type) -> str:
    """What an opaque type allows, for an error about one in an int's place or under an order."""
    for t in types:
        if contains_opaque(t):
            named = f"{t} is opaque: its values are" if isinstance(t, OpaqueType) else f"{t} holds opaque values,"
            return (f"{named} only stored, sent and compared with == and !=; a spec never writes one "
                    "(no literals, no arithmetic, no order, no conversion to or from int)")
    return ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def check(spec: A.Spec, overrides: dict[str, object] | None = None) -> Checked:
    """Type-check a spec with constant overrides; raise `SpecError` on the first problem."""
    return _Checker(spec, overrides or {}).run()
