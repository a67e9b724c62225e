"""A compact, self-describing binary encoding of spec values, and length-prefixed frames.

Spec values are bools, ints and nested tuples (see model.types); client traffic adds
strings, bytes, None and payload-carrying ints (`Tagged`). Each value is one tag byte
followed by its body; ints are zigzag varints, so any size fits. No pickle: a frame from
the network can only ever decode to these plain types.

A frame is a 4-byte big-endian length followed by that many bytes of one encoded value.
"""

from __future__ import annotations

import struct
from typing import Any

from pnyx.model.errors import PnyxError

from .pseq import AppendSeq

MAX_FRAME = 64 * 2**20  # a frame larger than this is a protocol error, not a message

_FALSE, _TRUE, _INT, _TUPLE, _BYTES, _STR, _NONE, _TAGGED, _LIST = range(9)


class WireError(PnyxError):
    """Bytes that are not a well-formed encoded value or frame."""


class Tagged(int):
    """An int that carries an opaque payload through compiled handlers.

    Handlers see a plain int (a write id, a transaction value): they compare, store and send
    it, and the payload (a client's key and data) rides along untouched. Equality and hashing
    are the int's, so a spec's logic is exactly what the checker explored with small ints.
    """

    payload: Any

    def __new__(cls, value: int, payload: Any) -> Tagged:
        obj = super().__new__(cls, value)
        obj.payload = payload
        return obj

    def __repr__(self) -> str:
        return f"Tagged({int(self)}, {self.payload!r})"

    def __reduce__(self) -> tuple:  # copy/deepcopy keep the payload
        return (Tagged, (int(self), self.payload))


def is_payload(v: object, depth: int = 0) -> bool:
    """Whether v can be an opaque value at run time: encodable here and hashable (sets hold it)."""
    if v is None or isinstance(v, (bool, int, str, bytes)):
        return True
    return isinstance(v, tuple) and depth < 200 and all(is_payload(x, depth + 1) for x in v)


def payload_of(v: object) -> Any:
    """The payload a value carries, or None for a plain value."""
    return v.payload if isinstance(v, Tagged) else None


def _varint(out: bytearray, n: int) -> None:
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def _encode(out: bytearray, v: Any) -> None:
    t = type(v)  # the common exact types first, by identity (encoding is on every message's path)
    if t is int:
        if 0 <= v < 64:
            out.append(_INT)
            out.append(v << 1)
        else:
            out.append(_INT)
            _varint(out, _zig(v))
        return
    if t is tuple:
        out.append(_TUPLE)
        _varint(out, len(v))
        for x in v:
            _encode(out, x)
        return
    if v is True:
        out.append(_TRUE)
    elif v is False:
        out.append(_FALSE)
    elif v is None:
        out.append(_NONE)
    elif isinstance(v, Tagged):
        out.append(_TAGGED)
        _varint(out, _zig(int(v)))
        _encode(out, v.payload)
    elif isinstance(v, int):
        out.append(_INT)
        _varint(out, _zig(v))
    elif isinstance(v, tuple):
        out.append(_TUPLE)
        _varint(out, len(v))
        for x in v:
            _encode(out, x)
    elif isinstance(v, list):
        out.append(_LIST)
        _varint(out, len(v))
        for x in v:
            _encode(out, x)
    elif isinstance(v, (bytes, bytearray)):
        out.append(_BYTES)
        _varint(out, len(v))
        out += v
    elif isinstance(v, str):
        b = v.encode()
        out.append(_STR)
        _varint(out, len(b))
        out += b
    elif isinstance(v, AppendSeq):  # a runtime sequence (impl/pseq.py) goes as the tuple it stands for
        out.append(_TUPLE)
        _varint(out, len(v))
        for x in v:
            _encode(out, x)
    else:
        raise TypeError(f"cannot encode a {type(v).__name__} on the wire: {v!r}")


def _zig(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzig(z: int) -> int:
    return z // 2 if z % 2 == 0 else -(z + 1) // 2


def encode(v: Any) -> bytes:
    """The bytes of one value."""
    out = bytearray()
    _encode(out, v)
    return bytes(out)


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at data[pos:] and the position after it."""
    n = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated value: the data ends inside it")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
        if shift > 7 * 4096:
            raise WireError("integer too long")


def _value_at(data: bytes, pos: int, depth: int = 0) -> tuple[Any, int]:
    """The value encoded at data[pos:] and the position after it (one function, no per-byte calls:
    decoding is on every message's path)."""
    if depth > 200:
        raise WireError("value nested too deeply")
    if pos >= len(data):
        raise WireError("truncated value: the data ends inside it")
    tag = data[pos]
    pos += 1
    if tag == _INT or tag == _TAGGED:
        if pos < len(data) and data[pos] < 0x80:
            z = data[pos]
            pos += 1
        else:
            z, pos = _varint_at(data, pos)
        n = z >> 1 if not z & 1 else -((z + 1) >> 1)
        if tag == _INT:
            return n, pos
        payload, pos = _value_at(data, pos, depth + 1)
        return Tagged(n, payload), pos
    if tag == _TUPLE or tag == _LIST:
        k, pos = _varint_at(data, pos)
        if k > len(data) - pos:
            raise WireError(f"a sequence of {k} items cannot fit in the remaining data")
        items = []
        for _ in range(k):
            x, pos = _value_at(data, pos, depth + 1)
            items.append(x)
        return (tuple(items) if tag == _TUPLE else items), pos
    if tag == _TRUE:
        return True, pos
    if tag == _FALSE:
        return False, pos
    if tag == _NONE:
        return None, pos
    if tag == _BYTES or tag == _STR:
        k, pos = _varint_at(data, pos)
        if pos + k > len(data):
            raise WireError("truncated value: the data ends inside a string")
        b = bytes(data[pos : pos + k])
        if tag == _BYTES:
            return b, pos + k
        try:
            return b.decode(), pos + k
        except UnicodeDecodeError as exc:
            raise WireError(f"invalid UTF-8 in a string: {exc}") from None
    raise WireError(f"unknown value tag {tag}")


def decode(data: bytes) -> Any:
    """The value encoded in `data`; WireError unless `data` is exactly one well-formed value."""
    v, pos = _value_at(data, 0)
    if pos != len(data):
        raise WireError(f"{len(data) - pos} unexpected bytes after the value")
    return v


def frame(v: Any) -> bytes:
    """A length-prefixed frame holding one value."""
    body = encode(v)
    return struct.pack(">I", len(body)) + body


def frame_length(header: bytes) -> int:
    """The body length announced by a 4-byte frame header."""
    (n,) = struct.unpack(">I", header)
    if n > MAX_FRAME:
        raise WireError(f"frame of {n} bytes exceeds the {MAX_FRAME}-byte limit")
    return n


def split_frames(buf: bytearray) -> list[Any]:
    """Decode and remove every complete frame at the start of `buf` (a stream reader's buffer)."""
    out = []
    while len(buf) >= 4:
        n = frame_length(bytes(buf[:4]))
        if len(buf) < 4 + n:
            break
        out.append(decode(bytes(buf[4 : 4 + n])))
        del buf[: 4 + n]
    return out
