"""Every way a node's data files can be damaged: refused at start-up with the file and byte named,
or (a torn tail of the last log record only) repaired and reported with nothing acknowledged lost.

Most kinds are tested on the storage and runtime directly (fast); a few through a real 3-node
ZAB cluster, single node and all nodes, with `pnyx cluster restart --rebuild` after a refusal.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import eventually, run_cli
from test_impl_sim import SEQ, Recorder, compile_text
from test_impl_zab_cluster import ZAB, has_all

from pnyx.impl.client import Client
from pnyx.impl.cluster import kill_node, node_dir, node_pid, node_status, serving_peers, start_cluster, stop_cluster
from pnyx.impl.meta import ClusterMeta
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
     lambda o: rf"node\.log: truncated at byte {o[11] + 5}: the log ends after 11 intact records \(at byte {o[11]}\)"),
    ("log truncated mid-record in the middle",
     lambda log, o: edit(log, lambda d: d[: o[5] + 14]),
     lambda o: rf"node\.log: record 5 at byte {o[5]} claims \d+ bytes, past the end of the file at byte {o[5] + 14}"),
    ("log truncated at a record boundary",
     lambda log, o: edit(log, lambda d: d[: o[5]]),
     lambda o: rf"node\.log: truncated at byte {o[5]}: the log ends after 5 intact records \(at byte {o[5]}\) "
               r"without its end marker"),
    ("log truncated after its last record",
     lambda log, o: edit(log, lambda d: d[: end_of_log(d)]),
     lambda o: r"node\.log: truncated at byte \d+: the log ends after 12 intact records"),
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
    ("metadata file truncated at a record boundary",
     lambda log, o: edit(log.parent / META, lambda d: d[: scan_log(d, "meta").offsets[-1]]),
     lambda o: r"storage\.meta: truncated at byte \d+: the log ends after 2 intact records"),
    ("a byte flipped in the metadata file",
     lambda log, o: edit(log.parent / META, lambda d: flip(d, scan_log(d, "meta").offsets[1] + 14)),
     lambda o: r"storage\.meta: checksum mismatch in record 1 at byte \d+"),
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
    ("a data directory of the first storage format (no metadata)",
     lambda log, o: ((log.parent / META).unlink(), edit(log.parent / "node.rec", lambda d: b"PNYXREC1" + d[8:])),
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


FLAGGED = SEQ.replace("  persistent mark: V = 0\n", "  persistent mark: V = 0\n  persistent rebuilt: bool = false\n")


@pytest.mark.parametrize(("text", "rebuilt", "flag"), [(FLAGGED, True, True), (FLAGGED, False, False), (SEQ, True, None)],
                         ids=["rebuilt", "normal-start", "spec-without-the-flag"])
def test_a_rebuilt_node_starts_with_the_specs_rebuilt_flag_set_and_saved(tmp_path: Path, text: str, rebuilt: bool,
                                                                           flag: bool | None) -> None:
    """The runtime's half of the rule that a server that lost its disk must not vote before it has
    synced: started empty on purpose, a node's persistent `rebuilt` is true, durably; a spec
    handler clears it. A restart on its own files, rebuilt or not, keeps what was saved."""
    cs = compile_text(tmp_path, text)
    rt = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()), rebuilt=rebuilt)
    rt.start()
    assert (rt.get("rebuilt") if flag is not None else None) == flag
    rt.request("add", (1,))
    again = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()), rebuilt=not rebuilt)
    again.start()
    assert again.get("log") == (1,) and (again.get("rebuilt") if flag is not None else None) == flag


# ---- through a real 3-node ZAB cluster ------------------------------------------------------
def write_keys(meta: ClusterMeta, server: int, tag: str, k: int) -> list[str]:
    """Create k keys through one server; the acknowledged paths."""
    paths = [f"/{tag}{j}" for j in range(k)]
    with Client(*meta.clients[server], timeout=15) as c:
        for p in paths:
            c.call("create", p, p.encode())
    return paths


def cluster_log(d: Path, i: int) -> Path:
    return node_dir(d, i) / "data" / "node.log"


def truncate_at_boundary(log: Path) -> str:
    """Cut the log at the boundary before its second-to-last record; the expected message."""
    o = scan_log(log.read_bytes(), "log").offsets
    edit(log, lambda data: data[: o[-2]])
    return rf"node\.log: truncated at byte {o[-2]}: the log ends after {len(o) - 2} intact records"


def corrupt_middle_length(log: Path) -> str:
    o = scan_log(log.read_bytes(), "log").offsets
    k = len(o) // 2
    edit(log, lambda data: set_length(data, o[k], 10**6))
    return rf"node\.log: record {k} at byte {o[k]} claims 1000000 bytes, past the end of the file"


def delete_log(log: Path) -> str:
    log.unlink()
    return r"node\.log: missing, but storage\.meta lists it"


def refused(d: Path, i: int, pattern: str) -> None:
    """`pnyx cluster restart` of node i fails cleanly: exit 2, the file and byte named, no traceback."""
    r = run_cli("cluster", "restart", str(d), str(i + 1))
    assert r.returncode == 2, r.stdout + r.stderr
    assert re.search(pattern, r.stderr), r.stderr
    assert "Traceback" not in r.stderr + r.stdout and f"cluster restart {d.resolve()} {i + 1} --rebuild" in r.stderr
    assert node_pid(d, i) is None


@pytest.fixture
def zab(tmp_path: Path) -> Iterator[tuple[Path, ClusterMeta]]:
    d = tmp_path / "zab"
    meta = start_cluster(ZAB, 3, d, timeout=60)
    try:
        yield d, meta
    finally:
        stop_cluster(d)


def test_cluster_node_refuses_damage_then_is_rebuilt_or_repaired_losing_nothing(zab: tuple[Path, ClusterMeta]) -> None:
    """One node's files damaged two ways in turn: each time it refuses to start (exit 2, file and
    byte named), and `restart --rebuild` brings it back empty; it resynchronizes and serves every
    acknowledged write. Then a torn last record on another node: repaired, reported by the node's
    log and `cluster status`, nothing lost."""
    d, meta = zab
    acked = write_keys(meta, 0, "a", 15)
    r = run_cli("cluster", "restart", str(d), "2", "--rebuild")
    assert r.returncode == 2 and "n2 is running: stop it" in r.stderr and "Traceback" not in r.stderr
    for n, damage in enumerate((corrupt_middle_length, delete_log)):
        kill_node(d, 1)
        refused(d, 1, damage(cluster_log(d, 1)))
        assert eventually(lambda: len(serving_peers(node_status(d), 1)) == 2)
        r = run_cli("cluster", "restart", str(d), "2", "--rebuild")
        assert r.returncode == 0 and "n2 rebuilt" in r.stdout, r.stdout + r.stderr
        assert eventually(lambda acked=acked: has_all(meta, 1, acked))
        assert len(list(node_dir(d, 1).glob("damaged-*"))) == n + 1  # the damaged files are kept aside
        assert not (node_dir(d, 1) / "rebuild").exists()  # the node took its rebuild request (and saved it)
        acked += write_keys(meta, 1, f"b{n}-", 5)  # the rebuilt node's log grows again
    kill_node(d, 2)
    log = cluster_log(d, 2)
    data = log.read_bytes()
    last, end = scan_log(data, "log").offsets[-1], end_of_log(data)
    edit(log, lambda b: zero_from(b, end - 4))  # a crash in the middle of writing the last record
    r = run_cli("cluster", "restart", str(d), "3")
    assert r.returncode == 0, r.stdout + r.stderr
    torn = rf"node\.log: dropped an incomplete last record \(\d+ bytes at byte {last}"
    assert re.search("repaired at start-up: .*" + torn, (node_dir(d, 2) / "log").read_text())
    status = run_cli("cluster", "status", str(d))
    assert re.search(r"n3: repaired at start-up: .*" + torn, status.stdout), status.stdout
    nodes = json.loads(run_cli("cluster", "status", str(d), "--json").stdout)["nodes"]
    assert [len(n["info"]["repaired"]) for n in nodes] == [0, 0, 1] and re.search(torn, nodes[2]["info"]["repaired"][0])
    assert eventually(lambda: all(has_all(meta, i, acked) for i in range(3)))


def test_every_node_damaged_is_refused_everywhere_not_served_empty(zab: tuple[Path, ClusterMeta]) -> None:
    """The same damage on every node (the log deleted on one, cut at a record boundary on the
    others): no node starts, so nothing is served from what is left; a rebuild is refused for want
    of a quorum to resynchronize from."""
    d, meta = zab
    acked = write_keys(meta, 0, "a", 10)
    assert eventually(lambda: all(has_all(meta, i, acked) for i in range(3)))  # on every node's disk
    stop_cluster(d)
    patterns = [delete_log(cluster_log(d, 0)), truncate_at_boundary(cluster_log(d, 1)),
                truncate_at_boundary(cluster_log(d, 2))]
    for i, pattern in enumerate(patterns):
        refused(d, i, pattern)
    status = run_cli("cluster", "status", str(d))
    assert status.returncode == 0
    for i, pattern in enumerate(patterns):  # why each node is down
        assert re.search(rf"n{i + 1}: .*{pattern}", status.stdout), status.stdout
    r = run_cli("cluster", "restart", str(d), "1", "--rebuild")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert ("refusing to rebuild n1: an empty node must resynchronize from a quorum of its peers, "
            "but only 0 of the other 2 serve") in r.stderr
    assert cluster_log(d, 1).exists() and not list(node_dir(d, 0).glob("damaged-*"))  # nothing was moved
