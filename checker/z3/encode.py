"""Symbolic values: how each Pnyx type is represented in z3, compared, merged and read back.

A symbolic value mirrors the run-time representation (model/types.py):
- bool, int, enum member, node id: a z3 expression (enums and nodes as bounded ints);
- record, tuple, map: a Python tuple of symbolic values (a map indexed by key position);
- set: `SetV`, a list of (element, condition) pairs. A stored set is canonical: one
  condition (a bit) per value of its finite element type, in domain order;
- sequence: `SeqV`, a length and a fixed number of slots (the declared bound);
- option: `OptV`, a presence bit and a value (None for the literal `none`);
- message: `MsgV`, a tag (message type id) and the fields of every message type.
Everything is bounded, so every query stays in decidable, quantifier-free arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import z3

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
    default,
    domain,
    domain_size,
    is_finite,
)

TRUE = z3.BoolVal(True)
FALSE = z3.BoolVal(False)


class Unsupported(Exception):
    """A type or construct the translation cannot bound; the translator adds the position."""


# A set's elements, a map's keys and a sequence's slots each get their own z3 term: beyond this
# many per value, translating (let alone solving) runs out of memory before it answers.
MAX_LISTED = 10_000


def listed(t: Type, what: str) -> int:
    """How many values of `t` a z3 value lists (counted, never enumerated); too many is Unsupported."""
    n = domain_size(t, MAX_LISTED)
    if n > MAX_LISTED:
        raise Unsupported(f"{what} over more than {MAX_LISTED:,} values ({t}): z3 gives each its own term; "
                          "lower the constants (-D) that bound it")
    return n


@dataclass(frozen=True)
class SetV:
    items: tuple[tuple[Any, z3.BoolRef], ...]


@dataclass(frozen=True)
class SeqV:
    n: z3.ArithRef
    items: tuple[Any, ...]


@dataclass(frozen=True)
class OptV:
    some: z3.BoolRef
    val: Any  # None for the literal `none`


@dataclass(frozen=True)
class MsgV:
    tag: z3.ArithRef
    fields: tuple[tuple[Any, ...], ...]  # per message type id


_TRUE_ID = TRUE.get_id()
_FALSE_ID = FALSE.get_id()


def is_true(x: Any) -> bool:
    """Literally `true` (z3 terms are hash-consed, so the id decides; cheaper than z3.is_true)."""
    return x.get_id() == _TRUE_ID


def is_false(x: Any) -> bool:
    return x.get_id() == _FALSE_ID


def and_(*xs: Any) -> z3.BoolRef:
    parts = []
    for x in xs:
        i = x.get_id()
        if i == _FALSE_ID:
            return FALSE
        if i != _TRUE_ID:
            parts.append(x)
    if not parts:
        return TRUE
    return parts[0] if len(parts) == 1 else z3.And(*parts)


def or_(*xs: Any) -> z3.BoolRef:
    parts = []
    for x in xs:
        i = x.get_id()
        if i == _TRUE_ID:
            return TRUE
        if i != _FALSE_ID:
            parts.append(x)
    if not parts:
        return FALSE
    return parts[0] if len(parts) == 1 else z3.Or(*parts)


def not_(x: z3.BoolRef) -> z3.BoolRef:
    i = x.get_id()
    if i == _TRUE_ID:
        return FALSE
    if i == _FALSE_ID:
        return TRUE
    return z3.Not(x)


def implies(a: z3.BoolRef, b: z3.BoolRef) -> z3.BoolRef:
    return or_(not_(a), b)


def concrete_int(v: Any) -> int | None:
    """The integer a z3 term stands for, when it is a literal."""
    if isinstance(v, z3.ArithRef):
        s = v if z3.is_int_value(v) else z3.simplify(v)
        if z3.is_int_value(s):
            return s.as_long()
    return None


def same(a: Any, b: Any) -> bool:
    """Structural identity (no solver): lets merges keep unchanged values as they are."""
    if a is b:
        return True
    if isinstance(a, z3.ExprRef) and isinstance(b, z3.ExprRef):
        return a.eq(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, SetV):
        return len(a.items) == len(b.items) and all(same(x[0], y[0]) and x[1].eq(y[1]) for x, y in zip(a.items, b.items))
    if isinstance(a, SeqV):
        return a.n.eq(b.n) and len(a.items) == len(b.items) and all(same(x, y) for x, y in zip(a.items, b.items))
    if isinstance(a, OptV):
        return a.some.eq(b.some) and (a.val is b.val or (a.val is not None and b.val is not None and same(a.val, b.val)))
    if isinstance(a, MsgV):
        return a.tag.eq(b.tag) and same(a.fields, b.fields)
    return False


def ite(c: z3.BoolRef, a: Any, b: Any) -> Any:
    """`a` where c holds, else `b`, for values of one type."""
    if same(a, b) or is_true(c):
        return a
    if is_false(c):
        return b
    if isinstance(a, z3.ExprRef):
        return z3.If(c, a, b)
    if isinstance(a, tuple):
        return tuple(ite(c, x, y) for x, y in zip(a, b))
    if isinstance(a, SetV):
        if len(a.items) == len(b.items) and all(same(x[0], y[0]) for x, y in zip(a.items, b.items)):
            return SetV(tuple((x[0], ite(c, x[1], y[1])) for x, y in zip(a.items, b.items)))
        return SetV(tuple((v, and_(c, k)) for v, k in a.items) + tuple((v, and_(not_(c), k)) for v, k in b.items))
    if isinstance(a, SeqV):
        m = max(len(a.items), len(b.items))
        items = []
        for k in range(m):
            x = a.items[k] if k < len(a.items) else None
            y = b.items[k] if k < len(b.items) else None
            items.append(y if x is None else x if y is None else ite(c, x, y))
        return SeqV(z3.If(c, a.n, b.n), tuple(items))
    if isinstance(a, OptV):
        val = b.val if a.val is None else a.val if b.val is None else ite(c, a.val, b.val)
        return OptV(ite(c, a.some, b.some), val)
    if isinstance(a, MsgV):
        return MsgV(z3.If(c, a.tag, b.tag), tuple(ite(c, x, y) for x, y in zip(a.fields, b.fields)))
    raise TypeError(f"cannot merge {a!r}")


def select(values: Sequence[Any], index: Any) -> Any:
    """`values[index]` for a symbolic index (a caller guards the range)."""
    k = concrete_int(index)
    if k is not None and 0 <= k < len(values):
        return values[k]
    out = values[-1]
    for j in range(len(values) - 2, -1, -1):
        out = ite(index == j, values[j], out)
    return out


def eq(a: Any, b: Any) -> z3.BoolRef:
    """Value equality, as Python's `==` on the run-time representation."""
    if same(a, b):
        return TRUE
    if isinstance(a, z3.ExprRef):
        if z3.is_int_value(a) and z3.is_int_value(b):
            return z3.BoolVal(a.as_long() == b.as_long())
        return a == b
    if isinstance(a, tuple):
        return and_(*(eq(x, y) for x, y in zip(a, b)))
    if isinstance(a, SetV):
        if len(a.items) == len(b.items) and all(same(x[0], y[0]) for x, y in zip(a.items, b.items)):
            return and_(*(x[1] == y[1] for x, y in zip(a.items, b.items)))
        return and_(*(implies(k, member(v, b)) for v, k in a.items), *(implies(k, member(v, a)) for v, k in b.items))
    if isinstance(a, SeqV):
        m = min(len(a.items), len(b.items))
        return and_(a.n == b.n, *(implies(k < a.n, eq(a.items[k], b.items[k])) for k in range(m)))
    if isinstance(a, OptV):
        if a.val is None or b.val is None:
            return a.some == b.some
        return and_(a.some == b.some, implies(a.some, eq(a.val, b.val)))
    if isinstance(a, MsgV):
        return and_(a.tag == b.tag, *(implies(a.tag == i, eq(x, y)) for i, (x, y) in enumerate(zip(a.fields, b.fields))))
    raise TypeError(f"cannot compare {a!r}")


def lt(a: Any, b: Any) -> z3.BoolRef:
    """`a < b` on ints, node ids and (lexicographically) tuples of them."""
    if isinstance(a, z3.ExprRef):
        return a < b
    if isinstance(a, tuple):
        out = FALSE
        for x, y in reversed(list(zip(a, b))):
            out = or_(lt(x, y), and_(eq(x, y), out))
        return out
    raise TypeError(f"cannot order {a!r}")


def members(coll: Any) -> list[tuple[Any, z3.BoolRef]]:
    """The (element, present) pairs of a set or a sequence, in iteration order."""
    if isinstance(coll, SetV):
        return list(coll.items)
    if isinstance(coll, SeqV):
        return [(x, k < coll.n) for k, x in enumerate(coll.items)]
    raise TypeError(f"not a collection: {coll!r}")


def member(x: Any, coll: Any) -> z3.BoolRef:
    return or_(*(and_(k, eq(x, v)) for v, k in members(coll)))


def size(coll: Any) -> z3.ArithRef:
    """`len()` of a set (distinct elements) or a sequence."""
    if isinstance(coll, SeqV):
        return coll.n
    items = coll.items
    terms = []
    for i, (v, k) in enumerate(items):
        dup = or_(*(and_(kj, eq(v, vj)) for vj, kj in items[:i]))
        terms.append(z3.If(and_(k, not_(dup)), 1, 0))
    return z3.Sum(terms) if terms else z3.IntVal(0)


# ---- types ----------------------------------------------------------------
def finite(t: Type) -> bool:
    return is_finite(t) and not isinstance(t, AnyType)


def const(v: Any, t: Type) -> Any:
    """A run-time value as a symbolic constant of the canonical shape of `t`."""
    if isinstance(t, BoolType):
        return z3.BoolVal(bool(v))
    if isinstance(t, (IntType, EnumType, NodeType)):
        return z3.IntVal(int(v))
    if isinstance(t, RecordType):
        return tuple(const(x, ft) for (_, ft), x in zip(t.fields, v))
    if isinstance(t, TupleType):
        return tuple(const(x, it) for it, x in zip(t.items, v))
    if isinstance(t, MapType):
        return tuple(const(x, t.value) for x in v)
    if isinstance(t, OptionType):
        return OptV(z3.BoolVal(bool(v)), const(v[0] if v else default(t.elem), t.elem))
    if isinstance(t, SeqType):
        cap = t.bound if t.bound is not None else len(v)
        items = [const(x, t.elem) for x in v] + [const(default(t.elem), t.elem)] * (cap - len(v))
        return SeqV(z3.IntVal(len(v)), tuple(items))
    if isinstance(t, SetType):
        if finite(t.elem):
            listed(t.elem, "a set")
            present = set(v)
            return SetV(tuple((const(d, t.elem), z3.BoolVal(d in present)) for d in domain(t.elem)))
        return SetV(tuple((const(x, t.elem), TRUE) for x in v))
    raise Unsupported(f"values of type {t}")


def fresh(t: Type, name: str, out: list[z3.BoolRef]) -> Any:
    """New z3 variables for a value of type `t`; their domain constraints go to `out`."""
    if isinstance(t, BoolType):
        return z3.Bool(name)
    if isinstance(t, IntType):
        x = z3.Int(name)
        if t.lo is not None:
            out.append(x >= t.lo)
        if t.hi is not None:
            out.append(x <= t.hi)
        return x
    if isinstance(t, (EnumType, NodeType)):
        x = z3.Int(name)
        out.append(z3.And(x >= 0, x < (len(t.members) if isinstance(t, EnumType) else t.count)))
        return x
    if isinstance(t, RecordType):
        return tuple(fresh(ft, f"{name}.{f}", out) for f, ft in t.fields)
    if isinstance(t, TupleType):
        return tuple(fresh(it, f"{name}.{i}", out) for i, it in enumerate(t.items))
    if isinstance(t, MapType):
        return tuple(fresh(t.value, f"{name}[{i}]", out) for i in range(listed(t.key, "a map")))
    if isinstance(t, OptionType):
        return OptV(z3.Bool(f"{name}?"), fresh(t.elem, f"{name}!", out))
    if isinstance(t, SeqType):
        if t.bound is None:
            raise Unsupported(f"a sequence without a bound ({t})")
        if t.bound > MAX_LISTED:
            raise Unsupported(f"a sequence of up to {t.bound:,} elements ({t}): z3 gives each slot its own term; "
                              f"at most {MAX_LISTED:,}; lower the constants (-D) that bound it")
        n = z3.Int(f"{name}#")
        out.append(z3.And(n >= 0, n <= t.bound))
        return SeqV(n, tuple(fresh(t.elem, f"{name}[{i}]", out) for i in range(t.bound)))
    if isinstance(t, SetType):
        if not finite(t.elem):
            raise Unsupported(f"a set over an unbounded element type ({t})")
        listed(t.elem, "a set")
        return SetV(tuple((const(d, t.elem), z3.Bool(f"{name}{{{i}}}")) for i, d in enumerate(domain(t.elem))))
    raise Unsupported(f"values of type {t}")


def fits(v: Any, t: Type) -> z3.BoolRef:
    """Whether a value lies within its declared type (the compiled code's bound check)."""
    if isinstance(t, IntType):
        parts = []
        if t.lo is not None:
            parts.append(v >= t.lo)
        if t.hi is not None:
            parts.append(v <= t.hi)
        return and_(*parts)
    if isinstance(t, (RecordType, TupleType)):
        types = [ft for _, ft in t.fields] if isinstance(t, RecordType) else list(t.items)
        return and_(*(fits(x, ft) for x, ft in zip(v, types)))
    if isinstance(t, MapType):
        return and_(*(fits(x, t.value) for x in v))
    if isinstance(t, OptionType):
        return TRUE if v.val is None else implies(v.some, fits(v.val, t.elem))
    if isinstance(t, SeqType):
        bound = TRUE if t.bound is None else v.n <= t.bound
        return and_(bound, *(implies(k < v.n, fits(x, t.elem)) for k, x in enumerate(v.items)))
    if isinstance(t, SetType):
        return and_(*(implies(k, fits(x, t.elem)) for x, k in v.items))
    return TRUE


def canon(v: Any, t: Type) -> Any:
    """A value in the canonical shape of `t` (the shape of `fresh(t)`), ready to store."""
    if isinstance(t, (RecordType, TupleType)):
        types = [ft for _, ft in t.fields] if isinstance(t, RecordType) else list(t.items)
        return tuple(canon(x, ft) for x, ft in zip(v, types))
    if isinstance(t, MapType):
        return tuple(canon(x, t.value) for x in v)
    if isinstance(t, OptionType):
        val = const(default(t.elem), t.elem) if v.val is None else canon(v.val, t.elem)
        return OptV(v.some, val)
    if isinstance(t, SeqType):
        if t.bound is None:
            return SeqV(v.n, tuple(canon(x, t.elem) for x in v.items))
        items = [canon(x, t.elem) for x in v.items[: t.bound]]
        items += [const(default(t.elem), t.elem)] * (t.bound - len(items))
        return SeqV(v.n, tuple(items))
    if isinstance(t, SetType):
        if not finite(t.elem):
            return v
        dom = [const(d, t.elem) for d in domain(t.elem)]
        if len(v.items) == len(dom) and all(same(x, d) for (x, _), d in zip(v.items, dom)):
            return v
        return SetV(tuple((d, member(d, v)) for d in dom))
    return v


def decode(v: Any, t: Type, m: z3.ModelRef) -> Any:
    """A symbolic value's run-time representation in a model."""
    if isinstance(t, BoolType):
        return z3.is_true(m.eval(v, model_completion=True))
    if isinstance(t, (IntType, EnumType, NodeType, AnyType)):
        return m.eval(v, model_completion=True).as_long()
    if isinstance(t, RecordType):
        return tuple(decode(x, ft, m) for (_, ft), x in zip(t.fields, v))
    if isinstance(t, TupleType):
        return tuple(decode(x, it, m) for it, x in zip(t.items, v))
    if isinstance(t, MapType):
        return tuple(decode(x, t.value, m) for x in v)
    if isinstance(t, OptionType):
        if v.val is None or not z3.is_true(m.eval(v.some, model_completion=True)):
            return ()
        return (decode(v.val, t.elem, m),)
    if isinstance(t, SeqType):
        n = m.eval(v.n, model_completion=True).as_long()
        return tuple(decode(x, t.elem, m) for x in v.items[:n])
    if isinstance(t, SetType):
        return tuple(sorted({decode(x, t.elem, m) for x, k in v.items if z3.is_true(m.eval(k, model_completion=True))}))
    raise Unsupported(f"values of type {t}")
