"""Pnyx types and values as TLA+ sets and literals, and Python's order on values.

The encoding is a bijection on values, so TLC's distinct states are Pnyx's:
bool as BOOLEAN, integers as integers, enum members as strings, node ids
1..N (Pnyx's 0..N-1 shifted: the order is kept), records as records, tuples and
sequences as tuples, sets as sets, maps as functions, options as sequences of
length 0 (none) or 1 (some).

Pnyx iterates a set in ascending Python order (sets are sorted tuples); `Orders`
writes, per element type, a TLA+ operator `Lt_k(lhs, rhs)` for that order, so a
`for` loop visits elements in the same order in both tools.
"""

from __future__ import annotations

from pnyx.model import ir
from pnyx.model.types import (
    AnyType,
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

from .names import RESERVED, Names


def tla_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Values:
    """Type sets and literals for one spec; `tnames` maps declared type names to TLA+ names."""

    def __init__(self, tnames: dict[str, str], names: Names) -> None:
        self.tnames = tnames
        self.names = names  # the module's global names: bound variables of literals are claimed there
        self._field: dict[str, str] = {}

    def field(self, name: str) -> str:
        """A record field's TLA+ name (renamed only if it is a keyword)."""
        if name not in self._field:
            self._field[name] = name if name not in RESERVED else name + "_"
        return self._field[name]

    # ---- sets of values --------------------------------------------------
    def set_of(self, t: Type, by_name: bool = True) -> str:
        """The TLA+ set of every value of a resolved type (finite or not: used for membership).

        With `by_name`, a declared enum or record type is written by its name.
        """
        if isinstance(t, BoolType):
            return "BOOLEAN"
        if isinstance(t, IntType):
            return "Int" if t.lo is None or t.hi is None else f"{t.lo}..{t.hi}"
        if isinstance(t, EnumType):
            if by_name and t.name in self.tnames:
                return self.tnames[t.name]
            return "{" + ", ".join(tla_string(m) for m in t.members) + "}"
        if isinstance(t, NodeType):
            return "Node"
        if isinstance(t, RecordType):
            if by_name and t.name in self.tnames:
                return self.tnames[t.name]
            return "[" + ", ".join(f"{self.field(f)}: {self.set_of(ft)}" for f, ft in t.fields) + "]"
        if isinstance(t, TupleType):
            return "(" + " \\X ".join(self.wrap(self.set_of(x)) for x in t.items) + ")"
        if isinstance(t, SeqType):
            return f"BSeq({self.set_of(t.elem)}, {t.bound})" if t.bound is not None else f"Seq({self.set_of(t.elem)})"
        if isinstance(t, SetType):
            return f"SUBSET {self.wrap(self.set_of(t.elem))}"
        if isinstance(t, MapType):
            return f"[{self.set_of(t.key)} -> {self.set_of(t.value)}]"
        if isinstance(t, OptionType):
            return f"Option({self.set_of(t.elem)})"
        if isinstance(t, AnyType):
            return "{}"
        raise AssertionError(t)  # pragma: no cover

    @staticmethod
    def wrap(s: str) -> str:
        """Parenthesize unless s is a name or already one parenthesized whole."""
        if s.replace("_", "").isalnum():
            return s
        if s.startswith("(") and s.endswith(")"):
            depth = 0
            for i, c in enumerate(s):
                depth += {"(": 1, ")": -1}.get(c, 0)
                if depth == 0 and i < len(s) - 1:
                    break
            else:
                return s
        return f"({s})"

    def set_of_declared(self, d: ir.Declared, consts: dict[str, str], by_name: bool = True) -> str:
        """The TLA+ set of a type as written in the spec: constant names kept, for readability."""
        match d:
            case ir.DeclRange():
                return f"{const_text(d.lo, consts)}..{const_text(d.hi, consts)}"
            case ir.DeclNamed() if d.name in self.tnames:
                return self.tnames[d.name]
            case ir.DeclNamed() if d.name == "Node":
                return "Node"
            case ir.DeclEnum():
                return "{" + ", ".join(tla_string(m) for m in d.members) + "}"
        return self.set_of(d.type, by_name)

    # ---- literals --------------------------------------------------------
    def lit(self, v: object, t: Type) -> str:
        """A Pnyx run-time value as a TLA+ expression."""
        if isinstance(t, BoolType):
            return "TRUE" if v else "FALSE"
        if isinstance(t, IntType):
            return str(v)
        if isinstance(t, EnumType):
            return tla_string(t.members[v])  # type: ignore[index]
        if isinstance(t, NodeType):
            return str(int(v) + 1)  # type: ignore[call-overload]
        if isinstance(t, RecordType):
            return "[" + ", ".join(f"{self.field(f)} |-> {self.lit(x, ft)}" for (f, ft), x in zip(t.fields, v)) + "]"  # type: ignore[call-overload]
        if isinstance(t, TupleType):
            return "<<" + ", ".join(self.lit(x, it) for it, x in zip(t.items, v)) + ">>"  # type: ignore[call-overload]
        if isinstance(t, SeqType | OptionType):
            return "<<" + ", ".join(self.lit(x, t.elem) for x in v) + ">>"  # type: ignore[attr-defined]
        if isinstance(t, SetType):
            return "{" + ", ".join(self.lit(x, t.elem) for x in v) + "}"  # type: ignore[attr-defined]
        if isinstance(t, MapType):
            vals = list(v)  # type: ignore[call-overload]
            if len(set(vals)) == 1:
                k = self.names.claim("k")
                return f"[{k} \\in {self.set_of(t.key)} |-> {self.lit(vals[0], t.value)}]"
            pairs = " @@ ".join(f"({self.lit(k, t.key)} :> {self.lit(x, t.value)})" for k, x in zip(domain(t.key), vals))
            return f"({pairs})"
        raise AssertionError(t)  # pragma: no cover


def const_text(e: ir.Expr, consts: dict[str, str]) -> str:
    """A constant expression as written (model/lower.py keeps numbers, constants and + - *)."""
    match e:
        case ir.ConstRef():
            return consts[e.name]
        case ir.Binary():
            return f"({const_text(e.left, consts)} {e.op} {const_text(e.right, consts)})"
        case ir.Literal():
            return str(e.value)
    raise AssertionError(f"a constant expression {type(e).__name__}")  # pragma: no cover


class Orders:
    """Python's `<` on values of a type, as named TLA+ operators written on demand."""

    def __init__(self, values: Values, names: Names) -> None:
        self.values = values
        self.names = names
        self.defs: list[str] = []
        self._ops: dict[Type, str] = {}

    def op(self, t: Type) -> str:
        """The name of an operator `(lhs, rhs) -> BOOLEAN` true when lhs sorts before rhs."""
        if isinstance(t, IntType | NodeType | AnyType):
            return "IntLt"
        if isinstance(t, BoolType):
            return "BoolLt"
        if t in self._ops:
            return self._ops[t]
        name = self.names.claim(f"Lt{len(self._ops) + 1}")
        self._ops[t] = name
        body = self._body(t)
        self.defs.append(f"\\* Python's order on {t}\n{name}(lhs, rhs) ==\n    {body}")
        return name

    def _body(self, t: Type) -> str:
        if isinstance(t, EnumType):
            order = "<<" + ", ".join(tla_string(m) for m in t.members) + ">>"
            return f"IndexOf({order}, lhs) < IndexOf({order}, rhs)"
        if isinstance(t, RecordType | TupleType):
            if isinstance(t, RecordType):
                parts = [(f".{self.values.field(f)}", ft) for f, ft in t.fields]
            else:
                parts = [(f"[{i + 1}]", it) for i, it in enumerate(t.items)]
            return self._lex(parts)
        if isinstance(t, OptionType):
            inner = self.op(t.elem)
            return f"(Len(lhs) = 0 /\\ Len(rhs) = 1) \\/ (Len(lhs) = 1 /\\ Len(rhs) = 1 /\\ {inner}(lhs[1], rhs[1]))"
        if isinstance(t, SeqType):
            return f"SeqLt({self.op(t.elem)}, lhs, rhs)"
        if isinstance(t, SetType):
            e = self.op(t.elem)
            return f"SeqLt({e}, SortedSeq({e}, lhs), SortedSeq({e}, rhs))"
        if isinstance(t, MapType):
            k, v = self.op(t.key), self.op(t.value)
            return (f"LET ks == SortedSeq({k}, DOMAIN lhs) IN "
                    f"SeqLt({v}, [j \\in 1..Len(ks) |-> lhs[ks[j]]], [j \\in 1..Len(ks) |-> rhs[ks[j]]])")
        raise AssertionError(t)  # pragma: no cover

    def _lex(self, parts: list[tuple[str, Type]]) -> str:
        acc = "FALSE"
        for sel, pt in reversed(parts):
            less = self.lt(pt, f"lhs{sel}", f"rhs{sel}")
            acc = less if acc == "FALSE" else f"({less} \\/ (lhs{sel} = rhs{sel} /\\ {acc}))"
        return acc

    def lt(self, t: Type, a: str, b: str) -> str:
        """`a < b` on values of type t, inline."""
        if isinstance(t, IntType | NodeType | AnyType):
            return f"{a} < {b}"
        return f"{self.op(t)}({a}, {b})"
