"""The ZAB service's snapshots: the log compacted behind tree snapshots, a SNAP, restarts from them.

A 3-node cluster with RETAIN = 20 (compact once more than 20 committed transactions are
retained): after 120 writes every server's log starts well past 0, and tree snapshot files are
on disk. A follower stopped while the others write far past its log is brought back by a SNAP
(its log is behind the leader's snapshot), and every server restarted from its snapshot plus
its log suffix answers with every acknowledged write.
"""

from __future__ import annotations

from pathlib import Path

from conftest import eventually, run_cli
from test_impl_zab_cluster import has_all, info, the_leader

from pnyx.impl.client import Client
from pnyx.impl.cluster import kill_node, node_pid, start_cluster, start_node, stop_cluster, wait_ready
from pnyx.impl.meta import ClusterMeta
from pnyx.impl.zab_snapshot import snapshot_files

ROOT = Path(__file__).resolve().parent.parent
ZAB = str(ROOT / "spec" / "zab.pnyx")
RETAIN = 20


def write(meta: ClusterMeta, server: int, paths: list[str]) -> None:
    with Client(*meta.clients[server], timeout=15) as c:
        for p in paths:
            c.call("create", p, p.encode())


def restart(d: Path, i: int) -> None:
    p = start_node(d, i)
    wait_ready(d, [i], {i: p}, timeout=60)


def test_compaction_snap_and_restart_from_snapshots(tmp_path: Path) -> None:
    d = tmp_path / "zab"
    meta = start_cluster(ZAB, 3, d, defines={"RETAIN": RETAIN}, timeout=60)
    try:
        assert eventually(lambda: the_leader(meta, [0, 1, 2]) is not None)
        leader = the_leader(meta, [0, 1, 2])
        assert leader is not None
        follower, other = [i for i in range(3) if i != leader]
        first = [f"/a{k}" for k in range(60)]
        write(meta, other, first)
        assert eventually(lambda: all(has_all(meta, i, first) for i in range(3)))
        # every log was compacted behind a durable tree snapshot
        assert eventually(lambda: all(info(meta, i)["snapshot"] > 0 and info(meta, i)["tree_snapshot"] > 0
                                      for i in range(3)))
        assert all(snapshot_files(d / f"n{i + 1}" / "data") for i in range(3))
        # a follower misses more than its leader retains: it comes back through a SNAP
        behind = info(meta, follower)["log"]
        assert kill_node(d, follower)
        second = [f"/b{k}" for k in range(60)]
        write(meta, other, second)
        assert eventually(lambda: info(meta, leader)["snapshot"] > behind)  # the leader no longer has its next one
        restart(d, follower)
        assert eventually(lambda: has_all(meta, follower, first + second), timeout=40)
        assert info(meta, follower)["tree_snapshot"] > behind  # the leader's replica, written as it arrived
        # every server restarts from its tree snapshot and log suffix, with every write
        for i in range(3):
            assert kill_node(d, i)
        for i in range(3):
            restart(d, i)
        assert eventually(lambda: the_leader(meta, [0, 1, 2]) is not None, timeout=40)
        for i in range(3):
            assert eventually(lambda i=i: has_all(meta, i, first + second), timeout=40)
        counts = {i: info(meta, i)["znodes"] for i in range(3)}
        assert set(counts.values()) == {1 + 120}, counts  # the root and every write, once
        # a server whose tree snapshots are gone refuses to start rather than serve a partial tree
        assert kill_node(d, follower)
        for _, snap in snapshot_files(d / f"n{follower + 1}" / "data"):
            snap.unlink()
        r = run_cli("cluster", "restart", str(d), str(follower + 1))
        assert r.returncode == 2 and "a tree-*.snap file is missing" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and node_pid(d, follower) is None
    finally:
        stop_cluster(d)
