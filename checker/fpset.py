"""Sets of 64-bit state fingerprints for breadth-first search, filtered a batch at a time.

The search (checker/bfs.py) gathers one batch of candidate successors, drops repeats inside the
batch itself, and asks the set which of the remaining (distinct) fingerprints it has not seen
yet; it adds those. Three kinds, `pnyx check --fpset`:

- `memory`: Python's built-in set: the fastest per state, about 60 bytes per state.
- `compact`: an open-addressing hash table of int64 in one numpy array, probed for a whole batch
  in vectorized rounds (linear probing): 8 bytes per slot, kept between a quarter and a half
  full plus one doubling's worth while it grows (about 16-32 bytes per state).
- `disk`: the same table up to a memory budget; when it is full, its keys are sorted and merged
  into one sorted file on disk (TLC's DiskFPSet design), and a batch that the table does not
  hold is looked up in that file by binary search (np.memmap; the operating system caches what
  is read often). Memory then stays within the budget whatever the number of states.

Fingerprints are Python ints in [-2**63, 2**63) (`hash`, or checker/model.py's stable digest).
0 marks an empty slot, so fingerprint 0 itself is remembered by a flag.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

KINDS = ("memory", "compact", "disk")
DEFAULT_BUDGET = 256 * 2**20  # bytes the disk kind's in-memory table may take


class FingerprintSet(Protocol):
    # the positions of the keys not seen before (of the first, when a key repeats), in order; they are now added
    def add_new(self, keys: Sequence[int]) -> list[int]: ...

    batch: int  # keys worth gathering for one add_new: more amortize its cost, fewer keep states in cache
    known: Callable[[int], bool]  # True: the key was added before (False may still be a key seen: add_new decides)

    def next_level(self) -> None: ...  # the search moves on to the next level

    def __len__(self) -> int: ...

    @property
    def nbytes(self) -> int: ...  # memory the set's own data takes (not the interpreter's)

    def close(self) -> None: ...


def make_fingerprint_set(kind: str, budget: int = DEFAULT_BUDGET, folder: str | None = None) -> FingerprintSet:
    """A fingerprint set of the given kind (one of KINDS)."""
    if kind == "memory":
        return PythonSet()
    if kind == "compact":
        return HashTable()
    if kind == "disk":
        return SpillingSet(budget, folder)
    raise ValueError(f"unknown fingerprint set {kind!r} (one of {', '.join(KINDS)})")


def _fresh_positions(np: Any, keys: Sequence[int], insert: Callable[[np.ndarray], np.ndarray],
                     recent: RecentLevels) -> list[int]:
    """add_new by a vectorized `insert` of distinct keys: the first position of each key, those new, in order."""
    arr = np.fromiter(keys, dtype=np.int64, count=len(keys))
    unique, first = np.unique(arr, return_index=True)
    mask = insert(unique)
    recent.add(unique[mask].tolist())
    return np.sort(first[mask]).tolist()


class PythonSet:
    """Python's set: a filter in one comprehension, the set's own methods bound once."""

    batch = 64

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.known = self.seen.__contains__

    def next_level(self) -> None:
        pass

    def add_new(self, keys: Sequence[int]) -> list[int]:
        seen = self.seen
        add = seen.add
        return [i for i, k in enumerate(keys) if k not in seen and not add(k)]  # add returns None

    def __len__(self) -> int:
        return len(self.seen)

    INT_BYTES = 48  # a fingerprint's int object: 36 bytes for 61 to 64 bits of magnitude, 48 as pymalloc allocates it

    @property
    def nbytes(self) -> int:
        return self.seen.__sizeof__() + self.INT_BYTES * len(self.seen)

    def close(self) -> None:
        self.seen = set()


class RecentLevels:
    """The keys added during the last few levels, in a Python set: in a breadth-first search most
    successors are states of the level being expanded or of the one before or after it, and this
    answers them one at a time at a set's speed, so that only the others wait for a batch. It holds
    at most `limit` keys (older levels are forgotten first, then the set is emptied): about 100 bytes
    each, and measured as fast with 2**15 of them as with 2**20 on gossip at 400,000 states."""

    LEVELS = 3

    def __init__(self, limit: int = 1 << 15) -> None:
        self.keys: set[int] = set()
        self.known = self.keys.__contains__
        self.levels: list[list[int]] = [[]]
        self.limit = limit

    def add(self, fresh: list[int]) -> None:
        self.keys.update(fresh)
        self.levels[-1] += fresh
        if len(self.keys) > self.limit:
            self.forget()

    def next_level(self) -> None:
        self.levels.append([])
        if len(self.levels) > self.LEVELS:
            self.keys.difference_update(self.levels.pop(0))

    def forget(self) -> None:
        while len(self.keys) > self.limit // 2 and len(self.levels) > 1:
            self.keys.difference_update(self.levels.pop(0))
        if len(self.keys) > self.limit // 2:
            self.keys.clear()
            self.levels = [[]]

    @property
    def nbytes(self) -> int:
        return self.keys.__sizeof__() + 32 * len(self.keys) + sum(8 * len(x) for x in self.levels)


_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: the slot is the top bits of key * 2**64 / golden ratio


class HashTable:
    """Open addressing over one int64 numpy array (0: empty), linear probing, grown by doubling."""

    batch = 512
    REHASH = 1 << 16  # keys moved to the grown table per insert (each takes ~10 temporary arrays of its size)

    def __init__(self, capacity: int = 1 << 16, max_load: float = 0.5) -> None:
        import numpy as np

        self.np = np
        self.max_load = max_load
        self.has_zero = False
        self.count = 0
        self._allocate(capacity)
        self.recent = RecentLevels()
        self.known = self.recent.known

    def _allocate(self, capacity: int) -> None:
        np = self.np
        assert capacity & (capacity - 1) == 0
        self.table = np.zeros(capacity, dtype=np.int64)
        self.mask = capacity - 1
        self.shift = np.uint64(64 - capacity.bit_length() + 1)

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        np = self.np
        with np.errstate(over="ignore"):
            return ((keys.view(np.uint64) * np.uint64(_MIX)) >> self.shift).astype(np.int64)

    def add_new(self, keys: Sequence[int]) -> list[int]:
        return _fresh_positions(self.np, keys, self.insert, self.recent)

    def next_level(self) -> None:
        self.recent.next_level()

    def insert(self, keys: np.ndarray) -> np.ndarray:
        """Add the distinct int64 keys; a mask of those that were not there before."""
        np = self.np
        fresh = np.zeros(len(keys), dtype=bool)
        zero = keys == 0
        if zero.any():
            (iz,) = np.flatnonzero(zero)[:1]
            fresh[iz] = not self.has_zero
            self.count += not self.has_zero
            self.has_zero = True
        if self.count + len(keys) > self.max_load * len(self.table):
            self._grow(self.count + len(keys))
        table, mask = self.table, self.mask
        pending = np.flatnonzero(~zero)
        slots = self._slots(keys[pending])
        want = keys[pending]
        while pending.size:
            cur = table[slots]
            empty = cur == 0
            other = ~empty & (cur != want)
            if empty.any():
                # several keys may probe the same empty slot: the first of each takes it; the others
                # stay on their slot and, taken now, move on in the next round
                slot_e = slots[empty]
                taken, first = np.unique(slot_e, return_index=True)
                winners = np.flatnonzero(empty)[first]
                table[taken] = want[winners]
                fresh[pending[winners]] = True
                self.count += len(winners)
                keep = other.copy()
                keep[empty] = True
                keep[winners] = False
            else:
                keep = other
            slots = np.where(other, (slots + 1) & mask, slots)[keep]
            pending, want = pending[keep], want[keep]
        return fresh

    def _grow(self, needed: int) -> None:
        capacity = len(self.table)
        while needed > self.max_load * capacity:
            capacity *= 2
        old = self.table[self.table != 0]
        self._allocate(capacity)
        zero, count = self.has_zero, self.count
        for start in range(0, len(old), self.REHASH):  # a slice at a time: insert's temporaries stay small
            self.insert(old[start:start + self.REHASH])
        self.has_zero, self.count = zero, count

    def keys(self) -> np.ndarray:
        """Every key held (not 0), in no order."""
        return self.table[self.table != 0]

    def clear(self) -> None:
        """Forget every key but 0 (its flag is no slot)."""
        self.table[:] = 0
        self.count = int(self.has_zero)

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes)

    def close(self) -> None:
        self._allocate(2)


class SpillingSet:
    """A HashTable of at most `budget` bytes in memory, in front of one sorted file of int64 on disk.

    A batch is filtered by the table, then what the table lacks by binary search in the file; the
    fresh keys go into the table. When the table would outgrow its budget, its keys are merged into
    the file (a new file, written in slices; the old one is then deleted).
    """

    batch = 2048

    def __init__(self, budget: int = DEFAULT_BUDGET, folder: str | None = None) -> None:
        import numpy as np

        self.np = np
        self.folder = tempfile.mkdtemp(prefix="pnyx-fpset-", dir=folder)
        self.capacity = max(1 << 6, 1 << (max(budget // 8, 1).bit_length() - 1))  # slots: a power of 2 within budget
        self.table = HashTable(min(self.capacity, 1 << 16))  # it grows up to `capacity`, never past it
        self.limit = int(self.table.max_load * self.capacity)
        self.disk: np.ndarray = np.zeros(0, dtype=np.int64)
        self.path: str | None = None
        self.generation = 0
        self.count = 0
        self.recent = RecentLevels()
        self.known = self.recent.known

    def next_level(self) -> None:
        self.recent.next_level()

    def add_new(self, keys: Sequence[int]) -> list[int]:
        found = _fresh_positions(self.np, keys, self.insert, self.recent)
        self.count += len(found)
        return found

    def insert(self, arr: np.ndarray) -> np.ndarray:
        """Add the distinct int64 keys; a mask of those that were not there before."""
        np = self.np
        fresh = np.zeros(len(arr), dtype=bool)
        for start in range(0, len(arr), self.limit):  # slices the table has room for, after a spill if need be
            part = arr[start:start + self.limit]
            if len(self.table) + len(part) > self.limit:
                self._spill()
            if len(self.disk):
                candidates = np.flatnonzero(~self._on_disk(part))
                fresh[start + candidates] = self.table.insert(part[candidates])
            else:
                fresh[start:start + len(part)] = self.table.insert(part)
        return fresh

    def _on_disk(self, keys: np.ndarray) -> np.ndarray:
        np = self.np
        disk = self.disk
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        pos = np.searchsorted(disk, sk)
        np.minimum(pos, len(disk) - 1, out=pos)
        found = np.zeros(len(keys), dtype=bool)
        found[order] = disk[pos] == sk
        return found

    def _spill(self) -> None:
        """Merge the table's keys into the sorted file; the table starts empty again."""
        np = self.np
        new = np.sort(self.table.keys())
        old = self.disk
        self.generation += 1
        path = os.path.join(self.folder, f"fingerprints-{self.generation}.i64")
        total = len(old) + len(new)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.int64, shape=(total,))
        at = np.searchsorted(old, new) if len(old) else np.zeros(len(new), dtype=np.int64)
        out[at + np.arange(len(new))] = new
        step = 1 << 22
        for a in range(0, len(old), step):
            idx = np.arange(a, min(a + step, len(old)))
            out[idx + np.searchsorted(at, idx, side="right")] = old[a:a + step]
        out.flush()
        del out
        self.disk = np.load(path, mmap_mode="r")
        if self.path is not None:
            os.unlink(self.path)
        self.path = path
        self.table.clear()

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return self.table.nbytes  # in memory; the file holds 8 bytes per spilled state besides

    @property
    def disk_bytes(self) -> int:
        return int(len(self.disk) * 8)

    def close(self) -> None:
        import shutil

        self.disk = self.np.zeros(0, dtype=self.np.int64)
        self.table.close()
        shutil.rmtree(self.folder, ignore_errors=True)
