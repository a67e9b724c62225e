"""Durable storage of a node's persistent variables.

Each record is one file in the node's data directory, replaced atomically: write a temporary
file, fsync it, rename it over the old one, fsync the directory. A crash at any point leaves
either the old or the new record, never a mix. Every file carries a magic number, its length
and a CRC-32 of its body, so a corrupt or truncated file is reported, never used silently.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any, Protocol

from pnyx.model.errors import PnyxError

from .wire import WireError, decode, encode

MAGIC = b"PNYXREC1"
_HEADER = struct.Struct(">8sII")  # magic, body length, crc32 of body
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class StorageError(PnyxError):
    """A data file that cannot be trusted (bad magic, truncated, checksum mismatch)."""


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


class FileStorage:
    """Records as checksummed files in one directory, written with fsync."""

    SUFFIX = ".rec"

    def __init__(self, directory: str | os.PathLike[str], fsync: bool = True) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.writes = 0
        self.torn_tails: list[str] = []  # logs whose incomplete last record was dropped on load
        self._log_fds: dict[str, int] = {}  # open for appending: a save costs a write and an fsync, no open/close

    def _replace(self, final: Path, data: bytes) -> None:
        """Write `data` to a temporary file, fsync it, rename it over `final`, fsync the directory."""
        tmp = final.with_name(final.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                k = os.write(fd, view)
                view = view[k:]
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
        body = encode(value)
        data = _HEADER.pack(MAGIC, len(body), zlib.crc32(body)) + body
        self._replace(self.path(name), data)

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
    # A log is a sequence of frames (length, crc32, body). Appending costs one write and one
    # fsync, however long the log; `reset_log` replaces it atomically, like a snapshot.
    def log_path(self, name: str) -> Path:
        _check_name(name)
        return self.dir / (name + ".log")

    @staticmethod
    def _frame(value: Any) -> bytes:
        body = encode(value)
        return _LOGREC.pack(len(body), zlib.crc32(body)) + body

    def append(self, name: str, value: Any) -> None:
        fd = self._log_fds.get(name)
        if fd is None:
            fd = self._log_fds[name] = os.open(self.log_path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, self._frame(value))
            if self.fsync:
                os.fsync(fd)
        except OSError:
            self._close_log(name)
            raise
        self.writes += 1

    def _close_log(self, name: str) -> None:
        fd = self._log_fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        for name in list(getattr(self, "_log_fds", ())):
            self._close_log(name)

    def reset_log(self, name: str, first: Any) -> None:
        """Replace the log by one holding only `first` (atomically, fsync'd)."""
        self._close_log(name)  # the open descriptor is the old file's
        self._replace(self.log_path(name), self._frame(first))

    def load_log(self, name: str) -> list[Any]:
        p = self.log_path(name)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            return []
        values, torn = parse_log(data, str(p))
        if torn:
            self.torn_tails.append(f"{p}: dropped an incomplete last record of {torn} bytes (a crash during its write)")
        return values


_LOGREC = struct.Struct(">II")  # body length, crc32 of body


def parse_log(data: bytes, where: str) -> tuple[list[Any], int]:
    """The values of a log and the size of an incomplete last record (0 if none).

    A record cut short at the end is what a crash during its write leaves: its step had not
    been fsync'd, so nothing it decided ever left the node, and it is dropped (the caller
    reports it). A complete record whose checksum fails is corruption: StorageError."""
    out = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _LOGREC.size:
            return out, len(data) - pos
        length, crc = _LOGREC.unpack_from(data, pos)
        body = data[pos + _LOGREC.size : pos + _LOGREC.size + length]
        if len(body) < length:
            return out, len(data) - pos
        if zlib.crc32(body) != crc:
            raise StorageError(f"{where}: checksum mismatch in the record at byte {pos}: the log is corrupt")
        try:
            out.append(decode(body))
        except WireError as exc:
            raise StorageError(f"{where}: undecodable record at byte {pos}: {exc}") from None
        pos += _LOGREC.size + length
    return out, 0


def parse_record(data: bytes, where: str) -> Any:
    """The value stored in a record file's bytes; StorageError if they are damaged."""
    if len(data) < _HEADER.size:
        raise StorageError(f"{where}: truncated data file ({len(data)} bytes, shorter than its header)")
    magic, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise StorageError(f"{where}: not a Pnyx data file (bad magic number)")
    body = data[_HEADER.size :]
    if len(body) != length:
        raise StorageError(f"{where}: truncated or padded data file (body is {len(body)} bytes, header says {length})")
    if zlib.crc32(body) != crc:
        raise StorageError(f"{where}: checksum mismatch: the data file is corrupt")
    try:
        return decode(body)
    except WireError as exc:
        raise StorageError(f"{where}: undecodable data file: {exc}") from None


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
