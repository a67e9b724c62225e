"""The raw service: any spec, its request handlers called by name over the client port.

It reads nothing in particular from a spec, so it runs every spec; a client calls
`request NAME ARGS` (the replies the handler sends back) and `state` (the node's
non-ghost variables, shown as the checker shows them).
"""

from __future__ import annotations

from typing import Any

from pnyx.model.types import show

from .client import ClientError
from .node import HandlerError
from .service import NodeHost, Service, SpecNode


class RawService(Service):
    """Any spec: clients call its request handlers by name and read its state."""

    name = "raw"

    def __init__(self, host: NodeHost) -> None:
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
