"""A node process: the compiled spec on asyncio, with peers, timers, storage and a client port.

`python -m pnyx.impl.server CLUSTER_DIR NODE_INDEX` reads `cluster.json` and `config.toml` from the
cluster directory (written by `pnyx cluster start`), keeps its data in `CLUSTER_DIR/nK/`, and
serves until SIGTERM. What the client port offers depends on the spec: the gossip and ZAB
services for the bundled specs, or the spec's own request handlers for any other spec.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pnyx.model.compiler import CompiledSpec, load
from pnyx.model.errors import PnyxError
from pnyx.model.types import show

from .client import ClientError
from .config import Config, TimerConfig, load_config
from .node import HandlerError, NodeRuntime, Step, Transport
from .storage import FileStorage
from .transport import TcpPeers, UdpPeers, read_frame
from .wire import WireError, frame

log = logging.getLogger("pnyx.node")


@dataclass
class ClusterMeta:
    """What every node of a cluster agrees on, stored as cluster.json."""

    spec: str
    defines: dict[str, Any]
    nodes: int
    service: str
    peers: list[tuple[str, int]]
    clients: list[tuple[str, int]]

    @staticmethod
    def read(directory: str | Path) -> ClusterMeta:
        p = Path(directory) / "cluster.json"
        try:
            raw = json.loads(p.read_text())
            return ClusterMeta(raw["spec"], dict(raw["defines"]), int(raw["nodes"]), str(raw["service"]),
                               [(h, int(port)) for h, port in raw["peers"]], [(h, int(port)) for h, port in raw["clients"]])
        except FileNotFoundError:
            raise PnyxError(f"{directory}: no cluster here (no cluster.json); start one with `pnyx cluster start`") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PnyxError(f"{p}: unreadable cluster description: {exc}") from None

    def write(self, directory: str | Path) -> None:
        data = {"spec": self.spec, "defines": self.defines, "nodes": self.nodes, "service": self.service,
                "peers": [list(a) for a in self.peers], "clients": [list(a) for a in self.clients]}
        tmp = Path(directory) / "cluster.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, Path(directory) / "cluster.json")


class Timer:
    """Fires `callback` every period (with jitter); `reset()` postpones the next firing."""

    def __init__(self, name: str, cfg: TimerConfig, callback: Callable[[], None], rng: random.Random) -> None:
        self.name = name
        self.cfg = cfg
        self.callback = callback
        self.rng = rng
        self.deadline = 0.0
        self.task: asyncio.Task[None] | None = None

    def _period(self) -> float:
        return self.cfg.period * (1 + self.rng.uniform(-self.cfg.jitter, self.cfg.jitter))

    def reset(self) -> None:
        self.deadline = asyncio.get_running_loop().time() + self._period()

    def start(self) -> None:
        self.reset()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self.deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            self.reset()
            try:
                self.callback()
            except HandlerError as exc:
                log.error("timer %s: %s", self.name, exc)
            except Exception:  # noqa: BLE001 - a timer must outlive a bug in one firing
                log.exception("timer %s failed", self.name)


class Service:
    """What a node offers on its client port, built on one or more `NodeRuntime`s."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.cs = host.cs
        self.ops: dict[str, Callable[..., Awaitable[Any]]] = {}

    async def start(self) -> None: ...

    def on_peer(self, src: int, payload: Any) -> None: ...

    def info(self) -> dict[str, Any]:
        return {}


class SpecNode:
    """One `NodeRuntime` with the host's storage, peers and timers wired in."""

    def __init__(self, host: Host, transport: Transport, record: str = "node",
                 on_step: Callable[[Step], None] | None = None) -> None:
        self.host = host
        cs = host.cs
        self.rt = NodeRuntime(cs, host.node_id, host.storage, transport, rng=host.rng, record=record, keep_ghost=False,
                              group_commit=host.group_commit)
        if on_step is not None:
            self.rt.observers.append(on_step)
        self.timers: dict[int, Timer] = {}
        self.resets: dict[int, list[Timer]] = {}

    def start(self, timers: bool = True) -> None:
        """Boot (or recover) the runtime; with `timers`, fire the spec's timers from the host's clock."""
        self.rt.start()
        for h in self.host.cs.timers if timers else ():
            t = self.host.timer(h.name, lambda h=h: self.rt.timer(h))
            self.timers[h.index] = t
            for mname in t.cfg.reset_on:
                for m in self.host.cs.messages:
                    if m.name == mname:
                        self.resets.setdefault(m.id, []).append(t)

    def deliver(self, src: int, msg: Any) -> Step | None:
        if not isinstance(msg, tuple) or not msg or not isinstance(msg[0], int):
            return None
        for t in self.resets.get(msg[0], ()):
            t.reset()
        try:
            return self.rt.deliver(src, msg)
        except HandlerError as exc:
            log.error("%s", exc)
            return None


class RawService(Service):
    """Any spec: clients call its request handlers by name and read its state."""

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.node = SpecNode(host, host.peers)
        self.ops = {"request": self.op_request, "state": self.op_state}

    async def start(self) -> None:
        self.node.start()

    def on_peer(self, src: int, payload: Any) -> None:
        self.node.deliver(src, payload)

    async def op_request(self, name: Any, args: Any = ()) -> Any:
        if not isinstance(name, str) or not isinstance(args, tuple):
            raise ClientError("request: expected a handler name and a tuple of arguments")
        try:
            step = self.node.rt.request(name, args)
        except KeyError as exc:
            raise ClientError(str(exc.args[0])) from None
        except (HandlerError, TypeError) as exc:
            raise ClientError(f"request {name}{args} failed: {exc}") from None
        if step is None:
            raise ClientError(f"request {name} refused: its guard does not hold at this node now")
        return step.replies

    async def op_state(self) -> Any:
        rt = self.node.rt
        return tuple((v.name, show(rt.state[v.slot], v.type)) for v in self.cs.vars if v.storage != "ghost")


class Host:
    """Everything one node process owns: spec, storage, peer transport, timers, client server."""

    def __init__(self, directory: str | Path, node_id: int, cfg: Config | None = None) -> None:
        self.dir = Path(directory)
        self.meta = ClusterMeta.read(directory)
        if not 0 <= node_id < self.meta.nodes:
            raise PnyxError(f"node index {node_id} is outside 0..{self.meta.nodes - 1}")
        self.node_id = node_id
        self.cfg = cfg or load_config(self.dir / "config.toml" if (self.dir / "config.toml").exists() else None)
        self.cs: CompiledSpec = load(self.meta.spec, self.meta.defines)
        self.data_dir = self.dir / f"n{node_id + 1}"
        self.storage = FileStorage(self.data_dir / "data", fsync=self.cfg.fsync)
        self.rng = random.Random()
        self.peers: TcpPeers | UdpPeers
        if self.cs.network == "fifo":
            self.peers = TcpPeers(node_id, self.meta.peers, self._on_peer)
        else:
            self.peers = UdpPeers(node_id, self.meta.peers, self._on_peer)
        self.service = make_service(self)
        self.timers: list[Timer] = []
        self.stopped = asyncio.Event()
        self._pending: list[NodeRuntime] = []
        self._flush_scheduled = False
        self._durable_waiters: list[asyncio.Future[None]] = []

    # ---- group commit ----------------------------------------------------------------
    def group_commit(self, rt: NodeRuntime) -> None:
        """A runtime took a step: flush it (save, then send) once the current burst of events is handled."""
        if rt not in self._pending:
            self._pending.append(rt)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        for rt in pending:
            rt.save_pending()  # every save of the burst first (fsync'd) ...
        for rt in pending:
            rt.send_pending()  # ... then every message of it
        waiters, self._durable_waiters = self._durable_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def durable(self) -> None:
        """Return once every step taken so far is saved (and its messages sent)."""
        if not self._pending:
            return
        fut = asyncio.get_running_loop().create_future()
        self._durable_waiters.append(fut)
        await fut

    def timer(self, name: str, callback: Callable[[], Any], cfg: TimerConfig | None = None) -> Timer:
        """Start a periodic timer; its period comes from the config unless `cfg` is given."""
        t = Timer(name, cfg or self.cfg.timer(name), callback, self.rng)
        self.timers.append(t)
        t.start()
        return t

    def _on_peer(self, src: int, payload: Any) -> None:
        try:
            self.service.on_peer(src, payload)
        except HandlerError as exc:
            log.error("%s", exc)
        except Exception:  # noqa: BLE001 - one bad message must not end the peer connection
            log.exception("handling a message from n%d failed", src + 1)

    async def serve(self) -> None:
        await self.peers.start()
        await self.service.start()
        host, port = self.meta.clients[self.node_id]
        server = await asyncio.start_server(self._client, host, port)
        (self.data_dir / "ready").write_text(str(os.getpid()))
        log.info("node %d serving %s on %s:%d", self.node_id + 1, self.cs.name, host, port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopped.set)
        await self.stopped.wait()
        server.close()
        await self.peers.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                req = await read_frame(reader)
                t = asyncio.ensure_future(self._answer(req, writer))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        except (asyncio.IncompleteReadError, OSError, ConnectionError, WireError):
            pass
        finally:
            writer.close()

    async def _answer(self, req: Any, writer: asyncio.StreamWriter) -> None:
        if not (isinstance(req, tuple) and len(req) == 3 and isinstance(req[1], str) and isinstance(req[2], tuple)):
            writer.write(frame((None, False, "malformed request: expected (id, op, args)")))
            return
        rid, op, args = req
        try:
            if op == "ping":
                result: Any = ("pong", self.node_id)
            elif op == "info":
                result = tuple(sorted({"node": self.node_id, "spec": self.cs.name, "sent": self.peers.sent,
                                       "dropped": self.peers.dropped, **self.service.info()}.items()))
            elif op in self.service.ops:
                result = await self.service.ops[op](*args)
            else:
                raise ClientError(f"unknown operation {op!r} (this node offers: {', '.join(sorted(self.service.ops))})")
            await self.durable()  # no answer leaves before what its request changed is on disk
            ans = (rid, True, result)
        except ClientError as exc:
            ans = (rid, False, str(exc))
        except TypeError as exc:
            ans = (rid, False, f"{op}: bad arguments: {exc}")
        except HandlerError as exc:
            log.error("%s", exc)
            ans = (rid, False, f"{op}: internal error: {exc}")
        try:
            writer.write(frame(ans))
        except (OSError, RuntimeError):
            pass


def make_service(host: Host) -> Service:
    kind = host.meta.service
    if kind == "gossip":
        from .gossip_service import GossipService

        return GossipService(host)
    if kind == "zab":
        from .zab_service import ZabService

        return ZabService(host)
    return RawService(host)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        sys.stderr.write("usage: python -m pnyx.impl.server CLUSTER_DIR NODE_INDEX\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        host = Host(args[0], int(args[1]))
        asyncio.run(host.serve())
    except PnyxError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
