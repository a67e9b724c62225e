"""Durable storage of a node's persistent variables, and the verification that it is intact.

A node's data directory holds
- record files (`NAME.rec`, snapshots), each replaced atomically: write a temporary file, fsync
  it, rename it over the old one, fsync the directory; a crash leaves the old or the new record;
- append-only logs (`NAME.log`) beside them: a magic number, then frames that each carry their
  length, their index in the log and a CRC-32 covering the length, the index and the body, then
  a trailer byte. The file is preallocated with zeros (fsync'd before a frame is written into
  it), so a log always ends with an all-zero header: a log that ends without one was
  truncated; a frame cut short with zeros after it is the only trace a crash during an append
  can leave (a torn tail), and the only damage that is repaired (dropped and reported);
- `storage.meta`, the list of every record and log this node has created, written after the
  first save of each: a listed file that is missing is an error, never a fresh start. A marker
  outside the directory (`FileStorage(marker=...)`) says the directory itself once held state.

Every other damage (a flipped byte, a corrupted length field, truncation anywhere, a deleted
or emptied file, garbage appended, an older format) stops the node with a StorageError naming
the file and the byte offset.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pnyx.model.errors import PnyxError

from .wire import WireError, decode, encode

MAGIC = b"PNYXREC2"  # record files; PNYXREC1 (no checksum over the length) is refused
LOG_MAGIC = b"PNYXLOG2"  # log files; the first format had no magic at all
OLD_MAGICS = {b"PNYXREC1": "the first storage format (PNYXREC1)"}
META = "storage.meta"
META_KIND = "pnyx-storage"
FORMAT = 2
LOG_CHUNK = 64 * 1024  # logs grow by this many zero bytes at a time (one extra fsync per chunk)
TRAILER = 0xA5  # the last byte of every log frame: a frame that lacks it was not written to the end
_HEADER = struct.Struct(">8sII")  # magic, body length, crc32 of (length, body)
_LOGREC = struct.Struct(">III")  # body length, index in the log, crc32 of (length, index, body)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_META_KEY = ".meta"  # the metadata log's key among the open logs (no log name starts with a dot)
_TRAILER = bytes((TRAILER,))


class StorageError(PnyxError):
    """A data file that cannot be trusted (bad magic, truncated, checksum mismatch, missing)."""


class Storage(Protocol):
    """Where a node keeps what must survive a crash: snapshots, and append-only logs beside them."""

    def load(self, name: str) -> Any | None: ...

    def save(self, name: str, value: Any) -> None: ...

    def names(self) -> list[str]: ...

    def append(self, name: str, value: Any) -> None: ...

    def load_log(self, name: str) -> list[Any]: ...

    def reset_log(self, name: str, first: Any) -> None: ...


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name.startswith("."):
        raise ValueError(f"invalid record name {name!r}")


# ---- framing: record files ---------------------------------------------------------------
def record_bytes(value: Any) -> bytes:
    """A record file's bytes: magic, length, CRC-32 of (length, body), body."""
    body = encode(value)
    length = struct.pack(">I", len(body))
    return MAGIC + length + struct.pack(">I", zlib.crc32(body, zlib.crc32(length))) + body


def parse_record(data: bytes, where: str) -> Any:
    """The value stored in a record file's bytes; StorageError, naming the byte, if they are damaged."""
    if len(data) < _HEADER.size:
        raise StorageError(f"{where}: truncated at byte {len(data)} (shorter than its {_HEADER.size}-byte header)")
    magic, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise StorageError(f"{where}: {_bad_magic(magic, MAGIC)}")
    body = data[_HEADER.size :]
    if len(body) != length:
        what = "truncated" if len(body) < length else "has extra bytes appended"
        raise StorageError(f"{where}: {what}: the file ends at byte {len(data)}, its header says "
                           f"{_HEADER.size + length} (or the length field at byte 8 is damaged)")
    if zlib.crc32(body, zlib.crc32(data[8:12])) != crc:
        raise StorageError(f"{where}: checksum mismatch over bytes 8..{len(data)}: the file is corrupt")
    try:
        return decode(body)
    except WireError as exc:
        raise StorageError(f"{where}: undecodable body at byte {_HEADER.size}: {exc}") from None


def _bad_magic(magic: bytes, want: bytes) -> str:
    old = OLD_MAGICS.get(magic)
    if old is not None:
        return (f"written in {old}, which this version does not read (it expects {want.decode()}); "
                f"move the data aside, or rebuild the node")
    if not any(magic):
        return f"zero-filled at byte 0 (no {want.decode()} magic number)"
    return f"not a Pnyx data file of this format (bad magic number at byte 0; expected {want.decode()})"


# ---- framing: logs -----------------------------------------------------------------------
def log_frame(index: int, value: Any) -> bytes:
    """One log frame: length, index, CRC-32 of (length, index, body), body, trailer byte."""
    body = encode(value)
    head = struct.pack(">II", len(body), index)
    return head + struct.pack(">I", zlib.crc32(body, zlib.crc32(head))) + body + _TRAILER


@dataclass
class LogScan:
    """What a log file holds: its values, where the next frame goes, and a torn tail if there was one."""

    values: list[Any]
    end: int  # byte offset of the end marker (where the next frame is written)
    offsets: list[int]  # the byte offset of each value's frame
    torn: tuple[int, int] | None = None  # (offset, bytes) of an incomplete last frame, dropped


def _frame_at(data: bytes, pos: int, index: int, length: int | None = None) -> tuple[int, bytes] | None:
    """(end, body) of a complete, intact frame with this index at `pos`; None if there is none.
    With `length`, the frame as it would be had its length field said that."""
    if pos + _LOGREC.size + 1 > len(data):
        return None
    stored, idx, crc = _LOGREC.unpack_from(data, pos)
    length = stored if length is None else length
    end = pos + _LOGREC.size + length + 1
    if idx != index or end > len(data) or data[end - 1] != TRAILER:
        return None
    body = data[pos + _LOGREC.size : end - 1]
    head = data[pos : pos + 8] if length == stored else struct.pack(">II", length, idx)
    if zlib.crc32(body, zlib.crc32(head)) != crc:
        return None
    return end, body


def _valid_frame_after(data: bytes, start: int, stop: int, index: int) -> int | None:
    """The offset of an intact frame with index `index` or `index + 1` in data[start:stop], if any:
    proof that the frame before it was not the log's last (so not a torn tail)."""
    found = None
    for idx in (index, index + 1):
        key = struct.pack(">I", idx)
        at = data.find(key, start + 4, stop + 8)  # the index field is 4 bytes into a frame
        while at != -1 and (found is None or at - 4 < found):
            if _frame_at(data, at - 4, idx) is not None:
                found = at - 4
                break
            at = data.find(key, at + 1, stop + 8)
    return found


def scan_log(data: bytes, where: str) -> LogScan:
    """Verify a log file's bytes and return its values; StorageError naming the byte at any damage
    except a torn tail (an incomplete last frame followed only by zeros), which is dropped."""
    if len(data) < len(LOG_MAGIC):
        raise StorageError(f"{where}: truncated at byte {len(data)} (an empty log: not even its magic number)")
    if data[: len(LOG_MAGIC)] != LOG_MAGIC:
        raise StorageError(f"{where}: {_bad_magic(data[: len(LOG_MAGIC)], LOG_MAGIC)}")
    values: list[Any] = []
    offsets: list[int] = []
    pos = len(LOG_MAGIC)
    while True:
        if pos + _LOGREC.size > len(data):
            raise StorageError(f"{where}: truncated at byte {len(data)}: the log ends after {len(values)} intact records "
                               f"(at byte {pos}) without its end marker")
        head = data[pos : pos + _LOGREC.size]
        if not any(head):
            nonzero = _first_nonzero(data, pos)
            if nonzero is not None:
                raise StorageError(f"{where}: non-zero byte at byte {nonzero}, after the end of the log at byte {pos} "
                                   f"(garbage appended, or a damaged record header at byte {pos})")
            return LogScan(values, pos, offsets)
        found = _frame_at(data, pos, len(values))
        if found is not None:
            end, body = found
            try:
                values.append(decode(body))
            except WireError as exc:
                raise StorageError(f"{where}: undecodable record {len(values)} at byte {pos}: {exc}") from None
            offsets.append(pos)
            pos = end
            continue
        torn = _torn_tail(data, pos, len(values))
        if torn is not None:
            return LogScan(values, pos, offsets, (pos, torn))
        raise StorageError(f"{where}: {_frame_damage(data, pos, len(values))}")


def _first_nonzero(data: bytes, start: int) -> int | None:
    tail = data[start:]
    stripped = tail.lstrip(b"\0")
    return None if not stripped else start + len(tail) - len(stripped)


def _torn_tail(data: bytes, pos: int, index: int) -> int | None:
    """The size of the frame at `pos` if it is a torn tail: written up to some byte (its trailer
    not among them) and only zeros after, with no intact frame anywhere after it; else None."""
    last = len(data.rstrip(b"\0"))  # one past the last non-zero byte
    length, idx, _ = _LOGREC.unpack_from(data, pos)
    end = pos + _LOGREC.size + length + 1
    if idx == index and end + _LOGREC.size <= len(data):
        complete_header = True  # the header is plausible: the tear must be before the trailer
        if last >= end:
            return None
        shorter = last - pos - _LOGREC.size - 1
        if shorter >= 0 and _frame_at(data, pos, index, shorter) is not None:
            return None  # intact up to its last non-zero byte: its length field is damaged, it was not torn
    else:
        complete_header = False  # the tear is inside the header (its index or length not all written)
        if last > pos + _LOGREC.size:
            return None
    if complete_header and _valid_frame_after(data, pos + 1, last, index) is not None:
        return None
    return last - pos


def _frame_damage(data: bytes, pos: int, index: int) -> str:
    """Why the frame at `pos` is not intact, in words, with its byte offset."""
    length, idx, _ = _LOGREC.unpack_from(data, pos)
    end = pos + _LOGREC.size + length + 1
    later = _valid_frame_after(data, pos + 1, len(data), index)
    after = f"; an intact record follows at byte {later}" if later is not None else ""
    if idx != index:
        return (f"record {index} at byte {pos} carries index {idx}: a record is missing or its header is damaged"
                f"{after}")
    if end > len(data):
        return (f"record {index} at byte {pos} claims {length} bytes, past the end of the file at byte {len(data)}: "
                f"truncated, or its length field at byte {pos} is damaged{after}")
    if data[end - 1] != TRAILER:
        return (f"record {index} at byte {pos}: no end mark at byte {end - 1} (its length field at byte {pos} is damaged, "
                f"or the record was overwritten){after}")
    return f"checksum mismatch in record {index} at byte {pos}: the log is corrupt{after}"


# ---- metadata ----------------------------------------------------------------------------
# storage.meta is a log too (same framing and checks): a header, then one entry per file the
# node created, ("record", name) or ("log", name), appended after the file was first written.
# Adding a name costs one append, however many names there are.
def meta_header() -> tuple:
    return (META_KIND, FORMAT)


def parse_meta(values: list[Any], where: str) -> tuple[set[str], set[str]]:
    """The record and log names a metadata log lists; StorageError if it is not one."""
    if not values or not (isinstance(values[0], tuple) and len(values[0]) == 2 and values[0][0] == META_KIND):
        raise StorageError(f"{where}: not a storage metadata file")
    if values[0][1] != FORMAT:
        raise StorageError(f"{where}: storage format {values[0][1]}, this version reads format {FORMAT}")
    records: set[str] = set()
    logs: set[str] = set()
    for entry in values[1:]:
        if not (isinstance(entry, tuple) and len(entry) == 2 and entry[0] in ("record", "log") and isinstance(entry[1], str)):
            raise StorageError(f"{where}: malformed entry {entry!r}")
        (records if entry[0] == "record" else logs).add(entry[1])
    return records, logs


@dataclass
class _OpenLog:
    fd: int
    end: int  # where the next frame goes
    index: int  # the next frame's index
    size: int  # the file's size (preallocated)


class FileStorage:
    """Records and logs as checksummed files in one directory, written with fsync, verified on load.

    `marker`: a file outside the directory, written once this node has state; with it present,
    a missing directory (or metadata file) is an error, not a fresh start."""

    SUFFIX = ".rec"
    LOG_SUFFIX = ".log"

    def __init__(self, directory: str | os.PathLike[str], fsync: bool = True, marker: Path | None = None) -> None:
        self.dir = Path(directory)
        self.fsync = fsync
        self.marker = marker
        self.writes = 0
        self.torn_tails: list[str] = []  # what was repaired on load: incomplete last records dropped
        self._logs: dict[str, _OpenLog] = {}  # by log name (_META_KEY: the metadata), open for appending
        self._records, self._log_names = self._verify_present()
        self.dir.mkdir(parents=True, exist_ok=True)

    # ---- verification of what must exist ----------------------------------------------------
    def _verify_present(self) -> tuple[set[str], set[str]]:
        """The names the metadata lists, after checking each listed file exists; StorageError if
        the metadata, the directory or a listed file is missing, or files exist the metadata lacks."""
        meta = self.dir / META
        if not meta.exists():
            present = [p.name for p in sorted(self.dir.glob("*")) if p.suffix in (self.SUFFIX, self.LOG_SUFFIX)] \
                if self.dir.is_dir() else []
            for name in present:  # a directory of an older format has no metadata: say that first
                with open(self.dir / name, "rb") as f:
                    magic = f.read(len(MAGIC))
                if magic in OLD_MAGICS:
                    raise StorageError(f"{self.dir / name}: {_bad_magic(magic, MAGIC)}")
            if present:
                raise StorageError(f"{meta}: missing, but the directory holds data files ({', '.join(present)}): "
                                   f"they cannot be checked for completeness")
            if self.marker is not None and self.marker.exists():
                raise StorageError(f"{meta}: missing, but {self.marker} says this node has state: "
                                   f"its data directory was deleted or emptied")
            return set(), set()
        records, logs = parse_meta(self._load_log_at(_META_KEY, meta), str(meta))
        for name, suffix in [(n, self.SUFFIX) for n in sorted(records)] + [(n, self.LOG_SUFFIX) for n in sorted(logs)]:
            p = self.dir / (name + suffix)
            if not p.exists():
                raise StorageError(f"{p}: missing, but {META} lists it: this node has state and refuses to start "
                                   f"without it (the file was deleted)")
        return records, logs

    def _note(self, kind: str, name: str) -> None:
        """Add a name to the metadata, durably, after its file was first written."""
        names = self._records if kind == "record" else self._log_names
        if name in names:
            return
        if _META_KEY not in self._logs:
            meta = self.dir / META
            if meta.exists():
                self._load_log_at(_META_KEY, meta)
            else:
                self._create_log(_META_KEY, meta, meta_header())
        self._append_to(_META_KEY, (kind, name))
        names.add(name)
        if self.marker is not None and not self.marker.exists():
            self.marker.write_text("this node has state in " + str(self.dir) + "\n")

    # ---- files ----------------------------------------------------------------------------
    def _replace(self, final: Path, data: bytes, size: int = 0) -> None:
        """Write `data` (zero-padded to `size`) to a temporary file, fsync it, rename it over
        `final`, fsync the directory."""
        tmp = final.with_name(final.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data, 0)
            if size > len(data):
                os.ftruncate(fd, size)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        if self.fsync:
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self.writes += 1

    def path(self, name: str) -> Path:
        _check_name(name)
        return self.dir / (name + self.SUFFIX)

    def save(self, name: str, value: Any) -> None:
        self._replace(self.path(name), record_bytes(value))
        self._note("record", name)

    def load(self, name: str) -> Any | None:
        p = self.path(name)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            return None
        return parse_record(data, str(p))

    def names(self) -> list[str]:
        return sorted(p.name[: -len(self.SUFFIX)] for p in self.dir.glob("*" + self.SUFFIX))

    # ---- append-only logs -------------------------------------------------------------
    # Appending costs one write and one fdatasync, however long the log (the size does not
    # change: the file was extended, and fsync'd, before); `reset_log` replaces the log
    # atomically, like a snapshot.
    def log_path(self, name: str) -> Path:
        _check_name(name)
        return self.dir / (name + self.LOG_SUFFIX)

    def append(self, name: str, value: Any) -> None:
        if name not in self._logs:
            p = self.log_path(name)
            if not p.exists():
                self.reset_log(name, value)
                return
            self._load_log_at(name, p)
        self._append_to(name, value)

    def reset_log(self, name: str, first: Any) -> None:
        """Replace the log by one holding only `first` (atomically, fsync'd)."""
        self._create_log(name, self.log_path(name), first)
        self._note("log", name)

    def load_log(self, name: str) -> list[Any]:
        """The log's values, verified; a torn tail is dropped (zeroed on disk) and reported in `torn_tails`."""
        p = self.log_path(name)
        return self._load_log_at(name, p) if p.exists() else []

    def _append_to(self, key: str, value: Any) -> None:
        """Append to a log that is open (created or loaded before)."""
        lg = self._logs[key]
        data = log_frame(lg.index, value)
        try:
            need = lg.end + len(data) + _LOGREC.size  # room for the frame and the end marker after it
            if need > lg.size:
                size = -(-need // LOG_CHUNK) * LOG_CHUNK
                os.ftruncate(lg.fd, size)
                if self.fsync:
                    os.fsync(lg.fd)  # the new size is durable before a frame is written into it
                lg.size = size
            _write_all(lg.fd, data, lg.end)
            if self.fsync:
                _datasync(lg.fd)
        except OSError:
            self._close_log(key)
            raise
        lg.end += len(data)
        lg.index += 1
        self.writes += 1

    def _create_log(self, key: str, p: Path, first: Any) -> None:
        self._close_log(key)  # an open descriptor would be the old file's
        data = LOG_MAGIC + log_frame(0, first)
        size = -(-(len(data) + _LOGREC.size) // LOG_CHUNK) * LOG_CHUNK
        self._replace(p, data, size)
        self._logs[key] = _OpenLog(os.open(p, os.O_RDWR), len(data), 1, size)

    def _load_log_at(self, key: str, p: Path) -> list[Any]:
        self._close_log(key)
        data = p.read_bytes()
        scan = scan_log(data, str(p))
        fd = os.open(p, os.O_RDWR)
        if scan.torn is not None:
            at, size = scan.torn
            _write_all(fd, bytes(size), at)  # zero it, so the next frame written there is followed by zeros
            if self.fsync:
                os.fsync(fd)
            self.torn_tails.append(f"{p}: dropped an incomplete last record ({size} bytes at byte {at}, "
                                   f"after {len(scan.values)} intact records): a crash during its write")
        self._logs[key] = _OpenLog(fd, scan.end, len(scan.values), len(data))
        return scan.values

    def _close_log(self, key: str) -> None:
        lg = self._logs.pop(key, None)
        if lg is not None:
            os.close(lg.fd)

    def __del__(self) -> None:
        for key in list(getattr(self, "_logs", ())):
            self._close_log(key)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    k = os.pwrite(fd, data, offset)
    if k == len(data):
        return
    view = memoryview(data)[k:]
    offset += k
    while view:
        k = os.pwrite(fd, view, offset)
        view = view[k:]
        offset += k


def _datasync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


class MemoryStorage:
    """Storage for the simulation: what was saved survives a simulated crash, nothing else does."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.logs: dict[str, list[bytes]] = {}
        self.writes = 0

    def append(self, name: str, value: Any) -> None:
        _check_name(name)
        self.logs.setdefault(name, []).append(encode(value))
        self.writes += 1

    def reset_log(self, name: str, first: Any) -> None:
        _check_name(name)
        self.logs[name] = [encode(first)]
        self.writes += 1

    def load_log(self, name: str) -> list[Any]:
        return [decode(x) for x in self.logs.get(name, [])]

    def save(self, name: str, value: Any) -> None:
        _check_name(name)
        self.records[name] = encode(value)  # encoding both checks and snapshots the value
        self.writes += 1

    def load(self, name: str) -> Any | None:
        data = self.records.get(name)
        return None if data is None else decode(data)

    def names(self) -> list[str]:
        return sorted(self.records)
