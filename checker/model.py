"""The global transition system of a compiled spec: states, events, successors.

A global state is ``(NS, UP, NET, BUDGET)``:
- NS: one tuple of variable values per node;
- UP: one bool per node;
- NET: for `fifo`, one tuple of messages per ordered pair (index ``src * N + dst``);
  for `unordered`, a sorted tuple of ``(dst, src, message)`` entries (a multiset);
- BUDGET: faults and requests used so far, ``(requests, crashes, losses, duplicates)``.

An event is a tuple whose first item names its kind (see `describe` in checker.trace).
Successors are listed in a fixed order, so an index into the list is a replayable step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pnyx.model.compiler import CompiledSpec, HandlerEntry
from pnyx.model.errors import ModelError
from pnyx.model.runtime import MAX_CHOICES, subsets

State = tuple
Event = tuple
REQ, CRASH, LOSS, DUP = 0, 1, 2, 3
MEMO_LIMIT = 1_000_000  # handler outcomes remembered before the memo is cleared


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


class SpecModel:
    """Stateright-style model interface over a compiled spec: `init_states`, `successors`."""

    def __init__(self, cs: CompiledSpec) -> None:
        self.cs = cs
        self.n = cs.n_nodes
        self.fifo = cs.network == "fifo"
        self.cap = cs.capacity
        b = cs.budget
        self.max_requests, self.max_crashes = b["requests"], b["crashes"]
        self.max_losses, self.max_dups = b["losses"], b["duplicates"]
        self.limits = tuple(b.values())  # every budget, built-in ones first, in the state's order
        self.msg_handlers = cs.message_handlers
        self.nodes = tuple(range(self.n))
        self.memo: dict[tuple, tuple] = {}

    # ---- states ------------------------------------------------------------
    def init_states(self) -> list[State]:
        ns = tuple(self.cs.init_node(i) for i in self.nodes)
        up = (True,) * self.n
        net: tuple = ((),) * (self.n * self.n) if self.fifo else ()
        return [(ns, up, net, (0,) * len(self.cs.budget))]

    def in_flight(self, state: State) -> list[tuple[int, int, tuple]]:
        """Every message in the network as (src, dst, message), in a fixed order."""
        net = state[2]
        if self.fifo:
            return [(ci // self.n, ci % self.n, m) for ci, ch in enumerate(net) for m in ch]
        return [(src, dst, m) for dst, src, m in net]

    # ---- running handlers --------------------------------------------------
    def run(self, h: HandlerEntry, args: tuple, state: State, event: Event) -> list[tuple[tuple, tuple]]:
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
            raise StepError(state, event, self.cs.model_error(exc, f"handler at line {h.line}")) from None

    def apply(self, state: State, node: int, st2: tuple, sends: list, net: tuple, budget: tuple) -> State | None:
        """The state after `node` took a step; None if it leaves a bounded channel over capacity."""
        ns, up = state[0], state[1]
        ns2 = ns[:node] + (st2,) + ns[node + 1 :]
        if sends:
            n, cap = self.n, self.cap
            if self.fifo:
                chans = list(net)
                for dst, m in sends:
                    if m is None:  # `disconnect dst`: what is in flight either way is lost
                        chans[node * n + dst] = chans[dst * n + node] = ()
                        continue
                    if not up[dst]:
                        continue  # the connection to a crashed node is gone
                    ci = node * n + dst
                    chans[ci] = chans[ci] + (m,)
                if cap is not None:  # judged on the channels as the step leaves them
                    for dst, m in sends:
                        if m is not None and len(chans[node * n + dst]) > cap:
                            return None
                net = tuple(chans)
            else:
                entries = list(net)
                for dst, m in sends:
                    if m is None:
                        entries = [e for e in entries if (e[0], e[1]) not in ((dst, node), (node, dst))]
                    elif up[dst]:
                        entries.append((dst, node, m))
                if cap is not None:
                    for dst, m in sends:
                        if m is None:
                            continue
                        if sum(1 for e in entries if e[0] == dst and e[1] == node) > cap:
                            return None
                entries.sort()
                net = tuple(entries)
        return (ns2, up, net, budget)

    def outcomes(self, h: HandlerEntry, args: tuple, state: State, event: Event) -> tuple | list:
        """`run`, memoized: handlers are pure, and one node state meets one message in many global states."""
        key = (h.index, args)
        hit = self.memo.get(key)
        if hit is None:
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            hit = self.memo[key] = tuple(self.run(h, args, state, event))
        return hit

    def _deliver(self, out: list, state: State, net1: tuple, dst: int, src: int, msg: tuple) -> None:
        enabled = False
        st = state[0][dst]
        budget = state[3]
        for h in self.msg_handlers[msg[0]]:
            event = ("deliver", dst, src, msg, h.index)
            for choices, (st2, sends, _) in self.outcomes(h, (dst, st, src) + msg[1:], state, event):
                enabled = True
                s2 = self.apply(state, dst, st2, sends, net1, budget)
                if s2 is not None:
                    out.append((("deliver", dst, src, msg, h.index, choices, sends), s2))
        if not enabled:
            out.append((("deliver", dst, src, msg, -1, (), ()), (state[0], state[1], net1, budget)))

    # ---- successors --------------------------------------------------------
    def successors(self, state: State) -> list[tuple[Event, State]]:  # noqa: C901 - one block per event kind
        ns, up, net, budget = state
        n = self.n
        out: list[tuple[Event, State]] = []
        # deliveries
        if self.fifo:
            for ci, ch in enumerate(net):
                if ch:
                    src, dst = divmod(ci, n)
                    net1 = net[:ci] + (ch[1:],) + net[ci + 1 :]
                    self._deliver(out, state, net1, dst, src, ch[0])
        else:
            prev = None
            for k, entry in enumerate(net):
                if entry == prev:
                    continue
                prev = entry
                dst, src, msg = entry
                self._deliver(out, state, net[:k] + net[k + 1 :], dst, src, msg)
        # timers
        for h in self.cs.timers:
            b2 = budget
            if h.spends >= 0:
                if budget[h.spends] >= self.limits[h.spends]:
                    continue
                b2 = budget[: h.spends] + (budget[h.spends] + 1,) + budget[h.spends + 1 :]
            for i in self.nodes:
                if up[i]:
                    base = ("timer", i, h.index)
                    for choices, (st2, sends, _) in self.outcomes(h, (i, ns[i]), state, base):
                        s2 = self.apply(state, i, st2, sends, net, b2)
                        if s2 is not None:
                            out.append((("timer", i, h.index, choices, sends), s2))
        # client requests
        if budget[REQ] < self.max_requests:
            b2 = (budget[0] + 1,) + budget[1:]
            for h in self.cs.requests:
                for i in self.nodes:
                    if not up[i]:
                        continue
                    for args in h.arg_domain:
                        base = ("request", i, h.index, args)
                        for choices, (st2, sends, reps) in self.outcomes(h, (i, ns[i]) + args, state, base):
                            s2 = self.apply(state, i, st2, sends, net, b2)
                            if s2 is not None:
                                out.append((("request", i, h.index, args, choices, sends, reps), s2))
        # crashes
        if budget[CRASH] < self.max_crashes:
            b2 = budget[:1] + (budget[1] + 1,) + budget[2:]
            for i in self.nodes:
                if up[i]:
                    ns2 = ns[:i] + (self.cs.reset_volatile(ns[i], i),) + ns[i + 1 :]
                    up2 = up[:i] + (False,) + up[i + 1 :]
                    out.append((("crash", i), (ns2, up2, self.cut(net, i), b2)))
        # recoveries
        for i in self.nodes:
            if not up[i]:
                up2 = up[:i] + (True,) + up[i + 1 :]
                s_up = (ns, up2, net, budget)
                h = self.cs.recover
                if h is None:
                    out.append((("recover", i, (), ()), s_up))
                    continue
                for choices, (st2, sends, _) in self.run(h, (i, ns[i]), s_up, ("recover", i)):
                    s2 = self.apply(s_up, i, st2, sends, net, budget)
                    if s2 is not None:
                        out.append((("recover", i, choices, sends), s2))
        # message loss and duplication
        if budget[LOSS] < self.max_losses:
            b2 = budget[:2] + (budget[2] + 1,) + budget[3:]
            if self.fifo:
                for ci, ch in enumerate(net):
                    for k, m in enumerate(ch):
                        net1 = net[:ci] + (ch[:k] + ch[k + 1 :],) + net[ci + 1 :]
                        out.append((("lose", ci % n, ci // n, m, k), (ns, up, net1, b2)))
            else:
                prev = None
                for k, entry in enumerate(net):
                    if entry != prev:
                        prev = entry
                        out.append((("lose", entry[0], entry[1], entry[2], k), (ns, up, net[:k] + net[k + 1 :], b2)))
        if not self.fifo and budget[DUP] < self.max_dups:
            b2 = budget[:3] + (budget[3] + 1,) + budget[4:]
            prev = None
            for entry in net:
                if entry != prev:
                    prev = entry
                    if self.cap is not None and sum(1 for e in net if e[:2] == entry[:2]) >= self.cap:
                        continue
                    net1 = tuple(sorted(net + (entry,)))
                    out.append((("duplicate", entry[0], entry[1], entry[2]), (ns, up, net1, b2)))
        return out

    def cut(self, net: tuple, i: int) -> tuple:
        """The network after node i crashed: its TCP channels break; UDP packets to it are lost."""
        n = self.n
        if self.fifo:
            return tuple(() if (ci // n == i or ci % n == i) else ch for ci, ch in enumerate(net))
        return tuple(e for e in net if e[0] != i)
