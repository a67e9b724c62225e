"""Expressions, statements and handlers of a spec as TLA+ expressions.

A handler runs on an *environment*: a record holding the node's variables, the
`let` variables of the handler and `sends`, the sequence of ``<<dst, msg>>`` the
handler emitted so far. A statement maps an environment to the next one (a LET
chain). A `choose` makes the rest of the handler a set of environments, one per
option (``UNION {...: x \\in S}``), so each handler becomes an operator whose
value is the set of its outcomes: empty when it is disabled, as Pnyx's compiled
function returns None. Loops fold over their domain in Pnyx's iteration order.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnyx.model import ast as A
from pnyx.model.errors import PnyxError
from pnyx.model.typecheck import Checked, Sym
from pnyx.model.types import (
    AnyType,
    IntType,
    MapType,
    NodeType,
    RecordType,
    SeqType,
    SetType,
    TupleType,
    Type,
)

from .names import Names
from .values import Orders, Values, tla_string

LOGIC = {"and": "/\\", "or": "\\/", "=>": "=>", "==": "=", "!=": "#"}
SET_OPS = {"|": "\\cup", "&": "\\cap", "-": "\\"}


class ExportError(PnyxError):
    """A spec uses something the TLA+ export does not translate."""


@dataclass
class Globals:
    """Names shared by every operator of the module."""

    ct: Checked
    names: Names
    values: Values
    orders: Orders
    consts: dict[str, str]  # spec constant -> TLA+ name
    vars: dict[str, str]  # state variable -> TLA+ variable (also its field in an environment)
    tag: str  # the field of a message record that holds its type name
    sends: str  # the field of an environment holding the messages sent


class Translator:
    """Translates the expressions and statements of one operator definition."""

    def __init__(self, g: Globals, params: Names | None = None) -> None:
        self.g = g
        self.ct = g.ct
        self.v = g.values
        self.local = params if params is not None else g.names.child()
        self.scopes: list[dict[str, tuple[str, str]]] = [{}]
        self.env: str | None = None  # the environment in scope inside a handler
        self.in_property = False

    # ---- scopes ----------------------------------------------------------
    def bind(self, dsl: str) -> str:
        """Bind a spec name to a fresh TLA+ bound name."""
        tla = self.local.claim(dsl)
        self.scopes[-1][dsl] = ("bound", tla)
        return tla

    def bind_field(self, dsl: str, field: str) -> None:
        self.scopes[-1][dsl] = ("field", field)

    def lookup(self, dsl: str) -> tuple[str, str] | None:
        for s in reversed(self.scopes):
            if dsl in s:
                return s[dsl]
        return None

    def push(self) -> None:
        self.scopes.append({})

    def pop(self) -> None:
        """Leave a scope: its bound names may be reused by later, disjoint scopes."""
        for kind, tla in self.scopes.pop().values():
            if kind == "bound":
                self.local.taken.discard(tla)

    def t(self, e: A.Node) -> Type:
        return self.ct.expr_types[e]

    def err(self, what: str, node: A.Node) -> ExportError:
        return ExportError(f"{self.ct.spec.filename}:{node.span.line}:{node.span.col}: the TLA+ export cannot translate {what}")

    # ---- expressions -----------------------------------------------------
    def members(self, e: A.Expr) -> str:
        """A domain (set, sequence or range) as the TLA+ set of its elements."""
        if isinstance(e, A.RangeExpr):
            return f"({self.x(e.lo)})..({self.x(e.hi)})"
        if isinstance(self.t(e), SeqType):
            return f"Range({self.x(e)})"
        return self.x(e)

    def in_order(self, e: A.Expr) -> str:
        """A domain as a sequence in the order Pnyx iterates it."""
        t = self.t(e)
        if isinstance(t, SeqType):
            return self.x(e)
        elem = t.elem if isinstance(t, SetType) else t
        return f"SortedSeq({self.g.orders.op(elem)}, {self.members(e)})"

    def x(self, e: A.Expr) -> str:
        if isinstance(e, A.Num):
            return str(e.value)
        if isinstance(e, A.BoolLit):
            return "TRUE" if e.value else "FALSE"
        if isinstance(e, A.NoneLit):
            return "<<>>"
        if isinstance(e, A.SelfRef):
            found = self.lookup("self")
            assert found is not None
            return found[1]
        if isinstance(e, A.Name):
            return self.name(e, self.ct.refs[e])
        if isinstance(e, A.TupleLit | A.SeqLit):
            return "<<" + ", ".join(self.x(i) for i in e.items) + ">>"
        if isinstance(e, A.SetLit):
            return "{" + ", ".join(self.x(i) for i in e.items) + "}"
        if isinstance(e, A.RangeExpr):
            return f"(({self.x(e.lo)})..({self.x(e.hi)}))"
        if isinstance(e, A.SetFilter):
            dom = self.members(e.domain)
            self.push()
            v = self.bind(e.var)
            out = f"{{{v} \\in {dom} : {self.x(e.cond)}}}"
            self.pop()
            return out
        if isinstance(e, A.SetMap):
            dom = self.members(e.domain)
            self.push()
            v = self.bind(e.var)
            out = f"{{{self.x(e.expr)} : {v} \\in {dom}}}"
            self.pop()
            return out
        if isinstance(e, A.Quant):
            dom = self.members(e.domain)
            self.push()
            vs = ", ".join(self.bind(v) for v in e.vars)
            q = "\\A" if e.kind == "forall" else "\\E"
            out = f"({q} {vs} \\in {dom} : {self.x(e.body)})"
            self.pop()
            return out
        if isinstance(e, A.Cond):
            return f"(IF {self.x(e.cond)} THEN {self.x(e.then)} ELSE {self.x(e.other)})"
        if isinstance(e, A.Unary):
            return f"(~{self.x(e.operand)})" if e.op == "not" else f"(-{self.x(e.operand)})"
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.FieldGet):
            ot = self.t(e.obj)
            if isinstance(ot, NodeType):
                return f"{self.g.vars[e.name]}[{self.x(e.obj)}]"
            assert isinstance(ot, RecordType)
            return f"{self.x(e.obj)}.{self.v.field(e.name)}"
        if isinstance(e, A.Index):
            ot = self.t(e.obj)
            if isinstance(ot, SeqType):
                return f"{self.x(e.obj)}[({self.x(e.index)}) + 1]"
            if isinstance(ot, MapType):
                return f"{self.x(e.obj)}[{self.x(e.index)}]"
            assert isinstance(ot, TupleType) and isinstance(e.index, A.Num)
            return f"{self.x(e.obj)}[{e.index.value + 1}]"
        if isinstance(e, A.Slice):
            lo = self.x(e.lo) if e.lo is not None else "0"
            s = self.x(e.obj)
            hi = self.x(e.hi) if e.hi is not None else f"Len({s})"
            return f"Slice({s}, {lo}, {hi})"
        if isinstance(e, A.Call):
            return self.call(e)
        raise self.err(type(e).__name__, e)

    def name(self, e: A.Name, sym: Sym) -> str:
        if sym.kind == "const":
            return self.g.consts[e.id]
        if sym.kind == "enum":
            return tla_string(e.id)
        if sym.kind == "typeset":
            assert isinstance(sym.type, SetType)
            return self.v.set_of(sym.type.elem)
        if sym.kind == "inflight":
            return self.inflight(e, sym)
        if sym.kind == "statevar":
            if self.env is None:
                raise self.err(f"a read of {e.id} outside a handler", e)
            return f"{self.env}.{self.g.vars[e.id]}"
        found = self.lookup(e.id)
        if found is None:
            raise self.err(f"the name {e.id}", e)
        kind, tla = found
        if kind == "field":
            assert self.env is not None
            return f"{self.env}.{tla}"
        return tla

    def inflight(self, e: A.Name, sym: Sym) -> str:
        """The in-flight copies of one message type, as records [src, dst, field...] (properties only)."""
        msg = next(m for m in self.ct.messages if m.id == sym.value)
        tag = f"{self.g.tag} = {tla_string(msg.name)}"
        names = [self.local.claim(n) for n in ("x", "s", "d", "m")]
        x, s, d, m = names
        if self.ct.network == "fifo":
            fields = ", ".join([f"src |-> {s}", f"dst |-> {d}"]
                               + [f"{self.v.field(f)} |-> {m}.{self.v.field(f)}" for f, _ in msg.fields])
            copies = f"{{[{fields}] : {m} \\in {{{x} \\in Range(chan[{s}][{d}]) : {x}.{tag}}}}}"
            out = f"UNION {{{copies} : <<{s}, {d}>> \\in Node \\X Node}}"
        else:
            fields = ", ".join([f"src |-> {x}.src", f"dst |-> {x}.dst"]
                               + [f"{self.v.field(f)} |-> {x}.msg.{self.v.field(f)}" for f, _ in msg.fields])
            out = f"{{[{fields}] : {x} \\in {{{d} \\in DOMAIN net : {d}.msg.{tag}}}}}"
        for n in names:
            self.local.taken.discard(n)
        return out

    def binary(self, e: A.Binary) -> str:
        op = e.op
        a = self.x(e.left)
        if op in ("in", "not in"):
            inside = f"({a} \\in {self.members(e.right)})"
            return inside if op == "in" else f"(~{inside})"
        b = self.x(e.right)
        if op in LOGIC:
            return f"({a} {LOGIC[op]} {b})"
        if op in ("<", "<=", ">", ">="):
            t = self.t(e.left) if not isinstance(self.t(e.left), AnyType) else self.t(e.right)
            if isinstance(t, IntType | NodeType | AnyType):
                return f"({a} {op} {b})"
            lt = self.g.orders.op(t)
            return {"<": f"{lt}({a}, {b})", ">": f"{lt}({b}, {a})",
                    "<=": f"(~{lt}({b}, {a}))", ">=": f"(~{lt}({a}, {b}))"}[op]
        if op == "++":
            return f"({a} \\o {b})"
        if isinstance(self.t(e.left), SetType) or op in ("|", "&"):
            return f"({a} {SET_OPS[op]} {b})"
        if op == "/":
            return f"Div({a}, {b})"
        if op == "%":
            return f"Mod({a}, {b})"
        return f"({a} {op} {b})"

    def call(self, e: A.Call) -> str:
        rec = self.ct.types.get(e.func)
        if isinstance(rec, RecordType):
            by_name: dict[str, A.Expr] = {}
            for i, a in enumerate(e.args):
                by_name[a.name if a.name is not None else rec.fields[i][0]] = a.expr
            return "[" + ", ".join(f"{self.v.field(f)} |-> {self.x(by_name[f])}" for f, _ in rec.fields) + "]"
        args = [self.x(a.expr) for a in e.args]
        f = e.func
        t0 = self.t(e.args[0].expr) if e.args else None
        if f == "len":
            return f"Cardinality({args[0]})" if isinstance(t0, SetType) else f"Len({args[0]})"
        if f == "append":
            return f"Append({args[0]}, {args[1]})"
        if f == "last":
            return f"Last({args[0]})"
        if f == "head":
            return f"Head({args[0]})"
        if f == "tail":
            return f"Slice({args[0]}, 1, Len({args[0]}))"
        if f in ("max", "min"):
            if len(args) == 1:
                et = self.t(e)
                return f"{f.capitalize()}Of({self.members(e.args[0].expr)}, {self.g.orders.op(et)})"
            lt = self.g.orders.lt(self.t(e), args[0], args[1]) if f == "max" else self.g.orders.lt(self.t(e), args[1], args[0])
            return f"(IF {lt} THEN {args[1]} ELSE {args[0]})"
        if f == "is_prefix":
            return f"IsPrefix({args[0]}, {args[1]})"
        if f == "some":
            return f"<<{args[0]}>>"
        if f == "value":
            return f"Value({args[0]})"
        if f == "node":
            return f"NodeNamed({args[0]})"
        raise self.err(f"the function {f}", e)

    # ---- statements ------------------------------------------------------
    def update(self, base: str, t: Type, path: tuple[A.Accessor, ...], value: str) -> str:
        """`base` with the part at `path` replaced by `value` (Pnyx's functional update)."""
        if not path:
            return value
        acc, rest = path[0], path[1:]
        inner_t = self.ct.expr_types[acc]
        if acc.field is not None:
            f = self.v.field(acc.field)
            return f"[{base} EXCEPT !.{f} = {self.update(f'{base}.{f}', inner_t, rest, value)}]"
        assert acc.index is not None
        k = self.x(acc.index)
        if isinstance(t, SeqType):
            k = f"({k}) + 1"
        return f"Update({base}, {k}, {self.update(f'{base}[{k}]', inner_t, rest, value)})"


def has_choice(s: A.Stmt) -> bool:
    """Whether a statement (or one inside it) makes a nondeterministic choice."""
    if isinstance(s, A.ChooseOne | A.ChooseSubset):
        return True
    if isinstance(s, A.If):
        return any(has_choice(x) for x in s.then + s.other)
    if isinstance(s, A.For):
        return any(has_choice(x) for x in s.body)
    return False


def lets(stmts: tuple[A.Stmt, ...]) -> list[str]:
    """Every `let` name of a handler body, in order of appearance."""
    out: list[str] = []
    for s in stmts:
        if isinstance(s, A.Let) and s.name not in out:
            out.append(s.name)
        if isinstance(s, A.If):
            out += [n for n in lets(s.then + s.other) if n not in out]
        if isinstance(s, A.For):
            out += [n for n in lets(s.body) if n not in out]
    return out


class HandlerTranslator(Translator):
    """A handler body as a TLA+ expression: one environment, or a set of them."""

    IND = "    "

    def __init__(self, g: Globals, params: Names, let_fields: dict[str, str]) -> None:
        super().__init__(g, params)
        self.fields = let_fields

    def fresh(self) -> str:
        return self.local.claim("e")

    def block(self, stmts: tuple[A.Stmt, ...], env: str, ind: str) -> tuple[bool, str]:
        """Run `stmts` from environment `env`: (is a set of outcomes?, TLA+ text)."""
        self.push()
        try:
            return self._seq(list(stmts), env, ind)
        finally:
            self.pop()

    def _seq(self, stmts: list[A.Stmt], env: str, ind: str) -> tuple[bool, str]:
        """The text starts at column len(ind); its later lines are indented from there."""
        defs: list[str] = []
        cur = env
        i = 0
        while i < len(stmts) and not has_choice(stmts[i]):
            s = stmts[i]
            i += 1
            if isinstance(s, A.Reply):
                continue  # replies go to the client, not into the state
            new = self.fresh()
            val = self.stmt(s, cur, ind + self.IND + " " * (len(new) + 4))
            defs.append(f"{new} == {val}  \\* line {s.span.line}")
            cur = new
            if isinstance(s, A.Let):
                self.bind_field(s.name, self.fields[s.name])
        inner = ind + self.IND if defs else ind
        if i < len(stmts):
            is_set, tail = self.choice(stmts[i], stmts[i + 1 :], cur, inner)
        else:
            is_set, tail = False, cur
        if not defs:
            return is_set, tail
        sep = "\n" + ind + self.IND
        return is_set, "LET " + sep.join(defs) + "\n" + ind + "IN  " + tail

    @staticmethod
    def as_set(r: tuple[bool, str]) -> str:
        """An outcome as a set of outcomes (later lines shifted by the brace)."""
        return r[1] if r[0] else "{" + r[1].replace("\n", "\n ") + "}"

    def stmt(self, s: A.Stmt, env: str, ind: str) -> str:
        """One deterministic statement as an environment; later lines start at column len(ind)."""
        self.env = env
        if isinstance(s, A.Assign):
            sym = self.ct.refs[s]
            if sym.kind == "statevar":
                f = self.g.vars[s.target]
            else:
                found = self.lookup(s.target)
                assert found is not None and found[0] == "field"
                f = found[1]
            val = self.x(s.expr)
            return f"[{env} EXCEPT !.{f} = {self.update(f'{env}.{f}', sym.type, s.path, val)}]"
        if isinstance(s, A.Let):
            return f"[{env} EXCEPT !.{self.fields[s.name]} = {self.x(s.expr)}]"
        if isinstance(s, A.If):
            c = self.x(s.cond)
            _, a = self.block(s.then, env, ind + " " * 5)
            _, b = self.block(s.other, env, ind + " " * 5)
            return f"IF {c}\n{ind}THEN {a}\n{ind}ELSE {b}"
        if isinstance(s, A.For):
            order = self.in_order(s.domain)
            acc = self.fresh()
            self.push()
            var = self.bind(s.var)
            _, body = self.block(s.body, acc, ind + self.IND)
            self.pop()
            return f"FoldSeq(LAMBDA {acc}, {var} :\n{ind}{self.IND}{body},\n{ind}{self.IND}{env}, {order})"
        if isinstance(s, A.Send):
            msg = self.message(s)
            sends = self.g.sends
            if isinstance(self.t(s.dest), NodeType):
                return f"[{env} EXCEPT !.{sends} = @ \\o <<<<{self.x(s.dest)}, {msg}>>>>]"
            return f"[{env} EXCEPT !.{sends} = @ \\o Fanout({self.x(s.dest)}, {msg})]"
        if isinstance(s, A.Disconnect):
            sends = self.g.sends
            if isinstance(self.t(s.dest), NodeType):
                return f"[{env} EXCEPT !.{sends} = @ \\o <<<<{self.x(s.dest)}, Disconnect>>>>]"
            return f"[{env} EXCEPT !.{sends} = @ \\o Fanout({self.x(s.dest)}, Disconnect)]"
        raise self.err(type(s).__name__, s)  # pragma: no cover - choices are handled in `choice`

    def message(self, s: A.Send) -> str:
        msg = self.ct.message(s.message)
        assert msg is not None
        by_name: dict[str, A.Expr] = {}
        for i, a in enumerate(s.args):
            by_name[a.name if a.name is not None else msg.fields[i][0]] = a.expr
        parts = [f"{self.g.tag} |-> {tla_string(msg.name)}"]
        parts += [f"{self.v.field(f)} |-> {self.x(by_name[f])}" for f, _ in msg.fields]
        return "[" + ", ".join(parts) + "]"

    def choice(self, s: A.Stmt, rest: list[A.Stmt], env: str, ind: str) -> tuple[bool, str]:
        """A statement that chooses, then the rest of its block: always a set of outcomes."""
        self.env = env
        brace = ind + " " * len("UNION {")
        if isinstance(s, A.ChooseOne | A.ChooseSubset):
            dom = self.members(s.domain)
            if isinstance(s, A.ChooseSubset):
                dom = f"SubsetsOfSize({dom}, {self.x(s.size)})"
            var = self.bind(s.var)
            body = self.as_set(self._seq(rest, env, brace))
            return True, f"UNION {{{body}\n{brace[:-2]}: {var} \\in {dom}}}  \\* choose {s.var}, line {s.span.line}"
        options_name = self.local.claim("choices")
        col = ind + self.IND + " " * (len(options_name) + 4)
        if isinstance(s, A.If):
            c = self.x(s.cond)
            a = self.as_set(self.block(s.then, env, col + " " * 5))
            b = self.as_set(self.block(s.other, env, col + " " * 5))
            options = f"IF {c}\n{col}THEN {a}\n{col}ELSE {b}"
        elif isinstance(s, A.For):
            order = self.in_order(s.domain)
            accs, acc = self.local.claim("es"), self.fresh()
            self.push()
            var = self.bind(s.var)
            lead = col + self.IND + " " * len("UNION {")
            body = self.as_set(self.block(s.body, acc, lead))
            self.pop()
            options = (f"FoldSeq(LAMBDA {accs}, {var} :\n{col}{self.IND}UNION {{{body}\n{lead[:-2]}: {acc} \\in {accs}}},\n"
                       f"{col}{self.IND}{{{env}}}, {order})")
        else:  # pragma: no cover
            raise self.err(type(s).__name__, s)
        if not rest:
            return True, f"LET {options_name} == {options}  \\* line {s.span.line}\n{ind}IN  {options_name}"
        new = self.fresh()
        body = self.as_set(self._seq(rest, new, ind + self.IND + " " * len("UNION {")))
        return True, (f"LET {options_name} == {options}  \\* line {s.span.line}\n"
                      f"{ind}IN  UNION {{{body}\n{ind}{self.IND}     : {new} \\in {options_name}}}")
