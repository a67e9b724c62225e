"""Start and stop a cluster of node processes on loopback.

A cluster lives in one directory: `cluster.json` (spec, constants, addresses), `config.toml`,
and per node `nK/` with its data, its log and its pid. `start_cluster` writes them and spawns
`python -m pnyx.impl.server DIR K` for every node; `stop_cluster` ends exactly those processes
(checked against /proc before any signal is sent).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pnyx.model import ir
from pnyx.model.compiler import CompiledSpec, load
from pnyx.model.errors import PnyxError

from .client import Unavailable, call
from .config import Config, load_config, to_toml
from .meta import REBUILD_MARKER, STATE_MARKER, ClusterMeta
from .services import choose_service, infer_service, service_class

REPO_ROOT = Path(__file__).resolve().parent.parent


def node_count_const(cs: CompiledSpec) -> str | None:
    """The constant that sets the number of nodes (`nodes N`), if the spec has one."""
    count = cs.checked.core.nodes_count
    return count.name if isinstance(count, ir.ConstRef) else None


def resolve_spec(spec: str, nodes: int | None, defines: dict[str, Any], service: str | None = None,
                 cfg: Config | None = None) -> tuple[CompiledSpec, dict[str, Any], str]:
    """Compile the spec with the service's constants (from the config), the user's -D values and
    the node count; returns it, the constants, and the service, checked to fit the spec."""
    if not Path(spec).is_file():
        raise PnyxError(f"{spec}: no such spec file")
    cfg = cfg or Config()
    service = service or cfg.service
    if service is not None:
        service_class(service)  # an unknown name is an error before any compiling
    probe = load(spec, defines)
    service = service or infer_service(probe)
    merged = {k: v for k, v in cfg.constants(service).items() if k in probe.checked.consts}
    merged.update(defines)
    if nodes is not None:
        name = node_count_const(probe)
        if name is None:
            if nodes != probe.n_nodes:
                raise PnyxError(f"{spec}: the number of nodes is fixed at {probe.n_nodes}; --nodes {nodes} cannot change it")
        else:
            merged[name] = nodes
    cs = load(spec, merged)
    return cs, merged, choose_service(cs, service)


def free_ports(k: int, host: str) -> list[int]:
    """Ports the OS reports free for both TCP and UDP right now."""
    out: list[int] = []
    socks = []
    while len(out) < k:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((host, port))
        except OSError:
            s.close()
            continue
        socks += [s, u]
        out.append(port)
    for s in socks:
        s.close()
    return out


def node_dir(directory: str | Path, i: int) -> Path:
    return Path(directory) / f"n{i + 1}"


def start_node(directory: str | Path, i: int) -> subprocess.Popen[bytes]:
    """Spawn node i of an existing cluster (again, after a crash) and record its pid."""
    d = node_dir(directory, i)
    d.mkdir(parents=True, exist_ok=True)
    (d / "ready").unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    logf = open(d / "log", "ab")  # noqa: SIM115 - handed to the child
    try:
        p = subprocess.Popen([sys.executable, "-m", "pnyx.impl.server", str(Path(directory).resolve()), str(i)],
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env, start_new_session=True)
    finally:
        logf.close()
    (d / "pid").write_text(str(p.pid))
    return p


def wait_ready(directory: str | Path, nodes: list[int], procs: dict[int, subprocess.Popen[bytes]] | None = None,
               timeout: float = 30.0) -> None:
    """Wait until every listed node answers a ping; PnyxError with its log if one dies or hangs."""
    meta = ClusterMeta.read(directory)
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending:
        i = pending[0]
        p = (procs or {}).get(i)
        if p is not None and p.poll() is not None:
            raise PnyxError(f"node n{i + 1} exited with status {p.returncode}:\n{log_tail(directory, i)}")
        try:
            call(meta.clients[i], "ping", timeout=2.0)
            pending.pop(0)
            continue
        except Unavailable:
            pass
        if time.monotonic() > deadline:
            raise PnyxError(f"node n{i + 1} did not come up within {timeout:.0f} s:\n{log_tail(directory, i)}")
        time.sleep(0.05)


def last_error(directory: str | Path, i: int) -> str | None:
    """Why node i stopped, if its last start ended in an error (a refusal of damaged data)."""
    try:
        lines = (node_dir(directory, i) / "log").read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: "):]
        if " serving " in line:
            return None  # it started after that
    return None


def log_tail(directory: str | Path, i: int, lines: int = 15) -> str:
    try:
        text = (node_dir(directory, i) / "log").read_text(errors="replace")
    except OSError:
        return "  (no log)"
    return "\n".join("  " + x for x in text.splitlines()[-lines:])


def start_cluster(spec: str, nodes: int | None, directory: str | Path, defines: dict[str, Any] | None = None,
                  config: Config | str | None = None, host: str = "127.0.0.1", timeout: float = 30.0,
                  service: str | None = None) -> ClusterMeta:
    """Write a cluster directory and start every node; returns its description once all answer.

    `service` (zab, gossip, raw) wins over the config's `service`, which wins over the one
    inferred from the spec's name; it is recorded in cluster.json and config.toml."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise PnyxError(f"{d}: exists and is not a directory; a cluster needs a directory of its own (a new path)")
    if (d / "cluster.json").exists():
        raise PnyxError(f"{d}: already holds a cluster (stop it with `pnyx cluster stop {d}` and use a new directory)")
    cfg = config if isinstance(config, Config) else load_config(config)
    cs, merged, chosen = resolve_spec(spec, nodes, dict(defines or {}), service, cfg)
    if cfg.loss and cs.network == "fifo":
        raise PnyxError(f"loss = {cfg.loss} in the config: only an unordered spec's UDP network drops datagrams; "
                        f"{cs.name} runs on TCP (network fifo)")
    cfg = replace(cfg, host=host, service=chosen)
    n = cs.n_nodes
    ports = free_ports(2 * n, host)
    meta = ClusterMeta(str(Path(spec).resolve()), merged, n, chosen,
                       [(host, p) for p in ports[:n]], [(host, p) for p in ports[n:]])
    try:
        d.mkdir(parents=True, exist_ok=True)
        meta.write(d)
        (d / "config.toml").write_text(to_toml(cfg))
    except OSError as exc:  # a parent that is a file, no permission, a full disk
        raise PnyxError(f"{d}: cannot create the cluster directory: {exc.strerror or exc}") from None
    procs = {i: start_node(d, i) for i in range(n)}
    try:
        wait_ready(d, list(range(n)), procs, timeout)
    except PnyxError:
        stop_cluster(d)
        raise
    return meta


def _is_our_node(pid: int, directory: Path) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"pnyx.impl.server" in cmd and str(directory.resolve()).encode() in cmd


def node_pid(directory: str | Path, i: int) -> int | None:
    """The pid of node i if it is running (and really is that node)."""
    try:
        pid = int((node_dir(directory, i) / "pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _is_our_node(pid, Path(directory)) else None


def kill_node(directory: str | Path, i: int, sig: int = signal.SIGKILL, wait: float = 10.0) -> bool:
    """Send `sig` to node i; True if it was running. Waits for it to exit."""
    pid = node_pid(directory, i)
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:  # reap it first if it is our child: a dead child's command line is empty until reaped
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        except ChildProcessError:
            pass
        if not _is_our_node(pid, Path(directory)):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            break
        time.sleep(0.02)
    return True


def stop_cluster(directory: str | Path) -> list[int]:
    """Stop every node of a cluster (SIGTERM, then SIGKILL); returns the indices that were running."""
    d = Path(directory)
    meta = ClusterMeta.read(d)
    stopped = []
    for i in range(meta.nodes):
        if kill_node(d, i, signal.SIGTERM, wait=5.0):
            stopped.append(i)
            kill_node(d, i, signal.SIGKILL, wait=5.0)
    return stopped


def status(directory: str | Path) -> list[tuple[int, int | None, tuple[str, int]]]:
    meta = ClusterMeta.read(directory)
    return [(i, node_pid(directory, i), meta.clients[i]) for i in range(meta.nodes)]


def node_status(directory: str | Path, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Each node's pid and what it says of itself over the client protocol (`info`: for ZAB its
    role, epoch and last zxid, as ZooKeeper's `srvr` reports), so an operator can see who leads."""
    out: list[dict[str, Any]] = []
    for i, pid, (host, port) in status(directory):
        row: dict[str, Any] = {"node": f"n{i + 1}", "address": f"{host}:{port}", "pid": pid, "info": None, "error": None}
        if pid is not None:
            try:
                row["info"] = dict(call((host, port), "info", timeout=timeout))
            except (Unavailable, PnyxError) as exc:
                row["error"] = str(exc)
        else:
            row["error"] = last_error(directory, i)
        out.append(row)
    return out


def serving_peers(nodes: list[dict[str, Any]], i: int) -> list[str]:
    """The nodes other than i that answer and serve (a service that does not say whether it
    serves, as gossip, counts when it answers)."""
    return [n["node"] for k, n in enumerate(nodes)
            if k != i and n["info"] is not None and n["info"].get("serving", True)]


def rebuild_node(directory: str | Path, i: int, timeout: float = 30.0) -> Path:
    """Start node i with empty files so that it resynchronizes from its peers; returns where its
    old files were moved. Refused unless node i is down and a quorum of the nodes other than i
    serve: the empty node must find an up-to-date quorum to learn the history from.

    The old `data/` and state marker are kept in `nK/damaged-<UTC time>/`, never deleted."""
    d = Path(directory)
    meta = ClusterMeta.read(d)
    if node_pid(d, i) is not None:
        raise PnyxError(f"n{i + 1} is running: stop it (`pnyx cluster kill {d} {i + 1}`) before rebuilding it")
    quorum = meta.nodes // 2 + 1
    serving = serving_peers(node_status(d), i)
    if len(serving) < quorum:
        raise PnyxError(f"refusing to rebuild n{i + 1}: an empty node must resynchronize from a quorum of its peers, "
                        f"but only {len(serving)} of the other {meta.nodes - 1} serve ({', '.join(serving) or 'none'}); "
                        f"a quorum of this cluster is {quorum}. Bring the others up first")
    nd = node_dir(d, i)
    aside = nd / ("damaged-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ"))
    aside.mkdir(parents=True)
    for name in ("data", STATE_MARKER):
        if (nd / name).exists():
            os.replace(nd / name, aside / name)
    (nd / REBUILD_MARKER).write_text("started empty on purpose: the spec's persistent `rebuilt` flag is set\n")
    p = start_node(d, i)
    wait_ready(d, [i], {i: p}, timeout)
    return aside
