"""Peer-to-peer transports on asyncio: TCP for `fifo` specs, UDP for `unordered` ones.

Both carry wire-encoded values between node processes and never block the caller: a node's
step hands its messages over synchronously, the event loop writes them out.

TCP: one outgoing connection per peer, opened on first use, greeted with the sender's id;
frames on one connection arrive in order (the spec's `fifo` channel). When a connection
breaks (the peer crashed), whatever was queued for it is dropped, as the model empties a
crashed node's channels; the next send opens a new connection. Whoever listens in `lost`
hears of every connection with a peer that broke or could not be opened (a failure detector
that watches that peer need not wait for its timeout); a `disconnect` of our own is not news.
UDP: one datagram per message, `(src, payload)`; the network may lose or reorder them,
exactly what an `unordered` spec assumes; `loss` makes it lose a given fraction on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from .wire import WireError, decode, encode, frame, frame_length, split_frames

log = logging.getLogger("pnyx.transport")

Deliver = Callable[[int, Any], None]
Addr = tuple[str, int]


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next value on a stream; IncompleteReadError at a clean end of stream."""
    header = await reader.readexactly(4)
    body = await reader.readexactly(frame_length(header))
    return decode(body)


class _Link:
    """The outgoing TCP connection to one peer and the frames waiting for it.

    `put` appends a frame; every frame put during one turn of the event loop goes out in one
    write (one system call per burst, no task switch per message). While there is no
    connection, frames wait and the link task connects; when the connection ends (the peer
    never writes on it, so end of stream means it died) whatever is still waiting is dropped,
    as the model empties a crashed node's channel, and the next frame opens a new connection."""

    def __init__(self, owner: TcpPeers, dst: int) -> None:
        self.owner = owner
        self.dst = dst
        self.pending: list[bytes] = []
        self.writer: asyncio.StreamWriter | None = None
        self.wanted = asyncio.Event()  # frames wait and there is no connection
        self.flush_scheduled = False
        self.task = asyncio.ensure_future(self.run())

    def put(self, data: bytes) -> None:
        self.pending.append(data)
        if self.writer is None:
            self.wanted.set()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.writer is not None and self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            self.writer.write(data)

    async def run(self) -> None:
        host, port = self.owner.addrs[self.dst]
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            if not self.pending:
                continue
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
            except (TimeoutError, OSError):
                self._drop()
                self.owner.peer_lost(self.dst)
                continue
            try:
                writer.write(frame(("hello", self.owner.self_id)))
                self.writer = writer
                self.flush()
                # The peer never writes on this connection: end of stream means it died. Noticing
                # it stops us from writing into a dead socket, which would lose messages while
                # later ones (on a new connection) arrive: a gap the FIFO model does not allow.
                await reader.read(1)
            except (OSError, ConnectionError):
                pass
            finally:
                self.writer = None
                self._drop()
                writer.transport.abort()  # never flush leftovers of a broken or closed session
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            self.owner.peer_lost(self.dst)  # the connection broke (a disconnect of our own cancels this task instead)

    def _drop(self) -> None:
        self.owner.dropped += len(self.pending)
        self.pending.clear()


class TcpPeers:
    """FIFO channels between node processes over TCP."""

    def __init__(self, self_id: int, addrs: list[Addr], deliver: Deliver) -> None:
        self.self_id = self_id
        self.addrs = addrs
        self.deliver = deliver
        self.links: dict[int, _Link] = {}
        self.inbound: dict[int, set[asyncio.StreamWriter]] = {}
        self.server: asyncio.base_events.Server | None = None
        self.dropped = 0
        self.sent = 0
        self._last: tuple[Any, bytes] | None = None  # the last payload sent and its frame
        self.lost: list[Callable[[int], None]] = []  # called with a peer's id when a connection with it breaks

    def _frame(self, payload: Any) -> bytes:
        """A payload's frame, encoded once when a step sends the same message to several peers."""
        last = self._last
        if last is not None and last[0] is payload:
            return last[1]
        data = frame(payload)
        self._last = (payload, data)
        return data

    def peer_lost(self, peer: int) -> None:
        for listener in self.lost:
            listener(peer)

    def _inbound_lost(self, src: int | None, writer: asyncio.StreamWriter) -> None:
        """An incoming connection ended: news of its peer, unless we disconnected it ourselves."""
        if src is not None and writer in self.inbound.get(src, ()):
            self.peer_lost(src)

    async def start(self) -> None:
        host, port = self.addrs[self.self_id]
        self.server = await asyncio.start_server(self._accept, host, port)

    def disconnect(self, src: int, dst: int) -> None:
        """`disconnect dst` in a handler: both connections with dst are aborted, so nothing in
        flight either way arrives later (the spec's channel is emptied); later sends open new ones."""
        link = self.links.pop(dst, None)
        if link is not None:
            self.dropped += len(link.pending)
            link.pending.clear()
            link.task.cancel()
        for w in self.inbound.pop(dst, set()):
            w.transport.abort()  # discards what was received and not yet handled

    def connected_peers(self) -> set[int]:
        """The peers with an open connection to this node (a dead peer's closes with its process)."""
        return {src for src, ws in self.inbound.items() if any(not w.transport.is_closing() for w in ws)}

    def send(self, src: int, dst: int, payload: Any) -> None:
        self.sent += 1
        if dst == self.self_id:
            asyncio.get_running_loop().call_soon(self.deliver, src, payload)
            return
        link = self.links.get(dst)
        if link is None:
            link = self.links[dst] = _Link(self, dst)
        link.put(self._frame(payload))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        src: int | None = None
        try:
            hello = await read_frame(reader)
            if not (isinstance(hello, tuple) and len(hello) == 2 and hello[0] == "hello" and isinstance(hello[1], int)
                    and 0 <= hello[1] < len(self.addrs)):
                return
            src = hello[1]
            self.inbound.setdefault(src, set()).add(writer)
            buf = bytearray()
            while not writer.transport.is_closing():
                data = await reader.read(1 << 16)  # every frame that has arrived, at once
                if not data:
                    self._inbound_lost(src, writer)
                    break
                buf += data
                for msg in split_frames(buf):
                    if writer.transport.is_closing():
                        break  # disconnected: frames still buffered belong to the closed session
                    self.deliver(src, msg)
        except (OSError, ConnectionError):
            self._inbound_lost(src, writer)
        except (asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except WireError as exc:
            log.warning("dropping a peer connection that sent a malformed frame: %s", exc)
        finally:
            for ws in self.inbound.values():
                ws.discard(writer)
            writer.close()

    async def close(self) -> None:
        for link in self.links.values():
            link.task.cancel()
        if self.server is not None:
            self.server.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpPeers) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            v = decode(data)
        except WireError:
            return
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], int) and 0 <= v[0] < len(self.owner.addrs):
            self.owner.deliver(v[0], v[1])

    def error_received(self, exc: Exception) -> None:  # an ICMP "port unreachable": the peer is down
        self.owner.dropped += 1


class UdpPeers:
    """Unordered, lossy messages between node processes over UDP.

    `loss` drops that fraction of datagrams at the sender, chosen by `rng` (counted in
    `dropped`): loopback itself never loses, and experiments on failure detectors need it to."""

    MAX_DATAGRAM = 60_000

    def __init__(self, self_id: int, addrs: list[Addr], deliver: Deliver, loss: float = 0.0,
                 rng: random.Random | None = None) -> None:
        if not 0 <= loss < 1:
            raise ValueError(f"loss must be a fraction below 1, got {loss!r}")
        self.self_id = self_id
        self.addrs = addrs
        self.deliver = deliver
        self.loss = loss
        self.rng = rng or random.Random()
        self.transport: asyncio.DatagramTransport | None = None
        self.dropped = 0
        self.sent = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=self.addrs[self.self_id])

    def send(self, src: int, dst: int, payload: Any) -> None:
        data = encode((src, payload))
        if len(data) > self.MAX_DATAGRAM:
            raise ValueError(f"a {len(data)}-byte message does not fit in one datagram")
        self.sent += 1
        if self.loss and self.rng.random() < self.loss:
            self.dropped += 1
            return
        assert self.transport is not None
        self.transport.sendto(data, self.addrs[dst])

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
