"""The global system step, described once: the event catalogue, the budget layout, the network.

Every consumer derives from this module: the explicit checker (checker/model.py) builds its
successors from the catalogue and the network operations, the trace printers and the ITF
export read events by field name, the simulation (impl/sim.py) breaks channels on a crash by
the same rule, and the TLA+ export takes its list of actions and budget counters from here.

Events stay tuples whose first item is the kind's name (``("deliver", dst, src, ...)``), so
that hashing, equality and the order of successors are those of plain tuples; they are read by
field name. `EVENTS` lists the kinds in the order the checker enumerates them.

The budget layout: a state's budget counters are the spec's budget dict in order, the built-in
budgets (`BUDGETS`) first, then the ones that timers `spend`. Each event kind names the budget
one occurrence uses up (`SPENDS`); a timer spends the budget its handler names.

Fairness (checker/liveness.py, docs/liveness.md) is a property of these event classes too: an
event's fairness class is the event without its outcome (`CLASS_LEN` leading fields: a delivery
is of one message from one node to another, whichever handler ran and whatever it chose; a
timer or a request is of one handler at one node); a `fair` declaration names a kind and,
for the kinds in `FAIRNESS_NAMES`, the messages or handlers it covers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from .typecheck import BUDGETS, REBUILDS

_new = tuple.__new__  # builds an event without a Python-level __new__: the checker's hot path


# ---- the event catalogue -----------------------------------------------------------------
class _Deliver(NamedTuple):
    kind: str
    dst: int
    src: int
    msg: tuple
    handler: int  # index into the spec's handlers; -1: no handler enabled, the message is dropped
    choices: tuple  # ((site, value), ...) of each `choose` the handler made
    sends: tuple  # ((dst, message or None for `disconnect dst`), ...)


class _Timer(NamedTuple):
    kind: str
    node: int
    handler: int
    choices: tuple
    sends: tuple


class _Request(NamedTuple):
    kind: str
    node: int
    handler: int
    args: tuple
    choices: tuple
    sends: tuple
    replies: tuple


class _Crash(NamedTuple):
    kind: str
    node: int


class _Recover(NamedTuple):
    kind: str
    node: int
    choices: tuple  # of the spec's `on recover` handler, if it has one
    sends: tuple


class _Rebuild(NamedTuple):
    kind: str
    node: int
    choices: tuple  # of the spec's `on rebuild` handler, if it has one
    sends: tuple


class _Lose(NamedTuple):
    kind: str
    dst: int
    src: int
    msg: tuple
    slot: int  # the message's position in its channel (fifo) or in the network's multiset (unordered)


class _Duplicate(NamedTuple):
    kind: str
    dst: int
    src: int
    msg: tuple


class Deliver(_Deliver):
    """A message taken from the network and handed to a handler at `dst`."""

    __slots__ = ()
    KIND: ClassVar[str] = "deliver"
    SPENDS: ClassVar[str | None] = None
    CLASS_LEN: ClassVar[int] = 4  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = "message"  # what `fair deliver NAME` names

    def __new__(cls, dst: int, src: int, msg: tuple, handler: int, choices: tuple = (), sends: tuple = ()) -> Deliver:
        return _new(cls, ("deliver", dst, src, msg, handler, choices, sends))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.dst


class Timer(_Timer):
    """A timer fires at a live node (abstract time: any enabled timer, at any moment)."""

    __slots__ = ()
    KIND: ClassVar[str] = "timer"
    SPENDS: ClassVar[str | None] = None  # the handler's own `spends`, if any
    CLASS_LEN: ClassVar[int] = 3  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = "timer"  # what `fair timer NAME` names

    def __new__(cls, node: int, handler: int, choices: tuple = (), sends: tuple = ()) -> Timer:
        return _new(cls, ("timer", node, handler, choices, sends))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.node


class Request(_Request):
    """A client calls a request handler at a live node."""

    __slots__ = ()
    KIND: ClassVar[str] = "request"
    SPENDS: ClassVar[str | None] = "requests"
    CLASS_LEN: ClassVar[int] = 4  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = "request"  # what `fair request NAME` names

    def __new__(cls, node: int, handler: int, args: tuple, choices: tuple = (), sends: tuple = (),
                replies: tuple = ()) -> Request:
        return _new(cls, ("request", node, handler, args, choices, sends, replies))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.node


class Crash(_Crash):
    """A live node crashes: its volatile state is reset and its channels break (see `Network.cut`)."""

    __slots__ = ()
    KIND: ClassVar[str] = "crash"
    SPENDS: ClassVar[str | None] = "crashes"
    CLASS_LEN: ClassVar[int] = 2  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = None  # what `fair crash NAME` names

    def __new__(cls, node: int) -> Crash:
        return _new(cls, ("crash", node))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.node


class Recover(_Recover):
    """A crashed node comes back up, running the spec's `on recover` handler if it has one."""

    __slots__ = ()
    KIND: ClassVar[str] = "recover"
    SPENDS: ClassVar[str | None] = None
    CLASS_LEN: ClassVar[int] = 2  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = None  # what `fair recover NAME` names

    def __new__(cls, node: int, choices: tuple = (), sends: tuple = ()) -> Recover:
        return _new(cls, ("recover", node, choices, sends))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.node


class Rebuild(_Rebuild):
    """A crashed node comes back up with its disk lost: its persistent variables return to their
    initial values too (ghost ones stay), then it runs the spec's `on rebuild` handler if it has one."""

    __slots__ = ()
    KIND: ClassVar[str] = "rebuild"
    SPENDS: ClassVar[str | None] = REBUILDS  # a budget a spec gives or not (its layout then stays as before)
    CLASS_LEN: ClassVar[int] = 2  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = None  # what `fair rebuild NAME` names

    def __new__(cls, node: int, choices: tuple = (), sends: tuple = ()) -> Rebuild:
        return _new(cls, ("rebuild", node, choices, sends))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.node


class Lose(_Lose):
    """The network loses a message in flight."""

    __slots__ = ()
    KIND: ClassVar[str] = "lose"
    SPENDS: ClassVar[str | None] = "losses"
    CLASS_LEN: ClassVar[int] = 4  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = "message"  # what `fair lose NAME` names

    def __new__(cls, dst: int, src: int, msg: tuple, slot: int) -> Lose:
        return _new(cls, ("lose", dst, src, msg, slot))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.dst


class Duplicate(_Duplicate):
    """The network duplicates a message in flight (unordered networks only)."""

    __slots__ = ()
    KIND: ClassVar[str] = "duplicate"
    SPENDS: ClassVar[str | None] = "duplicates"
    CLASS_LEN: ClassVar[int] = 4  # the leading fields that make its fairness class
    FAIR_BY: ClassVar[str | None] = "message"  # what `fair duplicate NAME` names

    def __new__(cls, dst: int, src: int, msg: tuple) -> Duplicate:
        return _new(cls, ("duplicate", dst, src, msg))

    def __getnewargs__(self) -> tuple:
        return tuple(self)[1:]

    @property
    def at(self) -> int:
        """The node the event happens at."""
        return self.dst


Event = Deliver | Timer | Request | Crash | Recover | Rebuild | Lose | Duplicate
EVENTS: tuple[type, ...] = (Deliver, Timer, Request, Crash, Recover, Rebuild, Lose, Duplicate)  # the checker's order
BY_KIND: dict[str, type] = {c.KIND: c for c in EVENTS}
EVENT_KINDS: tuple[str, ...] = tuple(BY_KIND)
# The kind of handler each event runs (the compiler's HandlerEntry.kind); the others run none.
HANDLER_KIND: dict[str, str] = {"deliver": "message", "timer": "timer", "request": "request", "recover": "recover",
                               "rebuild": "rebuild"}
# What a fairness declaration of each kind may name: messages, timers, request handlers, or nothing (None).
FAIRNESS_NAMES: dict[str, str | None] = {c.KIND: c.FAIR_BY for c in EVENTS}


def fairness_class(ev: tuple) -> tuple:
    """The event's fairness class: the event without its outcome (handler, choices, sends,
    replies, a lost message's slot). Weak fairness of a class: if it stays enabled, one of its
    events eventually happens; strong: if it is enabled again and again, one eventually happens."""
    return ev[: type(ev).CLASS_LEN]  # type: ignore[attr-defined, no-any-return]


def fairness_subject(ev: tuple) -> tuple[str, int] | None:
    """What a fairness declaration names for this event: ("message", message id) for deliveries,
    losses and duplicates, ("handler", handler index) for timers and requests, None otherwise."""
    by = type(ev).FAIR_BY  # type: ignore[attr-defined]
    if by == "message":
        return ("message", ev[3][0])
    if by is not None:
        return ("handler", ev[2])
    return None


def as_event(ev: tuple) -> Event:
    """A typed event from a tuple in the catalogue's layout (as the z3 back end writes them)."""
    if isinstance(ev, EVENTS):
        return ev  # type: ignore[return-value]
    cls = BY_KIND.get(ev[0]) if ev else None
    if cls is None or len(ev) != len(cls._fields):
        raise ValueError(f"not an event of the catalogue: {ev!r}")
    return _new(cls, ev)  # type: ignore[no-any-return]


# ---- the budget layout -------------------------------------------------------------------
def budget_slot(budget: dict[str, int] | Sequence[str], name: str) -> int:
    """The position of a named budget in a state's budget counters."""
    return list(budget).index(name)


REQ, CRASH, LOSS, DUP = (BUDGETS.index(c.SPENDS) for c in (Request, Crash, Lose, Duplicate))


def spend(budget: tuple, slot: int) -> tuple:
    """The budget counters after one more use of the budget at `slot`."""
    return budget[:slot] + (budget[slot] + 1,) + budget[slot + 1 :]


# ---- the network -------------------------------------------------------------------------
Exit = tuple[int, int, tuple, int, tuple]  # (dst, src, message, slot, the network without it)


def breaks_on_crash(fifo: bool, src: int, dst: int, node: int) -> bool:
    """Whether a message from src to dst in flight is lost when `node` crashes: a TCP
    connection breaks at either end; a UDP packet is lost only at a crashed receiver."""
    return dst == node or (fifo and src == node)


class Network:
    """How messages travel (a value, as in Stateright): the operations on the network part
    of a global state. `cap` bounds what one ordered pair holds: a step whose sends would
    overflow it is not enabled (None: unbounded)."""

    fifo: ClassVar[bool]

    def __init__(self, n: int, cap: int | None) -> None:
        self.n = n
        self.cap = cap

    @staticmethod
    def of(kind: str, n: int, cap: int | None) -> Network:
        return FifoNetwork(n, cap) if kind == "fifo" else UnorderedNetwork(n, cap)

    def empty(self) -> tuple:
        raise NotImplementedError

    def in_flight(self, net: tuple) -> list[tuple[int, int, tuple]]:
        """Every message in flight as (src, dst, message), in a fixed order."""
        raise NotImplementedError

    def from_in_flight(self, msgs: Sequence[tuple[int, int, tuple]]) -> tuple:
        """The network holding these (src, dst, message), listed oldest first."""
        raise NotImplementedError

    def exits(self, net: tuple, losing: bool) -> tuple[list[Exit], list[Exit]]:
        """The messages that may leave the network next: those that may be delivered, and (if
        `losing`: the loss budget allows one) those that may be lost. One list may serve both."""
        raise NotImplementedError

    def duplicates(self, net: tuple) -> list[tuple[int, int, tuple, tuple]]:
        """Each message that may be duplicated as (dst, src, message, network with two of it)."""
        return []

    def push(self, net: tuple, node: int, sends: Sequence[tuple[int, tuple | None]], up: Sequence[bool]) -> tuple | None:
        """The network after `node` sent `sends` (a None message: `disconnect dst`, what is in
        flight either way is lost); a send to a down node is dropped. None if a bounded
        channel it sent on is over capacity, judged on the channels as the step leaves them."""
        raise NotImplementedError

    def cut(self, net: tuple, node: int) -> tuple:
        """The network after `node` crashed (see `breaks_on_crash`)."""
        raise NotImplementedError


class FifoNetwork(Network):
    """One tuple of messages per ordered pair, at index ``src * n + dst``; only a head is delivered."""

    fifo = True

    def empty(self) -> tuple:
        return ((),) * (self.n * self.n)

    def in_flight(self, net: tuple) -> list[tuple[int, int, tuple]]:
        n = self.n
        return [(ci // n, ci % n, m) for ci, ch in enumerate(net) for m in ch]

    def from_in_flight(self, msgs: Sequence[tuple[int, int, tuple]]) -> tuple:
        chans: list[list[tuple]] = [[] for _ in range(self.n * self.n)]
        for src, dst, m in msgs:
            chans[src * self.n + dst].append(m)
        return tuple(tuple(c) for c in chans)

    def exits(self, net: tuple, losing: bool) -> tuple[list[Exit], list[Exit]]:
        """Each channel's head may be delivered; any message in a channel may be lost."""
        n = self.n
        heads = [(ci % n, ci // n, ch[0], 0, net[:ci] + (ch[1:],) + net[ci + 1 :]) for ci, ch in enumerate(net) if ch]
        if not losing:
            return heads, []
        return heads, [(ci % n, ci // n, m, k, net[:ci] + (ch[:k] + ch[k + 1 :],) + net[ci + 1 :])
                       for ci, ch in enumerate(net) for k, m in enumerate(ch)]

    def push(self, net: tuple, node: int, sends: Sequence[tuple[int, tuple | None]], up: Sequence[bool]) -> tuple | None:
        n, cap = self.n, self.cap
        chans = list(net)
        for dst, m in sends:
            if m is None:
                chans[node * n + dst] = chans[dst * n + node] = ()
                continue
            if not up[dst]:
                continue  # the connection to a crashed node is gone
            ci = node * n + dst
            chans[ci] = chans[ci] + (m,)
        if cap is not None:
            for dst, m in sends:
                if m is not None and len(chans[node * n + dst]) > cap:
                    return None
        return tuple(chans)

    def cut(self, net: tuple, node: int) -> tuple:
        broken = self._broken[node]
        return tuple(() if broken[ci] else ch for ci, ch in enumerate(net))

    @functools.cached_property
    def _broken(self) -> list[tuple[bool, ...]]:
        """For each node, which channels its crash breaks: decided once, not in every state."""
        n = self.n
        return [tuple(breaks_on_crash(True, ci // n, ci % n, node) for ci in range(n * n)) for node in range(n)]


class UnorderedNetwork(Network):
    """A sorted tuple of ``(dst, src, message)`` entries (a multiset); any one is delivered next.
    Equal entries are one choice: delivering, losing or duplicating either gives one state."""

    fifo = False

    def empty(self) -> tuple:
        return ()

    def in_flight(self, net: tuple) -> list[tuple[int, int, tuple]]:
        return [(src, dst, m) for dst, src, m in net]

    def from_in_flight(self, msgs: Sequence[tuple[int, int, tuple]]) -> tuple:
        return tuple(sorted((dst, src, m) for src, dst, m in msgs))

    def exits(self, net: tuple, losing: bool) -> tuple[list[Exit], list[Exit]]:
        """Any message may be delivered or lost: one list serves both."""
        every = [(e[0], e[1], e[2], k, net[:k] + net[k + 1 :]) for k, e in enumerate(net) if k == 0 or e != net[k - 1]]
        return every, every if losing else []

    def duplicates(self, net: tuple) -> list[tuple[int, int, tuple, tuple]]:
        cap = self.cap
        return [(e[0], e[1], e[2], tuple(sorted(net + (e,)))) for k, e in enumerate(net)
                if (k == 0 or e != net[k - 1]) and (cap is None or sum(1 for x in net if x[:2] == e[:2]) < cap)]

    def push(self, net: tuple, node: int, sends: Sequence[tuple[int, tuple | None]], up: Sequence[bool]) -> tuple | None:
        entries = list(net)
        for dst, m in sends:
            if m is None:
                entries = [e for e in entries if (e[0], e[1]) not in ((dst, node), (node, dst))]
            elif up[dst]:
                entries.append((dst, node, m))
        cap = self.cap
        if cap is not None:
            for dst, m in sends:
                if m is not None and sum(1 for e in entries if e[0] == dst and e[1] == node) > cap:
                    return None
        entries.sort()
        return tuple(entries)

    def cut(self, net: tuple, node: int) -> tuple:
        broken = self._broken[node]
        return tuple(e for e in net if (e[0], e[1]) not in broken)

    @functools.cached_property
    def _broken(self) -> list[frozenset[tuple[int, int]]]:
        """For each node, the (dst, src) pairs whose messages its crash loses."""
        n = self.n
        return [frozenset((d, s) for d in range(n) for s in range(n) if breaks_on_crash(False, s, d, node)) for node in range(n)]


# ---- independence: what each event reads and writes --------------------------------------
# where an event that runs a handler keeps its sends
_SENDS_AT = {"deliver": 6, "timer": 4, "request": 5, "recover": 3, "rebuild": 3}


def sends_of(ev: tuple) -> Sequence[tuple[int, tuple | None]]:
    """The sends of an event, ((dst, message or None for `disconnect dst`), ...): none for
    crashes, losses and duplications, which run no handler."""
    at = _SENDS_AT.get(ev[0])
    return ev[at] if at is not None else ()  # type: ignore[no-any-return]


class Footprints:
    """What an event reads and writes of a global state, as two bitmasks over its parts (one
    node's variables, one node's up flag, one ordered channel, one budget counter), derived from
    the catalogue above: the basis of partial-order reduction (checker/por.py, docs/por.md).

    Two events are independent when neither writes what the other reads (`writes` is always
    within `reads`). Then, in any state where one is enabled, the other's step leaves everything
    it reads alone: it stays enabled with the very same outcome (handler, choices, sends), and
    the two orders end in one state. The parts, by kind:
    - every event at a node writes that node's variables (same node: dependent);
    - a delivery reads its receiver's up flag and writes its channel;
    - a timer or request reads its node's up flag; crash, recover and rebuild write it;
    - a send to `dst` reads dst's up flag (a send to a down node is dropped) and writes the
      channel it appends to (a bounded channel's capacity is judged on it); `disconnect dst`
      writes both channels between the two nodes;
    - a crash writes the channels it breaks (`breaks_on_crash`);
    - loss and duplication write the message's channel;
    - an event that spends a budget (`SPENDS`, a timer's `spends`) reads and writes its counter:
      a budget shared by all nodes makes their budgeted events dependent.
    """

    def __init__(self, n: int, fifo: bool, timer_spends: Sequence[int], rebuild_slot: int = -1) -> None:
        self.n = n
        self.fifo = fifo
        self.timer_spends = tuple(timer_spends)  # by handler index: the budget slot a timer spends, or -1
        self.rebuild_slot = rebuild_slot  # the budget slot of `rebuilds`, -1 when the spec gives none
        self._chan0 = 2 * n
        self._budget0 = 2 * n + n * n
        self._cache: dict[tuple, tuple[int, int]] = {}

    def chan(self, src: int, dst: int) -> int:
        return 1 << (self._chan0 + src * self.n + dst)

    def up(self, node: int) -> int:
        return 1 << (self.n + node)

    def budget(self, slot: int) -> int:
        return 1 << (self._budget0 + slot)

    def key(self, ev: tuple) -> tuple:
        """What names an event across states (hashable: a handler's sends may be a list). A lost
        message's slot in an unordered network is its position in the sorted multiset, which
        other nodes' sends shift: it is left out there (equal in-flight messages are one choice
        anyway). In a fifo channel the slot stays: an event that would shift it writes the same
        channel, so it is never independent of the loss."""
        if ev[0] == "lose":
            return ev[:4] if not self.fifo else tuple(ev)
        return tuple(tuple(x) if type(x) is list else x for x in ev)

    def of(self, key: tuple) -> tuple[int, int]:
        """(reads, writes) of the event named by `key`; remembered, as events recur across states."""
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= 1_000_000:
                self._cache.clear()
            hit = self._cache[key] = self._compute(key)
        return hit

    def _compute(self, ev: tuple) -> tuple[int, int]:
        kind = ev[0]
        at = ev[1]
        reads = 0
        writes = 1 << at
        if kind == "deliver":
            reads |= self.up(at)
            writes |= self.chan(ev[2], at)
        elif kind == "timer":
            reads |= self.up(at)
            slot = self.timer_spends[ev[2]]
            if slot >= 0:
                writes |= self.budget(slot)
        elif kind == "request":
            reads |= self.up(at)
            writes |= self.budget(REQ)
        elif kind == "crash":
            writes |= self.up(at) | self.budget(CRASH)
            for src in range(self.n):
                for dst in range(self.n):
                    if breaks_on_crash(self.fifo, src, dst, at):
                        writes |= self.chan(src, dst)
        elif kind == "recover":
            writes |= self.up(at)
        elif kind == "rebuild":
            writes |= self.up(at) | self.budget(self.rebuild_slot)
        elif kind in ("lose", "duplicate"):
            # the event happens in the network: it neither reads nor writes the receiver's variables
            writes = self.chan(ev[2], at) | self.budget(LOSS if kind == "lose" else DUP)
        else:
            raise ValueError(f"not an event of the catalogue: {ev!r}")
        for dst, m in sends_of(ev):
            if m is None:
                writes |= self.chan(at, dst) | self.chan(dst, at)
            else:
                reads |= self.up(dst)
                writes |= self.chan(at, dst)
        return reads | writes, writes

    def independent(self, a: tuple, b: tuple) -> bool:
        """Whether the two events commute and neither enables or disables the other."""
        ra, wa = self.of(self.key(a))
        rb, wb = self.of(self.key(b))
        return not (wa & rb or wb & ra)
