"""One node running a compiled spec: the only place where handlers are executed for real.

`NodeRuntime` owns a node's state and turns events (a message, a timer, a client request,
a restart) into handler calls. It has no protocol logic: which handler runs, what it sends
and what it replies come from the compiled spec. After a step it
1. saves the persistent variables, if the step changed any (fsync'd by `FileStorage`), and only then
2. hands the step's messages to the transport and returns its replies,
so nothing a step says leaves the node before what the step decided is durable
(ZAB logs a proposal before acknowledging it).

Transport and storage are interfaces: the same runtime runs on asyncio sockets
(impl.server) and inside the deterministic simulation (impl.sim).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from model.compiler import CompiledSpec, HandlerEntry
from model.errors import ModelError
from model.runtime import Chooser, RandomChooser

from .storage import Storage, StorageError

RECORD_KIND = "pnyx-node-state"


class Transport(Protocol):
    """Carries a step's messages to their destination nodes (or drops them)."""

    def send(self, src: int, dst: int, msg: tuple) -> None: ...


class HandlerError(Exception):
    """A handler failed at run time (a bound exceeded, an index out of range): a spec bug."""

    def __init__(self, error: ModelError, event: str) -> None:
        super().__init__(f"{event}: {error}")
        self.error = error
        self.event = event


@dataclass
class Step:
    """What one atomic step did, for the host, the simulation and tests."""

    node: int
    event: str
    handler: HandlerEntry | None
    before: tuple
    after: tuple
    sends: list[tuple[int, tuple]] = field(default_factory=list)
    replies: list[Any] = field(default_factory=list)
    persisted: bool = False


class NodeRuntime:
    """A node's state plus the compiled handlers that change it.

    `keep_ghost`: ghost variables only serve properties; the simulation keeps them (and keeps
    them across crashes, as the checker does) to evaluate invariants, real nodes reset them
    after every step so they never grow.
    """

    def __init__(self, cs: CompiledSpec, node_id: int, storage: Storage, transport: Transport,
                 rng: random.Random | None = None, record: str = "node", keep_ghost: bool = True,
                 chooser: Chooser | None = None) -> None:
        if not 0 <= node_id < cs.n_nodes:
            raise ValueError(f"node id {node_id} is outside 0..{cs.n_nodes - 1}")
        self.cs = cs
        self.id = node_id
        self.storage = storage
        self.transport = transport
        self.chooser: Chooser = chooser if chooser is not None else RandomChooser(rng or random.Random(node_id))
        self.rng = rng or random.Random(node_id)
        self.record = record
        self.keep_ghost = keep_ghost
        self.persistent = [v for v in cs.vars if v.storage == "persistent"]
        self.ghost_slots = [v.slot for v in cs.vars if v.storage == "ghost"]
        self.init = cs.init_node(node_id)
        self.state: tuple = self.init
        self.up = False
        self.observers: list[Callable[[Step], None]] = []
        self._ghost_memory: tuple | None = None

    # ---- life cycle ----------------------------------------------------------
    def start(self) -> Step | None:
        """Boot: fresh initial state, or reload persistent variables and run `on recover`."""
        saved = self.storage.load(self.record)
        self.up = True
        if saved is None:
            self.state = self.init
            self._save()  # from now on, a restart is a recovery
            return None
        st = list(self.init)
        for v, value in zip(self.persistent, self._unpack(saved)):
            st[v.slot] = value
        if self.keep_ghost and self._ghost_memory is not None:
            for s, value in zip(self.ghost_slots, self._ghost_memory):
                st[s] = value
        self.state = tuple(st)
        if self.cs.recover is None:
            return None
        return self._run(self.cs.recover, (), "recover")

    def crash(self) -> None:
        """Lose everything but storage (and, for properties, the ghost variables)."""
        self._ghost_memory = tuple(self.state[s] for s in self.ghost_slots)
        self.up = False
        self.state = self.cs.reset_volatile(self.state, self.id)  # what the checker shows for a down node

    def _pack(self) -> tuple:
        return (RECORD_KIND, self.cs.name, tuple((v.name, self.state[v.slot]) for v in self.persistent))

    def _unpack(self, saved: Any) -> list[Any]:
        where = f"record {self.record!r}"
        if not (isinstance(saved, tuple) and len(saved) == 3 and saved[0] == RECORD_KIND):
            raise StorageError(f"{where}: not a node state record")
        if saved[1] != self.cs.name:
            raise StorageError(f"{where}: written by spec {saved[1]!r}, not {self.cs.name!r}")
        names = [n for n, _ in saved[2]]
        want = [v.name for v in self.persistent]
        if names != want:
            raise StorageError(f"{where}: holds variables {names}, the spec's persistent variables are {want}")
        return [value for _, value in saved[2]]

    def _save(self) -> None:
        self.storage.save(self.record, self._pack())

    # ---- events --------------------------------------------------------------
    def deliver(self, src: int, msg: tuple, only: HandlerEntry | None = None) -> Step | None:
        """A message arrived; None when no handler is enabled (the message is dropped).

        When several handlers are enabled, one is taken at random (the checker explores each);
        `only` restricts delivery to one handler, as a trace replay needs."""
        cs = self.cs
        if not (isinstance(msg, tuple) and msg and isinstance(msg[0], int) and 0 <= msg[0] < len(cs.messages)):
            return None
        if len(msg) != len(cs.messages[msg[0]].fields) + 1 or not 0 <= src < cs.n_nodes:
            return None
        handlers = cs.message_handlers[msg[0]] if only is None else (only,)
        if len(handlers) > 1:
            handlers = tuple(self.rng.sample(list(handlers), len(handlers)))
        for h in handlers:
            step = self._run(h, (src,) + msg[1:], f"receive {cs.show_message(msg)} from n{src + 1}")
            if step is not None:
                return step
        return None

    def timer(self, h: HandlerEntry) -> Step | None:
        return self._run(h, (), f"timer {h.name}")

    def request(self, name: str, args: tuple, only: HandlerEntry | None = None) -> Step | None:
        """A client call; None when every handler of that name refuses it here and now.

        A spec may split a request by role (`on request write() when role == LEADING`, another
        when FOLLOWING): each handler of the name is tried, in random order when several exist."""
        handlers = self.request_handlers(name) if only is None else [only]
        if len(handlers) > 1:
            handlers = self.rng.sample(handlers, len(handlers))
        for h in handlers:
            step = self._run(h, args, f"request {name}")
            if step is not None:
                return step
        return None

    def request_handlers(self, name: str) -> list[HandlerEntry]:
        hs = [h for h in self.cs.requests if h.name == name]
        if not hs:
            raise KeyError(f"spec {self.cs.name} has no request handler {name!r}")
        return hs

    def timer_handler(self, name: str) -> HandlerEntry:
        for h in self.cs.timers:
            if h.name == name:
                return h
        raise KeyError(f"spec {self.cs.name} has no timer {name!r}")

    def _run(self, h: HandlerEntry, args: tuple, event: str) -> Step | None:
        if not self.up:
            return None
        before = self.state
        try:
            r = h.fn(self.id, before, *args, self.chooser)
        except Exception as exc:  # noqa: BLE001 - any failure of generated code is the spec's
            raise HandlerError(self.cs.model_error(exc, f"handler at line {h.line}"), event) from None
        if r is None:
            return None
        after, sends, replies = r
        if not self.keep_ghost and self.ghost_slots:
            st = list(after)
            for s in self.ghost_slots:
                st[s] = self.init[s]
            after = tuple(st)
        self.state = after
        persisted = any(after[v.slot] is not before[v.slot] and after[v.slot] != before[v.slot] for v in self.persistent)
        if persisted:
            self._save()  # durable before anything of this step leaves the node
        for dst, m in sends:
            self.transport.send(self.id, dst, m)
        step = Step(self.id, event, h, before, after, list(sends), list(replies), persisted)
        for ob in self.observers:
            ob(step)
        return step

    # ---- reading state ---------------------------------------------------------
    def get(self, var: str) -> Any:
        for v in self.cs.vars:
            if v.name == var:
                return self.state[v.slot]
        raise KeyError(f"spec {self.cs.name} has no variable {var!r}")
