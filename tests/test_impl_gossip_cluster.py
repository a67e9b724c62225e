"""A 5-node gossip cluster of real processes on loopback: writes anywhere converge everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import eventually

from pnyx.cli import main
from pnyx.impl.client import ClientError, call
from pnyx.impl.cluster import kill_node, node_pid, start_cluster, start_node, stop_cluster, wait_ready
from pnyx.impl.config import Config, GossipConfig
from pnyx.impl.meta import ClusterMeta

ROOT = Path(__file__).resolve().parent.parent
GOSSIP = str(ROOT / "spec" / "gossip.pnyx")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ClusterMeta]]:
    d = tmp_path_factory.mktemp("gossip") / "c"
    cfg = Config(gossip=GossipConfig(anti_entropy=0.3), fsync=True)
    meta = start_cluster(GOSSIP, 5, d, config=cfg, timeout=60)
    try:
        yield d, meta
    finally:
        stop_cluster(d)


def everywhere(meta: ClusterMeta, key: str, nodes: range | list[int]) -> list:
    return [call(meta.clients[i], "get", key) for i in nodes]


def test_writes_at_different_nodes_converge(cluster: tuple[Path, ClusterMeta]) -> None:
    _, meta = cluster
    v1 = call(meta.clients[0], "put", "a", "from-n1")
    v2 = call(meta.clients[3], "put", "b", b"from-n4")
    assert v1[1] == 1 and v2[1] == 4
    want_a, want_b = ("from-n1", tuple(v1)), (b"from-n4", tuple(v2))
    assert eventually(lambda: everywhere(meta, "a", range(5)) == [want_a] * 5)
    assert eventually(lambda: everywhere(meta, "b", range(5)) == [want_b] * 5)
    # concurrent writes to one key: the larger (Lamport clock, node) wins everywhere
    w2 = call(meta.clients[1], "put", "c", "x")
    w4 = call(meta.clients[4], "put", "c", "y")
    winner = max((tuple(w2), "x"), (tuple(w4), "y"))
    assert eventually(lambda: everywhere(meta, "c", range(5)) == [(winner[1], winner[0])] * 5)


def test_a_node_down_during_writes_catches_up(cluster: tuple[Path, ClusterMeta]) -> None:
    d, meta = cluster
    pid = node_pid(d, 4)
    assert kill_node(d, 4)  # kill -9 n5
    # reaped, not left a zombie (a node that is not our child is reaped by its own parent, soon after)
    assert eventually(lambda: not Path(f"/proc/{pid}").exists(), timeout=10)
    for i, key in enumerate(["d1", "d2", "d3"]):
        call(meta.clients[i], "put", key, f"v{i}")
    call(meta.clients[2], "put", "a", "newer")  # overwrites a key n5 already holds
    assert eventually(lambda: [r[0] for r in everywhere(meta, "a", range(4))] == ["newer"] * 4)
    p = start_node(d, 4)
    wait_ready(d, [4], {4: p}, timeout=60)
    # the live nodes first hold every write (each was put at one node and spreads by gossip)
    assert eventually(lambda: None not in [call(meta.clients[0], "get", k) for k in ("d1", "d2", "d3", "a")])
    want = [call(meta.clients[0], "get", k) for k in ("d1", "d2", "d3", "a")]
    assert None not in want
    # the writes reached n5 only through anti-entropy: gossip had already stopped pushing them
    assert eventually(lambda: [call(meta.clients[4], "get", k) for k in ("d1", "d2", "d3", "a")] == want)
    assert set(call(meta.clients[4], "keys")) >= {"a", "b", "c", "d1", "d2", "d3"}


def test_bad_requests_get_clear_errors(cluster: tuple[Path, ClusterMeta]) -> None:
    _, meta = cluster
    with pytest.raises(ClientError, match="key"):
        call(meta.clients[0], "put", "", "x")
    with pytest.raises(ClientError, match="unknown operation"):
        call(meta.clients[0], "create", "/x", b"")
    assert call(meta.clients[0], "get", "never-written") is None


def test_gossip_cli(cluster: tuple[Path, ClusterMeta], capsys: pytest.CaptureFixture[str]) -> None:
    d, meta = cluster
    server = f"{meta.clients[1][0]}:{meta.clients[1][1]}"
    assert main(["gossip", "--server", server, "put", "cli", "hello"]) == 0
    assert main(["gossip", "--server", server, "get", "cli"]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == "hello"
    assert main(["gossip", "--server", server, "get", "absent"]) == 1
    assert main(["cluster", "status", str(d)]) == 0
    assert "running" in capsys.readouterr().out
    assert main(["gossip", "--server", "127.0.0.1:1", "get", "x"]) == 1
    assert "unavailable" in capsys.readouterr().err
    assert main(["gossip", "--server", "nohost", "get", "x"]) == 2


def test_cluster_start_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "start", str(tmp_path / "none.pnyx"), "--dir", str(tmp_path / "c")]) == 2
    assert "no such spec" in capsys.readouterr().err
    assert main(["cluster", "stop", str(tmp_path / "nothing")]) == 2
    assert "no cluster" in capsys.readouterr().err
