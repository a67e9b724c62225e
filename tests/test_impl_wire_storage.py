"""Wire encoding, frames, checksummed storage, configuration: the node's I/O building blocks."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.impl.config import ConfigError, load_config, parse_config, to_toml
from pnyx.impl.storage import FileStorage, MemoryStorage, StorageError
from pnyx.impl.wire import Tagged, WireError, decode, encode, frame, split_frames

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=20) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4).map(tuple) | st.lists(inner, max_size=3),
    max_leaves=20,
)


@given(values)
def test_every_value_round_trips(v: object) -> None:
    assert decode(encode(v)) == v


def test_bools_stay_bools_and_big_ints_fit() -> None:
    out = decode(encode((True, 1, False, 0, -(2**80), 2**80)))
    assert out == (True, 1, False, 0, -(2**80), 2**80)
    assert [type(x) for x in out[:4]] == [bool, int, bool, int]


def test_tagged_int_keeps_its_payload_and_compares_as_int() -> None:
    t = decode(encode(Tagged(7, ("key", b"data"))))
    assert isinstance(t, Tagged) and t == 7 and t.payload == ("key", b"data")
    assert t > 6 and hash(t) == hash(7) and sorted([Tagged(9, None), t, 8]) == [7, 8, 9]


@pytest.mark.parametrize("data", [b"", b"\x02", b"\x03\x05\x00", b"\x63", b"\x05\x09ab", b"\x00\x00"])
def test_malformed_bytes_raise_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        decode(data)


def test_frames_split_only_when_complete() -> None:
    buf = bytearray(frame((1, "a")) + frame(b"xyz"))
    tail = frame(5)
    buf += tail[:3]
    assert split_frames(buf) == [(1, "a"), b"xyz"]
    assert bytes(buf) == tail[:3]
    buf += tail[3:]
    assert split_frames(buf) == [5] and not buf


def test_oversized_frame_is_refused() -> None:
    with pytest.raises(WireError, match="exceeds"):
        split_frames(bytearray(struct.pack(">I", 2**31) + b"x"))


def test_file_storage_round_trip_and_atomic_replace(tmp_path) -> None:
    s = FileStorage(tmp_path / "d")
    assert s.load("node") is None
    s.save("node", ("a", (1, 2), Tagged(3, b"p")))
    s.save("node", ("b", (4,), 5))
    assert s.load("node") == ("b", (4,), 5)
    assert s.names() == ["node"]
    assert not list((tmp_path / "d").glob("*.tmp"))


def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[:-3]
    elif how == "flip":
        data[-2] ^= 0x40
    elif how == "magic":
        data[0:4] = b"JUNK"
    elif how == "short":
        data = data[:5]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("how", "message"), [("truncate", "truncated"), ("flip", "checksum"),
                                               ("magic", "magic"), ("short", "truncated")])
def test_damaged_files_are_reported_not_used(tmp_path, how: str, message: str) -> None:
    s = FileStorage(tmp_path)
    s.save("node", ("state", tuple(range(50))))
    _damage(s.path("node"), how)
    with pytest.raises(StorageError, match=message):
        s.load("node")


def test_record_names_cannot_escape_the_directory(tmp_path) -> None:
    s = FileStorage(tmp_path)
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            s.save(bad, 1)
    with pytest.raises(ValueError):
        MemoryStorage().save("../x", 1)


def test_fsync_happens_before_rename(tmp_path, monkeypatch) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    real_datasync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append("datasync"), real_datasync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("rename"), real_replace(a, b))[1])
    s = FileStorage(tmp_path)
    s.save("node", 1)
    # file, rename, directory; then the metadata log is created and the record's name appended to it
    assert calls == ["fsync", "rename", "fsync"] * 2 + ["datasync"]
    calls.clear()
    s.save("node", 2)
    assert calls == ["fsync", "rename", "fsync"]  # the metadata already lists it


def test_config_defaults_overrides_and_round_trip(tmp_path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('fsync = false\n[timers.default]\nperiod = 0.3\n[timers.election]\nperiod = 1.5\nreset_on = ["Ping"]\n'
                 'watch = "leader"\n')
    cfg = load_config(p)
    assert not cfg.fsync and cfg.timer("anything").period == 0.3
    assert cfg.timer("election").period == 1.5 and cfg.timer("election").reset_on == ("Ping",)
    assert cfg.timer("election").watch == "leader" and cfg.timer("anything").watch is None
    assert parse_config({"timers": {"followerTimeout": {"watch": ""}}}).timer("followerTimeout").watch is None
    assert cfg.timer("gossip").period == 0.05  # built-in default kept
    p.write_text(to_toml(cfg))
    again = load_config(p)
    assert again.timers == cfg.timers and again.default_timer == cfg.default_timer and again.fsync is False


@pytest.mark.parametrize(("raw", "message"), [
    ({"fsync": "yes"}, "fsync"), ({"timers": {"x": {"period": -1}}}, "period"), ({"colour": 1}, "unknown setting"),
    ({"timers": {"x": {"jitter": 1.5}}}, "jitter"), ({"timers": {"x": {"reset_on": "Ping"}}}, "reset_on"),
    ({"timers": {"x": {"watch": 3}}}, "watch"),
])
def test_bad_config_values_are_named(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_missing_or_invalid_config_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such"):
        load_config(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("fsync = = true")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
