"""Partial-order reduction for breadth-first search: sleep sets and ample sets (docs/por.md
has the arguments).

Events at different nodes often commute: delivering a message at n1 and firing a timer at n2
reach one state in either order. Plain BFS computes both orders. With sleep sets, a state
carries the events already covered by a sibling branch (the "sleep set"): an event that was
listed earlier at an ancestor and is independent of every step taken since; such an event is
not taken again, because taking it here would only reach a state the sibling branch reaches in
the same number of steps.

Sleep sets remove transitions, never states: every reachable state is still discovered, at its
BFS depth, so distinct-state counts, diameters, invariant and `reachable` verdicts and the
length of every shortest trace are those of plain BFS. Independence comes from the system
step itself (`pnyx.model.system.Footprints`): two events are independent when neither writes
what the other reads (a node's variables, an up flag, a channel, a budget counter).

In breadth-first order a state's sleep set is the intersection of those brought by every
transition that reaches it from the level above; later arrivals (from its own level or below)
are ignored, as plain BFS ignores them. With symmetry reduction, only arrivals that produce the
very state kept for its class bring a sleep set; any other member of the class brings the empty
set (its events are named by other node ids).

Ample sets (`AmpleSets`) remove states too: where the events of some nodes cannot be
interfered with by anything the others do, and change nothing a property reads, only they are
taken. Verdicts stay; counterexamples are real runs but not always the shortest.
"""

from __future__ import annotations

import functools
import gc
import time
from array import array
from collections.abc import Callable

from pnyx.model import ir
from pnyx.model.errors import ArgumentError
from pnyx.model.system import CRASH, REQ, Footprints, sends_of

from . import bounds
from .bfs import Checks, Options, Result, Stats, _peak_rss, finish
from .model import SpecModel, State, StepError
from .protocol import Property

MODES = ("none", "sleep", "ample")  # `pnyx check --por`

Sleep = dict[tuple, tuple[int, int]]  # a sleep set: event key -> the event's (reads, writes) footprint
_AWAKE: Sleep = {}  # the empty sleep set, shared (never mutated)


def validate(mode: str, workers: int = 1, model: object | None = None) -> None:
    """Refuse a reduction this search cannot apply, with the reason (an ArgumentError: exit 2)."""
    if mode not in MODES:
        raise ArgumentError(f"--por {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "none":
        return
    if workers > 1:
        raise ArgumentError(f"--por {mode} runs in one process: drop --workers {workers} (or use --por none)")
    if model is not None and not hasattr(model, "footprints"):
        raise ArgumentError(f"--por {mode} needs a model that says what its events read and write (a compiled spec)")


def explore_reduced(model: SpecModel, options: Options) -> Result:
    """Explore a spec's state graph breadth-first with the reduction `options.por` names."""
    validate(options.por, options.workers, model)
    enabled = gc.isenabled()
    gc.disable()  # as in bfs.explore: the stored states are tuples, the collector would only walk them
    try:
        return _explore(model, options)
    finally:
        if enabled:
            gc.enable()


def arrival_sleep(sleep: Sleep, before: list[tuple[tuple, int, int]], reads: int, writes: int) -> Sleep:
    """The sleep set a transition brings to its target: the events asleep at its source or
    listed before it there, that are independent of it (`Footprints`)."""
    out = {k: fp for k, fp in sleep.items() if not (fp[1] & reads or writes & fp[0])}
    for k, r, w in before:
        if not (w & reads or writes & r):
            out[k] = (r, w)
    return out


def _explore(model: SpecModel, opts: Options) -> Result:
    """Level by level as bfs._explore; with sleep sets, each state's sleep set rides beside it in
    the frontier; with ample sets, each state takes the events of the set `AmpleSets` picks."""
    sleeping = opts.por == "sleep"
    fps = model.footprints()
    footprint, event_key = fps.of, fps.key
    fingerprint = model.fingerprint
    reducing = opts.symmetry and model.symmetric
    canon: Callable[[State], State] | None = model.representative() if reducing else None
    checks = Checks(model)
    check, changes = checks.check, checks.changed
    ample = AmpleSets(model, checks.props, fps) if opts.por == "ample" else None

    visited: set[int] = set()
    raw_seen: set[int] = set()  # with symmetry: fingerprints of generated states as they are, before canonicalization
    parent = array("q")
    step = array("l")
    stats = Stats()
    start = time.perf_counter()
    next_report = start + opts.progress_every
    violation: tuple[str, Property | None, int, StepError | None] | None = None

    frontier: list[State] = []
    sleeps: list[Sleep] = []  # each frontier state's sleep set
    for s in model.init_states():
        fp = fingerprint(canon(s) if canon is not None else s)
        if fp in visited:
            continue
        sid = len(parent)
        visited.add(fp)
        parent.append(-1)
        step.append(-1)
        frontier.append(s)
        sleeps.append(_AWAKE)
        bad = check(s, sid, None)
        if bad is not None and violation is None:
            violation = ("invariant", bad, sid, None)

    stopped_by: str | None = None
    depth = 0
    base = 0
    pruned = 0
    described: dict[int, tuple[tuple, tuple, int, int]] = {}  # id(event) -> (event, key, reads, writes)
    successors = model.successors
    guard = bounds.current()  # noticed every 64 states; a step that does not return is stopped after bounds.GRACE
    try:
        while frontier and violation is None:
            if opts.max_depth is not None and depth >= opts.max_depth:
                stopped_by = "depth"
                break
            nxt: list[State] = []
            nxt_sleeps: list[Sleep] = []
            in_level: dict[int, tuple[int, int]] = {}  # fingerprint -> (position in nxt, raw fingerprint of the state kept)
            raw_in_level: dict[int, int] = {}  # with symmetry: raw fingerprint first generated in this level -> class's
            nid = base + len(frontier)
            for qi, s in enumerate(frontier):
                sid = base + qi
                asleep = sleeps[qi]
                try:
                    succ = successors(s)
                except StepError as err:
                    violation = ("error", None, sid, err)
                    break
                keep: list[int] | None = None
                if ample is not None:
                    keep = ample.choose(s, succ, functools.partial(_old, fingerprint, canon, visited, in_level))
                    if keep is not None:
                        pruned += len(succ) - len(keep)
                listed: list[tuple[tuple, int, int]] = []  # (key, reads, writes) of the events listed so far
                for ai in keep if keep is not None else range(len(succ)):
                    ev, s2 = succ[ai]
                    if sleeping:
                        # events are mostly the very objects of the model's memo tables: described once
                        # by identity (the entry holds the event, so its id is not reused meanwhile)
                        d = described.get(id(ev))
                        if d is None or d[0] is not ev:
                            if len(described) >= 1_000_000:
                                described.clear()
                            key = event_key(ev)
                            d = described[id(ev)] = (ev, key, *footprint(key))
                        _, key, reads, writes = d
                        if asleep and key in asleep:
                            pruned += 1
                            listed.append((key, reads, writes))
                            continue
                    stats.transitions += 1
                    raw = fingerprint(s2)
                    if canon is None:
                        fp = raw
                    elif raw in raw_seen:  # generated before as this very state: its class is known
                        known = raw_in_level.get(raw)
                        if known is None:
                            if sleeping:
                                listed.append((key, reads, writes))
                            continue  # its class was discovered at an earlier level
                        fp = known
                    else:
                        # as in bfs._explore: most successors were generated before as this very
                        # state, and skip the N!-bounded canonicalization
                        raw_seen.add(raw)
                        fp = raw_in_level[raw] = fingerprint(canon(s2))
                    if fp in visited:
                        if not sleeping:
                            continue
                        at = in_level.get(fp)
                        if at is not None:  # another arrival from the level above: intersect
                            k, kept = at
                            cur = nxt_sleeps[k]
                            if cur:
                                if raw != kept:
                                    nxt_sleeps[k] = _AWAKE
                                else:
                                    brought = arrival_sleep(asleep, listed, reads, writes)
                                    nxt_sleeps[k] = {x: v for x, v in cur.items() if x in brought}
                        listed.append((key, reads, writes))
                        continue
                    visited.add(fp)
                    parent.append(sid)
                    step.append(ai)
                    in_level[fp] = (len(nxt), raw)
                    nxt.append(s2)
                    if sleeping:
                        nxt_sleeps.append(arrival_sleep(asleep, listed, reads, writes) or _AWAKE)
                        listed.append((key, reads, writes))
                    else:
                        nxt_sleeps.append(_AWAKE)
                    bad = check(s2, nid, changes(s, s2))
                    nid += 1
                    if bad is not None:
                        violation = ("invariant", bad, nid - 1, None)
                        break
                if violation is not None:
                    break
                if opts.max_states is not None and len(parent) >= opts.max_states:
                    stopped_by = "states"
                    break
                if (qi & 63) == 0:
                    now = time.perf_counter()
                    if opts.max_seconds is not None and now - start >= opts.max_seconds:
                        stopped_by = "time"
                        break
                    if guard.pending is not None:
                        stopped_by = guard.poll()
                        break
                    if opts.progress is not None and now >= next_report:
                        next_report = now + opts.progress_every
                        stats.distinct, stats.depth, stats.seconds = len(parent), depth + 1, now - start
                        stats.queue = len(frontier) - qi + len(nxt)
                        opts.progress(stats)
            base += len(frontier)
            frontier, sleeps = nxt, nxt_sleeps
            if stopped_by or violation is not None:
                break
            if frontier:
                depth += 1
    except bounds.Stop as stop:
        guard.poll()
        stopped_by = stop.kind

    stats.distinct = len(parent)
    stats.depth = depth
    stats.queue = len(frontier) if stopped_by else 0
    stats.seconds = time.perf_counter() - start
    stats.peak_rss_bytes = _peak_rss()
    stats.pruned = pruned

    def path(sid: int) -> list[int]:
        steps = []
        while parent[sid] != -1:
            steps.append(step[sid])
            sid = parent[sid]
        return steps[::-1]

    result = finish(model, checks, opts, stats, stopped_by, violation, path, reducing)
    result.por = opts.por
    return result


def _old(fingerprint: Callable[[State], int], canon: Callable[[State], State] | None, visited: set[int],
         next_level: dict[int, object], s2: State) -> bool:
    """Whether s2 was discovered before, other than in the level being built."""
    fp = fingerprint(canon(s2) if canon is not None else s2)
    return fp in visited and fp not in next_level


class AmpleSets:
    """Ample (persistent) sets for an actor model: the events of a set of nodes S, taken alone
    when nothing the other nodes can do, now or later, interferes with them (docs/por.md has
    the argument). Each test below stands for one condition of that argument:

    - persistence: the network is fifo; every channel into S from outside S holds a message (so
      a sender outside S can only append behind a head that S alone delivers); no crash is left
      in the budget and no handler that can `disconnect` can still run (either would empty such a
      channel); no event of S spends a budget (another node could spend it first) or disconnects;
    - visibility: no event of S changes a variable a property reads (and no property reads the
      network, which nearly every event changes);
    - cycles: every state the set leads to is new or first found in the next level (so one
      level deeper): a cycle cannot go deeper at every step, so each passes through a state
      that took every event.

    `choose` tries each node's closure S (add every outside node with an empty channel into S,
    until none is left), smallest first, and returns the indices of the first set that passes,
    or None: take every event."""

    def __init__(self, model: SpecModel, props: list[Property], footprints: Footprints) -> None:
        cs = model.cs
        self.n = model.n
        self.limits = model.limits
        reads = [p.reads for p in props]
        self.applies = model.fifo and all(r is not None for r in reads)
        self.visible = tuple(sorted({slot for r in reads if r is not None for slot in r}))
        self.budget_bits = sum(footprints.budget(k) for k in range(len(self.limits)))
        self.footprint, self.key = footprints.of, footprints.key
        entries = {h.index: h for h in cs.handlers}
        # handlers that can `disconnect`, as (kind, budget slot that bounds them or -1)
        self.disconnecting: list[tuple[str, int]] = []
        for h in cs.checked.core.handlers:
            if any(isinstance(x, ir.Disconnect) for x in ir.walk(h)):
                e = entries[h.index]
                self.disconnecting.append((e.kind, e.spends if e.kind == "timer" else REQ if e.kind == "request" else -1))

    def quiet(self, budget: tuple) -> bool:
        """No crash and no `disconnect` can happen from here on."""
        if budget[CRASH] < self.limits[CRASH]:
            return False
        for kind, slot in self.disconnecting:
            if kind in ("recover", "rebuild"):
                continue  # no crash is left: nobody recovers
            if slot < 0 or budget[slot] < self.limits[slot]:
                return False
        return True

    def closure(self, i: int, net: tuple) -> list[bool]:
        """The smallest S holding i such that every channel into S from outside S holds a message."""
        n = self.n
        inside = [False] * n
        inside[i] = True
        todo = [i]
        while todo:
            j = todo.pop()
            for k in range(n):
                if not inside[k] and not net[k * n + j]:
                    inside[k] = True
                    todo.append(k)
        return inside

    def choose(self, s: State, succ: list, old: Callable[[State], bool]) -> list[int] | None:
        """The indices of the events to take in s (None: all); `old(s2)`: s2 was discovered at
        the level of s or above (not new, nor first found in the next level)."""
        if not self.applies or not succ or not self.quiet(s[3]):
            return None
        ns, net = s[0], s[2]
        tried: set[tuple[bool, ...]] = set()
        candidates: list[list[int]] = []
        for i in sorted({ev[1] for ev, _ in succ}):
            inside = self.closure(i, net)
            if all(inside) or tuple(inside) in tried:
                continue
            tried.add(tuple(inside))
            candidates.append([ai for ai, (ev, _) in enumerate(succ) if inside[ev[1]]])
        visible, budget_bits = self.visible, self.budget_bits
        for chosen in sorted(candidates, key=len):
            ok = True
            for ai in chosen:
                ev, s2 = succ[ai]
                _, writes = self.footprint(self.key(ev))
                at = ev[1]
                before, after = ns[at], s2[0][at]
                if (writes & budget_bits or any(m is None for _, m in sends_of(ev))
                        or (before is not after and any(before[k] != after[k] for k in visible))
                        or old(s2)):
                    ok = False
                    break
            if ok:
                return chosen
        return None

