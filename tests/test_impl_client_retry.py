"""RetryingClient: a request goes on to the next server when one is down or finds no leader,
within a bounded total time; a server's other refusals are answers, not retried."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from pnyx.impl.client import NOT_COMMITTED, SYNCING, ClientError, RetryingClient, Unavailable
from pnyx.impl.wire import decode, frame, frame_length


class Scripted(socketserver.ThreadingTCPServer):
    """A server answering each request with the next scripted (ok, result), and counting them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answers: list[tuple[bool, object]]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers = answers
        self.requests: list[tuple] = []


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Scripted = self.server  # type: ignore[assignment]
        while True:
            head = self.request.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                return
            rid, op, args = decode(self.request.recv(frame_length(head), socket.MSG_WAITALL))
            server.requests.append((op, args))
            ok, result = server.answers.pop(0) if server.answers else (True, "done")
            self.request.sendall(frame((rid, ok, result)))


@pytest.fixture
def servers() -> Iterator[list[Scripted]]:
    made: list[Scripted] = []
    yield made
    for s in made:
        s.shutdown()
        s.server_close()


def serve(made: list[Scripted], answers: list[tuple[bool, object]]) -> tuple[str, int]:
    s = Scripted(answers)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    made.append(s)
    return s.server_address  # type: ignore[return-value]


def closed_port() -> tuple[str, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()


def test_a_down_server_is_skipped(servers: list[Scripted]) -> None:
    live = serve(servers, [(True, "created")])
    with RetryingClient([closed_port(), live], total=5) as c:
        assert c.call("create", "/a", b"") == "created"
    assert servers[0].requests == [("create", ("/a", b""))]


def test_no_leader_in_time_is_sent_again(servers: list[Scripted]) -> None:
    addr = serve(servers, [(False, f"create: {NOT_COMMITTED} 10 s (no leader?)"), (True, "created")])
    with RetryingClient([addr], total=5) as c:
        assert c.call("create", "/a", b"") == "created"
    assert len(servers[0].requests) == 2


def test_a_server_not_synchronized_yet_is_asked_again(servers: list[Scripted]) -> None:
    addr = serve(servers, [(False, f"{SYNCING} this server is looking in phase connect"), (True, b"data")])
    with RetryingClient([addr], total=5) as c:
        assert c.call("get", "/a") == b"data"
    assert len(servers[0].requests) == 2


def test_other_refusals_are_answers(servers: list[Scripted]) -> None:
    addr = serve(servers, [(False, "/a already exists")])
    with RetryingClient([addr], total=5) as c, pytest.raises(ClientError, match="already exists"):
        c.call("create", "/a", b"")
    assert len(servers[0].requests) == 1


def test_the_total_time_is_bounded() -> None:
    with RetryingClient([closed_port(), closed_port()], total=0.3) as c, pytest.raises(Unavailable, match="within 0.3 s"):
        c.call("get", "/a")
