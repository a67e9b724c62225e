"""A 3-node ZAB key-value cluster of real processes: kill -9 the leader under a write load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import eventually

from pnyx.cli import main
from pnyx.impl.client import Client, ClientError, Unavailable, call
from pnyx.impl.cluster import kill_node, start_cluster, start_node, stop_cluster, wait_ready
from pnyx.impl.config import Config
from pnyx.impl.meta import ClusterMeta

ROOT = Path(__file__).resolve().parent.parent
ZAB = str(ROOT / "spec" / "zab.pnyx")


def info(meta: ClusterMeta, i: int) -> dict:
    return dict(call(meta.clients[i], "info", timeout=5))


def the_leader(meta: ClusterMeta, nodes: list[int]) -> int | None:
    infos = {i: info(meta, i) for i in nodes}
    leaders = [i for i, x in infos.items() if x["role"] == "LEADING" and x["phase"] == "BROADCAST"]
    if len(leaders) == 1 and all(x["phase"] == "BROADCAST" for x in infos.values()):
        return leaders[0]
    return None


class Writer(threading.Thread):
    """Creates /w<id>-<k> through one server until stopped; remembers what was acknowledged."""

    def __init__(self, meta: ClusterMeta, server: int, tag: str) -> None:
        super().__init__(daemon=True)
        self.meta, self.server, self.tag = meta, server, tag
        self.acked: list[str] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        k = 0
        while not self.stop.is_set():
            path = f"/{self.tag}-{k}"
            k += 1
            try:
                with Client(*self.meta.clients[self.server], timeout=15) as c:
                    while not self.stop.is_set():
                        c.call("create", path, path.encode())
                        self.acked.append(path)
                        path = f"/{self.tag}-{k}"
                        k += 1
            except (Unavailable, ClientError):
                self.failed += 1
                time.sleep(0.1)


@pytest.fixture
def zab(tmp_path: Path) -> Iterator[tuple[Path, ClusterMeta]]:
    d = tmp_path / "zab"
    meta = start_cluster(ZAB, 3, d, timeout=60)
    try:
        yield d, meta
    finally:
        stop_cluster(d)


@pytest.fixture(params=["fle", "random"])
def zab_elected(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, ClusterMeta]]:
    """The cluster with each election of the service: FLE (the default) and the random one."""
    d = tmp_path / "zab"
    cfg = Config()
    cfg.zab = replace(cfg.zab, election=request.param)
    meta = start_cluster(ZAB, 3, d, config=cfg, timeout=60)
    try:
        yield d, meta
    finally:
        stop_cluster(d)


def has_all(meta: ClusterMeta, i: int, paths: list[str]) -> bool:
    with Client(*meta.clients[i], timeout=15) as c:
        c.call("sync")  # everything committed before is now applied at this server
        return all(c.call("exists", p) for p in paths)


def test_leader_killed_during_writes_loses_no_acknowledged_write(zab_elected: tuple[Path, ClusterMeta]) -> None:
    d, meta = zab_elected
    assert eventually(lambda: the_leader(meta, [0, 1, 2]) is not None)
    old = the_leader(meta, [0, 1, 2])
    assert old is not None
    writers = [Writer(meta, i, f"w{i}") for i in range(3)]
    for w in writers:
        w.start()
    assert eventually(lambda: sum(len(w.acked) for w in writers) >= 30)
    assert kill_node(d, old)  # kill -9 the leader mid-load
    live = [i for i in range(3) if i != old]
    before = {i: len(writers[i].acked) for i in live}
    assert eventually(lambda: the_leader(meta, live) is not None, timeout=40), "no new leader"
    new = the_leader(meta, live)
    assert new in live
    # writes continue through the surviving servers
    assert eventually(lambda: all(len(writers[i].acked) >= before[i] + 5 for i in live), timeout=40)
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(timeout=30)
    acked = [p for w in writers for p in w.acked]
    assert len(acked) >= 40
    for i in live:
        assert has_all(meta, i, acked), f"n{i + 1} lacks an acknowledged write"
    # the old leader comes back and catches up from the new one
    p = start_node(d, old)
    wait_ready(d, [old], {old: p}, timeout=60)
    assert eventually(lambda: has_all(meta, old, acked), timeout=40)
    assert eventually(lambda: the_leader(meta, [0, 1, 2]) == new)
    epochs = {i: info(meta, i) for i in range(3)}
    assert len({x["commit"] for x in epochs.values()}) == 1
    mode = epochs[0]["election"]
    assert {x["election"] for x in epochs.values()} == {mode}
    if mode == "fle":  # every leader ZAB followed was FLE's decision, and always one ZAB could choose
        assert all(x["fle_refused"] == 0 and x["fle_vote"] == f"n{new + 1}" for x in epochs.values())
        assert all(x["fle_elections"] >= 1 for i, x in epochs.items() if i != new)


def test_kv_cli_and_zookeeper_semantics(zab: tuple[Path, ClusterMeta], capsys: pytest.CaptureFixture[str]) -> None:
    _, meta = zab
    s = [f"{h}:{p}" for h, p in meta.clients]
    assert eventually(lambda: the_leader(meta, [0, 1, 2]) is not None)
    assert main(["kv", "--server", s[0], "create", "/app", "v0"]) == 0
    assert main(["kv", "--server", s[1], "create", "/app/cfg", "x"]) == 0
    assert main(["kv", "--server", s[2], "create", "/app", "again"]) == 1
    assert "Node already exists: /app" in capsys.readouterr().err
    assert main(["kv", "--server", s[2], "create", "/no/parent", "x"]) == 1
    assert main(["kv", "--server", s[1], "set", "/app", "v1", "--version", "0"]) == 0
    assert main(["kv", "--server", s[0], "set", "/app", "v2", "--version", "0"]) == 1
    assert "Bad version: /app is at version 1, not 0" in capsys.readouterr().err
    assert main(["kv", "--server", s[2], "sync"]) == 0
    capsys.readouterr()
    assert main(["kv", "--server", s[2], "get", "/app"]) == 0
    assert capsys.readouterr().out.splitlines() == ["v1", "version 1"]
    assert main(["kv", "--server", s[0], "ls", "/app"]) == 0
    assert capsys.readouterr().out.split() == ["cfg"]
    assert main(["kv", "--server", s[0], "delete", "/app"]) == 1
    assert "Node not empty: /app" in capsys.readouterr().err
    assert main(["kv", "--server", s[0], "delete", "/app/cfg"]) == 0
    assert main(["kv", "--server", s[0], "sync"]) == 0
    assert main(["kv", "--server", s[0], "exists", "/app/cfg"]) == 1
    assert main(["kv", "--server", s[0], "get", "relative"]) == 2
    assert main(["kv", "--server", "127.0.0.1:1", "get", "/app"]) == 1
    assert "unavailable" in capsys.readouterr().err
