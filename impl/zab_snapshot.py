"""Snapshots of the ZAB service's applied state: its znode tree and table of applied writes.

A snapshot is the replica after applying log positions 0..pos - 1. It is what lets the spec
compact its log (spec/zab.pnyx: a compacted transaction lives only in the state it built) and
what a SNAP ships to a follower behind the leader's snapshot. Taking one does not stop the
node: the tree is frozen copy-on-write (impl/zab_tree.py's `Frozen`), its records are read in
chunks between steps, and the file is encoded, written and fsync'd in a thread.

Files, in the node's data directory: `tree-POS.snap`, each a header (magic, body length,
CRC-32 of the body) and the body: `(pos, writes, chunks)` then the records, CHUNK at a time.
Written to a temporary file, fsync'd, renamed into place, the directory fsync'd; the newest
two are kept. The body is encoded with `marshal` (C speed: ~0.5 CPU-us per znode, against
~2.5 for the wire encoding, which dominated a snapshot's cost), a chunk per call so that the
thread writing it never holds the GIL for long (one call for a million records stalled the
event loop 2.3 s on a loaded machine; in chunks ~0.4 s, as with the wire encoding). The file
is this node's own, written and read by the same program and checked by its CRC before it is
decoded, so marshal's lack of defence against hostile bytes is not at stake (frames from the
network keep the wire encoding). A replica holding a value marshal refuses (a subclass of int
or tuple) is written wire-encoded, `(pos, records, writes)`, under the older magic number,
which is still read.
"""

from __future__ import annotations

import asyncio
import io
import marshal
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from .storage import StorageError
from .wire import WireError, decode, encode
from .zab_tree import AppliedWrites, Record, Replica, Tree

MAGIC = b"PNYXTRE2"  # body: marshal
WIRE_MAGIC = b"PNYXTRE1"  # body: the wire encoding
_HEADER = struct.Struct(">8sQI")  # magic, body length, crc32 of body
_NAME = re.compile(r"^tree-(\d+)\.snap$")
CHUNK = 5_000  # records read per turn of the event loop, and per SNAP frame
KEEP = 2  # snapshot files kept


def snapshot_interval(floor: int, share: float, znodes: int) -> float:
    """Transactions to apply between two tree snapshots of a tree of `znodes`: max(floor, share x
    znodes), so a snapshot's O(znodes) cost per write stays under 1/share of one znode's (the
    service scales it by a factor drawn in [1/2, 1) per snapshot, so servers do not snapshot
    together: 2/share at most)."""
    return max(floor, share * znodes)


def snapshot_files(directory: Path) -> list[tuple[int, Path]]:
    """The snapshot files in `directory`, oldest first, with their positions."""
    out = []
    for p in directory.glob("tree-*.snap"):
        m = _NAME.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def write_snapshot(directory: Path, pos: int, records: list[Record], writes: tuple, fsync: bool) -> Path:
    """Write the snapshot at `pos` durably, then remove all but the newest KEEP (blocking: run it in a thread)."""
    magic, parts = _encode_body(pos, records, writes)
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    final = directory / f"tree-{pos}.snap"
    tmp = final.with_name(final.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(_HEADER.pack(magic, sum(map(len, parts)), crc))
        for part in parts:
            f.write(part)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, final)
    if fsync:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    for _, old in snapshot_files(directory)[:-KEEP]:
        old.unlink(missing_ok=True)
    return final


def _encode_body(pos: int, records: list[Record], writes: tuple) -> tuple[bytes, list[bytes]]:
    """The magic number and the body's parts: marshalled, (pos, writes, number of chunks) then the
    records CHUNK at a time (each call holds the GIL a few ms; one call for a million records
    would hold it ~0.5 s, stalling the event loop while a thread writes the snapshot), or the
    wire encoding for a value marshal refuses."""
    try:
        chunks = [tuple(records[i:i + CHUNK]) for i in range(0, len(records), CHUNK)]
        return MAGIC, [marshal.dumps((pos, writes, len(chunks)))] + [marshal.dumps(c) for c in chunks]
    except ValueError:  # a subclass of a plain type (a payload-carrying int): the wire encoding keeps it
        return WIRE_MAGIC, [encode((pos, tuple(records), writes))]


def _decode_body(magic: bytes, body: bytes) -> tuple[int, list[Record], Any]:
    if magic == WIRE_MAGIC:
        pos, records, writes = decode(body)
        return pos, records, writes
    f = io.BytesIO(body)
    pos, writes, n = marshal.load(f)
    records: list[Record] = []
    for _ in range(n):
        records.extend(marshal.load(f))
    if f.tell() != len(body):
        raise ValueError(f"{len(body) - f.tell()} bytes past the last chunk")
    return pos, records, writes


def read_snapshot(path: Path) -> tuple[int, Replica]:
    """The position and replica a snapshot file holds; StorageError if it is damaged."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise StorageError(f"{path}: truncated snapshot ({len(data)} bytes, shorter than its header)")
    magic, length, crc = _HEADER.unpack_from(data)
    body = data[_HEADER.size:]
    if magic not in (MAGIC, WIRE_MAGIC):
        raise StorageError(f"{path}: not a Pnyx tree snapshot (bad magic number)")
    if len(body) != length or zlib.crc32(body) != crc:
        raise StorageError(f"{path}: truncated or corrupt snapshot (length or checksum mismatch)")
    try:
        pos, records, writes = _decode_body(magic, body)
        return pos, Replica(Tree.from_records(records), AppliedWrites.load(writes))
    except (WireError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise StorageError(f"{path}: undecodable snapshot: {exc}") from None


def load_newest(directory: Path) -> tuple[int, Replica] | None:
    """The newest snapshot in `directory` (position, replica), or None when there is none."""
    files = snapshot_files(directory)
    return read_snapshot(files[-1][1]) if files else None


async def take(directory: Path | None, replica: Replica, pos: int, fsync: bool) -> int:
    """Snapshot `replica`, which has applied positions 0..pos - 1, without stopping the event loop:
    freeze it, read its records CHUNK at a time between steps, write the file in a thread.
    Returns pos once the file is durable (at once, with no directory: a node kept in memory)."""
    frozen = replica.tree.freeze()
    writes = replica.writes.dump()
    try:
        records: list[Record] = []
        for start in range(0, len(frozen.paths), CHUNK):
            records += frozen.records(start, start + CHUNK)
            await asyncio.sleep(0)
    finally:
        frozen.close()
    if directory is not None:
        await asyncio.get_running_loop().run_in_executor(None, write_snapshot, directory, pos, records, writes, fsync)
    return pos


def frames(pos: int, replica: Replica) -> list[tuple]:
    """A replica as SNAP frames (each under the wire's frame limit): ("zab-tree", pos, k, n, records, writes)."""
    records = replica.tree.records()
    chunks = [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)] or [[]]
    writes = replica.writes.dump()
    return [("zab-tree", pos, k, len(chunks), tuple(c), writes if k == len(chunks) - 1 else ())
            for k, c in enumerate(chunks)]


class Incoming:
    """SNAP frames from one leader, gathered until the last one arrives."""

    def __init__(self) -> None:
        self.parts: dict[int, list[tuple]] = {}  # src -> frames so far
        self.ready: dict[int, tuple[int, Replica]] = {}  # src -> (pos, replica) complete

    def add(self, src: int, frame: Any) -> bool:
        """Take a frame; False if it is not a well-formed SNAP frame."""
        if not (isinstance(frame, tuple) and len(frame) == 6 and frame[0] == "zab-tree"
                and all(isinstance(x, int) for x in frame[1:4]) and 0 <= frame[2] < frame[3]):
            return False
        _, pos, k, n, records, writes = frame
        parts = self.parts.setdefault(src, [])
        if k == 0:
            parts.clear()
        parts.append(frame)
        if k == n - 1:
            recs = [r for f in parts for r in f[4]]
            self.ready[src] = (pos, Replica(Tree.from_records(recs), AppliedWrites.load(writes)))
            del self.parts[src]
        return True
