"""A node's host: the process around a service, with storage, peers, timers and a client port.

The host knows nothing of any particular service: it is handed a factory (impl/server.py
picks it from the cluster's recorded service) and gives the service what `NodeHost` in
impl/service.py promises. It groups the fsyncs of one burst of events, answers the
client protocol's `ping` and `info` itself, and passes every other operation to the service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pnyx.model.compiler import CompiledSpec, load
from pnyx.model.errors import PnyxError

from .client import ClientError
from .config import Config, TimerConfig, load_config
from .meta import REBUILD_MARKER, STATE_MARKER, ClusterMeta
from .node import HandlerError, NodeRuntime
from .service import Service
from .storage import FileStorage
from .transport import TcpPeers, UdpPeers, read_frame
from .wire import WireError, frame

log = logging.getLogger("pnyx.node")


class Timer:
    """Fires `callback` every period (with jitter); `reset()` postpones the next firing.

    A prompt timer (period 0) has no clock of its own: the host fires it after each flush."""

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
        if not self.cfg.prompt:
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self.deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            self.fire()

    def fire(self) -> None:
        """Fire now (a failure detector that learned its peer is gone); the next firing is a period away."""
        if not self.cfg.prompt:
            self.reset()
        try:
            self.callback()
        except HandlerError as exc:
            log.error("timer %s: %s", self.name, exc)
        except Exception:
            log.exception("timer %s failed", self.name)


class Host:
    """Everything one node process owns: spec, storage, peer transport, timers, client server."""

    def __init__(self, directory: str | Path, node_id: int, make_service: Callable[[Host], Service],
                 cfg: Config | None = None) -> None:
        self.dir = Path(directory)
        self.meta = ClusterMeta.read(directory)
        if not 0 <= node_id < self.meta.nodes:
            raise PnyxError(f"node index {node_id} is outside 0..{self.meta.nodes - 1}")
        self.node_id = node_id
        self.cfg = cfg or load_config(self.dir / "config.toml" if (self.dir / "config.toml").exists() else None)
        self.cs: CompiledSpec = load(self.meta.spec, self.meta.defines)
        self.data_dir = self.dir / f"n{node_id + 1}"
        self.storage = FileStorage(self.data_dir / "data", fsync=self.cfg.fsync, marker=self.data_dir / STATE_MARKER)
        self.rng = random.Random()
        self.rebuilt = (self.data_dir / REBUILD_MARKER).exists()  # `cluster restart --rebuild` asked for it
        self.peers: TcpPeers | UdpPeers
        if self.cs.network == "fifo":
            self.peers = TcpPeers(node_id, self.meta.peers, self._on_peer)
        else:
            self.peers = UdpPeers(node_id, self.meta.peers, self._on_peer, loss=self.cfg.loss, rng=self.rng)
        self.service = make_service(self)  # last: a service may use everything above
        self.timers: list[Timer] = []
        self._prompt: list[Timer] = []  # period 0: fired after each flush
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
        for t in self._prompt:  # a step it takes is flushed in turn, and fires it again
            t.fire()

    async def durable(self) -> None:
        """Return once every step taken so far is saved (and its messages sent)."""
        if not self._pending:
            return
        fut = asyncio.get_running_loop().create_future()
        self._durable_waiters.append(fut)
        await fut

    def timer(self, name: str, callback: Callable[[], Any], cfg: TimerConfig | None = None) -> Timer:
        """Start a periodic timer (period 0: fired after each flush); its period comes from the config unless `cfg` is given."""
        t = Timer(name, cfg or self.cfg.timer(name), callback, self.rng)
        self.timers.append(t)
        if t.cfg.prompt:
            self._prompt.append(t)
        t.start()
        return t

    def on_peer_lost(self, listener: Callable[[int], None]) -> None:
        """Call `listener(peer)` whenever a connection with a peer breaks (TCP; UDP has no connections)."""
        if isinstance(self.peers, TcpPeers):
            self.peers.lost.append(listener)

    def _on_peer(self, src: int, payload: Any) -> None:
        try:
            self.service.on_peer(src, payload)
        except HandlerError as exc:
            log.error("%s", exc)
        except Exception:
            log.exception("handling a message from n%d failed", src + 1)

    async def serve(self) -> None:
        await self.peers.start()
        await self.service.start()
        (self.data_dir / REBUILD_MARKER).unlink(missing_ok=True)  # the flag is in the saved state now
        for repaired in self.storage.torn_tails:
            log.warning("repaired at start-up: %s", repaired)
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
                                       "dropped": self.peers.dropped,
                                       "repaired": tuple(self.storage.torn_tails), **self.service.info()}.items()))
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
            data = frame(ans)
        except (TypeError, WireError) as exc:  # an answer the wire format cannot carry: say so rather than go silent
            log.error("%s: answer not encodable: %s", op, exc)
            data = frame((rid, False, f"{op}: internal error: the answer cannot be encoded ({exc})"))
        try:
            writer.write(data)
        except (OSError, RuntimeError):
            pass
