"""Snapshots of the ZAB service's replica (impl/zab_snapshot.py, impl/zab_tree.py's Frozen)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pnyx.impl.storage import StorageError
from pnyx.impl.wire import Tagged
from pnyx.impl.zab_snapshot import (
    MAGIC,
    WIRE_MAGIC,
    Incoming,
    frames,
    load_newest,
    read_snapshot,
    snapshot_files,
    snapshot_interval,
    take,
    write_snapshot,
)
from pnyx.impl.zab_tree import Replica


def replica_with(n: int) -> Replica:
    r = Replica()
    for k in range(n):
        r.apply(((0, 1, k + 1, 0), ("create", f"/k{k}", b"v")), (1, k + 1))
    return r


def test_a_frozen_tree_keeps_its_state_while_the_tree_changes() -> None:
    r = replica_with(5)
    before = sorted(r.tree.records())
    frozen = r.tree.freeze()
    r.apply(((0, 1, 10, 0), ("set", "/k1", b"new", -1)), (1, 10))
    r.apply(((0, 1, 11, 0), ("delete", "/k2", -1)), (1, 11))
    r.apply(((0, 1, 12, 0), ("create", "/k9", b"late")), (1, 12))
    assert sorted(frozen.records(0, len(frozen.paths))) == before  # none of the three changes shows
    assert sorted(r.tree.records()) != before
    frozen.close()
    assert r.tree.frozen == []


def test_a_snapshot_file_round_trips_and_damage_is_reported(tmp_path: Path) -> None:
    r = replica_with(3)
    p = write_snapshot(tmp_path, 3, r.tree.records(), r.writes.dump(), fsync=False)
    pos, back = read_snapshot(p)
    assert pos == 3 and sorted(back.tree.records()) == sorted(r.tree.records())
    assert back.tree.nodes["/"].children == {"k0", "k1", "k2"} and back.writes.dump() == r.writes.dump()
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="corrupt"):
        read_snapshot(p)
    p.write_bytes(b"short")
    with pytest.raises(StorageError, match="truncated"):
        read_snapshot(p)


def test_a_value_marshal_refuses_is_written_in_the_wire_encoding_and_both_formats_read_back(tmp_path: Path) -> None:
    """Plain replicas are marshalled (fast); one holding a payload-carrying int, which marshal
    refuses, falls back to the wire encoding under the older magic number, still read."""
    r = replica_with(3)
    plain = write_snapshot(tmp_path, 3, r.tree.records(), r.writes.dump(), fsync=False)
    assert plain.read_bytes()[:8] == MAGIC
    r.apply(((0, 1, 9, 0), ("create", "/t", Tagged(7, "p"))), (1, 9))
    tagged = write_snapshot(tmp_path, 4, r.tree.records(), r.writes.dump(), fsync=False)
    assert tagged.read_bytes()[:8] == WIRE_MAGIC
    for p, n in ((plain, 3), (tagged, 4)):
        pos, back = read_snapshot(p)
        assert pos == n and len(back.tree.nodes) == n + 1
    assert read_snapshot(tagged)[1].tree.nodes["/t"].data == 7


def test_the_snapshot_interval_grows_with_the_tree_above_its_floor() -> None:
    assert snapshot_interval(10_000, 0.25, 1_000) == 10_000
    assert snapshot_interval(10_000, 0.25, 1_000_000) == 250_000


def test_the_newest_two_files_are_kept(tmp_path: Path) -> None:
    r = replica_with(1)
    for pos in (1, 5, 9):
        write_snapshot(tmp_path, pos, r.tree.records(), r.writes.dump(), fsync=False)
    assert [pos for pos, _ in snapshot_files(tmp_path)] == [5, 9]
    loaded = load_newest(tmp_path)
    assert loaded is not None and loaded[0] == 9
    assert load_newest(tmp_path / "none") is None


def test_take_snapshots_in_the_background_the_state_at_its_start(tmp_path: Path) -> None:
    r = replica_with(12_000)  # more than one chunk of records

    async def run() -> int:
        task = asyncio.create_task(take(tmp_path, r, 12_000, fsync=False))
        await asyncio.sleep(0)  # the capture has started: later writes must not show in it
        r.apply(((0, 1, 99_999, 0), ("create", "/after", b"")), (2, 1))
        return await task

    before_paths = {p for p in r.tree.nodes}
    assert asyncio.run(run()) == 12_000
    pos, back = read_snapshot(snapshot_files(tmp_path)[-1][1])
    assert pos == 12_000 and set(back.tree.nodes) == before_paths
    assert "/after" in r.tree.nodes and r.tree.frozen == []


def test_snap_frames_rebuild_the_replica() -> None:
    r = replica_with(12_000)
    fs = frames(12_000, r)
    assert len(fs) == 3  # chunks of 5,000 records, each under the wire's frame limit
    inc = Incoming()
    assert not inc.add(1, ("zab-tree", "x"))
    for f in fs:
        assert inc.add(1, f)
    pos, back = inc.ready[1]
    assert pos == 12_000 and sorted(back.tree.records()) == sorted(r.tree.records())
    assert back.writes.dump() == r.writes.dump()
