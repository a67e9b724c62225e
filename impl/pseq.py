"""Sequences that grow in place: appending to a node's history costs O(1), not a copy of it.

Compiled handlers treat a sequence as an immutable tuple: `append(history, t)` is
`history + (t,)`, a new value, the old one unchanged, so a write would copy the whole history
(and the runtime would then compare the two to see what changed). `AppendSeq` keeps the
immutable meaning without the copy: a value is a view of the first n items of a list that
several views share. Appending to the view that ends where the list ends extends the list in
place and returns a longer view; no view ever sees items past its own n, so the old value is
unchanged. Appending to any other view copies, as a tuple would.

The runtime (impl/node.py) holds its persistent sequences as `AppendSeq`s, which lets it ask
`appended_since` what one step added without comparing whole values; the checker keeps plain
tuples. A view is equal to, and hashes like, the tuple of its items.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any


class AppendSeq:
    """The first `n` items of a shared list, immutable as seen through this view."""

    __slots__ = ("_items", "_n", "_hash")

    def __init__(self, items: list[Any], n: int) -> None:
        self._items = items
        self._n = n
        self._hash: int | None = None

    @classmethod
    def of(cls, values: Iterable[Any]) -> AppendSeq:
        items = list(values)
        return cls(items, len(items))

    def as_tuple(self) -> tuple:
        return tuple(self._items[: self._n])

    def appended_since(self, old: object) -> tuple | None:
        """The items added after `old` when this value is `old` plus appended items; None when
        that is not known without comparing (another list, or a shorter value)."""
        if isinstance(old, AppendSeq) and old._items is self._items and old._n <= self._n:
            return tuple(self._items[old._n : self._n])
        return None

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Any]:
        return itertools.islice(self._items, self._n)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            start, stop, step = i.indices(self._n)
            if start == 0 and step == 1:
                return AppendSeq(self._items, max(stop, 0))  # a prefix is a view, no copy
            return tuple(self._items[start:stop:step])
        n = self._n
        if i < 0:
            i += n
        if 0 <= i < n:
            return self._items[i]
        raise IndexError("sequence index out of range")

    def __add__(self, other: object) -> AppendSeq:
        if isinstance(other, AppendSeq):
            other = other.as_tuple()
        elif not isinstance(other, tuple):
            return NotImplemented
        items = self._items
        if len(items) != self._n:  # not the newest view of its list: copy, as a tuple would
            items = items[: self._n]
        items.extend(other)
        return AppendSeq(items, len(items))

    def __radd__(self, other: object) -> tuple:
        if not isinstance(other, tuple):
            return NotImplemented
        return other + self.as_tuple()

    def __contains__(self, x: object) -> bool:
        return x in self.__iter__()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AppendSeq):
            if other._items is self._items or other._n != self._n:
                return other._n == self._n
            return self._items[: self._n] == other._items[: other._n]
        if isinstance(other, tuple):
            return len(other) == self._n and self.as_tuple() == other
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.as_tuple())
        return self._hash

    def _cmp(self, other: object) -> tuple | None:
        return other.as_tuple() if isinstance(other, AppendSeq) else other if isinstance(other, tuple) else None

    def __lt__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self.as_tuple() < o

    def __le__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self.as_tuple() <= o

    def __gt__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self.as_tuple() > o

    def __ge__(self, other: object) -> bool:
        o = self._cmp(other)
        return NotImplemented if o is None else self.as_tuple() >= o

    def __repr__(self) -> str:
        return repr(self.as_tuple())
