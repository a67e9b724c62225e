"""Expressions, statements and handlers of a spec (its core IR, model/ir.py) as TLA+ expressions.

A handler runs on an *environment*: a record holding the node's variables, the
`let` variables of the handler and `sends`, the sequence of ``<<dst, msg>>`` the
handler emitted so far. A statement maps an environment to the next one (a LET
chain). A `choose` makes the rest of the handler a set of environments, one per
option (``UNION {...: x \\in S}``), so each handler becomes an operator whose
value is the set of its outcomes: empty when it is disabled, as Pnyx's compiled
function returns None. Loops fold over their domain in Pnyx's iteration order.

Both writers are `ir.Visitor`s: one `visit_<Kind>` per IR node kind; a kind without one is a
located `ExportError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from pnyx.model import ir
from pnyx.model.errors import SpecError
from pnyx.model.types import AnyType, IntType, NodeType, SeqType, SetType, Type

from .names import Names
from .values import Orders, Values, tla_string

LOGIC = {"and": "/\\", "or": "\\/", "=>": "=>", "==": "=", "!=": "#"}
SET_OPS = {"|": "\\cup", "&": "\\cap", "-": "\\"}


class ExportError(SpecError):
    """A spec uses something the TLA+ export does not translate."""


@dataclass
class Globals:
    """Names shared by every operator of the module."""

    prog: ir.Program
    names: Names
    values: Values
    orders: Orders
    consts: dict[str, str]  # spec constant -> TLA+ name
    vars: dict[str, str]  # state variable -> TLA+ variable (also its field in an environment)
    tag: str  # the field of a message record that holds its type name
    sends: str  # the field of an environment holding the messages sent
    defs: dict[int, str]  # a `def`'s index -> its TLA+ operator
    roles: dict[str, str] = field(default_factory=dict)  # a role -> the TLA+ operator for its set of nodes


class ExprWriter(ir.Visitor):
    """Writes the expressions of one operator definition (an initial value, a property, a handler)."""

    backend: ClassVar[str] = "TLA+"

    def __init__(self, g: Globals, params: Names | None = None) -> None:
        self.g = g
        self.program = g.prog
        self.v = g.values
        self.local = params if params is not None else g.names.child()
        self.scopes: list[dict[str, str]] = [{}]  # spec name -> TLA+ bound name
        self.env: str | None = None  # the environment in scope inside a handler
        self.let_fields: dict[str, str] = {}  # a handler's `let` names -> their environment fields

    def unsupported(self, node: ir.Node) -> ExportError:
        p = self.program
        return ExportError(f"the TLA+ export cannot translate {type(node).__name__} here", p.filename, p.source, node.span)

    def fail(self, what: str, node: ir.Node) -> ExportError:
        p = self.program
        return ExportError(f"the TLA+ export cannot translate {what}", p.filename, p.source, node.span)

    # ---- scopes ----------------------------------------------------------
    def bind(self, name: str) -> str:
        """Bind a spec name to a fresh TLA+ bound name."""
        tla = self.local.claim(name)
        self.scopes[-1][name] = tla
        return tla

    def lookup(self, name: str) -> str | None:
        for s in reversed(self.scopes):
            if name in s:
                return s[name]
        return None

    def push(self) -> None:
        self.scopes.append({})

    def pop(self) -> None:
        """Leave a scope: its bound names may be reused by later, disjoint scopes."""
        for tla in self.scopes.pop().values():
            self.local.taken.discard(tla)

    # ---- domains ---------------------------------------------------------
    def x(self, e: ir.Expr) -> str:
        return self.visit(e)  # type: ignore[no-any-return]

    def members(self, e: ir.Expr) -> str:
        """A domain (set, sequence or range) as the TLA+ set of its elements."""
        if isinstance(e, ir.Range):
            return f"({self.x(e.lo)})..({self.x(e.hi)})"
        if isinstance(e.type, SeqType):
            return f"Range({self.x(e)})"
        return self.x(e)

    def in_order(self, e: ir.Expr) -> str:
        """A domain as a sequence in the order Pnyx iterates it."""
        t = e.type
        if isinstance(t, SeqType):
            return self.x(e)
        elem = t.elem if isinstance(t, SetType) else t
        return f"SortedSeq({self.g.orders.op(elem)}, {self.members(e)})"

    # ---- names -----------------------------------------------------------
    def visit_Literal(self, e: ir.Literal) -> str:
        if isinstance(e.value, bool):
            return "TRUE" if e.value else "FALSE"
        return str(e.value)

    def visit_NoneLit(self, e: ir.NoneLit) -> str:
        return "<<>>"

    def visit_ConstRef(self, e: ir.ConstRef) -> str:
        return self.g.consts[e.name]

    def visit_EnumMember(self, e: ir.EnumMember) -> str:
        return tla_string(e.name)

    def visit_SelfId(self, e: ir.SelfId) -> str:
        found = self.lookup("self")
        assert found is not None
        return found

    def visit_StateVar(self, e: ir.StateVar) -> str:
        if self.env is None:
            raise self.fail(f"a read of {e.name} outside a handler", e)
        return f"{self.env}.{self.g.vars[e.name]}"

    def visit_NodeVar(self, e: ir.NodeVar) -> str:
        return f"{self.g.vars[e.name]}[{self.x(e.node)}]"

    def visit_Local(self, e: ir.Local) -> str:
        if e.binding == "let":  # a field of the environment, so that it survives a `choose`
            assert self.env is not None
            return f"{self.env}.{self.let_fields[e.name]}"
        found = self.lookup(e.name)
        if found is None:
            raise self.fail(f"the name {e.name}", e)
        return found

    def visit_TypeValues(self, e: ir.TypeValues) -> str:
        return self.v.set_of(e.elem)

    def visit_RoleNodes(self, e: ir.RoleNodes) -> str:
        return self.g.roles[e.name]

    def visit_InFlight(self, e: ir.InFlight) -> str:
        """The in-flight copies of one message type, as records [src, dst, field...] (properties only)."""
        msg = next(m for m in self.program.messages if m.id == e.message_id)
        tag = f"{self.g.tag} = {tla_string(msg.name)}"
        names = [self.local.claim(n) for n in ("x", "s", "d", "m")]
        x, s, d, m = names
        if self.program.network == "fifo":
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

    # ---- collections -----------------------------------------------------
    def visit_TupleLit(self, e: ir.TupleLit) -> str:
        return "<<" + ", ".join(self.x(i) for i in e.items) + ">>"

    def visit_SeqLit(self, e: ir.SeqLit) -> str:
        return "<<" + ", ".join(self.x(i) for i in e.items) + ">>"

    def visit_SetLit(self, e: ir.SetLit) -> str:
        return "{" + ", ".join(self.x(i) for i in e.items) + "}"

    def visit_Range(self, e: ir.Range) -> str:
        return f"(({self.x(e.lo)})..({self.x(e.hi)}))"

    def visit_Apply(self, e: ir.Apply) -> str:
        op = self.g.defs[e.index]
        return f"{op}({', '.join(self.x(a) for a in e.args)})" if e.args else op

    def visit_RecordLit(self, e: ir.RecordLit) -> str:
        return "[" + ", ".join(f"{self.v.field(f)} |-> {self.x(x)}" for f, x in e.fields) + "]"

    def visit_SetFilter(self, e: ir.SetFilter) -> str:
        dom = self.members(e.domain)
        self.push()
        v = self.bind(e.var)
        out = f"{{{v} \\in {dom} : {self.x(e.cond)}}}"
        self.pop()
        return out

    def visit_SetMap(self, e: ir.SetMap) -> str:
        dom = self.members(e.domain)
        self.push()
        v = self.bind(e.var)
        out = f"{{{self.x(e.expr)} : {v} \\in {dom}}}"
        self.pop()
        return out

    def visit_Quant(self, e: ir.Quant) -> str:
        dom = self.members(e.domain)
        self.push()
        vs = ", ".join(self.bind(v) for v in e.vars)
        q = "\\A" if e.kind == "forall" else "\\E"
        out = f"({q} {vs} \\in {dom} : {self.x(e.body)})"
        self.pop()
        return out

    # ---- operators -------------------------------------------------------
    def visit_Cond(self, e: ir.Cond) -> str:
        return f"(IF {self.x(e.cond)} THEN {self.x(e.then)} ELSE {self.x(e.other)})"

    def visit_Unary(self, e: ir.Unary) -> str:
        return f"(~{self.x(e.operand)})" if e.op == "not" else f"(-{self.x(e.operand)})"

    def visit_Binary(self, e: ir.Binary) -> str:
        op = e.op
        a = self.x(e.left)
        if op in ("in", "not in"):
            inside = f"({a} \\in {self.members(e.right)})"
            return inside if op == "in" else f"(~{inside})"
        b = self.x(e.right)
        if op in LOGIC:
            return f"({a} {LOGIC[op]} {b})"
        if op in ("<", "<=", ">", ">="):
            t = e.left.type if not isinstance(e.left.type, AnyType) else e.right.type
            if isinstance(t, IntType | NodeType | AnyType):
                return f"({a} {op} {b})"
            lt = self.g.orders.op(t)
            return {"<": f"{lt}({a}, {b})", ">": f"{lt}({b}, {a})",
                    "<=": f"(~{lt}({b}, {a}))", ">=": f"(~{lt}({a}, {b}))"}[op]
        if op == "++":
            return f"({a} \\o {b})"
        if isinstance(e.left.type, SetType) or op in ("|", "&"):
            return f"({a} {SET_OPS[op]} {b})"
        if op == "/":
            return f"Div({a}, {b})"
        if op == "%":
            return f"Mod({a}, {b})"
        return f"({a} {op} {b})"

    def visit_RecordField(self, e: ir.RecordField) -> str:
        return f"{self.x(e.obj)}.{self.v.field(e.name)}"

    def visit_SeqIndex(self, e: ir.SeqIndex) -> str:
        return f"{self.x(e.obj)}[({self.x(e.index)}) + 1]"

    def visit_MapGet(self, e: ir.MapGet) -> str:
        return f"{self.x(e.obj)}[{self.x(e.key)}]"

    def visit_TupleItem(self, e: ir.TupleItem) -> str:
        return f"{self.x(e.obj)}[{e.index + 1}]"

    def visit_Slice(self, e: ir.Slice) -> str:
        lo = self.x(e.lo) if e.lo is not None else "0"
        s = self.x(e.obj)
        hi = self.x(e.hi) if e.hi is not None else f"Len({s})"
        return f"Slice({s}, {lo}, {hi})"

    def visit_BuiltinCall(self, e: ir.BuiltinCall) -> str:
        args = [self.x(a) for a in e.args]
        f = e.func
        t0 = e.args[0].type if e.args else None
        match f:
            case "len":
                return f"Cardinality({args[0]})" if isinstance(t0, SetType) else f"Len({args[0]})"
            case "append":
                return f"Append({args[0]}, {args[1]})"
            case "last":
                return f"Last({args[0]})"
            case "head":
                return f"Head({args[0]})"
            case "tail":
                return f"Slice({args[0]}, 1, Len({args[0]}))"
            case "max" | "min" if len(args) == 1:
                return f"{f.capitalize()}Of({self.members(e.args[0])}, {self.g.orders.op(e.type)})"
            case "max" | "min":
                lt = self.g.orders.lt(e.type, args[0], args[1]) if f == "max" else self.g.orders.lt(e.type, args[1], args[0])
                return f"(IF {lt} THEN {args[1]} ELSE {args[0]})"
            case "is_prefix":
                return f"IsPrefix({args[0]}, {args[1]})"
            case "some":
                return f"<<{args[0]}>>"
            case "value":
                return f"Value({args[0]})"
            case "node":
                return f"NodeNamed({args[0]})"
        raise self.fail(f"the function {f}", e)


def statements(body: tuple[ir.Stmt, ...]) -> Iterator[ir.Stmt]:
    """Every statement of a block and of the blocks inside it, in order of appearance
    (expressions hold no statements: not walking them keeps this linear in the statements)."""
    for s in body:
        yield s
        match s:
            case ir.If():
                yield from statements(s.then)
                yield from statements(s.other)
            case ir.For():
                yield from statements(s.body)


def lets(body: tuple[ir.Stmt, ...]) -> list[str]:
    """Every `let` name of a handler body, in order of appearance."""
    return list(dict.fromkeys(s.name for s in statements(body) if isinstance(s, ir.Let)))


def choosing(body: tuple[ir.Stmt, ...]) -> set[ir.Stmt]:
    """The statements of a handler body that choose or hold a choice (`ir.contains_choice` of
    each, decided once for the body instead of once per enclosing block)."""
    out: set[ir.Stmt] = set()

    def mark(stmts: tuple[ir.Stmt, ...]) -> bool:
        found = False
        for s in stmts:
            match s:
                case ir.ChooseOne() | ir.ChooseSubset():
                    holds = True
                case ir.If():
                    holds = mark(s.then) | mark(s.other)
                case ir.For():
                    holds = mark(s.body)
                case _:
                    holds = False
            if holds:
                out.add(s)
                found = True
        return found

    mark(body)
    return out


class HandlerWriter(ExprWriter):
    """A handler body as a TLA+ expression: one environment, or a set of them.

    Statements without a choice are visited (`visit_<Kind>`, reading `env` and `ind`); one that
    chooses, or holds a choice, is written by `choice` with the rest of its block.
    """

    IND = "    "

    def __init__(self, g: Globals, params: Names, let_fields: dict[str, str], body: tuple[ir.Stmt, ...]) -> None:
        super().__init__(g, params)
        self.let_fields = let_fields
        self.ind = ""  # the column later lines of the statement being written start at
        self.choosing = choosing(body)

    def fresh(self) -> str:
        return self.local.claim("e")

    def block(self, stmts: tuple[ir.Stmt, ...], env: str, ind: str) -> tuple[bool, str]:
        """Run `stmts` from environment `env`: (is a set of outcomes?, TLA+ text)."""
        self.push()
        try:
            return self._seq(list(stmts), env, ind)
        finally:
            self.pop()

    def _seq(self, stmts: list[ir.Stmt], env: str, ind: str) -> tuple[bool, str]:
        """The text starts at column len(ind); its later lines are indented from there."""
        defs: list[str] = []
        cur = env
        i = 0
        while i < len(stmts) and stmts[i] not in self.choosing:
            s = stmts[i]
            i += 1
            if isinstance(s, ir.Reply):
                continue  # replies go to the client, not into the state
            new = self.fresh()
            val = self.stmt(s, cur, ind + self.IND + " " * (len(new) + 4))
            defs.append(f"{new} == {val}  \\* line {s.span.line}")
            cur = new
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

    def stmt(self, s: ir.Stmt, env: str, ind: str) -> str:
        """One deterministic statement as an environment; later lines start at column len(ind)."""
        self.env, self.ind = env, ind
        return self.visit(s)  # type: ignore[no-any-return]

    # ---- deterministic statements (from self.env, later lines at self.ind) ----
    def update(self, base: str, t: Type, path: tuple[ir.FieldStep | ir.KeyStep, ...], value: str) -> str:
        """`base` with the part at `path` replaced by `value` (Pnyx's functional update)."""
        if not path:
            return value
        step, rest = path[0], path[1:]
        if isinstance(step, ir.FieldStep):
            f = self.v.field(step.name)
            return f"[{base} EXCEPT !.{f} = {self.update(f'{base}.{f}', step.type, rest, value)}]"
        k = self.x(step.key)
        if isinstance(t, SeqType):
            k = f"({k}) + 1"
        return f"Update({base}, {k}, {self.update(f'{base}[{k}]', step.type, rest, value)})"

    def visit_Assign(self, s: ir.Assign) -> str:
        env = self.env
        target = s.target
        f = self.g.vars[target.name] if isinstance(target, ir.StateVar) else self.let_fields[target.name]
        val = self.x(s.expr)
        return f"[{env} EXCEPT !.{f} = {self.update(f'{env}.{f}', target.type, s.path, val)}]"

    def visit_Let(self, s: ir.Let) -> str:
        return f"[{self.env} EXCEPT !.{self.let_fields[s.name]} = {self.x(s.expr)}]"

    def visit_If(self, s: ir.If) -> str:
        env, ind = self.env, self.ind
        assert env is not None
        c = self.x(s.cond)
        _, a = self.block(s.then, env, ind + " " * 5)
        _, b = self.block(s.other, env, ind + " " * 5)
        return f"IF {c}\n{ind}THEN {a}\n{ind}ELSE {b}"

    def visit_For(self, s: ir.For) -> str:
        env, ind = self.env, self.ind
        order = self.in_order(s.domain)
        acc = self.fresh()
        self.push()
        var = self.bind(s.var)
        _, body = self.block(s.body, acc, ind + self.IND)
        self.pop()
        return f"FoldSeq(LAMBDA {acc}, {var} :\n{ind}{self.IND}{body},\n{ind}{self.IND}{env}, {order})"

    def visit_Send(self, s: ir.Send) -> str:
        parts = [f"{self.g.tag} |-> {tla_string(s.message)}"]
        parts += [f"{self.v.field(f)} |-> {self.x(e)}" for f, e in s.fields]
        return self._emit(s.dest, "[" + ", ".join(parts) + "]")

    def visit_Reset(self, s: ir.Reset) -> str:
        """Each variable back to its initial value: the `Init_` operator the initial state and a crash use."""
        me = self.lookup("self")
        assert me is not None
        resets = ", ".join(f"!.{self.g.vars[v.name]} = Init_{self.g.vars[v.name]}({me})" for v in s.vars)
        return f"[{self.env} EXCEPT {resets}]"

    def visit_Disconnect(self, s: ir.Disconnect) -> str:
        return self._emit(s.dest, "Disconnect")

    def visit_Fail(self, s: ir.Fail) -> str:
        """TLC stops with this message, and the trace to it, when the step is taken."""
        return f"IF Assert(FALSE, {tla_string(s.what)}) THEN {self.env} ELSE {self.env}"

    def _emit(self, dest: ir.Expr, msg: str) -> str:
        """The environment with <<dst, msg>> appended to its sends, for one node or a set of them."""
        env, sends = self.env, self.g.sends
        if isinstance(dest.type, NodeType):
            return f"[{env} EXCEPT !.{sends} = @ \\o <<<<{self.x(dest)}, {msg}>>>>]"
        return f"[{env} EXCEPT !.{sends} = @ \\o Fanout({self.x(dest)}, {msg})]"

    # ---- statements that choose ------------------------------------------
    def choice(self, s: ir.Stmt, rest: list[ir.Stmt], env: str, ind: str) -> tuple[bool, str]:
        """A statement that chooses (or holds a choice), then the rest of its block: always a set of outcomes."""
        self.env = env
        brace = ind + " " * len("UNION {")
        if isinstance(s, ir.ChooseOne | ir.ChooseSubset):
            dom = self.members(s.domain)
            if isinstance(s, ir.ChooseSubset):
                dom = f"SubsetsOfSize({dom}, {self.x(s.size)})"
            var = self.bind(s.var)
            body = self.as_set(self._seq(rest, env, brace))
            return True, f"UNION {{{body}\n{brace[:-2]}: {var} \\in {dom}}}  \\* choose {s.var}, line {s.span.line}"
        options_name = self.local.claim("choices")
        col = ind + self.IND + " " * (len(options_name) + 4)
        if isinstance(s, ir.If):
            c = self.x(s.cond)
            a = self.as_set(self.block(s.then, env, col + " " * 5))
            b = self.as_set(self.block(s.other, env, col + " " * 5))
            options = f"IF {c}\n{col}THEN {a}\n{col}ELSE {b}"
        elif isinstance(s, ir.For):
            order = self.in_order(s.domain)
            accs, acc = self.local.claim("es"), self.fresh()
            self.push()
            var = self.bind(s.var)
            lead = col + self.IND + " " * len("UNION {")
            body = self.as_set(self.block(s.body, acc, lead))
            self.pop()
            options = (f"FoldSeq(LAMBDA {accs}, {var} :\n{col}{self.IND}UNION {{{body}\n{lead[:-2]}: {acc} \\in {accs}}},\n"
                       f"{col}{self.IND}{{{env}}}, {order})")
        else:  # pragma: no cover - only these statements hold a choice
            raise self.unsupported(s)
        if not rest:
            return True, f"LET {options_name} == {options}  \\* line {s.span.line}\n{ind}IN  {options_name}"
        new = self.fresh()
        body = self.as_set(self._seq(rest, new, ind + self.IND + " " * len("UNION {")))
        return True, (f"LET {options_name} == {options}  \\* line {s.span.line}\n"
                      f"{ind}IN  UNION {{{body}\n{ind}{self.IND}     : {new} \\in {options_name}}}")
