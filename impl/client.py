"""Talking to a node's client port: request `(id, op, args)`, answer `(id, ok, result)`.

A blocking client for the CLI, tests and scripts, and an asyncio one for servers that
forward requests (a ZAB follower forwarding a write to its leader) and for benchmarks.
"""

from __future__ import annotations

import itertools
import socket
import time
from typing import TYPE_CHECKING, Any

from pnyx.model.errors import PnyxError

from .wire import WireError, decode, frame, frame_length

if TYPE_CHECKING:  # asyncio is imported where AsyncClient needs it: `pnyx kv` starts without it
    import asyncio


# How a server says that a write found no leader to commit it in time: worth sending again.
NOT_COMMITTED = "not committed within"


class ClientError(PnyxError):
    """The server refused the request (bad arguments, version mismatch, no such key...)."""


# How a ZAB server refuses a read before it is synchronized with a leader (a restarted
# follower, an election): the same read may be sent again, or to another server.
SYNCING = "syncing:"


class Unavailable(Exception):
    """The server could not be reached or stopped answering."""


def parse_addr(text: str) -> tuple[str, int]:
    """HOST:PORT as a tuple; PnyxError with an example when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PnyxError(f"--server {text!r}: expected HOST:PORT, for example 127.0.0.1:7001")
    return host, int(port)


class Client:
    """A blocking connection to one server."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.addr = (host, port)
        self.timeout = timeout
        self.ids = itertools.count(1)
        try:
            self.sock = socket.create_connection(self.addr, timeout=timeout)
        except OSError as exc:
            raise Unavailable(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except TimeoutError:
                raise Unavailable(f"{self.addr[0]}:{self.addr[1]} did not answer within {self.timeout} s") from None
            except OSError as exc:
                raise Unavailable(f"connection to {self.addr[0]}:{self.addr[1]} failed: {exc}") from None
            if not chunk:
                raise Unavailable(f"{self.addr[0]}:{self.addr[1]} closed the connection")
            buf += chunk
        return bytes(buf)

    def call(self, op: str, *args: Any) -> Any:
        """Send one request and wait for its answer; ClientError if the server refused it."""
        rid = next(self.ids)
        try:
            self.sock.sendall(frame((rid, op, tuple(args))))
        except OSError as exc:
            raise Unavailable(f"connection to {self.addr[0]}:{self.addr[1]} failed: {exc}") from None
        while True:
            try:
                n = frame_length(self._read(4))
                ans = decode(self._read(n))
            except WireError as exc:
                raise Unavailable(f"{self.addr[0]}:{self.addr[1]} sent a malformed answer: {exc}") from None
            if isinstance(ans, tuple) and len(ans) == 3 and ans[0] == rid:
                break
        if not ans[1]:
            raise ClientError(str(ans[2]))
        return ans[2]


def call(addr: tuple[str, int], op: str, *args: Any, timeout: float = 10.0) -> Any:
    """One request on a fresh connection."""
    with Client(addr[0], addr[1], timeout) as c:
        return c.call(op, *args)


class RetryingClient:
    """A blocking client over a cluster's servers that retries through a leader change.

    As kazoo's retry policy does for ZooKeeper: a request whose server cannot be reached or
    stops answering, or answers that the write found no leader in time (NOT_COMMITTED) or that
    it is not synchronized with a leader yet (SYNCING), is sent again, to the next server, after
    a short backoff that doubles up to `max_delay`, until `total` seconds have passed since it
    was first sent; then Unavailable. Any other refusal by a server (ClientError) is the answer
    and is not retried. A write sent again after its server vanished may have taken effect
    already: a create then answers that the path exists, as with ZooKeeper after a connection
    loss."""

    def __init__(self, servers: list[tuple[str, int]], total: float = 30.0, attempt_timeout: float = 15.0,
                 delay: float = 0.01, max_delay: float = 0.2) -> None:
        if not servers:
            raise PnyxError("a retrying client needs at least one server address")
        self.servers = list(servers)
        self.total, self.attempt_timeout, self.delay, self.max_delay = total, attempt_timeout, delay, max_delay
        self.current = 0
        self.conn: Client | None = None

    def __enter__(self) -> RetryingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, op: str, *args: Any) -> Any:
        """Send one request, retrying on unreachable servers for up to `total` seconds."""
        deadline = time.monotonic() + self.total
        delay = self.delay
        while True:
            try:
                if self.conn is None:
                    timeout = max(0.05, min(self.attempt_timeout, deadline - time.monotonic()))
                    self.conn = Client(*self.servers[self.current], timeout=timeout)
                return self.conn.call(op, *args)
            except (Unavailable, ClientError) as exc:
                if isinstance(exc, ClientError) and NOT_COMMITTED not in str(exc) and not str(exc).startswith(SYNCING):
                    raise
                self.close()
                self.current = (self.current + 1) % len(self.servers)
                if time.monotonic() + delay > deadline:
                    raise Unavailable(f"{op}: no server answered within {self.total:g} s (last: {exc})") from None
            time.sleep(delay)
            delay = min(2 * delay, self.max_delay)


class AsyncClient:
    """An asyncio connection to one server; many requests may be outstanding at once."""

    def __init__(self, host: str, port: int) -> None:
        self.addr = (host, port)
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task[None] | None = None

    async def connect(self, timeout: float = 5.0) -> AsyncClient:
        import asyncio

        try:
            reader, self.writer = await asyncio.wait_for(asyncio.open_connection(*self.addr), timeout)
        except (TimeoutError, OSError) as exc:
            raise Unavailable(f"cannot connect to {self.addr[0]}:{self.addr[1]}: {exc}") from None
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader_task = asyncio.ensure_future(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        import asyncio

        from .transport import read_frame

        try:
            while True:
                ans = await read_frame(reader)
                if isinstance(ans, tuple) and len(ans) == 3:
                    fut = self.pending.pop(ans[0], None)
                    if fut is not None and not fut.done():
                        fut.set_result(ans)
        except (asyncio.IncompleteReadError, OSError, WireError, ConnectionError):
            pass
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(Unavailable(f"connection to {self.addr[0]}:{self.addr[1]} closed"))
            self.pending.clear()

    @property
    def closed(self) -> bool:
        return self.reader_task is None or self.reader_task.done()

    async def call(self, op: str, *args: Any, timeout: float = 10.0) -> Any:
        if self.writer is None or self.closed:
            raise Unavailable(f"not connected to {self.addr[0]}:{self.addr[1]}")
        import asyncio

        rid = next(self.ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        self.writer.write(frame((rid, op, tuple(args))))
        try:
            ans = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self.pending.pop(rid, None)
            raise Unavailable(f"{self.addr[0]}:{self.addr[1]} did not answer within {timeout} s") from None
        if not ans[1]:
            raise ClientError(str(ans[2]))
        return ans[2]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.reader_task is not None:
            self.reader_task.cancel()

