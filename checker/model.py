"""The global transition system of a compiled spec: states, events, successors.

A global state is ``(NS, UP, NET, BUDGET)``:
- NS: one tuple of variable values per node;
- UP: one bool per node;
- NET: the network, as `pnyx.model.system.Network` lays it out for `fifo` or `unordered`;
- BUDGET: faults and requests used so far, in the budget layout of `pnyx.model.system`.

The events, their order, the budgets they spend and the network operations are those of
`pnyx.model.system`; this module runs the spec's handlers inside that description.
Successors are listed in a fixed order, so an index into the list is a replayable step.
"""

from __future__ import annotations

import hashlib
import marshal
import operator
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from pnyx.model.compiler import CompiledSpec, HandlerEntry, PropertyEntry
from pnyx.model.errors import ModelError
from pnyx.model.runtime import MAX_CHOICES, subsets
from pnyx.model.system import (
    CRASH,
    DUP,
    LOSS,
    REQ,
    Crash,
    Deliver,
    Duplicate,
    Event,
    Footprints,
    Lose,
    Network,
    Rebuild,
    Recover,
    Request,
    Timer,
    as_event,
    budget_slot,
    spend,
)
from pnyx.model.types import domain_size

State = tuple
_new = tuple.__new__  # an event built without a Python-level __new__: once per transition
OWNER_VALUES_MIN = 1024  # values node 0's persistent variables may take for states to be owned by them (`owner_key`)
MEMO_LIMIT = 1_000_000  # states of one node (or verdicts of one property) remembered before the memo is cleared


class StepError(Exception):
    """A handler failed while the checker ran it: reported with the trace to `state`."""

    def __init__(self, state: State, event: Event, error: ModelError) -> None:
        super().__init__(str(error))
        self.state = state
        self.event = event
        self.error = error


class _ScriptChooser:
    """Replays a fixed list of option indices, then takes option 0, recording what it saw."""

    __slots__ = ("script", "taken", "values")

    def __init__(self, script: list[int]) -> None:
        self.script = script
        self.taken: list[tuple[int, int]] = []
        self.values: list[tuple[int, Any]] = []

    def _index(self, n: int) -> int:
        k = len(self.taken)
        i = self.script[k] if k < len(self.script) else 0
        self.taken.append((i, n))
        return i

    def pick(self, options: Sequence[Any], site: int = 0) -> Any:
        if len(options) > MAX_CHOICES:
            raise ModelError(f"choose among {len(options):,} options, more than the {MAX_CHOICES:,} the checker tries")
        v = options[self._index(len(options))]
        self.values.append((site, v))
        return v

    def subset(self, options: Sequence[Any], size: int, site: int = 0) -> tuple:
        all_subsets = subsets(options, size)
        v = all_subsets[self._index(len(all_subsets))]
        self.values.append((site, v))
        return v

    def next_script(self) -> list[int] | None:
        for p in range(len(self.taken) - 1, -1, -1):
            i, n = self.taken[p]
            if i + 1 < n:
                return [t[0] for t in self.taken[:p]] + [i + 1]
        return None


def stable_fingerprint(state: State) -> int:
    """A 64-bit digest of the state's value, for specs where Python's hash is not enough.

    CPython hashes -1 and -2 alike, so `hash` would merge states that differ only there.
    marshal format 2 writes no back-references, so equal states give equal bytes in
    every process.
    """
    return int.from_bytes(hashlib.blake2b(marshal.dumps(state, 2), digest_size=8).digest(), "little", signed=True)


class SpecProperty:
    """A spec's property as the explorer sees it (checker.protocol.Property): a predicate on a
    global state that reads the variable slots `reads` (None: the network too, so every state)."""

    __slots__ = ("entry", "name", "kind", "reads", "_cs", "_holds")

    def __init__(self, cs: CompiledSpec, entry: PropertyEntry) -> None:
        slot_of = {v.name: v.slot for v in cs.vars}
        self.entry, self.name, self.kind, self._cs, self._holds = entry, entry.name, entry.kind, cs, entry.holds
        # the network changes at almost every step: a property reading it is evaluated in every state
        self.reads: frozenset[Hashable] | None = None if entry.reads_network else frozenset(slot_of[x] for x in entry.reads)

    def holds(self, state: State) -> bool:
        return self._holds(state[0], state[1], state[2])  # type: ignore[no-any-return]

    def explain(self, state: State) -> dict[str, Any] | None:
        return self.entry.explain(state[0], state[1], state[2])

    def error(self, exc: Exception) -> ModelError:
        return self._cs.model_error(exc, f"{self.kind} {self.name} cannot be evaluated")


class NetworkProperty(SpecProperty):
    """A property that reads the messages in flight, its verdicts remembered: it depends only on
    the network and the slots it reads, and many states share those (a message delivered here,
    another node's unread variables changed there), while listing the network's messages of
    each type, sorted, costs more than looking the verdict up."""

    __slots__ = ("_key", "_memo")

    def __init__(self, cs: CompiledSpec, entry: PropertyEntry) -> None:
        super().__init__(cs, entry)
        slot_of = {v.name: v.slot for v in cs.vars}
        slots = sorted(slot_of[x] for x in entry.reads)
        self._key: Callable[[tuple], Any] | None = operator.itemgetter(*slots) if slots else None
        self._memo: dict[tuple, bool] = {}

    def holds(self, state: State) -> bool:
        ns, net = state[0], state[2]
        key = (net, tuple(map(self._key, ns))) if self._key is not None else (net,)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            hit = self._memo[key] = bool(self._holds(ns, state[1], net))
        return hit


class SpecModel:
    """The model interface (checker.protocol.Model) over a compiled spec."""

    def __init__(self, cs: CompiledSpec) -> None:
        self.cs = cs
        self.name = cs.name
        self.symmetric = cs.symmetric
        self.fingerprint: Callable[[State], int] = hash if cs.hash_is_exact_enough else stable_fingerprint
        self._slots = range(len(cs.vars))
        self.n = cs.n_nodes
        self.fifo = cs.network == "fifo"
        self.net = Network.of(cs.network, self.n, cs.capacity)
        self.limits = tuple(cs.budget.values())  # every budget, in the state's order
        self.rebuild_slot = budget_slot(cs.budget, Rebuild.SPENDS) if Rebuild.SPENDS in cs.budget else -1
        self._push = self.net.push
        self.msg_handlers = cs.message_handlers
        self.dropped = [0] * len(cs.messages)  # deliveries no handler accepted, per message kind
        self.nodes = tuple(range(self.n))
        self._memo: list[dict[tuple, tuple[dict, dict, tuple]]] = [{} for _ in self.nodes]  # see `tables`
        persistent = [v for v in cs.vars if v.storage == "persistent"]
        values = 1
        for v in persistent:
            values = min(values * domain_size(v.type, OWNER_VALUES_MIN), OWNER_VALUES_MIN)
        self._owner_slots: Callable[[tuple], Any] | None = (
            operator.itemgetter(*[v.slot for v in persistent]) if persistent and values >= OWNER_VALUES_MIN else None)

    # ---- states ------------------------------------------------------------
    def init_states(self) -> list[State]:
        ns = tuple(self.cs.init_node(i) for i in self.nodes)
        up = (True,) * self.n
        return [(ns, up, self.net.empty(), (0,) * len(self.cs.budget))]

    def properties(self) -> list[SpecProperty]:
        return [NetworkProperty(self.cs, p) if p.reads_network else SpecProperty(self.cs, p) for p in self.cs.properties]

    def representative(self) -> Callable[[State], State]:
        from .symmetry import canonicalizer  # symmetry.py reads this module's State

        return canonicalizer(self.cs)

    def owner_key(self, state: State) -> tuple:
        """What decides a state's owner in a partitioned search (checker/partition.py): node 0's
        persistent variables when they may take at least `OWNER_VALUES_MIN` values, else all of
        node 0's variables. A step changes one node's variables, so most steps leave node 0's;
        and fewer still its persistent ones (what a node writes to disk, rarely: in ZAB,
        its log and epochs change on 9% of transitions, its whole state on 26%). With too few
        values (gossip's one `value`: 3) they could not be shared out evenly among workers."""
        node = state[0][0]
        return node if self._owner_slots is None else self._owner_slots(node)  # type: ignore[no-any-return]

    def changed(self, before: State, after: State) -> set[Hashable]:
        """The variable slots that differ at some node (node tuples are shared when untouched)."""
        out: set[Hashable] = set()
        slots = self._slots
        for a, b in zip(before[0], after[0]):
            if a is not b:
                out.update([k for k, x, y in zip(slots, a, b) if x is not y and x != y])
        return out

    def footprints(self) -> Footprints:
        """What each event reads and writes (partial-order reduction's independence, checker/por.py)."""
        spends = [-1] * len(self.cs.handlers)
        for h in self.cs.handlers:
            spends[h.index] = h.spends
        return Footprints(self.n, self.fifo, spends, self.rebuild_slot)

    def in_flight(self, state: State) -> list[tuple[int, int, tuple]]:
        """Every message in the network as (src, dst, message), in a fixed order."""
        return self.net.in_flight(state[2])

    # ---- running handlers --------------------------------------------------
    def run(self, h: HandlerEntry, args: tuple, state: State, event: tuple) -> list[tuple[tuple, tuple]]:
        """Every outcome of a handler: ``[(choices, (st', sends, replies)), ...]``."""
        try:
            if not h.has_choice:
                r = h.fn(*args, None)
                return [((), r)] if r is not None else []
            results = []
            script: list[int] | None = []
            while script is not None:
                ch = _ScriptChooser(script)
                r = h.fn(*args, ch)
                if r is not None:
                    results.append((tuple(ch.values), r))
                script = ch.next_script()
            return results
        except Exception as exc:  # noqa: BLE001 - any failure of generated code is the spec's
            raise StepError(state, as_event(event), self.cs.model_error(exc, f"handler at line {h.line}")) from None

    def apply(self, state: State, node: int, st2: tuple, sends: list, net: tuple, budget: tuple) -> State | None:
        """The state after `node` took a step; None if it leaves a bounded channel over capacity."""
        ns, up = state[0], state[1]
        if sends:
            net = self._push(net, node, sends, up)
            if net is None:
                return None
        return (ns[:node] + (st2,) + ns[node + 1 :], up, net, budget)

    def tables(self, i: int, st: tuple) -> tuple[dict, dict, tuple]:
        """The memo tables of node i in state `st`: outcomes of deliveries by (src, message), and
        of timers and requests by (handler, args), then `st` as first met (see `share`). Handlers
        are pure, and one node state meets one message in many global states; looking the node
        state up once per global state, then small keys, hashes it once rather than once per handler."""
        memo = self._memo[i]
        hit = memo.get(st)
        if hit is None:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            hit = memo[st] = ({}, {}, st)
        return hit

    def share(self, state: State) -> State:
        """`state` with each node's variables replaced by the equal tuple the memo holds, if any.
        A state received from another process (unpickled) is made of copies: a memo lookup finds
        the original by identity, a copy only by comparing it element by element, and so would
        the lookups of every successor that inherits the copy."""
        ns = state[0]
        shared = tuple([hit[2] if (hit := memo.get(st)) is not None else st for memo, st in zip(self._memo, ns)])
        return (shared, *state[1:])

    def deliveries(self, state: State, dst: int, src: int, msg: tuple) -> tuple[tuple[Deliver, tuple | None, list], ...]:
        """Every outcome of delivering `msg` from src to dst, as (event, dst's new state, sends), the
        event built once; one (drop event, None, None) when no handler is enabled. Memoized."""
        st = state[0][dst]
        table = self.tables(dst, st)[0]
        hit = table.get((src, msg))
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        outs: list[tuple[Deliver, tuple | None, list]] = []
        for h in self.msg_handlers[msg[0]]:
            hi = h.index
            event = ("deliver", dst, src, msg, hi, (), ())  # typed only if the handler fails
            for choices, (st2, sends, _) in self.run(h, (dst, st, src) + msg[1:], state, event):
                outs.append((_new(Deliver, ("deliver", dst, src, msg, hi, choices, sends)), st2, sends))
        if not outs:
            outs.append((_new(Deliver, ("deliver", dst, src, msg, -1, (), ())), None, None))
        hit = table[(src, msg)] = tuple(outs)
        return hit

    def local(self, state: State, h: HandlerEntry, i: int, args: tuple = ()) -> tuple[tuple[Event, tuple, list], ...]:
        """Every outcome of a timer or request handler at live node i, as (event, i's new state,
        sends), each event built once; memoized like `deliveries`."""
        st = state[0][i]
        table = self.tables(i, st)[1]
        hit = table.get((h.index, args))
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        hi = h.index
        if h.kind == "timer":
            outs = [(_new(Timer, ("timer", i, hi, choices, sends)), st2, sends)
                    for choices, (st2, sends, _) in self.run(h, (i, st), state, ("timer", i, hi, (), ()))]
        else:
            base = ("request", i, hi, args, (), (), ())
            outs = [(_new(Request, ("request", i, hi, args, choices, sends, reps)), st2, sends)
                    for choices, (st2, sends, reps) in self.run(h, (i, st) + args, state, base)]
        hit = table[(hi, args)] = tuple(outs)  # type: ignore[arg-type]
        return hit  # type: ignore[return-value]

    def drop_counts(self) -> dict[str, int]:
        """Transitions so far that dropped a message no handler accepted, by message kind."""
        return {m.name: k for m, k in zip(self.cs.messages, self.dropped) if k}

    # ---- successors, in the catalogue's order (pnyx.model.system.EVENTS) ------------------
    def successors(self, state: State) -> list[tuple[Event, State]]:
        ns, up, net, budget = state
        out: list[tuple[Event, State]] = []
        add = out.append
        push = self._push
        tables = [self.tables(i, st) for i, st in enumerate(ns)]  # each node state hashed once
        deliverable, losable = self.net.exits(net, budget[LOSS] < self.limits[LOSS])
        for dst, src, msg, _, net1 in deliverable:
            outs = tables[dst][0].get((src, msg))
            if outs is None:
                outs = self.deliveries(state, dst, src, msg)
            for ev, st2, sends in outs:
                if st2 is None:  # no handler enabled: the message is dropped
                    self.dropped[msg[0]] += 1
                    add((ev, (ns, up, net1, budget)))
                    continue
                net2 = push(net1, dst, sends, up) if sends else net1
                if net2 is not None:  # else a bounded channel overflows: not enabled
                    add((ev, (ns[:dst] + (st2,) + ns[dst + 1 :], up, net2, budget)))
        for h in self.cs.timers:
            b2 = budget
            if h.spends >= 0:
                if budget[h.spends] >= self.limits[h.spends]:
                    continue
                b2 = spend(budget, h.spends)
            key = (h.index, ())
            for i in self.nodes:
                if up[i]:
                    outs = tables[i][1].get(key)
                    if outs is None:
                        outs = self.local(state, h, i)
                    for ev, st2, sends in outs:
                        net2 = push(net, i, sends, up) if sends else net
                        if net2 is not None:
                            add((ev, (ns[:i] + (st2,) + ns[i + 1 :], up, net2, b2)))
        if budget[REQ] < self.limits[REQ]:
            b2 = budget[:REQ] + (budget[REQ] + 1,) + budget[REQ + 1 :]  # spend(budget, slot), inline: once per state
            for h in self.cs.requests:
                hi = h.index
                for i in self.nodes:
                    if not up[i]:
                        continue
                    local = tables[i][1]
                    for args in h.arg_domain:
                        outs = local.get((hi, args))
                        if outs is None:
                            outs = self.local(state, h, i, args)
                        for ev, st2, sends in outs:
                            net2 = push(net, i, sends, up) if sends else net
                            if net2 is not None:
                                add((ev, (ns[:i] + (st2,) + ns[i + 1 :], up, net2, b2)))
        if budget[CRASH] < self.limits[CRASH]:
            b2 = budget[:CRASH] + (budget[CRASH] + 1,) + budget[CRASH + 1 :]  # spend(budget, slot), inline: once per state
            for i in self.nodes:
                if up[i]:
                    ns2 = ns[:i] + (self.cs.reset_volatile(ns[i], i),) + ns[i + 1 :]
                    up2 = up[:i] + (False,) + up[i + 1 :]
                    out.append((Crash(i), (ns2, up2, self.net.cut(net, i), b2)))
        for i in self.nodes:
            if not up[i]:
                up2 = up[:i] + (True,) + up[i + 1 :]
                s_up = (ns, up2, net, budget)
                h = self.cs.recover
                if h is None:
                    out.append((Recover(i), s_up))
                    continue
                for choices, (st2, sends, _) in self.run(h, (i, ns[i]), s_up, Recover(i)):
                    s2 = self.apply(s_up, i, st2, sends, net, budget)
                    if s2 is not None:
                        out.append((Recover(i, choices, sends), s2))
        rb = self.rebuild_slot
        if rb >= 0 and budget[rb] < self.limits[rb]:
            self.rebuilds(state, spend(budget, rb), out)
        if losable:
            b2 = budget[:LOSS] + (budget[LOSS] + 1,) + budget[LOSS + 1 :]  # spend(budget, slot), inline: once per state
            for dst, src, msg, k, net1 in losable:
                out.append((_new(Lose, ("lose", dst, src, msg, k)), (ns, up, net1, b2)))
        if budget[DUP] < self.limits[DUP]:
            b2 = budget[:DUP] + (budget[DUP] + 1,) + budget[DUP + 1 :]  # spend(budget, slot), inline: once per state
            for dst, src, msg, net1 in self.net.duplicates(net):
                out.append((Duplicate(dst, src, msg), (ns, up, net1, b2)))
        return out

    def rebuilds(self, state: State, b2: tuple, out: list) -> None:
        """Each down node restarting with its disk lost (`Rebuild`): every variable but the ghost
        ones at its initial value, then the spec's `on rebuild` handler, if it has one."""
        ns, up, net, _ = state
        h = self.cs.rebuild
        for i in self.nodes:
            if up[i]:
                continue
            ns2 = ns[:i] + (self.cs.reset_disk(ns[i], i),) + ns[i + 1 :]
            s_up = (ns2, up[:i] + (True,) + up[i + 1 :], net, b2)
            if h is None:
                out.append((Rebuild(i), s_up))
                continue
            for choices, (st2, sends, _) in self.run(h, (i, ns2[i]), s_up, Rebuild(i)):
                s2 = self.apply(s_up, i, st2, sends, net, b2)
                if s2 is not None:
                    out.append((Rebuild(i, choices, sends), s2))

    def cut(self, net: tuple, i: int) -> tuple:
        """The network after node i crashed: its TCP channels break; UDP packets to it are lost."""
        return self.net.cut(net, i)
