"""The abstract syntax of a Pnyx spec: frozen nodes, each carrying its source span.

Nodes compare by identity (``eq=False``) so later passes can key side tables
(types, resolved names) on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    line: int
    col: int
    end_line: int
    end_col: int


NOWHERE = Span(0, 0, 0, 0)


@dataclass(frozen=True, eq=False)
class Node:
    span: Span


# ---- types (as written) ----------------------------------------------------
@dataclass(frozen=True, eq=False)
class TypeExpr(Node):
    pass


@dataclass(frozen=True, eq=False)
class TBool(TypeExpr):
    pass


@dataclass(frozen=True, eq=False)
class TInt(TypeExpr):
    pass


@dataclass(frozen=True, eq=False)
class TRange(TypeExpr):
    lo: Expr
    hi: Expr


@dataclass(frozen=True, eq=False)
class TEnum(TypeExpr):
    members: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Field(Node):
    name: str
    type: TypeExpr


@dataclass(frozen=True, eq=False)
class TRecord(TypeExpr):
    fields: tuple[Field, ...]


@dataclass(frozen=True, eq=False)
class TTuple(TypeExpr):
    items: tuple[TypeExpr, ...]


@dataclass(frozen=True, eq=False)
class TSeq(TypeExpr):
    elem: TypeExpr
    bound: Expr


@dataclass(frozen=True, eq=False)
class TSet(TypeExpr):
    elem: TypeExpr


@dataclass(frozen=True, eq=False)
class TMap(TypeExpr):
    key: TypeExpr
    value: TypeExpr


@dataclass(frozen=True, eq=False)
class TOption(TypeExpr):
    elem: TypeExpr


@dataclass(frozen=True, eq=False)
class TOpaque(TypeExpr):
    """`opaque` or `opaque(K)`: values a spec only copies and compares; K of them are explored."""

    count: Expr | None


@dataclass(frozen=True, eq=False)
class TNamed(TypeExpr):
    name: str


# ---- expressions -----------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Expr(Node):
    pass


@dataclass(frozen=True, eq=False)
class Num(Expr):
    value: int


@dataclass(frozen=True, eq=False)
class BoolLit(Expr):
    value: bool


@dataclass(frozen=True, eq=False)
class NoneLit(Expr):
    pass


@dataclass(frozen=True, eq=False)
class SelfRef(Expr):
    pass


@dataclass(frozen=True, eq=False)
class Name(Expr):
    id: str


@dataclass(frozen=True, eq=False)
class TupleLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class SetLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class SeqLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class RangeExpr(Expr):
    lo: Expr
    hi: Expr


@dataclass(frozen=True, eq=False)
class SetFilter(Expr):
    var: str
    domain: Expr
    cond: Expr


@dataclass(frozen=True, eq=False)
class SetMap(Expr):
    expr: Expr
    var: str
    domain: Expr


@dataclass(frozen=True, eq=False)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(frozen=True, eq=False)
class FieldGet(Expr):
    obj: Expr
    name: str


@dataclass(frozen=True, eq=False)
class Index(Expr):
    obj: Expr
    index: Expr


@dataclass(frozen=True, eq=False)
class Slice(Expr):
    obj: Expr
    lo: Expr | None
    hi: Expr | None


@dataclass(frozen=True, eq=False)
class Arg(Node):
    name: str | None
    expr: Expr


@dataclass(frozen=True, eq=False)
class Call(Expr):
    func: str
    args: tuple[Arg, ...]


@dataclass(frozen=True, eq=False)
class Quant(Expr):
    kind: str  # "forall" | "exists"
    vars: tuple[str, ...]
    domain: Expr
    body: Expr


@dataclass(frozen=True, eq=False)
class Cond(Expr):
    cond: Expr
    then: Expr
    other: Expr


# ---- statements ------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Stmt(Node):
    pass


@dataclass(frozen=True, eq=False)
class Accessor(Node):
    field: str | None  # set for `.field`
    index: Expr | None  # set for `[index]`


@dataclass(frozen=True, eq=False)
class Assign(Stmt):
    target: str
    path: tuple[Accessor, ...]
    expr: Expr


@dataclass(frozen=True, eq=False)
class Let(Stmt):
    name: str
    expr: Expr


@dataclass(frozen=True, eq=False)
class If(Stmt):
    cond: Expr
    then: tuple[Stmt, ...]
    other: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class For(Stmt):
    var: str
    domain: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class Send(Stmt):
    message: str
    args: tuple[Arg, ...]
    dest: Expr


@dataclass(frozen=True, eq=False)
class Reset(Stmt):
    """Give state variables their initial values again."""

    names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CallStmt(Stmt):
    """Run a procedure."""

    func: str
    args: tuple[Arg, ...]


@dataclass(frozen=True, eq=False)
class Disconnect(Stmt):
    """Close the connection to a node (or a set): messages in flight both ways are lost."""

    dest: Expr


@dataclass(frozen=True, eq=False)
class Reply(Stmt):
    expr: Expr


@dataclass(frozen=True, eq=False)
class ChooseOne(Stmt):
    var: str
    domain: Expr


@dataclass(frozen=True, eq=False)
class ChooseSubset(Stmt):
    var: str
    domain: Expr
    size: Expr


# ---- declarations ----------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConstDecl(Node):
    name: str
    expr: Expr


@dataclass(frozen=True, eq=False)
class TypeDecl(Node):
    name: str
    type: TypeExpr


@dataclass(frozen=True, eq=False)
class RoleDecl(Node):
    """`name: count [symmetric]` in `nodes`: a block of consecutive node ids."""

    name: str
    count: Expr
    symmetric: bool


@dataclass(frozen=True, eq=False)
class NodesDecl(Node):
    count: Expr  # with roles, the sum of their counts
    symmetric: bool  # with roles, whether any role is symmetric
    roles: tuple[RoleDecl, ...] = ()


@dataclass(frozen=True, eq=False)
class NetworkDecl(Node):
    kind: str  # "fifo" | "unordered"
    capacity: Expr | None


@dataclass(frozen=True, eq=False)
class BudgetItem(Node):
    name: str
    expr: Expr


@dataclass(frozen=True, eq=False)
class MessageDecl(Node):
    name: str
    fields: tuple[Field, ...]


@dataclass(frozen=True, eq=False)
class DefDecl(Node):
    """`def name(params): type = expr`: a pure definition, applied like a function."""

    name: str
    params: tuple[Field, ...]
    result: TypeExpr
    body: Expr


@dataclass(frozen=True, eq=False)
class ProcDecl(Node):
    """`proc name(params) { ... }`: statements a handler runs by name."""

    name: str
    params: tuple[Field, ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class VarDecl(Node):
    storage: str  # "persistent" | "volatile" | "ghost"
    name: str
    type: TypeExpr
    init: Expr | None


@dataclass(frozen=True, eq=False)
class Handler(Node):
    guard: Expr | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class OnMessage(Handler):
    message: str
    binders: tuple[str, ...]
    sender: str | None


@dataclass(frozen=True, eq=False)
class OnTimer(Handler):
    name: str
    spends: str | None = None  # a named budget each firing uses up (e.g. `timeouts`)


@dataclass(frozen=True, eq=False)
class OnRequest(Handler):
    name: str
    params: tuple[Field, ...]


@dataclass(frozen=True, eq=False)
class OnRecover(Handler):
    pass


@dataclass(frozen=True, eq=False)
class OnRebuild(Handler):
    """Runs when a crashed node restarts with its disk lost (persistent variables at their initial values)."""


@dataclass(frozen=True, eq=False)
class Property(Node):
    kind: str  # "invariant" | "reachable" | "eventually" | "infinitely" | "leadsto"
    name: str
    expr: Expr
    target: Expr | None = None  # leadsto: Q of `P ~> Q` (expr is P)


@dataclass(frozen=True, eq=False)
class Fairness(Node):
    """`[strong] fair KIND [NAME, ...]`: the event classes of a kind (model/system.py) that are
    weakly (strongly) fair; no names: every handler or message of that kind."""

    strong: bool
    kind: str
    kind_span: Span
    names: tuple[tuple[str, Span], ...]


@dataclass(frozen=True, eq=False)
class Strict(Node):
    """`strict`: delivering a message that no handler accepts is an error."""


@dataclass(frozen=True, eq=False)
class Ignore(Node):
    """`ignore M, ...`: in strict mode, these messages may be dropped unhandled."""

    names: tuple[tuple[str, Span], ...]


@dataclass(frozen=True, eq=False)
class Spec(Node):
    name: str
    filename: str
    source: str
    consts: tuple[ConstDecl, ...] = ()
    types: tuple[TypeDecl, ...] = ()
    defs: tuple[DefDecl, ...] = ()
    procs: tuple[ProcDecl, ...] = ()
    strict: Strict | None = None
    ignores: tuple[Ignore, ...] = ()
    nodes: NodesDecl | None = None
    network: NetworkDecl | None = None
    budget: tuple[BudgetItem, ...] = ()
    messages: tuple[MessageDecl, ...] = ()
    state: tuple[VarDecl, ...] = ()
    handlers: tuple[Handler, ...] = ()
    properties: tuple[Property, ...] = field(default=())
    fairness: tuple[Fairness, ...] = ()
