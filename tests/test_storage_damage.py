"""Every way a node's data files can be damaged: refused at start-up with the file and byte named,
or (a torn tail of the last log record only) repaired and reported with nothing acknowledged lost.

Most kinds are tested on the storage and runtime directly (fast); a few through a real 3-node
ZAB cluster, single node and all nodes, with `pnyx cluster restart --rebuild` after a refusal.
"""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from test_impl_sim import SEQ, Recorder, compile_text

from pnyx.impl.node import NodeRuntime
from pnyx.impl.storage import LOG_CHUNK, META, FileStorage, MemoryStorage, StorageError, scan_log

ADDS = 30  # with snapshots every 8 saves: a snapshot of 19 items (generation 2) and a log of 11 appends


def make_node(tmp_path: Path, adds: int = ADDS) -> tuple[Path, list[int]]:
    """A data directory of the one-node `seqlog` spec after `adds` acknowledged appends; the byte
    offset of each log record (record 0 is the generation header)."""
    cs = compile_text(tmp_path, SEQ)
    rt = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False, marker=tmp_path / "has-state"),
                     Recorder(MemoryStorage()))
    rt.SNAPSHOT_EVERY = 8
    rt.start()
    for k in range(adds):
        rt.request("add", (k,))
    log = tmp_path / "data" / "node.log"
    return log, scan_log(log.read_bytes(), "log").offsets


def restart(tmp_path: Path) -> tuple[NodeRuntime, FileStorage]:
    """The node started again on its files (StorageError if it refuses them)."""
    storage = FileStorage(tmp_path / "data", fsync=False, marker=tmp_path / "has-state")
    rt = NodeRuntime(compile_text(tmp_path, SEQ), 0, storage, Recorder(MemoryStorage()))
    rt.SNAPSHOT_EVERY = 8
    rt.start()
    return rt, storage


def edit(path: Path, change: Callable[[bytearray], bytearray | bytes]) -> None:
    path.write_bytes(bytes(change(bytearray(path.read_bytes()))))


def flip(data: bytearray, at: int) -> bytearray:
    data[at] ^= 0x10
    return data


def set_length(data: bytearray, at: int, length: int) -> bytearray:
    data[at : at + 4] = struct.pack(">I", length)
    return data


def zero_from(data: bytearray, at: int) -> bytearray:
    """A torn write: the bytes from `at` on were never written (the file was preallocated with zeros)."""
    data[at:] = bytes(len(data) - at)
    return data


def end_of_log(data: bytes) -> int:
    return scan_log(data, "log").end


# (kind, damage to the data directory given the log path and record offsets, the message's pattern)
# Record k of the log is at offsets[k]; 11 appends follow the generation header, so the last is 11
# and record 5 is in the middle. Body bytes of record k start 12 bytes after its offset.
REFUSED: list[tuple[str, Callable[[Path, list[int]], None], Callable[[list[int]], str]]] = [
    ("log truncated inside the last record",
     lambda log, o: edit(log, lambda d: d[: o[11] + 14]),
     lambda o: rf"node\.log: record 11 at byte {o[11]} claims \d+ bytes, past the end of the file at byte {o[11] + 14}: "
               r"truncated"),
    ("log truncated inside the last record's header",
     lambda log, o: edit(log, lambda d: d[: o[11] + 5]),
     lambda o: rf"node\.log: truncated at byte {o[11] + 5}: the log ends after record 11 \(at byte {o[11]}\)"),
    ("log truncated mid-record in the middle",
     lambda log, o: edit(log, lambda d: d[: o[5] + 14]),
     lambda o: rf"node\.log: record 5 at byte {o[5]} claims \d+ bytes, past the end of the file at byte {o[5] + 14}"),
    ("log truncated at a record boundary",
     lambda log, o: edit(log, lambda d: d[: o[5]]),
     lambda o: rf"node\.log: truncated at byte {o[5]}: the log ends after record 5 \(at byte {o[5]}\) without its end marker"),
    ("log truncated after its last record",
     lambda log, o: edit(log, lambda d: d[: end_of_log(d)]),
     lambda o: r"node\.log: truncated at byte \d+: the log ends after record 12"),
    ("a middle record's length field made larger",
     lambda log, o: edit(log, lambda d: set_length(d, o[5], 40)),
     lambda o: rf"node\.log: record 5 at byte {o[5]}: no end mark at byte {o[5] + 12 + 40}"),
    ("a middle record's length field made smaller",
     lambda log, o: edit(log, lambda d: set_length(d, o[5], 2)),
     lambda o: rf"node\.log: record 5 at byte {o[5]}: no end mark at byte {o[5] + 14}"),
    ("a middle record's length field made huge",
     lambda log, o: edit(log, lambda d: set_length(d, o[5], 10**9)),
     lambda o: rf"node\.log: record 5 at byte {o[5]} claims 1000000000 bytes, past the end of the file.*"
               rf"an intact record follows at byte {o[6]}"),
    ("the last record's length field made larger",
     lambda log, o: edit(log, lambda d: set_length(d, o[11], 40)),
     lambda o: rf"node\.log: record 11 at byte {o[11]}: no end mark"),
    ("a middle record's index changed",
     lambda log, o: edit(log, lambda d: flip(d, o[5] + 7)),
     lambda o: rf"node\.log: record 5 at byte {o[5]} carries index 21: a record is missing"),
    ("a middle record cut out",
     lambda log, o: edit(log, lambda d: d[: o[5]] + d[o[6] :]),
     lambda o: rf"node\.log: record 5 at byte {o[5]} carries index 6: a record is missing"),
    ("a middle record torn (zeros inside, records after)",
     lambda log, o: edit(log, lambda d: d[: o[5] + 13] + bytes(o[6] - o[5] - 13) + d[o[6] :]),
     lambda o: rf"node\.log: record 5 at byte {o[5]}: no end mark at byte {o[6] - 1}.*"
               rf"an intact record follows at byte {o[6]}"),
    ("a byte flipped in a middle record",
     lambda log, o: edit(log, lambda d: flip(d, o[5] + 13)),
     lambda o: rf"node\.log: checksum mismatch in record 5 at byte {o[5]}"),
    ("a byte flipped in the last record",
     lambda log, o: edit(log, lambda d: flip(d, o[11] + 13)),
     lambda o: rf"node\.log: checksum mismatch in record 11 at byte {o[11]}"),
    ("a byte flipped in a crc field",
     lambda log, o: edit(log, lambda d: flip(d, o[3] + 9)),
     lambda o: rf"node\.log: checksum mismatch in record 3 at byte {o[3]}"),
    ("a byte flipped in the log's zero padding",
     lambda log, o: edit(log, lambda d: flip(d, len(d) - 100)),
     lambda o: rf"node\.log: non-zero byte at byte {LOG_CHUNK - 100}, after the end of the log"),
    ("garbage appended to the log",
     lambda log, o: edit(log, lambda d: d + b"garbage"),
     lambda o: rf"node\.log: non-zero byte at byte {LOG_CHUNK}, after the end of the log"),
    ("log emptied",
     lambda log, o: log.write_bytes(b""),
     lambda o: r"node\.log: truncated at byte 0 \(an empty log"),
    ("log deleted",
     lambda log, o: log.unlink(),
     lambda o: r"node\.log: missing, but storage\.meta lists it"),
    ("snapshot deleted",
     lambda log, o: (log.parent / "node.rec").unlink(),
     lambda o: r"node\.rec: missing, but storage\.meta lists it"),
    ("log and snapshot deleted",
     lambda log, o: (log.unlink(), (log.parent / "node.rec").unlink()),
     lambda o: r"node\.rec: missing, but storage\.meta lists it"),
    ("every data file deleted",
     lambda log, o: [p.unlink() for p in log.parent.iterdir()],
     lambda o: r"storage\.meta: missing, but .*has-state says this node has state"),
    ("data directory deleted",
     lambda log, o: shutil.rmtree(log.parent),
     lambda o: r"storage\.meta: missing, but .*has-state says this node has state"),
    ("metadata file deleted",
     lambda log, o: (log.parent / META).unlink(),
     lambda o: r"storage\.meta: missing, but the directory holds data files \(node\.log, node\.rec\)"),
    ("a byte flipped in the snapshot",
     lambda log, o: edit(log.parent / "node.rec", lambda d: flip(d, len(d) - 3)),
     lambda o: r"node\.rec: checksum mismatch over bytes 8\.\.\d+"),
    ("the snapshot's length field changed",
     lambda log, o: edit(log.parent / "node.rec", lambda d: flip(d, 11)),
     lambda o: r"node\.rec: has extra bytes appended: the file ends at byte \d+, its header says \d+ "
               r"\(or the length field at byte 8 is damaged\)"),
    ("garbage appended to the snapshot",
     lambda log, o: edit(log.parent / "node.rec", lambda d: d + b"garbage"),
     lambda o: r"node\.rec: has extra bytes appended"),
    ("snapshot zero-filled",
     lambda log, o: edit(log.parent / "node.rec", lambda d: bytes(len(d))),
     lambda o: r"node\.rec: zero-filled at byte 0"),
    ("snapshot truncated",
     lambda log, o: edit(log.parent / "node.rec", lambda d: d[:-5]),
     lambda o: r"node\.rec: truncated: the file ends at byte \d+"),
    ("snapshot truncated inside its header",
     lambda log, o: edit(log.parent / "node.rec", lambda d: d[:10]),
     lambda o: r"node\.rec: truncated at byte 10"),
    ("snapshot in the first storage format",
     lambda log, o: edit(log.parent / "node.rec", lambda d: b"PNYXREC1" + d[8:]),
     lambda o: r"node\.rec: written in the first storage format \(PNYXREC1\), which this version does not read"),
    ("log in the first storage format (no magic number)",
     lambda log, o: edit(log, lambda d: d[8:]),
     lambda o: r"node\.log: not a Pnyx data file of this format \(bad magic number at byte 0; expected PNYXLOG2\)"),
]


@pytest.mark.parametrize(("kind", "damage", "pattern"), REFUSED, ids=[k for k, _, _ in REFUSED])
def test_damage_is_refused_naming_file_and_byte(tmp_path: Path, kind: str, damage: Callable, pattern: Callable) -> None:
    log, offsets = make_node(tmp_path)
    assert len(offsets) == 12  # the generation header and 11 appends
    damage(log, offsets)
    with pytest.raises(StorageError, match=pattern(offsets)):
        restart(tmp_path)


def test_a_log_of_another_generation_is_refused(tmp_path: Path) -> None:
    """A log restored from an older copy does not belong to the snapshot beside it."""
    log, _ = make_node(tmp_path, adds=5)  # generation 0
    old = log.read_bytes()
    make_node(tmp_path, adds=0)  # (compiles again; the data directory is reused)
    rt, _ = restart(tmp_path)
    for k in range(40):
        rt.request("add", (k,))
    assert rt._gen >= 2
    log.write_bytes(old)
    with pytest.raises(StorageError, match=rf"record 'node': its log is of generation 0, its snapshot of generation {rt._gen}"):
        restart(tmp_path)


def test_undamaged_files_restart_exactly(tmp_path: Path) -> None:
    make_node(tmp_path)
    rt, storage = restart(tmp_path)
    assert rt.get("log") == tuple(range(ADDS)) and storage.torn_tails == []


@pytest.mark.parametrize("written", [0, 5, 12, 13, -1], ids=["nothing", "part-header", "header", "header+1", "all-but-trailer"])
def test_a_torn_last_record_is_dropped_repaired_and_reported(tmp_path: Path, written: int) -> None:
    """A crash during the last append leaves a prefix of its frame in the preallocated zeros: that
    record was never acknowledged (its fsync had not returned); it alone is dropped, the file is
    repaired so that later appends read back, and the repair is reported with its byte offset."""
    log, o = make_node(tmp_path)
    end = end_of_log(log.read_bytes())
    cut = end - 1 if written == -1 else o[11] + written
    if written == 0:
        cut = end  # nothing torn: the record is whole (control)
    edit(log, lambda d: zero_from(d, cut))
    torn = len(log.read_bytes()[o[11] : cut].rstrip(b"\0"))  # what is left of it: up to its last non-zero byte
    rt, storage = restart(tmp_path)
    if written == 0:
        assert rt.get("log") == tuple(range(ADDS)) and storage.torn_tails == []
        return
    assert rt.get("log") == tuple(range(ADDS - 1))
    assert len(storage.torn_tails) == 1
    assert re.search(rf"node\.log: dropped an incomplete last record \({torn} bytes at byte {o[11]}, "
                     rf"after 11 intact records\)", storage.torn_tails[0])
    rt.request("add", (7,))  # written where the torn record was
    again, storage2 = restart(tmp_path)
    assert again.get("log") == tuple(range(ADDS - 1)) + (7,) and storage2.torn_tails == []


def test_a_log_grows_past_its_preallocated_chunk_and_reloads(tmp_path: Path) -> None:
    """Appends that cross a chunk boundary extend the file first; the end marker is never cut."""
    cs = compile_text(tmp_path, SEQ)
    rt = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()))
    rt.SNAPSHOT_EVERY = 10**6  # no snapshot: every save is a log append
    rt.start()
    for k in range(2500):  # about 30 bytes each
        if k % 900 == 899:
            rt.request("cut", (0,))
        rt.request("add", (k % 900,))
    data = (tmp_path / "data" / "node.log").read_bytes()
    assert len(data) > LOG_CHUNK and len(data) % LOG_CHUNK == 0
    again = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()))
    again.start()
    assert again.get("log") == rt.get("log") and again.get("mark") == 0
