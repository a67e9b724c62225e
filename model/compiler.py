"""Compile a checked spec into Python source: one plain function per handler.

The compiler reads the core IR (`Checked.core`, model/ir.py), where names are resolved, fields
ordered and `choose` sites numbered; it decides only how each construct runs in Python.

Every handler becomes ``on_<Message>_l<line>(self_id, st, <args>, ch) -> None | (st', sends, replies)``
(``timer_<name>_l<line>``, ``request_<name>_l<line>``, ``recover_l<line>`` for the others):
``None`` when its guard (or a `choose` over nothing) disables it; `sends` is a list of
``(dst, message)`` with ``message = (type_id, field, ...)``, or ``(dst, None)`` for
`disconnect dst` (in order with the sends: later sends go over a new connection). The functions know
nothing of who calls them: the checker, the simulation and real nodes all do.
What can be decided at compile time (slots, field positions, key offsets) is.
"""

from __future__ import annotations

import functools
import itertools
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from . import ast as A
from . import ir
from .errors import ModelError, SpecError
from .system import budget_slot
from .typecheck import MAX_ENUMERATION, Checked, MsgInfo, VarInfo
from .types import (
    ANY,
    BoolType,
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
    contains_node,
    default,
    domain,
    domain_size,
    show,
)

GENERATED_FILENAME = "<pnyx-generated>"
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*(\[[A-Za-z_0-9]+\])*")  # a name or plain subscripts: cheap to repeat


@dataclass(frozen=True)
class HandlerEntry:
    """One compiled handler with what a caller needs to invoke and describe it."""

    index: int
    kind: str  # message | timer | request | recover | rebuild
    name: str
    fn: Callable[..., Any]
    has_choice: bool
    line: int
    message_id: int = -1
    params: tuple[tuple[str, Type], ...] = ()
    choice_sites: tuple[tuple[str, Type], ...] = ()  # (variable, type) of each `choose`
    spends: int = -1  # timers: the position in the state's budget counters each firing uses up
    # Requests whose arguments are too many for the checker to try: raised by `arg_domain`, so
    # only what enumerates them (the checker) fails, not a runtime that never does.
    arg_error: SpecError | None = None
    reply_type: Type | None = None  # the type of every `reply` of the handler, to show replies (None: several)

    @functools.cached_property
    def arg_domain(self) -> tuple:
        """Request handlers: every argument tuple. Computed on first use, so a runtime that
        instantiates a spec with huge bounds (write ids up to 2**62) never enumerates them."""
        if self.arg_error is not None:
            raise self.arg_error
        return tuple(itertools.product(*(domain(t) for _, t in self.params)))


@dataclass(frozen=True)
class PropertyEntry:
    name: str
    kind: str  # invariant | reachable
    holds: Callable[[tuple, tuple], bool]
    explain: Callable[[tuple, tuple], dict | None]  # bindings of the outer foralls that falsify it
    line: int
    reads: tuple[str, ...]
    # Reads the messages in flight: `holds(NS, UP, NET)` needs the network (the checker passes it;
    # a live node, which sees no network, cannot evaluate such a property).
    reads_network: bool = False
    binding_types: tuple[tuple[str, Type], ...] = ()  # the outer foralls' variables, to show `explain`'s values
    target: Callable[..., bool] | None = None  # leadsto: Q of `P ~> Q`, as `holds` is P


@dataclass
class CompiledSpec:
    """A spec ready to run: its generated functions plus what describes their data."""

    checked: Checked
    source: str
    n_nodes: int
    network: str
    capacity: int | None
    budget: dict[str, int]
    symmetric: bool
    vars: list[VarInfo]
    messages: list[MsgInfo]
    handlers: list[HandlerEntry]
    message_handlers: tuple[tuple[HandlerEntry, ...], ...]
    timers: list[HandlerEntry]
    requests: list[HandlerEntry]
    recover: HandlerEntry | None
    rebuild: HandlerEntry | None  # `on rebuild`: runs after a restart with the disk lost
    properties: list[PropertyEntry]
    init_node: Callable[[int], tuple]
    reset_volatile: Callable[[tuple, int], tuple]
    reset_disk: Callable[[tuple, int], tuple]  # a restart with the disk lost: only ghost variables kept
    perm_node_state: Callable[[tuple, tuple, tuple], tuple] | None
    perm_message: Callable[[tuple, tuple, tuple], tuple] | None
    messages_hold_nodes: bool  # False: renaming nodes moves messages between channels but never changes one
    node_signature: Callable[[tuple], tuple] | None  # the part of a node state renaming cannot change
    hash_is_exact_enough: bool = True  # no integer in a state may be both -1 and -2 (CPython hashes them alike)
    line_map: dict[int, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.checked.spec.name

    @property
    def filename(self) -> str:
        return self.checked.spec.filename

    def show_message(self, msg: tuple) -> str:
        info = self.messages[msg[0]]
        if not info.fields:
            return info.name
        return info.name + "(" + ", ".join(f"{f}={show(v, t)}" for (f, t), v in zip(info.fields, msg[1:])) + ")"

    def spec_line(self, tb: TracebackType | None) -> int:
        """The spec line of the innermost generated frame of a traceback (0 if none)."""
        line = 0
        for frame, lineno in traceback.walk_tb(tb):
            if frame.f_code.co_filename == GENERATED_FILENAME:
                line = self.line_map.get(lineno, line)
        return line

    def model_error(self, exc: BaseException, where: str) -> ModelError:
        """Turn any exception raised by generated code into a located `ModelError`."""
        line = self.spec_line(exc.__traceback__)
        msg = exc.message if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
        return ModelError(f"{where}: {msg}", line)


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line_map: dict[int, int] = {}
        self.indent = 0
        self.counter = itertools.count()

    def emit(self, text: str, spec_line: int = 0) -> None:
        self.lines.append("    " * self.indent + text)
        if spec_line:
            self.line_map[len(self.lines)] = spec_line

    def fresh(self, base: str) -> str:
        return f"_{base}{next(self.counter)}"


class _Compiler(ir.Visitor):
    """The Python back end: `visit` gives an expression's code, or emits a statement's lines."""

    backend = "Python"

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.out = _Emitter()
        self.key_tables: dict[Type, str] = {}
        self.validators: dict[Type, str] = {}
        self.prelude: list[str] = []
        self.binding_types: list[tuple[tuple[str, Type], ...]] = []
        self.function_names: set[str] = set()

    # ---- expressions -------------------------------------------------------
    def x(self, e: ir.Expr) -> str:
        """The Python code of an expression."""
        return self.visit(e)

    def key_index(self, kt: Type, k: str) -> str:
        if isinstance(kt, (NodeType, EnumType, BoolType)):
            return k
        if isinstance(kt, IntType):
            assert kt.lo is not None and kt.hi is not None
            return f"_kidx({k}, {kt.lo}, {kt.hi - kt.lo + 1})"
        name = self.key_tables.get(kt)
        if name is None:
            name = f"_KEYS{len(self.key_tables)}"
            self.key_tables[kt] = name
            self.prelude.append(f"{name} = {{v: i for i, v in enumerate({domain(kt)!r})}}")
        return f"{name}[{k}]"

    def domain_code(self, e: ir.Expr) -> str:
        """What a loop, quantifier or choice ranges over: a range stays a `range`, nothing lists it."""
        if isinstance(e, ir.Range):
            return f"range({self.x(e.lo)}, {self.x(e.hi)} + 1)"
        return self.x(e)

    def visit_Literal(self, e: ir.Literal) -> str:
        return repr(e.value)

    def visit_NoneLit(self, e: ir.NoneLit) -> str:
        return "()"

    def visit_ConstRef(self, e: ir.ConstRef) -> str:
        return repr(e.value)

    def visit_EnumMember(self, e: ir.EnumMember) -> str:
        return repr(e.value)

    def visit_SelfId(self, e: ir.SelfId) -> str:
        return "self_id"

    def visit_StateVar(self, e: ir.StateVar) -> str:
        return f"S_{e.name}"

    def visit_NodeVar(self, e: ir.NodeVar) -> str:
        return f"NS[{self.x(e.node)}][{e.slot}]"

    def visit_Local(self, e: ir.Local) -> str:
        return f"L_{e.name}"

    def visit_InFlight(self, e: ir.InFlight) -> str:
        return f"_inflight(NET, {e.message_id}, {self.program.network == 'fifo'}, {self.program.n_nodes})"

    def visit_RoleNodes(self, e: ir.RoleNodes) -> str:
        return repr(e.members)  # a set is a sorted tuple

    def visit_TypeValues(self, e: ir.TypeValues) -> str:
        return repr(domain(e.elem))

    def visit_TupleLit(self, e: ir.TupleLit) -> str:
        return "(" + "".join(self.x(i) + ", " for i in e.items) + ")"

    def visit_SeqLit(self, e: ir.SeqLit) -> str:
        return "(" + "".join(self.x(i) + ", " for i in e.items) + ")"

    def visit_SetLit(self, e: ir.SetLit) -> str:
        if not e.items:
            return "()"
        return "_set((" + "".join(self.x(i) + ", " for i in e.items) + "))"

    def visit_Range(self, e: ir.Range) -> str:
        return f"tuple(range({self.x(e.lo)}, {self.x(e.hi)} + 1))"

    def visit_SetFilter(self, e: ir.SetFilter) -> str:
        v = f"L_{e.var}"
        gen = f"{v} for {v} in {self.domain_code(e.domain)} if {self.x(e.cond)}"
        if isinstance(e.domain.type, SeqType):
            return f"_set({gen})"
        return f"tuple({gen})"

    def visit_SetMap(self, e: ir.SetMap) -> str:
        return f"_set({self.x(e.expr)} for L_{e.var} in {self.domain_code(e.domain)})"

    def visit_Quant(self, e: ir.Quant) -> str:
        dom = self.domain_code(e.domain)
        loops = " ".join(f"for L_{v} in {dom}" for v in e.vars)
        fn = "all" if e.kind == "forall" else "any"
        return f"{fn}({self.x(e.body)} {loops})"

    def visit_Cond(self, e: ir.Cond) -> str:
        return f"({self.x(e.then)} if {self.x(e.cond)} else {self.x(e.other)})"

    def visit_Unary(self, e: ir.Unary) -> str:
        return f"(not {self.x(e.operand)})" if e.op == "not" else f"(-{self.x(e.operand)})"

    def visit_Binary(self, e: ir.Binary) -> str:
        op = e.op
        if op == "in" and isinstance(e.right, ir.Range):
            return f"({self.x(e.right.lo)} <= {self.x(e.left)} <= {self.x(e.right.hi)})"
        if op == "not in" and isinstance(e.right, ir.Range):
            return f"(not ({self.x(e.right.lo)} <= {self.x(e.left)} <= {self.x(e.right.hi)}))"
        a, b = self.x(e.left), self.x(e.right)
        if op == "=>":
            return f"((not {a}) or {b})"
        if op in ("and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "++"):
            return f"({a} {'+' if op == '++' else op} {b})"
        if isinstance(e.left.type, SetType):
            fn = {"|": "_union", "&": "_inter", "-": "_diff"}[op]
            return f"{fn}({a}, {b})"
        if op == "/":
            return f"_div({a}, {b})"
        if op == "%":
            return f"_mod({a}, {b})"
        return f"({a} {op} {b})"

    def visit_RecordField(self, e: ir.RecordField) -> str:
        return f"{self.x(e.obj)}[{e.index}]"

    def visit_SeqIndex(self, e: ir.SeqIndex) -> str:
        return f"_at({self.x(e.obj)}, {self.x(e.index)})"

    def visit_MapGet(self, e: ir.MapGet) -> str:
        assert isinstance(e.obj.type, MapType)
        return f"{self.x(e.obj)}[{self.key_index(e.obj.type.key, self.x(e.key))}]"

    def visit_TupleItem(self, e: ir.TupleItem) -> str:
        return f"{self.x(e.obj)}[{e.index}]"

    def visit_Slice(self, e: ir.Slice) -> str:
        lo = self.x(e.lo) if e.lo is not None else ""
        hi = self.x(e.hi) if e.hi is not None else ""
        return f"{self.x(e.obj)}[{lo}:{hi}]"

    def visit_RecordLit(self, e: ir.RecordLit) -> str:
        return "(" + "".join(self.x(x) + ", " for _, x in e.fields) + ")"

    def visit_Apply(self, e: ir.Apply) -> str:
        return f"D_{e.name}({''.join(self.x(a) + ', ' for a in e.args)})"

    def definition(self, d: ir.Definition) -> None:
        """A `def` becomes a module-level function; it reads no state, so handlers and properties share it."""
        params = "".join(f"L_{p.name}, " for p in d.params)
        self.out.emit(f"def D_{d.name}({params}):", d.span.line)
        self.out.emit(f"    return {self.x(d.body)}", d.body.span.line)

    def visit_BuiltinCall(self, e: ir.BuiltinCall) -> str:
        args = [self.x(a) for a in e.args]
        f = e.func
        if f == "len":
            return f"len({args[0]})"
        if f == "append":
            return f"({args[0]} + ({args[1]},))"
        if f == "last":
            return f"_last({args[0]})"
        if f == "head":
            return f"_head({args[0]})"
        if f == "tail":
            return f"{args[0]}[1:]"
        if f in ("max", "min"):
            if len(args) == 1:
                return self.extreme(f, e.args[0]) or f"_{f}({args[0]})"
            return f"{f}({args[0]}, {args[1]})"
        if f == "is_prefix":
            if all(_SIMPLE.fullmatch(a) for a in args):
                return f"({args[1]}[:len({args[0]})] == {args[0]})"
            return f"_is_prefix({args[0]}, {args[1]})"
        if f == "some":
            return f"({args[0]},)"
        if f == "value":
            return f"_value({args[0]})"
        if f == "node":
            return f"_node({args[0]}, {self.program.n_nodes})"
        raise self.unsupported(e)  # pragma: no cover - the checker knows no other builtin

    # ---- max/min of a filtered range, scanned from the end that wins ----------------
    def extreme(self, f: str, arg: ir.Expr) -> str | None:
        """`max({k in lo..hi where P})` (or a union of such sets and others) without listing the set.

        The range is scanned from its top (bottom for min) and the scan stops at the first k
        that satisfies P: `loggedThrough(h, z)` costs the distance from the end of h to z, not
        len(h). Only when P cannot fail for any k (`total`): the full evaluation would have
        evaluated P on every k, so skipping some must not hide an error. None: no such set here."""
        parts = self.union_parts(arg)
        scans = [self.scan(f, p) for p in parts]
        if all(s is None for s in scans):
            return None
        cands = [s if s is not None else f"_ext({f}, {self.x(p)})" for p, s in zip(parts, scans, strict=True)]
        if len(cands) == 1 and scans[0] is not None:
            return f"_pick({f!r}, ({cands[0]},))"
        return f"_pick({f!r}, ({''.join(c + ', ' for c in cands)}))"

    def union_parts(self, e: ir.Expr) -> list[ir.Expr]:
        if isinstance(e, ir.Binary) and e.op == "|" and isinstance(e.type, SetType):
            return self.union_parts(e.left) + self.union_parts(e.right)
        return [e]

    def scan(self, f: str, e: ir.Expr) -> str | None:
        """The winning element of a filtered range (or `_NOTHING`), scanned from the winning end."""
        if not (isinstance(e, ir.SetFilter) and isinstance(e.domain, ir.Range) and self.total(e.cond, e.var, e.domain)):
            return None
        v, lo, hi = f"L_{e.var}", self.x(e.domain.lo), self.x(e.domain.hi)
        rng = f"_downto({lo}, {hi})" if f == "max" else f"range({lo}, {hi} + 1)"  # lo, then hi, as before
        return f"next(({v} for {v} in {rng} if {self.x(e.cond)}), _NOTHING)"

    _TOTAL_OPS = frozenset(("and", "or", "=>", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "++", "+", "-", "*",
                            "|", "&"))

    def total(self, e: ir.Expr, var: str, rng: ir.Range) -> bool:
        """Whether evaluating e can never fail, for any value of `var` in `rng` (conservative)."""
        def ok(x: ir.Expr) -> bool:
            return self.total(x, var, rng)
        if isinstance(e, (ir.Literal, ir.NoneLit, ir.ConstRef, ir.EnumMember, ir.SelfId, ir.StateVar, ir.Local,
                          ir.RoleNodes, ir.TypeValues)):
            return True
        if isinstance(e, (ir.TupleLit, ir.SeqLit, ir.SetLit)):
            return all(map(ok, e.items))
        if isinstance(e, ir.RecordLit):
            return all(ok(x) for _, x in e.fields)
        if isinstance(e, (ir.RecordField, ir.TupleItem)):
            return ok(e.obj)
        if isinstance(e, ir.Slice):
            return ok(e.obj) and (e.lo is None or ok(e.lo)) and (e.hi is None or ok(e.hi))
        if isinstance(e, ir.Unary):
            return ok(e.operand)
        if isinstance(e, ir.Binary):
            return e.op in self._TOTAL_OPS and ok(e.left) and ok(e.right)
        if isinstance(e, ir.Cond):
            return ok(e.cond) and ok(e.then) and ok(e.other)
        if isinstance(e, ir.BuiltinCall):
            return e.func in ("len", "is_prefix", "some") and all(map(ok, e.args))
        if isinstance(e, ir.SetFilter):  # an inner variable of the same name hides the scanned one
            return e.var != var and ok(e.domain) and ok(e.cond)
        if isinstance(e, ir.Quant):
            return var not in e.vars and ok(e.domain) and ok(e.body)
        if isinstance(e, ir.Range):
            return ok(e.lo) and ok(e.hi)
        if isinstance(e, ir.MapGet):
            return (isinstance(e.obj.type, MapType) and isinstance(e.obj.type.key, (NodeType, EnumType, BoolType))
                    and ok(e.obj) and ok(e.key))
        if isinstance(e, ir.SeqIndex):
            return ok(e.obj) and self.in_bounds(e, var, rng)
        return False

    def in_bounds(self, e: ir.SeqIndex, var: str, rng: ir.Range) -> bool:
        """`s[k + c]` with k in `lo..len(s) + d`, where lo + c >= 0 and d + c <= -1: always a valid index."""
        c = _offset(e.index, lambda x: isinstance(x, ir.Local) and x.name == var)
        obj = self.x(e.obj)
        if c is None or re.search(rf"\bL_{re.escape(var)}\b", obj):
            return False
        lo = rng.lo.value if isinstance(rng.lo, (ir.Literal, ir.ConstRef)) and not isinstance(rng.lo.value, bool) else None
        d = _offset(rng.hi, lambda x: isinstance(x, ir.BuiltinCall) and x.func == "len" and self.x(x.args[0]) == obj)
        return lo is not None and d is not None and lo + c >= 0 and d + c <= -1

    # ---- validation of assigned values -------------------------------------
    def needs_check(self, t: Type) -> bool:
        """Whether an assigned value of type t is tested against its declaration at run time.

        Opaque values never are: only request parameters create them (the checker draws those
        from 1..K and no expression makes another), and at run time they are client payloads."""
        if isinstance(t, OpaqueType):
            return False
        if isinstance(t, IntType):
            return t.lo is not None
        if isinstance(t, SeqType):
            return t.bound is not None or self.needs_check(t.elem)
        if isinstance(t, (SetType, OptionType)):
            return self.needs_check(t.elem)
        if isinstance(t, RecordType):
            return any(self.needs_check(ft) for _, ft in t.fields)
        if isinstance(t, TupleType):
            return any(self.needs_check(i) for i in t.items)
        if isinstance(t, MapType):
            return self.needs_check(t.value)
        return False

    def fits(self, t: Type, v: str) -> str:
        """An inline test that the value `v` (a plain name) fits t; C-level min/max for int collections."""
        if isinstance(t, IntType):
            return f"({t.lo} <= {v} <= {t.hi})"
        if isinstance(t, SeqType | SetType) and self.needs_check(t.elem) and isinstance(t.elem, IntType):
            parts = [f"len({v}) <= {t.bound}"] if isinstance(t, SeqType) and t.bound is not None else []
            parts.append(f"(not {v} or ({t.elem.lo} <= min({v}) and max({v}) <= {t.elem.hi}))")
            return "(" + " and ".join(parts) + ")"
        if isinstance(t, SeqType) and not self.needs_check(t.elem):
            return f"(len({v}) <= {t.bound})"
        return f"{self.validator(t)}({v})"

    def validator(self, t: Type) -> str:
        """Name of a generated function `v -> bool` that tells whether v fits t."""
        if t in self.validators:
            return self.validators[t]
        name = f"_ok{len(self.validators)}"
        self.validators[t] = name
        if isinstance(t, IntType):
            body = f"{t.lo} <= v <= {t.hi}"
        elif isinstance(t, SeqType):
            parts = []
            if t.bound is not None:
                parts.append(f"len(v) <= {t.bound}")
            if self.needs_check(t.elem):
                parts.append(f"all({self.validator(t.elem)}(x) for x in v)")
            body = " and ".join(parts)
        elif isinstance(t, (SetType, OptionType)):
            body = f"all({self.validator(t.elem)}(x) for x in v)"
        elif isinstance(t, MapType):
            body = f"all({self.validator(t.value)}(x) for x in v)"
        elif isinstance(t, RecordType):
            body = " and ".join(f"{self.validator(ft)}(v[{i}])" for i, (_, ft) in enumerate(t.fields) if self.needs_check(ft))
        elif isinstance(t, TupleType):
            body = " and ".join(f"{self.validator(it)}(v[{i}])" for i, it in enumerate(t.items) if self.needs_check(it))
        else:  # pragma: no cover
            body = "True"
        self.prelude.append(f"def {name}(v):\n    return {body}")
        return name

    # ---- statements --------------------------------------------------------
    def block(self, stmts: tuple[ir.Stmt, ...]) -> None:
        if not stmts:
            self.out.emit("pass")
        for s in stmts:
            self.visit(s)

    def update(self, base: str, t: Type, path: tuple[ir.FieldStep | ir.KeyStep, ...], value: str) -> str:
        """A functional update of `base` (of type t) along `path`, as an expression."""
        if not path:
            return value
        step, rest = path[0], path[1:]
        if isinstance(step, ir.FieldStep):
            i = step.index
            return f"_seti({base}, {i}, {self.update(f'{base}[{i}]', step.type, rest, value)})"
        if isinstance(t, MapType):
            k = self.out.fresh("k")
            self.out.emit(f"{k} = {self.key_index(t.key, self.x(step.key))}", step.span.line)
        else:
            k = self.out.fresh("i")
            self.out.emit(f"{k} = {self.x(step.key)}", step.span.line)
        return f"_seti({base}, {k}, {self.update(f'{base}[{k}]', step.type, rest, value)})"

    @staticmethod
    def _appends_to_itself(s: ir.Assign) -> bool:
        e = s.expr
        return (not s.path and isinstance(e, ir.BuiltinCall) and e.func == "append" and len(e.args) == 2
                and isinstance(e.args[0], ir.StateVar | ir.Local) and e.args[0].name == s.target.name)

    def visit_Assign(self, s: ir.Assign) -> None:
        line = s.span.line
        target = self.x(s.target)
        t = s.target.type
        val = self.out.fresh("v")
        self.out.emit(f"{val} = {self.x(s.expr)}", line)
        self.out.emit(f"{target} = {self.update(target, t, s.path, val)}", line)
        if isinstance(s.target, ir.StateVar) and self.needs_check(t):
            if self._appends_to_itself(s) and isinstance(t, SeqType):
                # `x = append(x, e)`: x already fitted, so only its length and e need checking
                parts = [f"len({target}) <= {t.bound}"] if t.bound is not None else []
                if self.needs_check(t.elem):
                    parts.append(self.fits(t.elem, f"{target}[-1]"))
                test = " and ".join(parts) or "True"
            else:
                test = self.fits(t, target)
            self.out.emit(f"if not ({test}): _bound({s.target.name!r}, {target})", line)

    def initial(self, v: ir.Var) -> str:
        """A variable's initial value: at start, after a crash (volatile) and on `reset`."""
        return self.x(v.init) if v.init is not None else repr(default(v.type))

    def visit_Fail(self, s: ir.Fail) -> None:
        self.out.emit(f"_fail({s.what!r})", s.span.line)

    def visit_Reset(self, s: ir.Reset) -> None:
        for v in s.vars:
            self.out.emit(f"S_{v.name} = {self.initial(v)}", s.span.line)

    def visit_Let(self, s: ir.Let) -> None:
        self.out.emit(f"L_{s.name} = {self.x(s.expr)}", s.span.line)

    def visit_If(self, s: ir.If) -> None:
        self.out.emit(f"if {self.x(s.cond)}:", s.span.line)
        self.out.indent += 1
        self.block(s.then)
        self.out.indent -= 1
        if s.other:
            self.out.emit("else:", s.span.line)
            self.out.indent += 1
            self.block(s.other)
            self.out.indent -= 1

    def visit_For(self, s: ir.For) -> None:
        self.out.emit(f"for L_{s.var} in {self.domain_code(s.domain)}:", s.span.line)
        self.out.indent += 1
        self.block(s.body)
        self.out.indent -= 1

    def visit_Send(self, s: ir.Send) -> None:
        line = s.span.line
        m = "(" + f"{s.message_id}, " + "".join(self.x(e) + ", " for _, e in s.fields) + ")"
        declared = self.program.messages[s.message_id].fields
        checked = [(j, f, ft) for j, (f, ft) in enumerate(declared, start=1) if self.needs_check(ft)]
        if checked:  # a message carries only values of its declared field types
            mv = self.out.fresh("m")
            self.out.emit(f"{mv} = {m}", line)
            for j, f, ft in checked:
                self.out.emit(f"if not {self.fits(ft, f'{mv}[{j}]')}: _bound('field {f} of {s.message}', {mv}[{j}])", line)
            m = mv
        if isinstance(s.dest.type, NodeType):
            self.out.emit(f"_out.append(({self.x(s.dest)}, {m}))", line)
        else:
            mv, d = self.out.fresh("m"), self.out.fresh("d")
            self.out.emit(f"{mv} = {m}", line)
            self.out.emit(f"for {d} in {self.x(s.dest)}: _out.append(({d}, {mv}))", line)

    def visit_Disconnect(self, s: ir.Disconnect) -> None:
        """A send of `None`: the connection closes, in-flight messages are lost."""
        if isinstance(s.dest.type, NodeType):
            self.out.emit(f"_out.append(({self.x(s.dest)}, None))", s.span.line)
        else:
            d = self.out.fresh("d")
            self.out.emit(f"for {d} in {self.x(s.dest)}: _out.append(({d}, None))", s.span.line)

    def visit_Reply(self, s: ir.Reply) -> None:
        self.out.emit(f"_rep.append({self.x(s.expr)})", s.span.line)

    def visit_ChooseOne(self, s: ir.ChooseOne) -> None:
        line = s.span.line
        opts = self.out.fresh("o")
        self.out.emit(f"{opts} = {self.domain_code(s.domain)}", line)  # a range stays a `range`: choosers index it
        self.out.emit(f"if not {opts}: return None", line)
        self.out.emit(f"L_{s.var} = _ch.pick({opts}, {s.site})", line)

    def visit_ChooseSubset(self, s: ir.ChooseSubset) -> None:
        line = s.span.line
        opts = self.out.fresh("o")
        dom = self.domain_code(s.domain)
        self.out.emit(f"{opts} = {dom if isinstance(s.domain, ir.Range) else f'tuple({dom})'}", line)
        self.out.emit(f"L_{s.var} = _ch.subset({opts}, {self.x(s.size)}, {s.site})", line)

    # ---- handlers ----------------------------------------------------------
    def function_name(self, base: str) -> str:
        """A generated function's name, unique in the module: a profile or a traceback says what ran."""
        name, k = base, 1
        while name in self.function_names:
            k += 1
            name = f"{base}_{k}"
        self.function_names.add(name)
        return name

    def handler(self, h: ir.Handler) -> str:
        match h:
            case ir.OnMessage():
                trigger = f"on_{h.message}"
            case ir.OnTimer():
                trigger = f"timer_{h.name}"
            case ir.OnRequest():
                trigger = f"request_{h.name}"
            case ir.OnRebuild():
                trigger = "rebuild"
            case _:
                trigger = "recover"
        name = self.function_name(f"{trigger}_l{h.span.line}")
        params = ["self_id", "st"]
        if isinstance(h, ir.OnMessage):
            params.append(f"L_{h.sender}" if h.sender else "_src")
            params += [f"L_{b}" if b != "_" else f"_f{j}" for j, b in enumerate(h.binders)]
        elif isinstance(h, ir.OnRequest):
            params += [f"L_{p.name}" for p in h.params]
        params.append("_ch")
        self.out.emit(f"def {name}({', '.join(params)}):", h.span.line)
        self.out.indent += 1
        svars = [f"S_{v.name}" for v in self.program.vars]
        if svars:
            self.out.emit(f"{', '.join(svars)}, = st", h.span.line)
        if h.guard is not None:
            self.out.emit(f"if not {self.x(h.guard)}: return None", h.guard.span.line)
        self.out.emit("_out = []; _rep = []")
        self.block(h.body)
        self.out.emit(f"return (({''.join(v + ', ' for v in svars)}), _out, _rep)")
        self.out.indent -= 1
        self.out.emit("")
        return name

    # ---- properties --------------------------------------------------------
    @staticmethod
    def _elem_type(dom: ir.Expr) -> Type:
        t = dom.type
        return t.elem if isinstance(t, SetType | SeqType) else ANY

    def prop(self, p: ir.Property) -> tuple[str, str, str | None]:
        outer: list[tuple[str, ir.Expr]] = []
        body = p.expr
        while isinstance(body, ir.Quant) and body.kind == "forall" and p.kind == "invariant":
            for v in body.vars:
                outer.append((v, body.domain))
            body = body.body
        fname = self.function_name(f"{p.kind}_{p.name}")
        ename = self.function_name(f"explain_{p.name}")
        self.binding_types.append(tuple((v, self._elem_type(dom)) for v, dom in outer))
        self.out.emit(f"def {fname}(NS, UP, NET=None):", p.span.line)
        if outer:  # loops with an early exit beat all(<generator>) in the hot loop
            for d, (v, dom) in enumerate(outer, start=1):
                self.out.emit("    " * d + f"for L_{v} in {self.domain_code(dom)}:", p.span.line)
            self.out.emit("    " * (len(outer) + 1) + f"if not {self.x(body)}: return False", p.span.line)
            self.out.emit("    return True", p.span.line)
        else:
            self.out.emit(f"    return {self.x(p.expr)}", p.span.line)
        self.out.emit(f"def {ename}(NS, UP, NET=None):", p.span.line)
        ind = 1
        for v, dom in outer:
            self.out.emit("    " * ind + f"for L_{v} in {self.domain_code(dom)}:", p.span.line)
            ind += 1
        binds = ", ".join(f"{v!r}: L_{v}" for v, _ in outer)
        self.out.emit("    " * ind + f"if not {self.x(body)}: return {{{binds}}}", p.span.line)
        self.out.emit("    return None")
        tname = None
        if p.target is not None:
            tname = self.function_name(f"{p.kind}_target_{p.name}")
            self.out.emit(f"def {tname}(NS, UP, NET=None):", p.target.span.line)
            self.out.emit(f"    return {self.x(p.target)}", p.target.span.line)
        return fname, ename, tname

    # ---- symmetry ----------------------------------------------------------
    def perm(self, t: Type, v: str, depth: int = 0) -> str | None:
        """An inline expression renaming the node ids in `v` (of type t) by p; q is p's inverse.

        None when values of t hold no node ids. Inline comprehensions, not helper calls:
        this runs N! times per new state under symmetry reduction.
        """
        if not contains_node(t):
            return None
        x = f"_x{depth}"
        if isinstance(t, NodeType):
            return f"p[{v}]"
        if isinstance(t, (RecordType, TupleType)):
            items = [ft for _, ft in t.fields] if isinstance(t, RecordType) else list(t.items)
            parts = [self.perm(it, f"{v}[{j}]", depth) or f"{v}[{j}]" for j, it in enumerate(items)]
            return "(" + "".join(part + ", " for part in parts) + ")"
        if isinstance(t, OptionType) and isinstance(t.elem, NodeType):
            return f"((p[{v}[0]],) if {v} else ())"
        if isinstance(t, SeqType | OptionType):
            return f"tuple([{self.perm(t.elem, x, depth + 1)} for {x} in {v}])"
        if isinstance(t, SetType) and isinstance(t.elem, NodeType):
            return f"_SP[p][{v}]"  # a table lookup: there are only 2**N sets of nodes
        if isinstance(t, SetType):
            return f"tuple(sorted([{self.perm(t.elem, x, depth + 1)} for {x} in {v}]))"
        if isinstance(t, MapType):
            if isinstance(t.key, NodeType):
                vals = [self.perm(t.value, f"{v}[q[{k}]]", depth + 1) or f"{v}[q[{k}]]" for k in range(t.key.count)]
                return "(" + "".join(x + ", " for x in vals) + ")"
            return f"tuple([{self.perm(t.value, x, depth + 1)} for {x} in {v}])"
        raise AssertionError(t)  # pragma: no cover

    # ---- the module --------------------------------------------------------
    def module(self) -> tuple[str, dict[str, Any]]:
        prog = self.program
        o = self.out
        names: dict[str, Any] = {}
        if prog.definitions:
            o.emit("# the spec's definitions")
            for d in prog.definitions:
                self.definition(d)
        o.emit("# init: every node's variables, volatile ones again after a crash")
        o.emit("def init_node(self_id):")
        inits = [self.initial(v) for v in prog.vars]
        o.emit(f"    return ({''.join(x + ', ' for x in inits)})", prog.span.line)
        o.emit("def reset_volatile(st, self_id):")
        keep = [f"st[{v.slot}]" if v.storage != "volatile" else inits[v.slot] for v in prog.vars]
        o.emit(f"    return ({''.join(x + ', ' for x in keep)})")
        o.emit("def reset_disk(st, self_id):")
        keep = [f"st[{v.slot}]" if v.storage == "ghost" else inits[v.slot] for v in prog.vars]
        o.emit(f"    return ({''.join(x + ', ' for x in keep)})")
        o.emit("")
        hnames = [self.handler(h) for h in self.program.handlers]
        pnames = [self.prop(p) for p in self.program.properties]
        if prog.symmetric:
            # Renaming a set of nodes is a table lookup, filled on first use: a table built up front
            # has N! * 2**N entries, beyond reach at the node counts a runtime instantiates.
            # Both tables are emptied when they grow large: with many nodes, renamings and sets of
            # nodes are too many to keep them all, and a table that starts over costs only misses.
            o.emit("# every set of nodes under a renaming p, computed once then looked up")
            o.emit("class _SetPerm(dict):")
            o.emit("    def __init__(self, p): self.p = p")
            o.emit("    def __missing__(self, c):")
            o.emit("        if len(self) >= 65536: self.clear()")
            o.emit("        r = self[c] = tuple(sorted([self.p[x] for x in c])); return r")
            o.emit("class _Perms(dict):")
            o.emit("    def __missing__(self, p):")
            o.emit("        if len(self) >= 4096: self.clear()")
            o.emit("        r = self[p] = _SetPerm(p); return r")
            o.emit("_SP = _Perms()")
            sig = []
            for v in prog.vars:
                if not contains_node(v.type):
                    sig.append(f"st[{v.slot}]")
                elif isinstance(v.type, SetType | SeqType | OptionType) or (
                    isinstance(v.type, MapType) and not contains_node(v.type.key)
                ):
                    sig.append(f"len(st[{v.slot}])")
            o.emit("def node_signature(st):")
            o.emit("    # what renaming nodes cannot change: variables without node ids, sizes of collections of them")
            o.emit(f"    return ({''.join(x + ', ' for x in sig)})")
            parts = [self.perm(v.type, f"st[{v.slot}]") or f"st[{v.slot}]" for v in prog.vars]
            o.emit("def perm_node_state(st, p, q):")
            o.emit(f"    return ({''.join(x + ', ' for x in parts)})")
            fns = []
            for m in prog.messages:
                if not any(contains_node(ft) for _, ft in m.fields):
                    fns.append("_same")
                    continue
                parts = [f"{m.id}"] + [self.perm(ft, f"m[{j + 1}]") or f"m[{j + 1}]" for j, (_, ft) in enumerate(m.fields)]
                fn = f"_perm_msg{m.id}"
                o.emit(f"def {fn}(m, p, q):")
                o.emit(f"    return ({''.join(x + ', ' for x in parts)})")
                fns.append(fn)
            o.emit("def _same(m, p, q):\n    return m")
            o.emit(f"_PERM_MSG = ({''.join(f + ', ' for f in fns)})")
            o.emit("def perm_message(m, p, q):\n    return _PERM_MSG[m[0]](m, p, q)")
            o.emit(f"MESSAGES_HOLD_NODES = {any(contains_node(ft) for m in prog.messages for _, ft in m.fields)}")
        header = [
            f"# Generated by pnyx from {prog.filename!r} (spec {prog.name}); do not edit.",
            "from pnyx.model.runtime import (_at, _bound, _diff, _div, _head, _inflight, _inter, _is_prefix, _kidx, _last,",
            "                           _max, _min, _mod, _node, _set, _seti, _union, _value, _fail,",
            "                           _NOTHING, _downto, _ext, _pick)",
            "",
        ] + self.prelude + [""]
        shift = sum(x.count("\n") + 1 for x in header)
        self.out.line_map = {k + shift: v for k, v in o.line_map.items()}
        src = "\n".join(header + o.lines) + "\n"
        names["handlers"] = hnames
        names["props"] = pnames
        return src, names


def _offset(e: ir.Expr, base: Callable[[ir.Expr], bool]) -> int | None:
    """c when e is `b`, `b + c` or `b - c` with `base(b)` and c an integer literal; else None."""
    if base(e):
        return 0
    if (isinstance(e, ir.Binary) and e.op in ("+", "-") and isinstance(e.right, ir.Literal)
            and not isinstance(e.right.value, bool) and base(e.left)):
        return e.right.value if e.op == "+" else -e.right.value
    return None


def compile_checked(ct: Checked) -> CompiledSpec:
    """Generate, compile and wrap the handlers, initial state and properties of a spec."""
    comp = _Compiler(ct.core)
    try:
        src, names = comp.module()
        code = compile(src, GENERATED_FILENAME, "exec")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        # The parser's nesting limits keep specs far from Python's own (nested blocks, indentation,
        # parentheses); should a spec still reach one, it is reported at its line, not as a crash.
        line = comp.out.line_map.get(getattr(exc, "lineno", None) or 0, 0)
        reason = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise SpecError(f"this spec is too deeply nested or too large to compile ({reason})", ct.spec.filename,
                        ct.spec.source, A.Span(line, 1, line, 1) if line else None,
                        "split deep expressions and blocks with `let` variables or smaller handlers") from None
    ns: dict[str, Any] = {"__name__": f"pnyx_spec_{ct.spec.name}"}
    exec(code, ns)  # noqa: S102 - this is the compiler's output
    handlers: list[HandlerEntry] = []
    by_msg: list[list[HandlerEntry]] = [[] for _ in ct.messages]
    timers, requests = [], []
    recover = rebuild = None
    for h, fname in zip(comp.program.handlers, names["handlers"]):
        fn = ns[fname]
        i, choice, line = h.index, h.has_choice, h.span.line
        sites = tuple((c.var, c.type) for c in h.choices)
        if isinstance(h, ir.OnMessage):
            e = HandlerEntry(i, "message", h.message, fn, choice, line, message_id=h.message_id, choice_sites=sites)
            by_msg[h.message_id].append(e)
        elif isinstance(h, ir.OnTimer):
            spends = budget_slot(ct.budget, h.spends) if h.spends is not None else -1
            e = HandlerEntry(i, "timer", h.name, fn, choice, line, choice_sites=sites, spends=spends)
            timers.append(e)
        elif isinstance(h, ir.OnRequest):
            params = tuple((p.name, p.type) for p in h.params)
            e = HandlerEntry(i, "request", h.name, fn, choice, line, params=params, choice_sites=sites,
                             arg_error=_too_many_arguments(ct, h), reply_type=_reply_type(h))
            requests.append(e)
        elif isinstance(h, ir.OnRebuild):
            e = HandlerEntry(i, "rebuild", "rebuild", fn, choice, line, choice_sites=sites)
            rebuild = e
        else:
            assert isinstance(h, ir.OnRecover)
            e = HandlerEntry(i, "recover", "recover", fn, choice, line, choice_sites=sites)
            recover = e
        handlers.append(e)
    props = [PropertyEntry(p.name, p.kind, ns[fname], ns[ename], p.span.line, p.reads, p.reads_network, bindings,
                           ns[tname] if tname is not None else None)
             for p, (fname, ename, tname), bindings in zip(comp.program.properties, names["props"], comp.binding_types)]
    return CompiledSpec(
        checked=ct, source=src, n_nodes=ct.n_nodes, network=ct.network, capacity=ct.capacity,
        budget=ct.budget, symmetric=ct.symmetric, vars=ct.vars, messages=ct.messages, handlers=handlers,
        message_handlers=tuple(tuple(x) for x in by_msg), timers=timers, requests=requests, recover=recover,
        rebuild=rebuild, reset_disk=ns["reset_disk"],
        properties=props, init_node=ns["init_node"], reset_volatile=ns["reset_volatile"],
        perm_node_state=ns.get("perm_node_state"), perm_message=ns.get("perm_message"),
        messages_hold_nodes=bool(ns.get("MESSAGES_HOLD_NODES", True)), node_signature=ns.get("node_signature"),
        line_map=comp.out.line_map,
        hash_is_exact_enough=not any(_may_hold_minus_one_and_two(t) for t in
                                     [v.type for v in ct.vars] + [ft for m in ct.messages for _, ft in m.fields]),
    )


def _reply_type(h: ir.Handler) -> Type | None:
    """The type all of a handler's replies have, so a trace shows them as values (`v1`, `true`,
    `n2`); None when its `reply` statements differ in type."""
    types = {x.expr.type for s in h.body for x in ir.walk(s) if isinstance(x, ir.Reply)}
    return types.pop() if len(types) == 1 else None


def _too_many_arguments(ct: Checked, h: ir.OnRequest) -> SpecError | None:
    """The error for a request whose argument tuples exceed what the checker tries at each node, if so."""
    total = 1
    for p in h.params:
        total = min(total * domain_size(p.type, MAX_ENUMERATION), MAX_ENUMERATION + 1)
    if total <= MAX_ENUMERATION:
        return None
    where = max(h.params, key=lambda p: domain_size(p.type, MAX_ENUMERATION))
    shown = ", ".join(f"{p.name}: {p.type}" for p in h.params)
    return SpecError(f"the checker tries every argument of request {h.name}({shown}): more than "
                     f"{MAX_ENUMERATION:,} of them", ct.spec.filename, ct.spec.source, where.span,
                     "lower the constants bounding its parameters (-D) for checking; a cluster never enumerates them")


def _may_hold_minus_one_and_two(t: Type) -> bool:
    """Whether Python's hash may merge two values of t: -1 and -2, or integers 2**61 - 1 apart
    (CPython hashes integers modulo 2**61 - 1, so a range reaching that far has such pairs)."""
    if isinstance(t, IntType):
        if t.lo is None or t.hi is None or (t.lo <= -2 and t.hi >= -1):
            return True
        return max(abs(t.lo), abs(t.hi)) >= 2**61 - 1
    if isinstance(t, RecordType):
        return any(_may_hold_minus_one_and_two(ft) for _, ft in t.fields)
    if isinstance(t, TupleType):
        return any(_may_hold_minus_one_and_two(x) for x in t.items)
    if isinstance(t, SeqType | SetType | OptionType):
        return _may_hold_minus_one_and_two(t.elem)
    if isinstance(t, MapType):
        return _may_hold_minus_one_and_two(t.key) or _may_hold_minus_one_and_two(t.value)
    return False


def load(path: str, overrides: dict[str, object] | None = None) -> CompiledSpec:
    """Parse, check and compile a spec file in one call."""
    from .parser import parse_file
    from .typecheck import check

    return compile_checked(check(parse_file(path), overrides))
