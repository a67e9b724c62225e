"""What breadth-first search keeps besides its fingerprints, in memory or spilled to disk.

- `Frontier`: the states waiting at the next level, in discovery order. Spilling, it writes them
  to a file in pickled slices once enough have gathered (TLC's disk queue), and reads them back
  slice by slice when the level is expanded, so memory holds about one slice of states.
- `Pointers`: each state's parent number and the index of the step that reached it (8 + 4
  bytes), from which any state's path is replayed. Spilling, they go to a file in slices and a
  path is read back with a few seeks.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from array import array
from collections.abc import Iterator
from typing import Any

SLICE = 1 << 16  # states per pickled slice of a spilled frontier
POINTER_SLICE = 1 << 20  # pointers kept in memory before a spilling Pointers writes them out


class Frontier:
    """A queue of states, written once and then read once in order."""

    def __init__(self, folder: str | None = None) -> None:
        self.folder = folder  # None: in memory only
        self.states: list[Any] = []  # the tail not yet written; `append` is its append
        self.append = self.states.append
        self.written = 0
        self.file: Any = None

    def __len__(self) -> int:
        return self.written + len(self.states)

    def spill(self) -> None:
        """Write the states held in memory out, if spilling and there are a slice's worth."""
        if self.folder is None or len(self.states) < SLICE:
            return
        if self.file is None:
            self.file = tempfile.TemporaryFile(dir=self.folder)  # noqa: SIM115 - closed by slices()
        pickle.dump(self.states, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.written += len(self.states)
        del self.states[:]  # in place: `append` stays bound to it

    def slices(self) -> Iterator[list[Any]]:
        """The states, in order, a slice at a time (those on disk first)."""
        if self.file is not None:
            f, self.file = self.file, None
            with f:
                f.seek(0)
                left = self.written
                while left:
                    part = pickle.load(f)  # the file this search wrote
                    left -= len(part)
                    yield part
        if self.states:
            yield self.states


class Pointers:
    """Parent numbers and step indices of states 0, 1, 2..., appended in order (`parent.append`,
    `step.append`, one each per state)."""

    def __init__(self, folder: str | None = None) -> None:
        self.parent = array("q")
        self.step = array("i")
        self.written = 0
        self.files: tuple[Any, Any] | None = None
        if folder is not None:  # parents, 8 bytes each; steps, 4 bytes each
            self.files = (tempfile.TemporaryFile(dir=folder), tempfile.TemporaryFile(dir=folder))  # noqa: SIM115 - close()

    def __len__(self) -> int:
        return self.written + len(self.parent)

    @property
    def nbytes(self) -> int:
        """Memory the pointers held in memory take."""
        return len(self.parent) * self.parent.itemsize + len(self.step) * self.step.itemsize

    def spill(self) -> None:
        """Write the pointers held in memory out, if spilling and there are a slice's worth."""
        if self.files is None or len(self.parent) < POINTER_SLICE:
            return
        for f, a in zip(self.files, (self.parent, self.step)):
            f.seek(0, os.SEEK_END)
            f.write(a.tobytes())
            f.flush()
        self.written += len(self.parent)
        del self.parent[:]  # in place: the bound appends stay valid
        del self.step[:]

    def get(self, sid: int) -> tuple[int, int]:
        """State sid's parent number (-1: initial) and step index."""
        if sid >= self.written:
            return self.parent[sid - self.written], self.step[sid - self.written]
        assert self.files is not None
        got = []
        for f, a in zip(self.files, (self.parent, self.step)):
            f.seek(sid * a.itemsize)
            got.append(int.from_bytes(f.read(a.itemsize), sys.byteorder, signed=True))
        return got[0], got[1]

    def close(self) -> None:
        if self.files is not None:
            for f in self.files:
                f.close()
