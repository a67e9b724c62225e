"""One node running a compiled spec: the only place where handlers are executed for real.

`NodeRuntime` owns a node's state and turns events (a message, a timer, a client request,
a restart) into handler calls. It has no protocol logic: which handler runs, what it sends
and what it replies come from the compiled spec. After a step it
1. saves the persistent variables, if the step changed any (fsync'd by `FileStorage`), and only then
2. hands the step's messages to the transport and returns its replies,
so nothing a step says leaves the node before what the step decided is durable
(ZAB logs a proposal before acknowledging it).

Transport and storage are interfaces: the same runtime runs on asyncio sockets
(pnyx.impl.server) and inside the deterministic simulation (pnyx.impl.sim).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pnyx.model.compiler import CompiledSpec, HandlerEntry
from pnyx.model.errors import ModelError
from pnyx.model.runtime import Chooser, RandomChooser
from pnyx.model.types import BoolType, OpaqueType, SeqType

from .pseq import AppendSeq
from .storage import Storage, StorageError
from .wire import is_payload

RECORD_KIND = "pnyx-node-state"
REBUILT_VAR = "rebuilt"  # a spec's persistent bool set when a node is started empty on purpose


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
    describe: Callable[[], str]  # the event in words, formatted only when asked: showing a message costs
    handler: HandlerEntry | None
    before: tuple
    after: tuple
    sends: list[tuple[int, tuple]] = field(default_factory=list)
    replies: list[Any] = field(default_factory=list)
    persisted: bool = False

    @property
    def event(self) -> str:
        return self.describe()


class NodeRuntime:
    """A node's state plus the compiled handlers that change it.

    `keep_ghost`: ghost variables only serve properties; the simulation keeps them (and keeps
    them across crashes, as the checker does) to evaluate invariants, real nodes reset them
    after every step so they never grow.
    """

    def __init__(self, cs: CompiledSpec, node_id: int, storage: Storage, transport: Transport,
                 rng: random.Random | None = None, record: str = "node", keep_ghost: bool = True,
                 chooser: Chooser | None = None,
                 group_commit: Callable[[NodeRuntime], None] | None = None, rebuilt: bool = False) -> None:
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
        # persistent sequences are held as AppendSeq (impl/pseq.py): a step that appends to one
        # costs O(1) and its save logs just the new items, however long the sequence
        self.seq_slots = [v.slot for v in self.persistent if isinstance(v.type, SeqType)]
        self.ghost_slots = [v.slot for v in cs.vars if v.storage == "ghost"]
        self.ghost_seqs = {v.slot for v in cs.vars if v.storage == "ghost" and isinstance(v.type, SeqType)}
        self.init = cs.init_node(node_id)
        self.state: tuple = self.init
        self.up = False
        self.observers: list[Callable[[Step], None]] = []
        self._ghost_memory: tuple | None = None
        self._gen = -1  # generation of the snapshot on disk
        self._log_len = 0  # entries in the log after its generation header
        self._saved: tuple = ()  # the persistent values as last saved
        self._snap_items = 0  # items in the sequences of the snapshot on disk
        # Group commit: with a `group_commit` callback, a step's save and sends wait in the node
        # until the host calls `save_pending` then `send_pending`, which save once for every step
        # since the last flush and only then release their messages (one fsync for a burst).
        self.group_commit = group_commit
        self.rebuilt = rebuilt  # started empty on purpose after its files were refused: see `start`
        self._dirty = False
        self._outbox: list[tuple[int, tuple | None]] = []
        # Hooks for a service that keeps state of its own beside the spec's (the ZAB service's tree):
        # `snapshot_gate(state)` may postpone rewriting the snapshot (the log then keeps growing), and
        # `replay_observer(before, after)` sees each log entry replayed at start, as the persistent
        # values by name before and after it.
        self.snapshot_gate: Callable[[tuple], bool] | None = None
        self.replay_observer: Callable[[dict[str, Any], dict[str, Any]], None] | None = None

    # ---- life cycle ----------------------------------------------------------
    # On disk a node is a snapshot of its persistent variables (generation g) plus a log whose
    # first entry is ("gen", g) and whose other entries are each one save's changes:
    # (var, "set", value) or (var, "append", items) when a variable grew by appending, as a
    # ZAB history does. A save costs one append and one fsync, however long the history.
    # Once the log holds SNAPSHOT_EVERY entries, and at least as many as the snapshot holds
    # sequence items, the snapshot is rewritten (generation g + 1) and the log restarted: a
    # snapshot of n items follows at least n saves, so its cost per save stays constant
    # however long the history grows, and a restart replays at most about as many log
    # entries as the snapshot has items. A log of the generation before the snapshot's (a crash
    # between the two) is replaced, unread; a log of any other generation is an error.
    SNAPSHOT_EVERY = 1000

    def start(self) -> Step | None:
        """Boot: fresh initial state, or reload persistent variables and run `on recover`; started
        empty on purpose (`rebuilt`), run the spec's `on rebuild` as the checker's Rebuild does."""
        saved = self.storage.load(self.record)
        self.up = True
        self._dirty = False
        self._outbox = []
        if saved is None:
            if self.storage.load_log(self.record):
                raise StorageError(f"record {self.record!r}: a log without its snapshot (the snapshot was deleted)")
            rebuild = self.cs.rebuild if self.rebuilt else None
            self.state = self._as_appendable(self._with_ghosts(self.init if rebuild else self._fresh_state()))
            self._gen = -1
            self._snapshot()  # from now on, a restart is a recovery
            return self._run(rebuild, (), lambda: "rebuild") if rebuild is not None else None
        values, self._gen = self._unpack(saved)
        values = self._appendable_values(values)  # before the replay, so that appending costs O(appended)
        self._snap_items = self._items_in(values)
        log = self.storage.load_log(self.record)
        self._log_len = 0
        self._check_generation(log)
        if not log or log[0] != ("gen", self._gen):
            self.storage.reset_log(self.record, ("gen", self._gen))  # appends must follow this snapshot's header
        else:
            by_name = {v.name: k for k, v in enumerate(self.persistent)}
            for entry in log[1:]:
                before = list(values)
                try:
                    for name, op, x in entry:
                        k = by_name[name]
                        values[k] = values[k] + x if op == "append" else x if op == "set" else _bad(op)
                except (KeyError, TypeError, ValueError):
                    raise StorageError(f"record {self.record!r}: malformed log entry {entry!r}") from None
                values = self._appendable_values(values)  # a "set" entry put a plain tuple back
                if self.replay_observer is not None:
                    self.replay_observer(dict(zip(by_name, before, strict=True)), dict(zip(by_name, values, strict=True)))
            self._log_len = len(log) - 1
        st = list(self.init)
        for v, value in zip(self.persistent, values):
            st[v.slot] = value
        self.state = self._with_ghosts(tuple(st))
        self._saved = tuple(values)
        if self.cs.recover is None:
            return None
        return self._run(self.cs.recover, (), lambda: "recover")

    def _with_ghosts(self, st: tuple) -> tuple:
        """`st` with the ghost variables this node had before its crash, where they are kept
        (a simulation evaluating properties): they survive a restart, a lost disk included."""
        if not self.keep_ghost:
            return self._blank_ghosts(st)
        if self._ghost_memory is None:
            return st
        out = list(st)
        for s, value in zip(self.ghost_slots, self._ghost_memory):
            out[s] = value
        return tuple(out)

    def _blank_ghosts(self, st: tuple, before: tuple | None = None) -> tuple:
        """`st` with its ghost variables (those a step changed, given the state `before` it) back
        at their initial values: a real node keeps none. A ghost sequence starts as an empty
        AppendSeq of its own, so that one step appending many items to it (ZAB's `delivered`
        when a leader commits its whole retained log on taking office) costs O(items), not a
        tuple copy per item, O(items^2): 0.37 s at 20,000 retained transactions, seconds at
        50,000, longer than a failure detector waits."""
        out = list(st)
        for s in self.ghost_slots:
            if before is None or st[s] is not before[s]:
                out[s] = AppendSeq([], 0) if s in self.ghost_seqs else self.init[s]
        return tuple(out)

    def _fresh_state(self) -> tuple:
        """The initial state, with the spec's persistent `rebuilt` flag set when this node was
        started empty on purpose and the spec has no `on rebuild` handler to set it: a protocol
        that cannot let a server that lost its disk vote before it has synced (ZAB) declares
        the flag and guards on it."""
        if not self.rebuilt:
            return self.init
        st = list(self.init)
        for v in self.persistent:
            if v.name == REBUILT_VAR and isinstance(v.type, BoolType):
                st[v.slot] = True
        return tuple(st)

    def _check_generation(self, log: list[Any]) -> None:
        """A log belongs to the snapshot's generation, or (a crash between writing a snapshot and
        restarting the log) to the one before, whose entries the snapshot holds; any other log
        was not written with this snapshot: StorageError."""
        if not log:
            return  # a crash before the first log was created (a deleted log is caught by the storage)
        head = log[0]
        if not (isinstance(head, tuple) and len(head) == 2 and head[0] == "gen" and isinstance(head[1], int)):
            raise StorageError(f"record {self.record!r}: its log does not start with a generation header")
        if head[1] not in (self._gen, self._gen - 1):
            raise StorageError(f"record {self.record!r}: its log is of generation {head[1]}, its snapshot of generation "
                               f"{self._gen}: one of the two files is not this node's latest (restored from a copy?)")

    def crash(self) -> None:
        """Lose everything but storage (and, for properties, the ghost variables)."""
        self._dirty = False
        self._outbox = []
        self._ghost_memory = tuple(self.state[s] for s in self.ghost_slots)
        self.up = False
        self.state = self.cs.reset_volatile(self.state, self.id)  # what the checker shows for a down node

    def _unpack(self, saved: Any) -> tuple[list[Any], int]:
        where = f"record {self.record!r}"
        if not (isinstance(saved, tuple) and len(saved) == 4 and saved[0] == RECORD_KIND and isinstance(saved[3], int)):
            raise StorageError(f"{where}: not a node state record")
        if saved[1] != self.cs.name:
            raise StorageError(f"{where}: written by spec {saved[1]!r}, not {self.cs.name!r}")
        names = [n for n, _ in saved[2]]
        want = [v.name for v in self.persistent]
        if names != want:
            raise StorageError(f"{where}: holds variables {names}, the spec's persistent variables are {want}")
        return [value for _, value in saved[2]], saved[3]

    def _snapshot(self) -> None:
        values = tuple(self.state[v.slot] for v in self.persistent)
        self._gen += 1
        self.storage.save(self.record, (RECORD_KIND, self.cs.name, tuple((v.name, x) for v, x in zip(self.persistent, values)),
                                        self._gen))
        self.storage.reset_log(self.record, ("gen", self._gen))
        self._log_len = 0
        self._saved = values
        self._snap_items = self._items_in(values)

    def _items_in(self, values: Any) -> int:
        """How many items the persistent sequences among `values` (in `self.persistent` order) hold."""
        return sum(len(x) for v, x in zip(self.persistent, values) if v.slot in self.seq_slots)

    def _appendable_values(self, values: list[Any]) -> list[Any]:
        """Persistent values (in `self.persistent` order) with their plain-tuple sequences as AppendSeq."""
        return [AppendSeq.of(x) if type(x) is tuple and v.slot in self.seq_slots else x
                for v, x in zip(self.persistent, values)]

    def _as_appendable(self, st: tuple) -> tuple:
        """The state with each persistent sequence that a step replaced by a plain tuple as an AppendSeq."""
        if not any(type(st[s]) is tuple for s in self.seq_slots):
            return st
        out = list(st)
        for s in self.seq_slots:
            if type(out[s]) is tuple:
                out[s] = AppendSeq.of(out[s])
        return tuple(out)

    def _save(self) -> None:
        """Make the persistent variables durable: one log append with what changed since the last save.

        A sequence that only grew is logged as its new items, found without comparing the
        whole value when both values share one AppendSeq list (the usual append)."""
        delta = []
        for k, v in enumerate(self.persistent):
            new, old = self.state[v.slot], self._saved[k]
            if new is old:
                continue
            grown = new.appended_since(old) if isinstance(new, AppendSeq) else None
            if grown is not None:
                if grown:
                    delta.append((v.name, "append", grown))
                continue
            if new == old:
                continue
            if (isinstance(new, (tuple, AppendSeq)) and isinstance(old, (tuple, AppendSeq))
                    and len(new) > len(old) > 0 and new[: len(old)] == old):
                delta.append((v.name, "append", tuple(new[len(old) :])))
            else:
                delta.append((v.name, "set", new))
        if not delta:
            return
        if self._log_len >= max(self.SNAPSHOT_EVERY, self._snap_items) and (
                self.snapshot_gate is None or self.snapshot_gate(self.state)):
            self._snapshot()
            return
        self.storage.append(self.record, tuple(delta))
        self._log_len += 1
        self._saved = tuple(self.state[v.slot] for v in self.persistent)

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
            step = self._run(h, (src,) + msg[1:], lambda: f"receive {cs.show_message(msg)} from n{src + 1}")
            if step is not None:
                return step
        return None

    def timer(self, h: HandlerEntry) -> Step | None:
        return self._run(h, (), lambda: f"timer {h.name}")

    def request(self, name: str, args: tuple, only: HandlerEntry | None = None) -> Step | None:
        """A client call; None when every handler of that name refuses it here and now.

        A spec may split a request by role (`on request write() when role == LEADING`, another
        when FOLLOWING): each handler of the name is tried, in random order when several exist."""
        handlers = self.request_handlers(name) if only is None else [only]
        for h in handlers:
            _check_payloads(h, args)
        if len(handlers) > 1:
            handlers = self.rng.sample(handlers, len(handlers))
        for h in handlers:
            step = self._run(h, args, lambda: f"request {name}")
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

    def _run(self, h: HandlerEntry, args: tuple, describe: Callable[[], str]) -> Step | None:
        if not self.up:
            return None
        before = self.state
        try:
            r = h.fn(self.id, before, *args, self.chooser)
        except Exception as exc:  # noqa: BLE001 - any failure of generated code is the spec's
            raise HandlerError(self.cs.model_error(exc, f"handler at line {h.line}"), describe()) from None
        if r is None:
            return None
        after, sends, replies = r
        if not self.keep_ghost and self.ghost_slots:
            after = self._blank_ghosts(after, before)
        after = self._as_appendable(after)
        self.state = after
        persisted = any(after[v.slot] is not before[v.slot] and after[v.slot] != before[v.slot] for v in self.persistent)
        if self.group_commit is None:
            if persisted:
                self._save()  # durable before anything of this step leaves the node
            self._emit(sends)
        else:
            self._dirty = self._dirty or persisted
            self._outbox.extend(sends)
            self.group_commit(self)
        step = Step(self.id, describe, h, before, after, list(sends), list(replies), persisted)
        for ob in self.observers:
            ob(step)
        return step

    def _emit(self, sends: list) -> None:
        for dst, m in sends:
            if m is None:  # `disconnect dst`: drop what is still queued either way, if the transport can
                disconnect = getattr(self.transport, "disconnect", None)
                if disconnect is not None:
                    disconnect(self.id, dst)
                continue
            self.transport.send(self.id, dst, m)

    def save_pending(self) -> None:
        """Group commit, first half: make the steps since the last flush durable."""
        if self._dirty:
            self._save()
            self._dirty = False

    def send_pending(self) -> None:
        """Group commit, second half: release the messages of those steps (after `save_pending`)."""
        out, self._outbox = self._outbox, []
        self._emit(out)

    # ---- reading state ---------------------------------------------------------
    def get(self, var: str) -> Any:
        for v in self.cs.vars:
            if v.name == var:
                return self.state[v.slot]
        raise KeyError(f"spec {self.cs.name} has no variable {var!r}")


def _bad(op: Any) -> Any:
    raise ValueError(f"unknown log operation {op!r}")


def _check_payloads(h: HandlerEntry, args: tuple) -> None:
    """A request's opaque parameters take the client's payloads as they are (compiled code never
    looks inside them), so each must be a value the wire encodes and sets can hold; TypeError if not."""
    for (p, t), a in zip(h.params, args, strict=False):
        if isinstance(t, OpaqueType) and not is_payload(a):
            raise TypeError(f"argument {p} of request {h.name}: a {t} payload is a string, bytes, a number, "
                            f"true/false/None or a tuple of them, got a {type(a).__name__}")
