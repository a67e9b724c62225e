"""A client always gets an answer: one the wire format cannot carry becomes an error answer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from pnyx.impl.host import Host
from pnyx.impl.wire import decode, frame


class Collect:
    """The writer end of a client connection: keeps what the host writes."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


def answer(result: Any) -> tuple:
    async def op() -> Any:
        return result

    async def durable() -> None:
        return None

    host = SimpleNamespace(service=SimpleNamespace(ops={"op": op}), durable=durable, node_id=0)
    writer = Collect()
    asyncio.run(Host._answer(host, (7, "op", ()), writer))  # type: ignore[arg-type]
    assert writer.data, "no answer was written: the client would wait for its timeout"
    return decode(writer.data[4:])


def test_an_encodable_answer_is_sent_as_it_is() -> None:
    assert answer(("a", 1)) == (7, True, ("a", 1))
    assert len(frame(("a", 1))) > 4


def test_an_unencodable_answer_becomes_an_error_answer() -> None:
    rid, ok, message = answer(object())
    assert (rid, ok) == (7, False) and "cannot be encoded" in message
