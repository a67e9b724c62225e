"""Helpers the generated handler code calls. Kept tiny: they run in the hot loop."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .errors import ModelError


class Chooser(Protocol):
    """Resolves a handler's `choose`: the checker tries every option, a node picks one."""

    def pick(self, options: Sequence[Any], site: int = 0) -> Any: ...

    def subset(self, options: Sequence[Any], size: int, site: int = 0) -> tuple: ...


class RandomChooser:
    """Picks uniformly with a seeded generator: used by real nodes and the simulation."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[Any], site: int = 0) -> Any:
        return options[self.rng.randrange(len(options))]

    def subset(self, options: Sequence[Any], size: int, site: int = 0) -> tuple:
        size = max(0, min(size, len(options)))
        return tuple(sorted(self.rng.sample(options, size)))  # a range is sampled without listing it


MAX_CHOICES = 100_000  # options one `choose` may offer the checker, which tries every one


def subsets(options: Sequence[Any], size: int) -> list[tuple]:
    """Every subset of the given size (fewer options than `size`: the only subset is all of them)."""
    size = max(0, min(size, len(options)))
    count = math.comb(len(options), size)
    if count > MAX_CHOICES:
        raise ModelError(f"choose ... subset of size {size} out of {len(options):,} options: {_many(count)} subsets, "
                         f"more than the {MAX_CHOICES:,} the checker tries")
    return list(itertools.combinations(options, size))


def _many(count: int) -> str:
    return f"{count:,}" if count < 10**15 else f"about 10^{len(str(count)) - 1}"


def _set(items: Any) -> tuple:
    return tuple(sorted(set(items)))


def _union(a: tuple, b: tuple) -> tuple:
    return tuple(sorted(set(a).union(b)))


def _inter(a: tuple, b: tuple) -> tuple:
    sb = set(b)
    return tuple(x for x in a if x in sb)


def _diff(a: tuple, b: tuple) -> tuple:
    sb = set(b)
    return tuple(x for x in a if x not in sb)


def _at(s: tuple, i: int) -> Any:
    if 0 <= i < len(s):
        return s[i]
    raise ModelError(f"index {i} is out of range for a sequence of length {len(s)}")


def _seti(t: tuple, i: int, v: Any) -> tuple:
    if not 0 <= i < len(t):
        raise ModelError(f"index {i} is out of range for a sequence of length {len(t)}")
    return t[:i] + (v,) + t[i + 1 :]


def _kidx(k: int, lo: int, n: int) -> int:
    i = k - lo
    if 0 <= i < n:
        return i
    raise ModelError(f"map key {k} is outside the key range {lo}..{lo + n - 1}")


def _is_prefix(a: tuple, b: tuple) -> bool:
    return b[: len(a)] == a


def _last(s: tuple) -> Any:
    if s:
        return s[-1]
    raise ModelError("last() of an empty sequence")


def _head(s: tuple) -> Any:
    if s:
        return s[0]
    raise ModelError("head() of an empty sequence")


def _max(s: Sequence[Any]) -> Any:
    if len(s):
        return max(s)
    raise ModelError("max() of an empty collection")


def _min(s: Sequence[Any]) -> Any:
    if len(s):
        return min(s)
    raise ModelError("min() of an empty collection")


_NOTHING = object()  # the max or min of an empty part of a union (compiler: `extreme`)


def _downto(lo: int, hi: int) -> range:
    """hi, hi - 1, ..., lo: a range scanned from its top."""
    return range(hi, lo - 1, -1)


def _ext(f: Callable[[Any], Any], s: Sequence[Any]) -> Any:
    """max(s) or min(s), or _NOTHING for an empty s."""
    return f(s) if len(s) else _NOTHING


def _pick(what: str, cands: tuple) -> Any:
    """The max or min of the candidates that are not _NOTHING (each the extreme of one part of a union)."""
    found = [c for c in cands if c is not _NOTHING]
    if not found:
        raise ModelError(f"{what}() of an empty collection")
    return found[0] if len(found) == 1 else max(found) if what == "max" else min(found)


def _fail(what: str) -> None:
    raise ModelError(what)


def _value(o: tuple) -> Any:
    if o:
        return o[0]
    raise ModelError("value() of none")


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ModelError("division by zero")
    return a // b


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise ModelError("modulo by zero")
    return a % b


def _node(i: int, n: int) -> int:
    if 1 <= i <= n:
        return i - 1
    raise ModelError(f"node({i}) does not exist: nodes are 1..{n}")


def _bound(what: str, value: Any) -> None:
    raise ModelError(f"{what} leaves its declared type: {value!r}")


def _inflight(net: tuple | None, msg_id: int, fifo: bool, n: int) -> tuple:
    """The in-flight messages of one type as sorted, distinct `(src, dst, field...)` tuples."""
    if net is None:
        raise ModelError("this property reads the messages in flight: evaluate it with the network")
    if fifo:
        found = {(ci // n, ci % n) + m[1:] for ci, ch in enumerate(net) for m in ch if m[0] == msg_id}
    else:
        found = {(src, dst) + m[1:] for dst, src, m in net if m[0] == msg_id}
    return tuple(sorted(found))
