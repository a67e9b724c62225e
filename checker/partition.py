"""The partitioned, level-synchronous BFS, apart from how its workers talk.

Each worker owns the states whose owner key (`owner_key`) hashes to its number modulo the number
of workers: it alone keeps the visited set of those. The key is a part of the (canonical) state
that most steps leave unchanged when the model names one (a spec: node 0's variables), so that
most successors are owned by the worker that found them; otherwise the whole state's fingerprint.
A level runs in phases, each ended by a barrier in the coordinator:

- expand: every worker lists the successors of the states it holds; a new one that it owns it
  keeps at once (checking its properties, as the one-process search does); the fingerprints of
  the others it sends to their owners;
- claim: every owner marks which of the fingerprints sent to it are new, senders in order,
  and records them as visited;
- keep: each worker holds the successors its owners marked new, with their parent pointers,
  and checks them; only fingerprints and marks have travelled, no states;
- give: owning by a key, each worker hands its owner every new state it holds that another
  owns (their successors are mostly the owner's); then the coordinator evens out the next level
  by moving states from the workers owning most to the others (pickled, the states handed over
  and the imbalance); a moved state keeps its number.

Every state is therefore discovered at its BFS depth, whoever finds it: the distinct states,
transitions and diameter are those of `pnyx.checker.bfs.explore`, and a counterexample is as
short (the search stops at the end of the first level with a violation; an error while
expanding level d is preferred to an invariant violated at level d+1, its trace being shorter).
A state's global number is ``local number * workers + holder``, so a trace is rebuilt by asking
each holder along the path for its parent pointer; the coordinator then replays it and finds
the violation again. Bounds (`max_states`, `max_seconds`) are checked between levels and, for
time, during expansion, so a bounded search may count a few states more than one process would.

This module is the algorithm once: `Partition` is a worker's part (bytes in, bytes out) and
`search` the coordinator's. A transport carries the phases: `parallel` over forked processes
(files and pipes), `ray_engine` over Ray actors (object references).
"""

from __future__ import annotations

import functools
import itertools
import pickle
import resource
import time
from array import array
from collections.abc import Callable
from typing import Any, Protocol

from . import bounds
from .bfs import Checks, Options, Result, Stats, finish
from .model import State, StepError
from .protocol import Model
from .trace import replay

# The commands a transport carries to every worker, and the answers it returns, in worker order:
#   ("seed", [[(state, fingerprint), ...] per worker])  -> ("seeded", states kept, violating state, reached)
#   ("expand", level, plan, seconds left or None)       -> ("expanded", transitions, failing state, timed out,
#                                                           violating state, reached)
#   ("claim", level)                                    -> ("claimed",)
#   ("keep", level)                                     -> ("kept", states of the next level held, how many of them
#                                                           each worker owns (0 for itself; all 0 owning by fingerprint),
#                                                           violating state, reached)
#   ("give", level, plan)                               -> ("given",)
#   ("end",)                                            -> ("end", peak RSS, unhandled messages dropped by kind or None,
#                                                           CPU seconds of each level's phases)
# Between them the transport moves each worker's output of one phase to the workers that read it
# in the next: fingerprints (expand -> claim), marks (claim -> keep), states (give -> expand).


class Transport(Protocol):
    n: int

    def ask(self, msg: tuple) -> list[Any]:
        """Run one command on every worker; their answers in worker order (a worker's failure raised)."""
        ...

    def parent(self, worker: int, local: int) -> tuple[int, int]:
        """The parent's global number and the step index of the state `local` held by `worker`."""
        ...

    def abort(self) -> None:
        """Stop every worker now, wherever it is (a stop asked in the middle of a phase)."""
        ...


def _busy(level_ends: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A phase of `Partition` whose CPU seconds count in the level's (`Partition.level_cpu`): how
    long the level would keep the worker's core busy were the core its own."""

    def wrap(phase: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(phase)
        def timed(self: Partition, *args: Any) -> Any:
            t = time.process_time()
            try:
                return phase(self, *args)
            finally:
                self.cpu += time.process_time() - t
                if level_ends:
                    self.level_cpu.append(self.cpu)
                    self.cpu = 0.0

        return timed

    return wrap


class Partition:
    """One worker's share of the search: the visited fingerprints it owns and the states it holds.

    Every method takes what other workers sent it and returns what it sends them, as bytes
    indexed by worker (b"" to itself), so that any transport can carry them."""

    def __init__(self, model: Model, symmetry: bool, w: int, n: int) -> None:
        self.model, self.w, self.n = model, w, n
        self.fingerprint = model.fingerprint
        self.canon: Callable[[State], State] | None = model.representative() if symmetry and model.symmetric else None
        self.part = owner_key(model, n)
        self.raw_seen: set[int] = set()
        self.visited: set[int] = set()  # the fingerprints this worker owns that were discovered
        self.parent = array("q")  # of each state this worker holds: its parent's global number
        self.step = array("l")
        self.frontier: list[State] = []  # held states of the level
        self.numbers: range | list[int] = range(0)  # their global numbers
        self.guests: list[tuple[State, int]] = []  # states of the level held by another worker, with their numbers
        self.next: list[State] = []  # held states of the next level, numbered from `base_next`
        self.base_next = 0
        self.outbox: list[list[tuple]] = []
        self.foreign: list[list[int]] = [[] for _ in range(n)]  # of `next`: the positions of the states each other worker owns
        self.checks = Checks(model)
        self.bad: int | None = None  # the first state found violating a property, by global number
        self.cpu = 0.0  # CPU seconds of the current level's phases so far
        self.level_cpu: list[float] = []  # of each level's

    def _reached(self, before: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in self.checks.reached_at.items() if k not in before}

    def add(self, s: State, parent: int, step: int, changed: set | None) -> None:
        """Hold a new state of the next level (its fingerprint just marked visited by its owner), checking it."""
        lid = len(self.parent)
        self.parent.append(parent)
        self.step.append(step)
        self.next.append(s)
        if self.bad is None:
            gid = lid * self.n + self.w
            if self.checks.check(s, gid, changed) is not None:
                self.bad = gid

    def _advance(self) -> None:
        start = self.base_next * self.n + self.w
        self.frontier, self.numbers, self.next = self.next, range(start, start + len(self.next) * self.n, self.n), []
        self.base_next = len(self.parent)

    def seed(self, states: list[tuple[State, int]]) -> tuple:
        """Hold the initial states this worker owns (fingerprinted by the coordinator, checked here:
        a model whose fingerprints differ between processes would split its states at random)."""
        before = dict(self.checks.reached_at)
        for s, fp in states:
            c = self.canon(s) if self.canon is not None else s
            if self.fingerprint(c) != fp or owner(self.part, self.fingerprint, c, fp, self.n) != self.w:
                raise RuntimeError("this model's fingerprints differ between processes: it cannot be partitioned")
            if fp not in self.visited:
                self.visited.add(fp)
                self.add(s, -1, -1, None)
        self._advance()
        return ("seeded", len(self.frontier), self.bad, self._reached(before))

    @_busy()
    def take(self, gifts: list[bytes]) -> None:
        """Hold states of the level that other workers gave (`give`), made of this process's own
        node tuples where it has them (the model's `share`)."""
        share = getattr(self.model, "share", None)
        for data in gifts:
            if data:
                states = pickle.loads(data)
                self.guests += states if share is None else [(share(s), g) for s, g in states]

    @_busy()
    def expand(self, seconds: float | None) -> tuple[tuple, list[bytes]]:
        """List the successors of the level's states: keep the new ones this worker owns; the
        fingerprints of the others go to their owners, who say which are new (`claim`)."""
        deadline = None if seconds is None else time.perf_counter() + seconds
        before = dict(self.checks.reached_at)
        n, w = self.n, self.w
        fingerprint, canon, raw_seen, part = self.fingerprint, self.canon, self.raw_seen, self.part
        key, home = None, w
        successors, changes = self.model.successors, self.checks.changed
        visited = self.visited
        seen, see, add = visited.__contains__, visited.add, self.add
        outbox: list[list[tuple]] = [[] for _ in range(n)]  # (state, successor, parent number, step index)
        fps = [array("q") for _ in range(n)]
        transitions = 0
        error: int | None = None
        timed_out = False
        held = zip(self.frontier, self.numbers)
        owned = len(self.frontier)  # the held states are this worker's own (see `give`); the guests may be another's
        for qi, (s, gid) in enumerate(itertools.chain(held, self.guests)):
            try:
                succ = successors(s)
            except StepError:
                error = gid
                break
            transitions += len(succ)
            if part is not None and canon is None:  # a successor sharing s's key (the same object) has s's owner
                key = part(s)
                home = w if qi < owned else fingerprint(key) % n
            for ai, (_, s2) in enumerate(succ):
                if canon is not None:
                    raw = fingerprint(s2)
                    if raw in raw_seen:
                        continue
                    raw_seen.add(raw)
                    c = canon(s2)
                    fp = fingerprint(c)
                else:
                    c = s2
                    fp = fingerprint(s2)
                if seen(fp):  # owned here and found before: most successors, when most stay here
                    continue
                if part is None:
                    holder = fp % n
                else:
                    k = part(c)
                    holder = home if k is key else fingerprint(k) % n
                if holder == w:
                    see(fp)
                    add(s2, gid, ai, changes(s, s2))
                else:
                    fps[holder].append(fp)
                    outbox[holder].append((s, s2, gid, ai))
            if self.bad is not None:
                break
            if (qi & 63) == 0 and deadline is not None and time.perf_counter() >= deadline:
                timed_out = True
                break
        self.frontier, self.guests, self.outbox = [], [], outbox
        sent = [b"" if to == w else batch.tobytes() for to, batch in enumerate(fps)]
        return ("expanded", transitions, error, timed_out, self.bad, self._reached(before)), sent

    @_busy()
    def claim(self, received: list[bytes]) -> list[bytes]:
        """Mark which of the fingerprints the others sent are new (now visited): the marks, per sender."""
        visited = self.visited
        marks = []
        for data in received:
            fps = array("q")
            fps.frombytes(data)
            ok = bytearray(len(fps))
            for i, fp in enumerate(fps):
                if fp not in visited:
                    visited.add(fp)
                    ok[i] = 1
            marks.append(bytes(ok))
        return marks

    @_busy()
    def keep(self, marks: list[bytes]) -> tuple:
        """Hold the successors that their owners marked new, where they were found (only
        fingerprints travelled); `give` then hands them to their owners (owning by a key) and
        evens out the workers' shares."""
        before = dict(self.checks.reached_at)
        changes, add, nxt = self.checks.changed, self.add, self.next
        route = self.part is not None  # owning by fingerprint, the owner's successors would be no more its own
        for box, ok, foreign in zip(self.outbox, marks, self.foreign):
            for (s, s2, gid, ai), k in zip(box, ok):
                if k:
                    if route:
                        foreign.append(len(nxt))
                    add(s2, gid, ai, changes(s, s2))
        self.outbox = []
        return ("kept", len(nxt), [len(f) for f in self.foreign], self.bad, self._reached(before))

    @_busy(level_ends=True)
    def give(self, plan: list[tuple[int, int, int]]) -> list[bytes]:
        """Move states of the next level as planned ((giver, taker, count), ...), then begin it:
        the states given, per taker. A taker gets first the states it owns (held here since this
        worker found them), so that their successors are mostly its own too; then, to even out
        the shares, some this worker owns. A moved state keeps its number: its parent pointer stays here."""
        gifts = [b""] * self.n
        nxt, foreign = self.next, self.foreign
        gone: set[int] = set()
        theirs = set().union(*foreign) if any(foreign) else set()
        own = (i for i in range(len(nxt)) if i not in theirs)
        for giver, taker, count in plan:
            if giver == self.w:
                picked = foreign[taker][:count]
                picked += itertools.islice(own, count - len(picked))
                gone.update(picked)
                numbers = [(self.base_next + i) * self.n + self.w for i in picked]
                gifts[taker] = pickle.dumps([(nxt[i], g) for i, g in zip(picked, numbers)], protocol=pickle.HIGHEST_PROTOCOL)
        self.foreign = [[] for _ in range(self.n)]
        if gone:
            kept = [i for i in range(len(nxt)) if i not in gone]
            start = self.base_next * self.n + self.w
            self.frontier, self.numbers = [nxt[i] for i in kept], [start + i * self.n for i in kept]
            self.next = []
            self.base_next = len(self.parent)
        else:
            self._advance()
        return gifts

    def parent_of(self, local: int) -> tuple[int, int]:
        return self.parent[local], self.step[local]

    def end(self) -> tuple:
        counts = getattr(self.model, "drop_counts", None)
        return ("end", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, counts() if counts is not None else None,
                self.level_cpu)


LOCAL_OWNERS_MAX = 4  # beyond this many workers, a model's owner key has too few values to share out


def owner_key(model: Model, n: int) -> Callable[[State], Any] | None:
    """The part of a (canonical) state whose fingerprint decides its owner, or None for the whole
    state's. A step changes one node's variables (and the network), so owning states by one
    node's variables (the model's `owner_key`) lets most successors be checked and claimed by the
    worker that found them, with no fingerprint sent. Such a part takes few values (gossip's
    node 0 has 165 over 372 k states), so it is used for at most `LOCAL_OWNERS_MAX` workers:
    beyond, the owners' shares of the visited set would grow uneven."""
    key = getattr(model, "owner_key", None)
    return key if key is not None and n <= LOCAL_OWNERS_MAX else None


def owner(part: Callable[[State], Any] | None, fingerprint: Callable[[State], int], state: State, fp: int, n: int) -> int:
    """The worker owning the (canonical) `state` of fingerprint `fp`, `part` being `owner_key`'s answer."""
    return fp % n if part is None else fingerprint(part(state)) % n


def plan_gifts(held: list[int], foreign: list[list[int]]) -> list[tuple[int, int, int]]:
    """The moves ((giver, taker, count), ...) of the next level's states: to each worker the
    states it owns that another holds (`held[w]` states held by w, `foreign[w][v]` of them owned
    by v), then enough to even out the shares (`balance`); one move per giver and taker."""
    n = len(held)
    owned = [held[w] - sum(foreign[w]) + sum(foreign[v][w] for v in range(n)) for w in range(n)]
    counts = {(w, v): foreign[w][v] for w in range(n) for v in range(n) if foreign[w][v]}
    for giver, taker, k in balance(owned):
        counts[giver, taker] = counts.get((giver, taker), 0) + k
    return [(giver, taker, k) for (giver, taker), k in counts.items()]


def balance(sizes: list[int]) -> list[tuple[int, int, int]]:
    """Moves ((giver, taker, count), ...) that even out the workers' shares of the next level,
    unless they are already within 2% of even."""
    total, n = sum(sizes), len(sizes)
    want = [total // n + (1 if w < total % n else 0) for w in range(n)]
    if max(abs(a - b) for a, b in zip(sizes, want)) <= max(16, total // 50):
        return []
    givers = [[w, sizes[w] - want[w]] for w in range(n) if sizes[w] > want[w]]
    takers = [[w, want[w] - sizes[w]] for w in range(n) if sizes[w] < want[w]]
    plan = []
    while givers and takers:
        g, t = givers[-1], takers[-1]
        k = min(g[1], t[1])
        plan.append((g[0], t[0], k))
        g[1] -= k
        t[1] -= k
        if not g[1]:
            givers.pop()
        if not t[1]:
            takers.pop()
    return plan


def search(model: Model, opts: Options, transport: Transport, start: float) -> Result:
    """The coordinator's part: seed the workers, run the levels, gather the counts and rebuild a
    counterexample. `start` is when the search began (perf_counter)."""
    n = transport.n
    reducing = opts.symmetry and model.symmetric
    deadline = start + opts.max_seconds if opts.max_seconds is not None else None
    fingerprint = model.fingerprint
    canon = model.representative() if reducing else None
    part = owner_key(model, n)
    seeds: list[list[tuple[State, int]]] = [[] for _ in range(n)]
    for s in model.init_states():
        c = canon(s) if canon is not None else s
        fp = fingerprint(c)
        seeds[owner(part, fingerprint, c, fp, n)].append((s, fp))
    seeded = transport.ask(("seed", seeds))
    stats = Stats()
    frontier = stats.distinct = sum(a[1] for a in seeded)
    reached: dict[str, int] = {}
    _reached(seeded, reached)
    bad = [a[2] for a in seeded if a[2] is not None]
    violation = ("invariant", min(bad)) if bad else None
    stopped_by: str | None = None
    depth = 0
    level = 0
    plan: list[tuple[int, int, int]] = []
    next_report = start + opts.progress_every
    guard = bounds.current()
    aborted = False
    try:
        while frontier and violation is None:
            if opts.max_depth is not None and depth >= opts.max_depth:
                stopped_by = "depth"
                break
            guard.interruptible = True  # the level's counts are added once every phase is over
            left = None if deadline is None else max(0.0, deadline - time.perf_counter())
            expanded = transport.ask(("expand", level, plan, left))
            transport.ask(("claim", level))
            kept = transport.ask(("keep", level))
            sizes = [a[1] for a in kept]
            plan = plan_gifts(sizes, [a[2] for a in kept])
            transport.ask(("give", level, plan))
            guard.interruptible = False
            level += 1
            stats.transitions += sum(a[1] for a in expanded)
            frontier = sum(sizes)
            stats.distinct += frontier
            _reached(expanded + kept, reached)
            errors = [a[2] for a in expanded if a[2] is not None]
            bad = [a[4] for a in expanded if a[4] is not None] + [a[3] for a in kept if a[3] is not None]
            if errors:  # a failing step from level d: a shorter trace than a violation at level d+1
                violation = ("error", min(errors))
            elif bad:
                violation = ("invariant", min(bad))
            if violation is not None:
                break
            now = time.perf_counter()
            if any(a[3] for a in expanded) or (deadline is not None and now >= deadline):
                stopped_by = "time"
                break
            if opts.max_states is not None and stats.distinct >= opts.max_states:
                stopped_by = "states"
                break
            if guard.pending is not None:
                stopped_by = guard.poll()
                break
            if frontier:
                depth += 1
            if opts.progress is not None and now >= next_report:
                next_report = now + opts.progress_every
                stats.depth, stats.queue, stats.seconds = depth, frontier, now - start
                opts.progress(stats)
    except bounds.Stop as stop:  # in the middle of a level: the workers are stopped, the completed levels counted
        guard.interruptible = False
        guard.poll()
        stopped_by, aborted = stop.kind, True
        transport.abort()
        reached.clear()  # their traces would need the workers
        violation = None
    stats.depth = depth
    stats.queue = frontier if stopped_by else 0
    stats.seconds = time.perf_counter() - start
    ends = transport.ask(("end",)) if not aborted else []
    stats.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + sum(a[1] for a in ends)
    dropped: dict[str, int] = {}
    for a in ends:
        for kind, k in (a[2] or {}).items():
            dropped[kind] = dropped.get(kind, 0) + k
    if ends:
        stats.worker_cpu = [list(level) for level in zip(*(a[3] for a in ends))]
        stats.cpu_seconds = sum(map(sum, stats.worker_cpu))

    def path(gid: int) -> list[int]:
        """The step indices from an initial state to the state numbered `gid`, asking each holder in turn."""
        steps = []
        while True:
            parent, step = transport.parent(gid % n, gid // n)
            if parent == -1:
                return steps[::-1]
            steps.append(step)
            gid = parent

    checks = Checks(model)  # the violation is found again here, in the trace's last state
    found: tuple[str, Any, int, StepError | None] | None = None
    if violation is not None:
        kind, gid = violation
        state = replay(model, path(gid)).states[-1]
        if kind == "error":
            try:
                model.successors(state)
            except StepError as err:
                found = ("error", None, gid, err)
        else:
            found = ("invariant", checks.violated(state), gid, None)
        if found is None or (kind == "invariant" and found[1] is None):  # pragma: no cover - models are pure
            raise AssertionError("a violation found by a worker did not recur")
    checks.reached_at.update(reached)
    result = finish(model, checks, opts, stats, stopped_by, found, path, reducing)
    # the workers' transitions (not the replays), in the spec's order of message kinds as one process lists them
    kinds = [m.name for m in getattr(getattr(model, "cs", None), "messages", [])]
    result.stats.dropped = {k: dropped[k] for k in sorted(dropped, key=lambda k: kinds.index(k) if k in kinds else 0)}
    return result


def _reached(answers: list[Any], reached: dict[str, int]) -> None:
    """Record the reachable properties first met at this level (the least state number among workers)."""
    level: dict[str, int] = {}
    for a in answers:
        for name, gid in a[-1].items():
            level[name] = min(level.get(name, gid), gid)
    for name, gid in level.items():
        reached.setdefault(name, gid)
