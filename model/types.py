"""Resolved types and how their values are represented at run time.

Values are plain immutable Python data whose hashes are the same in every process:
bool and int as themselves, enum members and node ids as ints, records, tuples and
sequences as tuples, sets as sorted tuples, maps as tuples indexed by key position,
and options as ``()`` (none) or ``(v,)`` (some).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


class Type:
    """A resolved type. Subclasses are frozen dataclasses."""

    def __str__(self) -> str:  # pragma: no cover - overridden
        return type(self).__name__


@dataclass(frozen=True)
class AnyType(Type):
    """The element type of an empty literal: fits anywhere."""

    def __str__(self) -> str:
        return "?"


@dataclass(frozen=True)
class BoolType(Type):
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class IntType(Type):
    lo: int | None = None
    hi: int | None = None

    def __str__(self) -> str:
        return "int" if self.lo is None or self.hi is None else f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class OpaqueType(IntType):
    """`type Name = opaque(K)`: values a spec may only copy, store, send and compare with == / !=.

    To the checker and the z3/TLA+ back ends it is the range 1..K (an IntType, so they need
    nothing of their own); the type checker keeps it apart from int: no literals, arithmetic,
    ordering or conversion, and it is never listed as a domain. The runtime fills it with
    client payloads (any hashable wire value), so compiled code never tests its range: only
    request parameters create its values, and the checker draws those from 1..K.
    """

    name: str = "opaque"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class EnumType(Type):
    name: str
    members: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class NodeType(Type):
    count: int

    def __str__(self) -> str:
        return "Node"


@dataclass(frozen=True)
class RecordType(Type):
    name: str
    fields: tuple[tuple[str, Type], ...]

    def field_index(self, name: str) -> int | None:
        for i, (f, _) in enumerate(self.fields):
            if f == name:
                return i
        return None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TupleType(Type):
    items: tuple[Type, ...]

    def __str__(self) -> str:
        return "tuple[" + ", ".join(map(str, self.items)) + "]"


@dataclass(frozen=True)
class SeqType(Type):
    elem: Type
    bound: int | None = None

    def __str__(self) -> str:
        return f"seq[{self.elem}, {self.bound}]" if self.bound is not None else f"seq[{self.elem}]"


@dataclass(frozen=True)
class SetType(Type):
    elem: Type

    def __str__(self) -> str:
        return f"set[{self.elem}]"


@dataclass(frozen=True)
class MapType(Type):
    key: Type
    value: Type

    def __str__(self) -> str:
        return f"map[{self.key}, {self.value}]"


@dataclass(frozen=True)
class OptionType(Type):
    elem: Type

    def __str__(self) -> str:
        return f"option[{self.elem}]"


ANY = AnyType()
BOOL = BoolType()
INT = IntType()


def is_int(t: Type) -> bool:
    return isinstance(t, (IntType, AnyType)) and not isinstance(t, OpaqueType)


def contains_opaque(t: Type) -> bool:
    """Whether values of this type can hold opaque values (payloads the runtime cannot list)."""
    return _contains(t, OpaqueType)


def opaque_default(t: Type) -> OpaqueType | None:
    """The opaque type whose value `default(t)` would have to invent, if any: an opaque type has
    no constant, so only what starts empty (sequences, sets, none) may hold one initially."""
    if isinstance(t, OpaqueType):
        return t
    if isinstance(t, RecordType | TupleType):
        for x in ([ft for _, ft in t.fields] if isinstance(t, RecordType) else t.items):
            found = opaque_default(x)
            if found is not None:
                return found
        return None
    if isinstance(t, MapType):
        return opaque_default(t.value)
    return None


def is_finite(t: Type) -> bool:
    """Whether `domain` can enumerate every value of the type."""
    if isinstance(t, (BoolType, EnumType, NodeType)):
        return True
    if isinstance(t, IntType):
        return t.lo is not None and t.hi is not None
    if isinstance(t, RecordType):
        return all(is_finite(ft) for _, ft in t.fields)
    if isinstance(t, TupleType):
        return all(is_finite(x) for x in t.items)
    if isinstance(t, (SetType, OptionType)):
        return is_finite(t.elem)
    if isinstance(t, SeqType):
        return t.bound is not None and is_finite(t.elem)
    if isinstance(t, MapType):
        return is_finite(t.key) and is_finite(t.value)
    return False


def domain_size(t: Type, cap: int) -> int:
    """How many values `domain(t)` lists, or `cap + 1` if more: counted, never enumerated,
    so a type of 2**62 values costs nothing to measure."""
    over = cap + 1

    def mul(a: int, b: int) -> int:
        return min(a * b, over)

    if isinstance(t, BoolType):
        return 2
    if isinstance(t, IntType):
        return over if t.lo is None or t.hi is None else min(max(0, t.hi - t.lo + 1), over)
    if isinstance(t, EnumType):
        return min(len(t.members), over)
    if isinstance(t, NodeType):
        return min(t.count, over)
    if isinstance(t, RecordType | TupleType):
        n = 1
        for x in ([ft for _, ft in t.fields] if isinstance(t, RecordType) else t.items):
            n = mul(n, domain_size(x, cap))
        return n
    if isinstance(t, OptionType):
        return min(1 + domain_size(t.elem, cap), over)
    if isinstance(t, SetType):
        k = domain_size(t.elem, cap)
        return over if k >= cap.bit_length() else min(2**k, over)
    if isinstance(t, SeqType):
        if t.bound is None:
            return over
        k, bound = domain_size(t.elem, cap), max(0, t.bound)
        if k <= 1:  # only the empty sequence, or one sequence of each length
            return 1 if k == 0 else min(bound + 1, over)
        total = power = 1
        for _ in range(bound):  # k >= 2: saturates within log2(cap) rounds
            power = mul(power, k)
            total = min(total + power, over)
            if total >= over:
                break
        return total
    if isinstance(t, MapType):
        keys, values = domain_size(t.key, cap), domain_size(t.value, cap)
        if values <= 1:
            return values
        if keys >= cap.bit_length():
            return over
        return min(values**keys, over)
    return over


def domain(t: Type) -> tuple:
    """Every value of a finite type, in a fixed order."""
    if isinstance(t, BoolType):
        return (False, True)
    if isinstance(t, IntType):
        assert t.lo is not None and t.hi is not None
        return tuple(range(t.lo, t.hi + 1))
    if isinstance(t, EnumType):
        return tuple(range(len(t.members)))
    if isinstance(t, NodeType):
        return tuple(range(t.count))
    if isinstance(t, RecordType):
        return tuple(itertools.product(*(domain(ft) for _, ft in t.fields)))
    if isinstance(t, TupleType):
        return tuple(itertools.product(*(domain(x) for x in t.items)))
    if isinstance(t, OptionType):
        return ((),) + tuple((v,) for v in domain(t.elem))
    if isinstance(t, SetType):
        elems = domain(t.elem)
        return tuple(c for k in range(len(elems) + 1) for c in itertools.combinations(elems, k))
    if isinstance(t, SeqType):
        elems = domain(t.elem)
        assert t.bound is not None
        return tuple(s for k in range(t.bound + 1) for s in itertools.product(elems, repeat=k))
    if isinstance(t, MapType):
        return tuple(itertools.product(domain(t.value), repeat=len(domain(t.key))))
    raise TypeError(f"type {t} has no finite domain")


def default(t: Type) -> object:
    """The value a variable of this type starts with when the spec gives none."""
    if isinstance(t, BoolType):
        return False
    if isinstance(t, IntType):
        if t.lo is not None and t.lo > 0:
            return t.lo
        if t.hi is not None and t.hi < 0:
            return t.hi
        return 0
    if isinstance(t, (EnumType, NodeType)):
        return 0
    if isinstance(t, RecordType):
        return tuple(default(ft) for _, ft in t.fields)
    if isinstance(t, TupleType):
        return tuple(default(x) for x in t.items)
    if isinstance(t, (SeqType, SetType, OptionType, AnyType)):
        return ()
    if isinstance(t, MapType):
        return tuple(default(t.value) for _ in domain(t.key))
    raise TypeError(f"no default for {t}")


def contains_node(t: Type) -> bool:
    """Whether values of this type can hold node ids (they move under symmetry)."""
    return _contains(t, NodeType)


def _contains(t: Type, kind: type[Type]) -> bool:
    """Whether values of `t` can hold values of the type class `kind`, at any depth."""
    if isinstance(t, kind):
        return True
    if isinstance(t, RecordType):
        return any(_contains(ft, kind) for _, ft in t.fields)
    if isinstance(t, TupleType):
        return any(_contains(x, kind) for x in t.items)
    if isinstance(t, (SeqType, SetType, OptionType)):
        return _contains(t.elem, kind)
    if isinstance(t, MapType):
        return _contains(t.key, kind) or _contains(t.value, kind)
    return False


def compatible(src: Type, dst: Type) -> bool:
    """Whether a value of `src` may be used where `dst` is expected.

    Integer ranges and sequence bounds are checked at run time, not here.
    """
    if isinstance(src, AnyType) or isinstance(dst, AnyType):
        return True
    if isinstance(src, OpaqueType) or isinstance(dst, OpaqueType):  # no conversion to or from int
        return src == dst
    if isinstance(src, IntType) and isinstance(dst, IntType):
        return True
    if type(src) is not type(dst):
        return False
    if isinstance(src, (EnumType, RecordType)):
        return src == dst
    if isinstance(src, NodeType):
        return True
    if isinstance(src, TupleType):
        assert isinstance(dst, TupleType)
        return len(src.items) == len(dst.items) and all(compatible(a, b) for a, b in zip(src.items, dst.items))
    if isinstance(src, (SeqType, SetType, OptionType)):
        return compatible(src.elem, dst.elem)  # type: ignore[attr-defined]
    if isinstance(src, MapType):
        assert isinstance(dst, MapType)
        return compatible(src.key, dst.key) and compatible(src.value, dst.value)
    return src == dst


def join(a: Type, b: Type) -> Type:
    """The least type holding values of both (used for literals and conditionals)."""
    if isinstance(a, AnyType):
        return b
    if isinstance(b, AnyType):
        return a
    if isinstance(a, IntType) and isinstance(b, IntType):
        if a == b:
            return a
        if None in (a.lo, a.hi, b.lo, b.hi):
            return INT
        return IntType(min(a.lo, b.lo), max(a.hi, b.hi))  # type: ignore[type-var]
    if isinstance(a, SeqType) and isinstance(b, SeqType):
        bound = None if a.bound is None or b.bound is None else max(a.bound, b.bound)
        return SeqType(join(a.elem, b.elem), bound)
    if isinstance(a, SetType) and isinstance(b, SetType):
        return SetType(join(a.elem, b.elem))
    if isinstance(a, OptionType) and isinstance(b, OptionType):
        return OptionType(join(a.elem, b.elem))
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.items) == len(b.items):
        return TupleType(tuple(join(x, y) for x, y in zip(a.items, b.items)))
    if isinstance(a, MapType) and isinstance(b, MapType):
        return MapType(join(a.key, b.key), join(a.value, b.value))
    return a


def ordered(t: Type) -> bool:
    """Whether `<` is defined: ints, and tuples/records of ordered values (lexicographic)."""
    if isinstance(t, OpaqueType):
        return False
    if isinstance(t, (IntType, AnyType, NodeType)):
        return True
    if isinstance(t, TupleType):
        return all(ordered(x) for x in t.items)
    if isinstance(t, RecordType):
        return all(ordered(ft) for _, ft in t.fields)
    return False


def node_name(i: int) -> str:
    return f"n{i + 1}"


def show(v: object, t: Type) -> str:
    """A value as a person reads it in a trace."""
    if isinstance(t, BoolType):
        return "true" if v else "false"
    if isinstance(t, EnumType):
        return t.members[v] if isinstance(v, int) and 0 <= v < len(t.members) else str(v)  # type: ignore[index]
    if isinstance(t, NodeType):
        return node_name(v)  # type: ignore[arg-type]
    if isinstance(t, OpaqueType):  # the checker's values 1..K as v1..vK; a runtime payload as itself
        return f"v{v}" if isinstance(v, int) and not isinstance(v, bool) else repr(v)
    if isinstance(t, RecordType):
        # as the spec writes a record: its constructor with named fields
        return f"{t.name}(" + ", ".join(f"{f}: {show(x, ft)}" for (f, ft), x in zip(t.fields, v)) + ")"  # type: ignore[call-overload]
    if isinstance(t, TupleType):
        return "(" + ", ".join(show(x, it) for it, x in zip(t.items, v)) + ")"  # type: ignore[call-overload]
    if isinstance(t, SeqType):
        return "[" + ", ".join(show(x, t.elem) for x in v) + "]"  # type: ignore[attr-defined]
    if isinstance(t, SetType):
        return "{" + ", ".join(show(x, t.elem) for x in v) + "}"  # type: ignore[attr-defined]
    if isinstance(t, MapType):
        keys = domain(t.key)
        return "{" + ", ".join(f"{show(k, t.key)}: {show(x, t.value)}" for k, x in zip(keys, v)) + "}"  # type: ignore[call-overload]
    if isinstance(t, OptionType):
        return "none" if v == () else f"some({show(v[0], t.elem)})"  # type: ignore[index]
    return str(v)


def to_itf(v: object, t: Type) -> object:
    """A value in the Informal Trace Format (the JSON Apalache and Quint read)."""
    if isinstance(t, BoolType):
        return bool(v)
    if isinstance(t, IntType):
        return {"#bigint": str(v)}
    if isinstance(t, EnumType):
        return t.members[v]  # type: ignore[index]
    if isinstance(t, NodeType):
        return node_name(v)  # type: ignore[arg-type]
    if isinstance(t, RecordType):
        return {f: to_itf(x, ft) for (f, ft), x in zip(t.fields, v)}  # type: ignore[call-overload]
    if isinstance(t, TupleType):
        return {"#tup": [to_itf(x, it) for it, x in zip(t.items, v)]}  # type: ignore[call-overload]
    if isinstance(t, SeqType):
        return [to_itf(x, t.elem) for x in v]  # type: ignore[attr-defined]
    if isinstance(t, SetType):
        return {"#set": [to_itf(x, t.elem) for x in v]}  # type: ignore[attr-defined]
    if isinstance(t, MapType):
        return {"#map": [[to_itf(k, t.key), to_itf(x, t.value)] for k, x in zip(domain(t.key), v)]}  # type: ignore[call-overload]
    if isinstance(t, OptionType):
        return {"tag": "None", "value": {}} if v == () else {"tag": "Some", "value": to_itf(v[0], t.elem)}  # type: ignore[index]
    return v


class ITFError(ValueError):
    """A value in a trace file that does not fit its type: where inside the value, and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


def json_kind(j: object, inner: bool = True) -> str:
    """A JSON value named for a message, in a few words whatever its size or depth."""
    if isinstance(j, dict) and inner and 0 < len(j) <= 2:
        return "{" + ", ".join(f"{str(k)[:20]!r}: {json_kind(v, False)}" for k, v in j.items()) + "}"
    if isinstance(j, list) and inner and 0 < len(j) <= 2:
        return "[" + ", ".join(json_kind(v, False) for v in j) + "]"
    if j is None:
        return "null"
    if isinstance(j, bool):
        return "true" if j else "false"
    if isinstance(j, int | float):
        text = repr(j)
        return f"the number {text if len(text) <= 24 else text[:20] + '...'}"
    if isinstance(j, str):
        return f"the string {j[:40]!r}" + ("..." if len(j) > 40 else "")
    if isinstance(j, list):
        return f"a list of {len(j)}"
    if isinstance(j, dict):
        keys = ", ".join(repr(k)[:20] for k in list(j)[:4]) + (", ..." if len(j) > 4 else "")
        return f"an object with keys {keys}" if j else "an empty object"
    return type(j).__name__


def _itf_shape(t: Type) -> str:
    """How a value of t is written in ITF, for 'expected ...' messages."""
    if isinstance(t, BoolType):
        return "true or false"
    if isinstance(t, IntType):
        return f"an integer{'' if t.lo is None or t.hi is None else f' in {t}'} ({{\"#bigint\": \"...\"}} or a number)"
    if isinstance(t, EnumType):
        return "one of " + ", ".join(repr(m) for m in t.members)
    if isinstance(t, NodeType):
        return f"a node name n1..n{t.count}"
    if isinstance(t, RecordType):
        return f"a {t.name} object with fields " + ", ".join(f for f, _ in t.fields)
    if isinstance(t, TupleType):
        return f'{{"#tup": [...]}} with {len(t.items)} items'
    if isinstance(t, SeqType):
        return "a list" + (f" of at most {t.bound}" if t.bound is not None else "")
    if isinstance(t, SetType):
        return '{"#set": [...]}'
    if isinstance(t, MapType):
        return '{"#map": [[key, value], ...]} with every key once'
    if isinstance(t, OptionType):
        return '{"tag": "None", "value": {}} or {"tag": "Some", "value": ...}'
    return str(t)


def from_itf(j: object, t: Type, path: str = "") -> object:
    """The inverse of `to_itf`, used when a trace file is read back: every value is checked
    against its type (a wrong one raises ITFError naming where and what was expected).
    It recurses on the type, never deeper than the type's own nesting, whatever the JSON holds."""

    def bad(reason: str = "") -> ITFError:
        return ITFError(path, reason or f"expected {_itf_shape(t)}, got {json_kind(j)}")

    if isinstance(t, BoolType):
        if not isinstance(j, bool):
            raise bad()
        return j
    if isinstance(t, IntType):
        raw = j.get("#bigint") if isinstance(j, dict) and len(j) == 1 else j
        if isinstance(raw, str) and raw.removeprefix("-").isdigit() and raw.isascii() and len(raw) <= 40:
            v = int(raw)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            v = raw
        else:
            raise bad()
        if t.lo is not None and t.hi is not None and not t.lo <= v <= t.hi:
            raise bad(f"expected an integer in {t}, got {v}")
        return v
    if isinstance(t, EnumType):
        if not isinstance(j, str) or j not in t.members:
            raise bad()
        return t.members.index(j)
    if isinstance(t, NodeType):
        if not (isinstance(j, str) and j[:1] == "n" and j[1:].isascii() and j[1:].isdigit() and len(j) <= 12
                and 1 <= int(j[1:]) <= t.count):
            raise bad()
        return int(j[1:]) - 1
    if isinstance(t, RecordType):
        if not isinstance(j, dict) or set(j) != {f for f, _ in t.fields}:
            raise bad()
        return tuple(from_itf(j[f], ft, f"{path}.{f}") for f, ft in t.fields)
    if isinstance(t, TupleType):
        items = j.get("#tup") if isinstance(j, dict) and len(j) == 1 else None
        if not isinstance(items, list) or len(items) != len(t.items):
            raise bad()
        return tuple(from_itf(x, it, f"{path}[{k}]") for k, (it, x) in enumerate(zip(t.items, items)))
    if isinstance(t, SeqType):
        if not isinstance(j, list) or (t.bound is not None and len(j) > t.bound):
            raise bad()
        return tuple(from_itf(x, t.elem, f"{path}[{k}]") for k, x in enumerate(j))
    if isinstance(t, SetType):
        items = j.get("#set") if isinstance(j, dict) and len(j) == 1 else None
        if not isinstance(items, list):
            raise bad()
        return tuple(sorted({from_itf(x, t.elem, f"{path}{{{k}}}") for k, x in enumerate(items)}))  # type: ignore[type-var]
    if isinstance(t, MapType):
        pairs = j.get("#map") if isinstance(j, dict) and len(j) == 1 else None
        if not isinstance(pairs, list):
            raise bad()
        for k, p in enumerate(pairs):
            if not (isinstance(p, list) and len(p) == 2):
                raise ITFError(f"{path}#entry{k}", f"expected a [key, value] pair, got {json_kind(p)}")
        keys = domain(t.key)
        got: dict[object, object] = {}
        for k, (kj, vj) in enumerate(pairs):
            key = from_itf(kj, t.key, f"{path}#key{k}")
            if key in got:
                raise bad(f"key {show(key, t.key)} is given twice")
            got[key] = from_itf(vj, t.value, f"{path}[{show(key, t.key)}]")
        missing = [show(k, t.key) for k in keys if k not in got]
        if missing:
            raise bad("no value for key " + ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else ""))
        return tuple(got[k] for k in keys)
    if isinstance(t, OptionType):
        if not isinstance(j, dict) or set(j) != {"tag", "value"} or j["tag"] not in ("None", "Some"):
            raise bad()
        return () if j["tag"] == "None" else (from_itf(j["value"], t.elem, f"{path}.value"),)
    raise bad(f"no trace values of type {t}")
