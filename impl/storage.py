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

from model.errors import PnyxError

from .wire import WireError, decode, encode

MAGIC = b"PNYXREC1"
_HEADER = struct.Struct(">8sII")  # magic, body length, crc32 of body
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class StorageError(PnyxError):
    """A data file that cannot be trusted (bad magic, truncated, checksum mismatch)."""


class Storage(Protocol):
    """Where a node keeps what must survive a crash."""

    def load(self, name: str) -> Any | None: ...

    def save(self, name: str, value: Any) -> None: ...

    def names(self) -> list[str]: ...


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

    def path(self, name: str) -> Path:
        _check_name(name)
        return self.dir / (name + self.SUFFIX)

    def save(self, name: str, value: Any) -> None:
        body = encode(value)
        data = _HEADER.pack(MAGIC, len(body), zlib.crc32(body)) + body
        final = self.path(name)
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

    def load(self, name: str) -> Any | None:
        p = self.path(name)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            return None
        return parse_record(data, str(p))

    def names(self) -> list[str]:
        return sorted(p.name[: -len(self.SUFFIX)] for p in self.dir.glob("*" + self.SUFFIX))


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
        self.writes = 0

    def save(self, name: str, value: Any) -> None:
        _check_name(name)
        self.records[name] = encode(value)  # encoding both checks and snapshots the value
        self.writes += 1

    def load(self, name: str) -> Any | None:
        data = self.records.get(name)
        return None if data is None else decode(data)

    def names(self) -> list[str]:
        return sorted(self.records)
