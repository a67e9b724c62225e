"""ZooKeeper and Pnyx's ZAB service side by side: the same four workloads, interleaved.

    .venv/bin/python benchmarks/bench_zk.py                  # 5 rounds of 4 leader kills: 20 kills each
    .venv/bin/python benchmarks/bench_zk.py --rounds 2 --kills 2 --json
    .venv/bin/python benchmarks/bench_zk.py --smoke          # tiny counts, one kill each (the test's run)
    .venv/bin/python benchmarks/bench_zk.py --elections fle,random   # Pnyx twice: FLE, then the random election

ZooKeeper: Debian's package (`apt-get install zookeeper`, 3.8) and kazoo (`pip install -e '.[zk]'`).
Three servers on loopback are started here (QuorumPeerMain, their own zoo.cfg, myid and data
directory in a temporary directory; fsync on, the package's tickTime 2000). When the package or
kazoo is missing, that side is skipped and the script says why. Pnyx: `spec/zab.pnyx` on three
nodes (as `pnyx cluster start spec/zab.pnyx --nodes 3`, fsync on), with impl/client.py's clients,
once per election mode of `--elections` (`[zab] election`: "fle", spec/fle.pnyx's Fast Leader
Election, the default; "random", zab.pnyx's abstract election resolved at random). The first
mode is the one the table compares with ZooKeeper; a last table gives leader-kill recovery for
every system, with the failure-detector settings that bound it on each side.

Each round runs ZooKeeper's workloads, then Pnyx's:
- seq: one client creates znodes one after another at a follower: ops/s, p50 and p99 latency,
  and CPU per write (user + system CPU of the three server processes, from /proc, over the writes).
- async16: one connection to a follower keeps 16 creates outstanding: ops/s and CPU per write.
- gets: one client reads a znode at a follower, one read after another: ops/s.
- kill: a writer creates znodes one after another (retrying through failures); the leader is
  killed with SIGKILL; from that moment a probe client creates fresh znodes until one is
  acknowledged: recovery is the time from the kill to that acknowledgement. The killed server
  is restarted and rejoins before the next kill (the last one: before the next round). After
  the kills every live server syncs and lists the writers' directory: each acknowledged write
  must be there on every one (lost: counted and printed; any lost write makes the exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_impl beside this script
from bench_impl import ZAB, pct, wait_leader

from pnyx.impl.chaos import process_cpu
from pnyx.impl.client import AsyncClient, Client, ClientError, RetryingClient, Unavailable, call
from pnyx.impl.cluster import free_ports, kill_node, node_pid, start_cluster, start_node, stop_cluster, wait_ready
from pnyx.impl.config import CHOICES, Config, ConfigError, load_config

ZK_JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/zookeeper/zookeeper.jar")
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
INSTALL_HINT = "apt-get install zookeeper (Debian's ZooKeeper 3.8) and pip install -e '.[zk]' (kazoo)"
DATA = b"x" * 32

Addr = tuple[str, int]


# the ensemble's timing (zoo.cfg below): followers sync within initLimit ticks, stay within syncLimit
ZK_TICK_MS, ZK_INIT_LIMIT, ZK_SYNC_LIMIT = 2000, 10, 5
ZK_LIMITS = (f"tickTime {ZK_TICK_MS} ms, initLimit {ZK_INIT_LIMIT} ticks ({ZK_TICK_MS * ZK_INIT_LIMIT / 1000:g} s), "
             f"syncLimit {ZK_SYNC_LIMIT} ticks ({ZK_TICK_MS * ZK_SYNC_LIMIT / 1000:g} s: a silent leader is suspected "
             "after that; a dead one's closed connection at once)")


def zookeeper_missing() -> str | None:
    """Why the ZooKeeper side cannot run here, or None."""
    if shutil.which("java") is None:
        return "no java on PATH"
    if not any(Path(j).is_file() for j in ZK_JARS):
        return "ZooKeeper is not installed (no " + " or ".join(ZK_JARS) + ")"
    try:
        import kazoo  # noqa: F401
    except ImportError:
        return "the kazoo client is not installed"
    return None


class NoQuorum(Exception):
    """A cluster that did not get back to one leader and two followers: a result, reported."""


class Cluster:
    """Three servers on loopback: start, find the leader and a follower, kill and restart one, CPU."""

    name = "?"
    addrs: list[Addr]
    down: int | None = None  # a server killed and not restarted yet

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def pid(self, i: int) -> int | None: ...
    def mode(self, i: int) -> str | None: ...  # "leader", "follower", or None (down, not serving)
    def kill(self, i: int) -> None: ...
    def restart(self, i: int) -> None: ...

    def cpu(self) -> float:
        return sum(process_cpu(self.pid(i)) for i in range(3))

    def wait_quorum(self, timeout: float = 60.0) -> tuple[int, int]:
        """(leader, a follower) once all three serve, one leading."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            modes = [self.mode(i) for i in range(3)]
            if modes.count("leader") == 1 and modes.count("follower") == 2:
                return modes.index("leader"), modes.index("follower")
            time.sleep(0.05)
        raise NoQuorum(f"{self.name}: no leader with two followers within {timeout:g} s: {self.describe()}")

    def describe(self) -> str:
        """Each server's state, for a report of a cluster that did not recover."""
        return ", ".join(f"server {i + 1}: {self.mode(i) or 'not serving'}" for i in range(3))

    # the client side, the same workloads on both
    def seq_creates(self, server: int, parent: str, n: int) -> list[float]: ...
    def async_creates(self, server: int, parent: str, n: int, outstanding: int) -> int: ...
    def gets(self, server: int, path: str, n: int) -> None: ...
    def writer(self) -> Callable[[str], None]: ...  # a create that retries through failures; returns once acknowledged
    def close_writers(self) -> None: ...
    def listing(self, server: int, parent: str) -> set[str]: ...  # after a sync at that server

    def log_length(self) -> int | None:
        """Transactions in the longest server log, where the system says (Pnyx keeps its whole log)."""
        return None


class ZooKeeper(Cluster):
    name = "ZooKeeper"

    def __init__(self, root: Path) -> None:
        from kazoo.client import KazooClient

        logging.getLogger("kazoo").addHandler(logging.NullHandler())  # its reconnection notes would flood stderr
        self.Kazoo = KazooClient
        self.root = root
        self.jar = next(j for j in ZK_JARS if Path(j).is_file())
        ports = free_ports(9, "127.0.0.1")
        self.addrs = [("127.0.0.1", p) for p in ports[:3]]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.clients: list[Any] = []
        servers = "\n".join(f"server.{i + 1}=127.0.0.1:{ports[3 + 2 * i]}:{ports[4 + 2 * i]}" for i in range(3))
        for i in range(3):
            d = root / f"zk{i + 1}"
            (d / "data").mkdir(parents=True)
            (d / "data" / "myid").write_text(f"{i + 1}\n")
            (d / "zoo.cfg").write_text(
                f"tickTime={ZK_TICK_MS}\ninitLimit={ZK_INIT_LIMIT}\nsyncLimit={ZK_SYNC_LIMIT}\ndataDir={d / 'data'}\n"
                f"clientPort={ports[i]}\n"
                "clientPortAddress=127.0.0.1\nforceSync=yes\n4lw.commands.whitelist=srvr\nadmin.enableServer=false\n"
                f"{servers}\n")

    def _spawn(self, i: int) -> None:
        d = self.root / f"zk{i + 1}"
        with open(d / "log", "ab") as log:
            self.procs[i] = subprocess.Popen(
                ["java", "-Xmx256m", "-cp", self.jar, ZK_MAIN, str(d / "zoo.cfg")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def start(self) -> None:
        for i in range(3):
            self._spawn(i)

    def stop(self) -> None:
        self.close_writers()
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()

    def pid(self, i: int) -> int | None:
        p = self.procs.get(i)
        return p.pid if p is not None and p.poll() is None else None

    def mode(self, i: int) -> str | None:
        try:
            with socket.create_connection(self.addrs[i], timeout=2.0) as s:
                s.sendall(b"srvr")
                out = b""
                while chunk := s.recv(4096):
                    out += chunk
        except OSError:
            return None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def restart(self, i: int) -> None:
        self._spawn(i)

    def _client(self, servers: list[int]) -> Any:
        zk = self.Kazoo(hosts=",".join(f"{self.addrs[i][0]}:{self.addrs[i][1]}" for i in servers), timeout=10.0)
        zk.start(timeout=30)
        return zk

    def seq_creates(self, server: int, parent: str, n: int) -> list[float]:
        zk = self._client([server])
        try:
            zk.ensure_path(parent)
            lat = []
            for k in range(n):
                t0 = time.perf_counter()
                zk.create(f"{parent}/s{k}", DATA)
                lat.append(time.perf_counter() - t0)
            return lat
        finally:
            zk.stop()
            zk.close()

    def async_creates(self, server: int, parent: str, n: int, outstanding: int) -> int:
        zk = self._client([server])
        try:
            zk.ensure_path(parent)
            slots = threading.Semaphore(outstanding)
            errors = []

            def done(r: Any) -> None:
                if r.exception is not None:
                    errors.append(r.exception)
                slots.release()

            for k in range(n):
                slots.acquire()
                zk.create_async(f"{parent}/a{k}", DATA).rawlink(done)
            for _ in range(outstanding):
                slots.acquire()
            return len(errors)
        finally:
            zk.stop()
            zk.close()

    def gets(self, server: int, path: str, n: int) -> None:
        zk = self._client([server])
        try:
            zk.ensure_path(path)
            for _ in range(n):
                zk.get(path)
        finally:
            zk.stop()
            zk.close()

    def writer(self) -> Callable[[str], None]:
        from kazoo.exceptions import ConnectionLoss, NodeExistsError, OperationTimeoutError, SessionExpiredError

        zk = self._client([0, 1, 2])
        self.clients.append(zk)

        def create(path: str, deadline: float = 30.0) -> None:
            # kazoo queues a request while it reconnects; a connection loss fails it: send it again
            end = time.monotonic() + deadline
            while True:
                try:
                    zk.create(path, DATA, makepath=True)
                    return
                except NodeExistsError:
                    return  # an earlier attempt, cut off by the connection loss, took effect
                except (ConnectionLoss, OperationTimeoutError, SessionExpiredError):
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.005)
        return create

    def close_writers(self) -> None:
        for zk in self.clients:
            zk.stop()
            zk.close()
        self.clients.clear()

    def listing(self, server: int, parent: str) -> set[str]:
        zk = self._client([server])
        try:
            zk.sync(parent)
            return set(zk.get_children(parent))
        finally:
            zk.stop()
            zk.close()


class Pnyx(Cluster):
    name = "Pnyx"

    def __init__(self, root: Path, config: Config, election: str = "fle") -> None:
        self.dir = root / f"pnyx-{election}"
        self.name = f"Pnyx ({election})"
        self.config = dataclasses.replace(config, zab=dataclasses.replace(config.zab, election=election))
        self.addrs = []
        self.clients: list[RetryingClient] = []

    def start(self) -> None:
        meta = start_cluster(ZAB, 3, self.dir, config=self.config, timeout=60)
        self.addrs = meta.clients
        wait_leader(meta)

    def stop(self) -> None:
        self.close_writers()
        stop_cluster(self.dir)

    def pid(self, i: int) -> int | None:
        return node_pid(self.dir, i)

    def describe(self) -> str:
        out = []
        for i in range(3):
            try:
                x = dict(call(self.addrs[i], "info", timeout=2.0))
                out.append(f"n{i + 1}: {x.get('role')} {x.get('phase')} leader {x.get('leader')} epoch {x.get('epoch')} "
                           f"accepted {x.get('accepted_epoch')} last zxid {x.get('last_zxid')}")
            except (Unavailable, ClientError) as exc:
                out.append(f"n{i + 1}: {exc}")
        return "; ".join(out)

    def mode(self, i: int) -> str | None:
        try:
            x = dict(call(self.addrs[i], "info", timeout=2.0))
        except (Unavailable, ClientError):
            return None
        if x.get("phase") != "BROADCAST" or not x.get("serving", True):  # serving: synchronized, answers reads
            return None
        return {"LEADING": "leader", "FOLLOWING": "follower"}.get(str(x.get("role")))

    def kill(self, i: int) -> None:
        kill_node(self.dir, i)

    def restart(self, i: int) -> None:
        start_node(self.dir, i)
        wait_ready(self.dir, [i], timeout=60)

    def seq_creates(self, server: int, parent: str, n: int) -> list[float]:
        with Client(*self.addrs[server]) as c:
            _ensure(c, parent)
            lat = []
            for k in range(n):
                t0 = time.perf_counter()
                c.call("create", f"{parent}/s{k}", DATA)
                lat.append(time.perf_counter() - t0)
            return lat

    def async_creates(self, server: int, parent: str, n: int, outstanding: int) -> int:
        with Client(*self.addrs[server]) as c:
            _ensure(c, parent)

        async def run() -> int:
            c = await AsyncClient(*self.addrs[server]).connect()
            todo = iter(range(n))
            errors = 0

            async def worker() -> None:
                nonlocal errors
                for k in todo:
                    try:
                        await c.call("create", f"{parent}/a{k}", DATA, timeout=30)
                    except (ClientError, Unavailable):
                        errors += 1

            await asyncio.gather(*(worker() for _ in range(outstanding)))
            await c.close()
            return errors

        return asyncio.run(run())

    def gets(self, server: int, path: str, n: int) -> None:
        with Client(*self.addrs[server]) as c:
            _ensure(c, path)
            for _ in range(n):
                c.call("get", path)

    def writer(self) -> Callable[[str], None]:
        c = RetryingClient(self.addrs, total=30.0)
        self.clients.append(c)

        def create(path: str) -> None:
            parent = path.rsplit("/", 1)[0]
            try:
                c.call("create", path, DATA)
            except ClientError as exc:
                if "does not exist" in str(exc):  # its parent does not (the first write of a directory)
                    _ensure(c, parent)
                    create(path)
                elif "already exists" not in str(exc):  # else: an earlier attempt took effect
                    raise
        return create

    def close_writers(self) -> None:
        for c in self.clients:
            c.close()
        self.clients.clear()

    def log_length(self) -> int | None:
        logs = []
        for addr in self.addrs:
            with contextlib.suppress(Unavailable, ClientError):
                logs.append(int(dict(call(addr, "info", timeout=5.0))["log"]))
        return max(logs, default=None)

    def listing(self, server: int, parent: str) -> set[str]:
        with Client(*self.addrs[server], timeout=30) as c:
            c.call("sync")
            return set(c.call("ls", parent))


def _ensure(c: Client | RetryingClient, path: str) -> None:
    """Create path and its missing ancestors (as kazoo's ensure_path)."""
    parts = path.strip("/").split("/")
    for k in range(1, len(parts) + 1):
        try:
            c.call("create", "/" + "/".join(parts[:k]), b"")
        except ClientError as exc:
            if "already exists" not in str(exc):
                raise


# ---- the workloads ----------------------------------------------------------------------
def run_round(cl: Cluster, r: int, sizes: dict[str, int], kills: int) -> dict[str, Any]:
    """One round of the four workloads on one cluster; numbers and raw samples."""
    if cl.down is not None:
        cl.restart(cl.down)
        cl.down = None
    leader, follower = cl.wait_quorum()
    out: dict[str, Any] = {}
    cl.seq_creates(follower, f"/warm{r}", sizes["warm"])

    cpu0, t0 = cl.cpu(), time.perf_counter()
    lat = cl.seq_creates(follower, f"/seq{r}", sizes["seq"])
    el, cpu = time.perf_counter() - t0, cl.cpu() - cpu0
    out["seq"] = {"ops": len(lat) / el, "latencies": lat, "cpu_per_write": cpu / len(lat)}

    cpu0, t0 = cl.cpu(), time.perf_counter()
    errors = cl.async_creates(follower, f"/async{r}", sizes["async"], 16)
    el, cpu = time.perf_counter() - t0, cl.cpu() - cpu0
    out["async16"] = {"ops": (sizes["async"] - errors) / el, "errors": errors, "cpu_per_write": cpu / sizes["async"]}

    t0 = time.perf_counter()
    cl.gets(follower, "/getme", sizes["gets"])
    out["gets"] = {"ops": sizes["gets"] / (time.perf_counter() - t0)}

    out["kill"] = leader_kills(cl, r, kills)
    out["log"] = cl.log_length()
    return out


def leader_kills(cl: Cluster, r: int, kills: int) -> dict[str, Any]:
    """Kill the leader `kills` times under a writer's load; recovery times and lost writes."""
    parent = f"/kill{r}"
    acked: list[str] = []
    stop = threading.Event()
    failures: list[str] = []
    write = cl.writer()
    probe = cl.writer()

    def load() -> None:
        k = 0
        while not stop.is_set():
            name = f"w{k}"
            try:
                write(f"{parent}/{name}")
                acked.append(name)
            except Exception as exc:  # noqa: BLE001 - any failure is reported, the load goes on
                failures.append(f"{type(exc).__name__}: {exc}")
            k += 1

    probe(f"{parent}/start")
    th = threading.Thread(target=load, daemon=True)
    th.start()
    recoveries: list[float] = []
    stalls: list[str] = []  # kills after which no write succeeded within the writer's total retry time
    try:
        for k in range(kills):
            leader, _ = cl.wait_quorum()
            time.sleep(0.3)  # the writer's load runs
            t_kill = time.perf_counter()
            cl.kill(leader)
            try:
                probe(f"{parent}/probe{k}")
                recoveries.append(time.perf_counter() - t_kill)
            except Exception as exc:  # noqa: BLE001 - a cluster that never recovers is a result, reported
                stalls.append(f"kill {k + 1}: {type(exc).__name__}: {exc}")
            time.sleep(0.2)
            if k + 1 < kills:
                cl.restart(leader)
            else:
                cl.down = leader  # restarted when the next round begins: the check below runs on the live two
    finally:
        stop.set()
        th.join(60)
        cl.close_writers()
    missing = {i: len(set(acked) - cl.listing(i, parent)) for i in range(3) if i != cl.down}
    return {"recoveries": recoveries, "stalls": stalls, "acked": len(acked), "lost": sum(missing.values()),
            "missing_per_server": missing, "load_failures": failures[:5], "load_failure_count": len(failures)}


# ---- the table ------------------------------------------------------------------------------
def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [x for rd in rounds for x in rd["seq"]["latencies"]]
    rec = [x for rd in rounds for x in rd["kill"]["recoveries"]]
    med = statistics.median
    return {
        "seq_ops": med(rd["seq"]["ops"] for rd in rounds),
        "seq_p50_ms": pct(lat, 50) * 1000, "seq_p99_ms": pct(lat, 99) * 1000,
        "seq_cpu_ms_per_write": med(rd["seq"]["cpu_per_write"] for rd in rounds) * 1000,
        "async16_ops": med(rd["async16"]["ops"] for rd in rounds),
        "async16_cpu_ms_per_write": med(rd["async16"]["cpu_per_write"] for rd in rounds) * 1000,
        "async16_errors": sum(rd["async16"]["errors"] for rd in rounds),
        "gets_ops": med(rd["gets"]["ops"] for rd in rounds),
        "kills": len(rec),
        "recovery_median_ms": med(rec) * 1000 if rec else None,
        "recovery_max_ms": max(rec) * 1000 if rec else None,
        "recoveries_ms": [round(x * 1000, 1) for x in rec],
        "stalls": [x for rd in rounds for x in rd["kill"]["stalls"]],
        "kill_acked_writes": sum(rd["kill"]["acked"] for rd in rounds),
        "kill_load_failures": sum(rd["kill"]["load_failure_count"] for rd in rounds),
        "lost": sum(rd["kill"]["lost"] for rd in rounds),
        "recovery_median_ms_per_round": [round(med(rd["kill"]["recoveries"]) * 1000) if rd["kill"]["recoveries"] else None
                                         for rd in rounds],
        "log_per_round": [rd["log"] for rd in rounds],  # Pnyx: its log's length after each round (recovery grows with it)
    }


ROWS = (("sequential creates, ops/s", "seq_ops", "{:.0f}"), ("  p50 ms", "seq_p50_ms", "{:.1f}"),
        ("  p99 ms", "seq_p99_ms", "{:.1f}"), ("  CPU ms per write (3 servers)", "seq_cpu_ms_per_write", "{:.2f}"),
        ("16 outstanding creates, ops/s", "async16_ops", "{:.0f}"),
        ("  CPU ms per write (3 servers)", "async16_cpu_ms_per_write", "{:.2f}"),
        ("gets at a follower, ops/s", "gets_ops", "{:.0f}"),
        ("leader kill: recovery median ms", "recovery_median_ms", "{:.0f}"),
        ("  recovery max ms", "recovery_max_ms", "{:.0f}"), ("  kills recovered", "kills", "{}"),
        ("  acknowledged writes under kills", "kill_acked_writes", "{}"), ("  lost", "lost", "{}"))


def print_table(res: dict[str, Any]) -> None:
    zk, px = res["zookeeper"], res["pnyx"]
    print(f"{'':34} {'ZooKeeper':>10} {'Pnyx':>10} {'Pnyx/ZK':>8}   (Pnyx: election {res['pnyx_election']})")
    for label, key, fmt in ROWS:
        z = fmt.format(zk[key]) if zk and zk.get(key) is not None else "-"
        p = fmt.format(px[key]) if px.get(key) is not None else "-"
        ratio = res["ratios"].get(key)
        print(f"{label:34} {z:>10} {p:>10} {'' if ratio is None else f'{ratio:.2f}x':>8}")
    for name, side in (("ZooKeeper", zk), *((f"Pnyx ({e})", s) for e, s in res["pnyx_by_election"].items())):
        if side:
            print(f"{name}: recovery median ms by round {side['recovery_median_ms_per_round']}"
                  + (f", log length after each round {side['log_per_round']}" if side["log_per_round"][0] is not None else ""))
    for side in (zk, *res["pnyx_by_election"].values()):
        for stall in (side or {}).get("stalls", []):
            print(f"no write succeeded after a leader kill ({stall})")
    if res["zookeeper_skipped"]:
        print(f"ZooKeeper skipped: {res['zookeeper_skipped']}. Install: {INSTALL_HINT}")
    print_recovery(res)


def detector_settings(config: Config) -> str:
    """The Pnyx timers that bound a leader change (config.toml's [timers.*])."""
    t = config.timer
    return (f"followerTimeout {t('followerTimeout').period:g} s and leaderTimeout {t('leaderTimeout').period:g} s "
            f"(a dead leader's closed connection ends a follower's wait at once), FLE finalize wait "
            f"{t('finalize').period:g} s, lookingTimeout {t('lookingTimeout').period:g} s; random election: elect every "
            f"{t('elect').period:g} s +-{t('elect').jitter:.0%}")


def print_recovery(res: dict[str, Any]) -> None:
    """Leader-kill recovery of every system measured: ZooKeeper and each Pnyx election."""
    sides = ([("ZooKeeper", res["zookeeper"])] if res["zookeeper"] else []) + \
        [(f"Pnyx, election {mode}", side) for mode, side in res["pnyx_by_election"].items()]
    print()
    print(f"{'leader kill under write load':34} {'median ms':>10} {'max ms':>8} {'kills':>6} {'acked':>7} {'lost':>5}")
    for name, side in sides:
        med = "-" if side["recovery_median_ms"] is None else f"{side['recovery_median_ms']:.0f}"
        mx = "-" if side["recovery_max_ms"] is None else f"{side['recovery_max_ms']:.0f}"
        print(f"{name:34} {med:>10} {mx:>8} {side['kills']:>6} {side['kill_acked_writes']:>7} {side['lost']:>5}")
    if res["zookeeper"]:
        print(f"ZooKeeper: {ZK_LIMITS}; finalizeWait 200 ms (FastLeaderElection's default)")
    print(f"Pnyx: {res['pnyx_detectors']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--kills", type=int, default=4, help="leader kills per round and system")
    p.add_argument("--seq", type=int, default=300, help="sequential creates per round")
    p.add_argument("--async", dest="async_", type=int, default=600, help="creates with 16 outstanding per round")
    p.add_argument("--gets", type=int, default=1000, help="gets per round")
    p.add_argument("--smoke", action="store_true", help="one round, one kill, tiny counts")
    p.add_argument("--no-zookeeper", action="store_true", help="measure Pnyx only")
    p.add_argument("--json", action="store_true", help="the results as JSON on stdout instead of the table")
    p.add_argument("--pnyx-config", metavar="TOML", help="the Pnyx nodes' configuration (timers; docs/impl.md)")
    p.add_argument("--elections", default="fle", metavar="MODE[,MODE]",
                   help="Pnyx's election modes to run, each on its own cluster: fle, random (default: fle)")
    p.add_argument("--dir", help="keep the servers' directories (logs, data) here instead of a temporary directory")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    if a.smoke:
        a.rounds, a.kills, a.seq, a.async_, a.gets = 1, 1, 20, 40, 40
    if min(a.rounds, a.kills, a.seq, a.async_, a.gets) < 1:
        print("bench_zk: --rounds, --kills, --seq, --async and --gets must be at least 1", file=sys.stderr)
        return 2
    try:
        config = load_config(a.pnyx_config)
    except ConfigError as exc:
        print(f"bench_zk: {exc}", file=sys.stderr)
        return 2
    if not config.fsync:
        print("bench_zk: the comparison is with fsync on: --pnyx-config must not turn it off", file=sys.stderr)
        return 2
    elections = [e.strip() for e in a.elections.split(",") if e.strip()]
    bad = [e for e in elections if e not in CHOICES["election"]] or (["none"] if not elections else [])
    if bad or len(set(elections)) != len(elections):
        print(f"bench_zk: --elections {a.elections}: expected distinct modes among {', '.join(CHOICES['election'])}",
              file=sys.stderr)
        return 2
    sizes = {"warm": min(200, a.seq), "seq": a.seq, "async": a.async_, "gets": a.gets}
    skipped = "--no-zookeeper" if a.no_zookeeper else zookeeper_missing()
    say = (lambda *x: print(*x, file=sys.stderr)) if a.json else print
    if skipped:
        say(f"ZooKeeper side skipped: {skipped}. Install: {INSTALL_HINT}")
    results: dict[str, list[dict[str, Any]]] = {"zookeeper": [], **{f"pnyx-{e}": [] for e in elections}}
    if a.dir and Path(a.dir).exists() and any(Path(a.dir).iterdir()):
        print(f"bench_zk: --dir {a.dir}: not empty", file=sys.stderr)
        return 2
    with contextlib.nullcontext(a.dir) if a.dir else tempfile.TemporaryDirectory(prefix="bench_zk") as tmp:
        clusters: dict[str, Cluster] = {f"pnyx-{e}": Pnyx(Path(tmp), config, e) for e in elections}
        if not skipped:
            clusters = {"zookeeper": ZooKeeper(Path(tmp)), **clusters}
        try:
            for cl in clusters.values():
                cl.start()
            for r in range(a.rounds):
                for key, cl in clusters.items():
                    say(f"round {r + 1}/{a.rounds}: {cl.name}")
                    results[key].append(run_round(cl, r, sizes, a.kills))
        except NoQuorum as exc:
            print(f"bench_zk: {exc}", file=sys.stderr)
            return 1
        finally:
            for cl in clusters.values():
                cl.stop()
    zk = summarize(results["zookeeper"]) if results["zookeeper"] else None
    by_election = {e: summarize(results[f"pnyx-{e}"]) for e in elections}
    px = by_election[elections[0]]
    ratios = {key: px[key] / zk[key] for _, key, _ in ROWS
              if zk and key not in ("kills", "kill_acked_writes", "lost") and zk.get(key) and px.get(key) is not None}
    res = {"settings": {"rounds": a.rounds, "kills_per_round": a.kills, **sizes, "fsync": True, "servers": 3},
           "zookeeper": zk, "zookeeper_skipped": skipped, "pnyx": px, "pnyx_election": elections[0],
           "pnyx_by_election": by_election, "ratios": ratios, "zookeeper_limits": ZK_LIMITS,
           "pnyx_detectors": detector_settings(config)}
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"3 servers on loopback, fsync on; {a.rounds} round(s), {a.kills} leader kill(s) per round and system")
        print_table(res)
    lost = sum(side["lost"] for side in by_election.values()) + (zk["lost"] if zk else 0)
    if lost:
        print(f"bench_zk: {lost} acknowledged write(s) missing after the kills", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from entry import run

    run(main)
