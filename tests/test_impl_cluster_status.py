"""`pnyx cluster status` on real clusters: who leads a ZAB ensemble, at which epoch and zxid;
what a gossip node holds; and client output into a pipe closed early."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, eventually, run_cli

from pnyx.impl.client import call
from pnyx.impl.cluster import start_cluster, stop_cluster
from pnyx.impl.config import Config, GossipConfig
from pnyx.impl.meta import ClusterMeta

ZAB = str(ROOT / "spec" / "zab.pnyx")
GOSSIP = str(ROOT / "spec" / "gossip.pnyx")


def _addr(meta: ClusterMeta, i: int) -> str:
    return "{}:{}".format(*meta.clients[i])


def _broadcasting(meta: ClusterMeta) -> bool:
    infos = [dict(call(c, "info", timeout=5)) for c in meta.clients]
    return all(x["phase"] == "BROADCAST" for x in infos) and sum(x["role"] == "LEADING" for x in infos) == 1


def _closed_pipe_run(*args: str) -> subprocess.CompletedProcess[str]:
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "pnyx", *args], stdout=w, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT, timeout=60)
    finally:
        os.close(w)


@pytest.fixture(scope="module")
def zab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ClusterMeta]]:
    d = tmp_path_factory.mktemp("zab") / "c"
    meta = start_cluster(ZAB, 3, d, timeout=60)
    try:
        assert eventually(lambda: _broadcasting(meta), 60), "no leader elected"
        yield d, meta
    finally:
        stop_cluster(d)


def test_zab_status_names_exactly_one_leader(zab: tuple[Path, ClusterMeta]) -> None:
    d, meta = zab
    assert run_cli("kv", "--server", _addr(meta, 0), "create", "/status", "x").returncode == 0
    assert run_cli("kv", "--server", _addr(meta, 1), "sync").returncode == 0
    assert run_cli("kv", "--server", _addr(meta, 2), "sync").returncode == 0

    proc = run_cli("cluster", "status", str(d))
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:5] == ["node", "address", "state", "pid", "role"]
    assert "epoch" in header and "last zxid" in header
    assert len(rows) == 3 and all(r.split()[2] == "running" for r in rows)
    roles = [r.split()[4] for r in rows]
    assert roles.count("leading") == 1 and roles.count("following") == 2, proc.stdout

    proc = run_cli("cluster", "status", str(d), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["service"] == "zab" and [n["node"] for n in data["nodes"]] == ["n1", "n2", "n3"]
    infos = [n["info"] for n in data["nodes"]]
    assert [x["role"] for x in infos].count("LEADING") == 1
    epochs = {x["epoch"] for x in infos}
    assert len(epochs) == 1 and epochs.pop() >= 1
    for x in infos:  # the create and two syncs are committed everywhere the syncs ran
        assert x["last_zxid"][0] >= 1 and x["last_zxid"][1] >= 1
        assert x["committed_zxid"] <= x["last_zxid"]
    leader = next(k for k, x in enumerate(infos) if x["role"] == "LEADING")
    assert all(x["leader"] == f"some(n{leader + 1})" for k, x in enumerate(infos) if k != leader)


def test_client_output_into_a_closed_pipe_ends_quietly(zab: tuple[Path, ClusterMeta]) -> None:
    d, meta = zab
    assert run_cli("kv", "--server", _addr(meta, 0), "create", "/piped", "data").returncode == 0
    for args in (("kv", "--server", _addr(meta, 0), "get", "/piped"), ("cluster", "status", str(d))):
        proc = _closed_pipe_run(*args)
        assert proc.returncode == 141 and proc.stderr == "", (args, proc.stderr)


def test_gossip_status_counts_keys_and_gossip_get_into_a_closed_pipe(tmp_path: Path) -> None:
    d = tmp_path / "g"
    meta = start_cluster(GOSSIP, 3, d, config=Config(gossip=GossipConfig(anti_entropy=0.3)), timeout=60)
    try:
        assert run_cli("gossip", "--server", _addr(meta, 0), "put", "k", "v").returncode == 0
        assert eventually(lambda: all(call(c, "get", "k") is not None for c in meta.clients))
        proc = run_cli("cluster", "status", str(d))
        assert proc.returncode == 0, proc.stderr
        header, *rows = proc.stdout.splitlines()
        assert header.split()[4:] == ["keys", "clock"]
        assert [r.split()[4] for r in rows] == ["1", "1", "1"]
        proc = _closed_pipe_run("gossip", "--server", _addr(meta, 1), "get", "k")  # `| head -1` that left at once
        assert proc.returncode == 141 and proc.stderr == "", proc.stderr
    finally:
        stop_cluster(d)
