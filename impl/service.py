"""The contract between a node's host and the service it runs.

The host (impl/host.py) owns the process: storage, peer transport, timers, the client
listener. A service (impl/zab_service.py, impl/gossip_service.py, impl/raw_service.py) turns
client operations into the spec's requests and reads its state. The two meet here and only
here: a service sees the host through the `NodeHost` protocol, so no service imports the
host and the host imports no service (impl/server.py wires one to the other).

Each service declares in `needs` what it reads from a spec (variables, messages, requests,
and the kinds of their types); `Requirements.check` refuses a spec that lacks any of it, naming what is
missing and what the spec has, before a node starts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import PnyxError
from pnyx.model.runtime import Chooser
from pnyx.model.types import IntType, Type

from .config import Config, TimerConfig
from .node import HandlerError, NodeRuntime, Step, Transport
from .storage import Storage

log = logging.getLogger("pnyx.node")


class ServiceError(PnyxError):
    """An unknown service, or a spec that lacks what its service reads."""


class TimerHandle(Protocol):
    """A periodic timer the host runs: a service may postpone it (failure detectors)."""

    cfg: TimerConfig

    def reset(self) -> None: ...

    def fire(self) -> None: ...


class NodeHost(Protocol):
    """What a service may use of the process that runs it."""

    @property
    def cs(self) -> CompiledSpec: ...

    @property
    def cfg(self) -> Config: ...

    @property
    def node_id(self) -> int: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def rng(self) -> random.Random: ...

    @property
    def rebuilt(self) -> bool: ...

    @property
    def peers(self) -> Transport: ...

    def group_commit(self, rt: NodeRuntime) -> None: ...

    def timer(self, name: str, callback: Callable[[], Any], cfg: TimerConfig | None = None) -> TimerHandle: ...

    def on_peer_lost(self, listener: Callable[[int], None]) -> None: ...


@dataclass(frozen=True)
class Kind:
    """A kind of type a service can handle, said in words for the error that refuses a spec."""

    text: str
    fits: Callable[[Type], bool]


ANY = Kind("any type", lambda t: True)
INT = Kind("an integer", lambda t: isinstance(t, IntType))


@dataclass(frozen=True)
class Requirements:
    """What a service reads from a spec: variables of some kind, messages and requests with their
    parameters' kinds. Checked once, by `check`, before a node runs the service."""

    variables: tuple[tuple[str, Kind], ...] = ()
    messages: tuple[tuple[str, tuple[Kind, ...]], ...] = ()
    requests: tuple[tuple[str, tuple[Kind, ...]], ...] = ()

    def missing(self, cs: CompiledSpec) -> list[str]:
        """Each requirement the spec does not meet, as a phrase ('variable history')."""
        out: list[str] = []
        var_types = {v.name: v.type for v in cs.vars}
        for name, kind in self.variables:
            if name not in var_types:
                out.append(f"variable {name}")
            elif not kind.fits(var_types[name]):
                out.append(f"variable {name} as {kind.text} (the spec's is {var_types[name]})")
        msgs = {m.name: m.fields for m in cs.messages}
        reqs = {h.name: h.params for h in cs.requests}
        for what, table, wanted in (("message", msgs, self.messages), ("request", reqs, self.requests)):
            for name, kinds in wanted:
                want = f"{what} {name}({', '.join(k.text for k in kinds)})"
                params = table.get(name)
                if params is None:
                    out.append(want)
                elif len(params) != len(kinds) or not all(k.fits(t) for k, (_, t) in zip(kinds, params, strict=False)):
                    out.append(f"{want} (the spec's is {name}({', '.join(f'{p}: {t}' for p, t in params)}))")
        return out

    def check(self, cs: CompiledSpec, service: str) -> None:
        """Refuse a spec the service cannot run, saying what is missing and what the spec has."""
        missing = self.missing(cs)
        if not missing:
            return
        reqs = ", ".join(f"{h.name}({', '.join(p for p, _ in h.params)})" for h in cs.requests) or "none"
        has = (f"variables {', '.join(v.name for v in cs.vars) or 'none'}; "
               f"messages {', '.join(m.name for m in cs.messages) or 'none'}; requests {reqs}")
        raise ServiceError(f"spec {cs.name} cannot run the {service} service: it lacks {', '.join(missing)}. "
                           f"The spec has {has}. Choose another service with --service (raw runs any spec)")


Column = tuple[str, Callable[[dict[str, Any]], str]]  # a `pnyx cluster status` column: header, cell from `info`


def info_cell(key: str) -> Callable[[dict[str, Any]], str]:
    """A status cell showing one field of a node's `info` as it is."""
    return lambda info: str(info.get(key, "?"))


class Service:
    """What a node offers on its client port, built on one or more `NodeRuntime`s."""

    name: ClassVar[str] = "?"
    needs: ClassVar[Requirements] = Requirements()
    # What `pnyx cluster status` shows of each node's `info` (the host's own fields by default).
    status_columns: ClassVar[tuple[Column, ...]] = (("sent", info_cell("sent")), ("dropped", info_cell("dropped")))

    def __init__(self, host: NodeHost) -> None:
        self.needs.check(host.cs, self.name)
        self.host = host
        self.cs = host.cs
        self.ops: dict[str, Callable[..., Awaitable[Any]]] = {}

    async def start(self) -> None: ...

    def on_peer(self, src: int, payload: Any) -> None: ...

    def info(self) -> dict[str, Any]:
        return {}


class SpecNode:
    """One `NodeRuntime` with the host's storage, peers and timers wired in."""

    def __init__(self, host: NodeHost, transport: Transport, record: str = "node",
                 on_step: Callable[[Step], None] | None = None, chooser: Chooser | None = None) -> None:
        self.host = host
        cs = host.cs
        self.rt = NodeRuntime(cs, host.node_id, host.storage, transport, rng=host.rng, record=record, keep_ghost=False,
                              group_commit=host.group_commit, rebuilt=host.rebuilt, chooser=chooser)
        if on_step is not None:
            self.rt.observers.append(on_step)
        self.timers: dict[int, TimerHandle] = {}
        # message id -> (timer, slot of the variable naming the peer it watches, or None) it postpones
        self.resets: dict[int, list[tuple[TimerHandle, int | None]]] = {}
        self.watchers: list[tuple[int, TimerHandle]] = []  # (slot of the variable naming the watched peer, timer)

    def start(self, timers: bool = True, skip: Collection[str] = ()) -> None:
        """Boot (or recover) the runtime; with `timers`, fire the spec's timers from the host's clock,
        except those in `skip` (which the service fires itself)."""
        self.rt.start()
        for h in self.host.cs.timers if timers else ():
            if h.name in skip:
                continue
            t = self.host.timer(h.name, lambda h=h: self.rt.timer(h))
            self.timers[h.index] = t
            slot = None
            if t.cfg.watch is not None:
                slot = next((v.slot for v in self.host.cs.vars if v.name == t.cfg.watch), None)
                if slot is None:
                    raise ServiceError(f"timer {h.name} watches variable {t.cfg.watch!r}, which spec {self.host.cs.name} "
                                       f"does not have (it has {', '.join(v.name for v in self.host.cs.vars)}); "
                                       f"set watch = \"\" in [timers.{h.name}] to watch none")
                self.watchers.append((slot, t))
            for mname in t.cfg.reset_on:
                for m in self.host.cs.messages:
                    if m.name == mname:
                        self.resets.setdefault(m.id, []).append((t, slot))
        if self.watchers:
            self.host.on_peer_lost(self._peer_lost)
            self.rt.observers.append(self._watch_changed)

    def _watch_changed(self, step: Step) -> None:
        """A watching timer's period starts over when its variable names another peer (a new leader)."""
        for slot, t in self.watchers:
            if step.before[slot] != step.after[slot]:
                t.reset()

    def _names(self, slot: int, peer: int) -> bool:
        """Whether the variable at `slot` holds `peer` (as a node or as some(node))."""
        v = self.rt.state[slot]
        return v == (peer,) or (isinstance(v, int) and not isinstance(v, bool) and v == peer)

    def _peer_lost(self, peer: int) -> None:
        """A connection with `peer` broke: fire each timer watching a variable that names it now."""
        for slot, t in self.watchers:
            if self._names(slot, peer):
                t.fire()

    def heard(self, src: int, message_id: int) -> None:
        """Restart the timers that `reset_on` this message when it comes from `src`. A service calls
        it for traffic of its own that shows the peer at work (the ZAB service's snapshot frames)."""
        for t, watch in self.resets.get(message_id, ()):
            if watch is None or self._names(watch, src):  # a watching timer hears only its peer
                t.reset()

    def deliver(self, src: int, msg: Any) -> Step | None:
        if not isinstance(msg, tuple) or not msg or not isinstance(msg[0], int):
            return None
        self.heard(src, msg[0])
        try:
            return self.rt.deliver(src, msg)
        except HandlerError as exc:
            log.error("%s", exc)
            return None
