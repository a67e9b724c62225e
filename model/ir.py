"""The core IR: a spec after type checking, every name resolved and every shared rule applied once.

Back ends read this instead of the surface AST, so what they must agree on is decided here, in
one place (model/lower.py builds it): what each name means (a state variable's slot, another
node's variable, a constant's value, a local and how it was bound, the messages in flight), the
type of every expression, message and record fields in declared order, the number of every
`choose` site and which state variables and messages each property reads.

Nodes are frozen, carry the span of the source they came from and compare by identity.
A back end is a `Visitor`: one `visit_<Kind>` method per node kind it handles; a kind it does not
handle is a located "the X back end does not support Y" error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from .ast import Span
from .errors import SpecError
from .types import Type


@dataclass(frozen=True, eq=False)
class Node:
    span: Span


# ---- expressions: each carries its type --------------------------------------------------
@dataclass(frozen=True, eq=False)
class Expr(Node):
    type: Type


@dataclass(frozen=True, eq=False)
class Literal(Expr):
    """A number or true/false written in the spec."""

    value: int | bool


@dataclass(frozen=True, eq=False)
class NoneLit(Expr):
    """`none`, the empty option."""


@dataclass(frozen=True, eq=False)
class ConstRef(Expr):
    """A declared constant, with its value after `-D` overrides."""

    name: str
    value: int | bool


@dataclass(frozen=True, eq=False)
class EnumMember(Expr):
    """A member of an enum type; `value` is its position in the declaration."""

    name: str
    value: int


@dataclass(frozen=True, eq=False)
class SelfId(Expr):
    """`self`: the id of the node running the handler."""


@dataclass(frozen=True, eq=False)
class StateVar(Expr):
    """A variable of the node running the handler (or being initialised)."""

    name: str
    slot: int


@dataclass(frozen=True, eq=False)
class NodeVar(Expr):
    """`n.var` in a property: a variable of the node `node`."""

    node: Expr
    name: str
    slot: int


# How a local name was bound: a message field, the sender, a request parameter, `let`, a `for`
# loop, a `choose`, a quantifier / set comprehension variable, or a definition's parameter.
BINDINGS = ("field", "sender", "param", "let", "loop", "choice", "bound", "argument")


@dataclass(frozen=True, eq=False)
class Local(Expr):
    name: str
    binding: str  # one of BINDINGS


@dataclass(frozen=True, eq=False)
class InFlight(Expr):
    """A message name in a property: the set of its copies in flight, as records (src, dst, fields...)."""

    message: str
    message_id: int


@dataclass(frozen=True, eq=False)
class RoleNodes(Expr):
    """A role's name used as a value: the set of its nodes (0-based ids, ascending)."""

    name: str
    members: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class TypeValues(Expr):
    """A finite type's name used as a set: every value of the type."""

    name: str
    elem: Type


@dataclass(frozen=True, eq=False)
class TupleLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class SeqLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class SetLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Range(Expr):
    """`lo..hi`, both ends included."""

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


@dataclass(frozen=True, eq=False)
class Unary(Expr):
    op: str  # "not" | "-"
    operand: Expr


@dataclass(frozen=True, eq=False)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class RecordField(Expr):
    """`r.f` of a record; `index` is f's position in the record type."""

    obj: Expr
    name: str
    index: int


@dataclass(frozen=True, eq=False)
class SeqIndex(Expr):
    obj: Expr
    index: Expr


@dataclass(frozen=True, eq=False)
class MapGet(Expr):
    obj: Expr
    key: Expr


@dataclass(frozen=True, eq=False)
class TupleItem(Expr):
    obj: Expr
    index: int


@dataclass(frozen=True, eq=False)
class Slice(Expr):
    obj: Expr
    lo: Expr | None
    hi: Expr | None


@dataclass(frozen=True, eq=False)
class BuiltinCall(Expr):
    func: str  # one of typecheck.BUILTINS
    args: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Apply(Expr):
    """A `def` applied to arguments (one per parameter, in order); `index` is its Definition's."""

    name: str
    index: int
    args: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class RecordLit(Expr):
    """A record constructor, its fields in the record type's declared order."""

    name: str
    fields: tuple[tuple[str, Expr], ...]


# ---- statements --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Stmt(Node):
    pass


@dataclass(frozen=True, eq=False)
class FieldStep(Node):
    """`.name` on an assignment's path; `type` is the type reached."""

    name: str
    index: int
    type: Type


@dataclass(frozen=True, eq=False)
class KeyStep(Node):
    """`[key]` on an assignment's path (a map key or a sequence index); `type` is the type reached."""

    key: Expr
    type: Type


@dataclass(frozen=True, eq=False)
class Assign(Stmt):
    target: StateVar | Local
    path: tuple[FieldStep | KeyStep, ...]
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
    """`send`, its fields in the message's declared order; `dest` is a node or a set of nodes."""

    message: str
    message_id: int
    fields: tuple[tuple[str, Expr], ...]
    dest: Expr


@dataclass(frozen=True, eq=False)
class Fail(Stmt):
    """The step fails with `what`: how strict mode treats a message no handler accepts."""

    what: str


@dataclass(frozen=True, eq=False)
class Reset(Stmt):
    """`reset x, y`: each variable takes its initial value again (its `init`, else its type's default)."""

    vars: tuple[Var, ...]


@dataclass(frozen=True, eq=False)
class Disconnect(Stmt):
    dest: Expr


@dataclass(frozen=True, eq=False)
class Reply(Stmt):
    expr: Expr


@dataclass(frozen=True, eq=False)
class ChooseOne(Stmt):
    """`choose var in domain`; `site` numbers the handler's choices in statement order from 0."""

    var: str
    domain: Expr
    site: int
    type: Type  # of var


@dataclass(frozen=True, eq=False)
class ChooseSubset(Stmt):
    var: str
    domain: Expr
    size: Expr
    site: int
    type: Type  # of var: a set


Choose = ChooseOne | ChooseSubset


# ---- types as declared --------------------------------------------------------------------
# A back end that prints types (the TLA+ export's TypeOK) writes them as the spec does, constants
# by name (`1..VALUES`), so a reader can match them to the spec. The ends of a range and a
# sequence bound are constant expressions: numbers, ConstRef and + - * as written, anything
# else folded to its Literal value.
@dataclass(frozen=True, eq=False)
class Declared(Node):
    """A type as written in a declaration; `type` is what it resolves to at these constants."""

    type: Type


@dataclass(frozen=True, eq=False)
class DeclBuiltin(Declared):
    name: str  # "bool" | "int"


@dataclass(frozen=True, eq=False)
class DeclRange(Declared):
    lo: Expr
    hi: Expr


@dataclass(frozen=True, eq=False)
class DeclEnum(Declared):
    members: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class DeclNamed(Declared):
    """A declared type's name, or `Node`."""

    name: str


@dataclass(frozen=True, eq=False)
class DeclRecord(Declared):
    fields: tuple[tuple[str, Declared], ...]


@dataclass(frozen=True, eq=False)
class DeclTuple(Declared):
    items: tuple[Declared, ...]


@dataclass(frozen=True, eq=False)
class DeclSeq(Declared):
    elem: Declared
    bound: Expr


@dataclass(frozen=True, eq=False)
class DeclSet(Declared):
    elem: Declared


@dataclass(frozen=True, eq=False)
class DeclMap(Declared):
    key: Declared
    value: Declared


@dataclass(frozen=True, eq=False)
class DeclOption(Declared):
    elem: Declared


# ---- declarations ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Const(Node):
    """A declared constant and its value after `-D` overrides."""

    name: str
    value: int | bool


@dataclass(frozen=True, eq=False)
class TypeDecl(Node):
    """`type name = ...`."""

    name: str
    declared: Declared


@dataclass(frozen=True, eq=False)
class Budget(Node):
    """One of the state's budget counters, in their order (`system.budget_slot`).

    `amount` is the budget as written, a constant expression; None when the spec does not
    give it (then `value` is 0).
    """

    name: str
    value: int
    amount: Expr | None


@dataclass(frozen=True, eq=False)
class Var(Node):
    name: str
    storage: str  # "persistent" | "volatile" | "ghost"
    type: Type
    slot: int
    init: Expr | None
    declared: Declared | None = None  # always set by lower.py


@dataclass(frozen=True, eq=False)
class Message(Node):
    """A message type; `id` is its tag, the first item of every message value."""

    name: str
    id: int
    fields: tuple[tuple[str, Type], ...]
    field_spans: tuple[Span, ...] = ()  # where each field is declared, to locate an error about one
    declared: tuple[Declared, ...] = ()  # each field's type as written, in field order


@dataclass(frozen=True, eq=False)
class Param(Node):
    name: str
    type: Type
    declared: Declared | None = None  # always set by lower.py


@dataclass(frozen=True, eq=False)
class Role(Node):
    """A role of `nodes`: ids first .. first + count - 1 (0-based); `count_expr` as written."""

    name: str
    first: int
    count: int
    symmetric: bool
    count_expr: Expr


@dataclass(frozen=True, eq=False)
class Definition(Node):
    """`def name(params): result = body`: pure, its body reads only its parameters (Locals bound
    as "argument"), constants and earlier definitions, so every back end may emit it once."""

    name: str
    index: int
    params: tuple[Param, ...]
    result: Type
    body: Expr


@dataclass(frozen=True, eq=False)
class Handler(Node):
    index: int
    guard: Expr | None
    body: tuple[Stmt, ...]
    choices: tuple[Choose, ...]  # every `choose` of the body, by site number

    @property
    def has_choice(self) -> bool:
        return bool(self.choices)


@dataclass(frozen=True, eq=False)
class OnMessage(Handler):
    message: str
    message_id: int
    binders: tuple[str, ...]  # one per field, "_" for an ignored one
    sender: str | None


@dataclass(frozen=True, eq=False)
class OnTimer(Handler):
    name: str
    spends: str | None


@dataclass(frozen=True, eq=False)
class OnRequest(Handler):
    name: str
    params: tuple[Param, ...]


@dataclass(frozen=True, eq=False)
class OnRecover(Handler):
    pass


@dataclass(frozen=True, eq=False)
class OnRebuild(Handler):
    """Runs when a crashed node restarts with its disk lost (persistent variables at their initial values)."""


@dataclass(frozen=True, eq=False)
class Property(Node):
    kind: str  # "invariant" | "reachable" | "eventually" | "infinitely" | "leadsto" (LIVENESS)
    name: str
    expr: Expr
    reads: tuple[str, ...]  # the state variables it reads (`n.var`), sorted; of both sides of a leadsto
    reads_messages: tuple[str, ...]  # the messages whose in-flight copies it reads, sorted
    target: Expr | None = None  # leadsto: Q of `P ~> Q` (expr is P)

    @property
    def reads_network(self) -> bool:
        return bool(self.reads_messages)


LIVENESS = ("eventually", "infinitely", "leadsto")  # the property kinds checked over behaviours, not states


@dataclass(frozen=True)
class Fairness:
    """`[strong] fair KIND [NAME, ...]`: the event classes (model/system.py) of a kind that are weakly
    (strongly) fair, limited to the named messages or handlers; `names` empty: every one of the kind."""

    span: Span
    strong: bool
    kind: str
    names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Program:
    """A checked spec as the back ends see it."""

    name: str
    filename: str
    source: str
    span: Span
    n_nodes: int
    symmetric: bool
    network: str  # "fifo" | "unordered"
    capacity: int | None
    messages: tuple[Message, ...]
    vars: tuple[Var, ...]
    handlers: tuple[Handler, ...]
    properties: tuple[Property, ...]
    # the declarations as written, for back ends that print them (constants by name)
    consts: tuple[Const, ...] = ()
    type_decls: tuple[TypeDecl, ...] = ()
    budget: tuple[Budget, ...] = ()
    nodes_count: Expr | None = None  # `nodes N`: the count, a constant expression
    capacity_expr: Expr | None = None  # the network's capacity as written, if it has one
    fairness: tuple[Fairness, ...] = ()
    roles: tuple[Role, ...] = ()  # empty when `nodes` names no roles
    definitions: tuple[Definition, ...] = ()  # in source order; a body applies only earlier ones


# ---- walking and visiting ----------------------------------------------------------------
def children(node: Node) -> Iterator[Node]:
    """The IR nodes directly inside a node: its node fields, tuples of them, and (name, node) pairs."""
    for f in fields(node):
        v = getattr(node, f.name)
        if isinstance(v, Node):
            yield v
        elif isinstance(v, tuple):
            for item in v:
                if isinstance(item, Node):
                    yield item
                elif isinstance(item, tuple):
                    yield from (x for x in item if isinstance(x, Node))


def walk(node: Node) -> Iterator[Node]:
    """Every node under `node` (itself included), depth first, without recursion."""
    stack = [node]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(reversed(list(children(x))))


def contains_choice(s: Stmt) -> bool:
    """Whether a statement is, or holds, a `choose` (TLA+ splits a handler's body at the first)."""
    return any(isinstance(x, ChooseOne | ChooseSubset) for x in walk(s))


def _concrete_kinds() -> dict[str, type[Node]]:
    """The node classes a visitor may handle, by name (the abstract bases are not visited)."""
    abstract = {Node, Expr, Stmt, Handler, Declared}
    out: dict[str, type[Node]] = {}
    todo: list[type[Node]] = [Node]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls not in abstract and cls.__module__ == __name__:
            out[cls.__name__] = cls
    return out


class Visitor:
    """A back end over the IR: `visit(node)` calls `visit_<Kind>(node)`.

    The table from node class to method is built once per visitor class; a method named after
    no node kind is a TypeError at class creation, and a node kind without a method raises
    `unsupported`: the back end names itself in `backend` and sets `program` for the location.
    """

    backend: ClassVar[str] = "this"
    program: Program
    _dispatch: ClassVar[dict[type[Node], Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kinds = _concrete_kinds()
        stray = [n for n in dir(cls) if n.startswith("visit_") and n[len("visit_"):] not in kinds]
        if stray:
            raise TypeError(f"{cls.__name__}: no IR node kind for {', '.join(stray)}")
        cls._dispatch = {k: getattr(cls, f"visit_{name}") for name, k in kinds.items()
                         if hasattr(cls, f"visit_{name}")}

    def visit(self, node: Node) -> Any:
        method = self._dispatch.get(type(node))
        if method is None:
            raise self.unsupported(node)
        return method(self, node)

    def unsupported(self, node: Node) -> SpecError:
        p = self.program
        return SpecError(f"the {self.backend} back end does not support {type(node).__name__} here",
                         p.filename, p.source, node.span)

    @classmethod
    def missing_kinds(cls, base: type[Node] = Node) -> list[str]:
        """The node kinds (under `base`) this visitor has no method for: for tests of coverage."""
        return sorted(n for n, k in _concrete_kinds().items() if issubclass(k, base) and k not in cls._dispatch)
