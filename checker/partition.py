"""The partitioned, level-synchronous BFS, apart from how its workers talk.

Each worker owns some of the states: it alone keeps the visited set of those. When the model names
a part of its state that most steps leave unchanged (`owner_key`: for a spec, node 0's variables),
the states are owned by that part, so that most successors are owned by the worker that found them:
the part's fingerprint picks one of `BUCKETS` buckets, and a table the workers share says which
worker owns each bucket. Otherwise a state is owned by its own fingerprint modulo the workers.
A level runs in phases, each ended by a barrier in the coordinator:

- expand: every worker lists the successors of the states it holds; a new one that it owns it
  keeps at once (checking its properties, as the one-process search does); the fingerprints of
  the others it sends to their owners;
- claim: every owner marks which of the fingerprints sent to it are new, senders in order,
  and records them as visited;
- keep: each worker holds the successors its owners marked new, with their parent pointers,
  and checks them; only fingerprints and marks have travelled, no states;
- give: owning by buckets, the coordinator first evens out the next level by moving buckets
  from the workers owning most of it to the others (a bucket moves with the fingerprints
  visited in it, which its new owner adds to its visited set), then each worker hands every
  state of the next level it holds to the owner of its bucket: every held state is then its
  holder's own, and so are most of its successors. Owning by fingerprint, a worker holds the
  states it found, and the coordinator evens out the next level by moving states themselves.
  States given are pickled; a moved state keeps its number.

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
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

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
#   ("keep", level)                                     -> ("kept", states of the next level held, (how many of them
#                                                           are in each bucket (owning by buckets; else {}), CPU
#                                                           seconds per state expanded in this level), violating
#                                                           state, reached)
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


class Plan(NamedTuple):
    """How the next level's states move at `give`: the (giver, taker, count) pairs that send
    anything (a transport carries one batch per pair) and, owning by buckets, the buckets that
    change owners ((bucket, new owner), ...)."""

    pairs: list[tuple[int, int, int]]
    buckets: list[tuple[int, int]]


NO_PLAN = Plan([], [])


class Partition:
    """One worker's share of the search: the visited fingerprints it owns and the states it holds.

    Every method takes what other workers sent it and returns what it sends them, as bytes
    indexed by worker (b"" to itself), so that any transport can carry them."""

    def __init__(self, model: Model, symmetry: bool, w: int, n: int) -> None:
        self.model, self.w, self.n = model, w, n
        self.fingerprint = model.fingerprint
        self.canon: Callable[[State], State] | None = model.representative() if symmetry and model.symmetric else None
        self.part = owner_key(model, n)
        self.owners = first_owners(n)  # of each bucket, owning by buckets; the same in every worker
        self.raw_seen: set[int] = set()
        self.visited: set[int] = set()  # the fingerprints this worker owns that were discovered (and, owning
        # by buckets, those of the buckets it gave away: they stay discovered)
        # owning by buckets, the visited fingerprints of each bucket (lists: an array appends at several times the cost)
        self.bucket_fps: list[list[int]] = [[] for _ in range(BUCKETS)] if self.part is not None else []
        self.parent = array("q")  # of each state this worker holds: its parent's global number
        self.step = array("l")
        self.frontier: list[State] = []  # held states of the level
        self.numbers: range | list[int] = range(0)  # their global numbers
        self.buckets: list[int] = []  # their buckets (owning by buckets)
        self.guests: list[tuple[State, int]] = []  # owning by fingerprint: states another worker found, with their numbers
        self.next: list[State] = []  # held states of the next level, numbered from `base_next`
        self.next_buckets: list[int] = []
        self.base_next = 0
        self.outbox: list[list[tuple]] = []
        self.sent_buckets: list[list[int]] = []  # of the fingerprints sent to each worker, their buckets
        self.expanded = 0  # states expanded in the level
        self.checks = Checks(model)
        self.bad: int | None = None  # the first state found violating a property, by global number
        self.cpu = 0.0  # CPU seconds of the current level's phases so far
        self.level_cpu: list[float] = []  # of each level's

    def _reached(self, before: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in self.checks.reached_at.items() if k not in before}

    def add(self, s: State, parent: int, step: int, changed: set | None, bucket: int) -> None:
        """Hold a new state of the next level (its fingerprint just marked visited by its owner), checking it."""
        lid = len(self.parent)
        self.parent.append(parent)
        self.step.append(step)
        self.next.append(s)
        self.next_buckets.append(bucket)
        if self.bad is None:
            gid = lid * self.n + self.w
            if self.checks.check(s, gid, changed) is not None:
                self.bad = gid

    def _advance(self) -> None:
        start = self.base_next * self.n + self.w
        self.frontier, self.numbers, self.next = self.next, range(start, start + len(self.next) * self.n, self.n), []
        self.buckets, self.next_buckets = self.next_buckets, []
        self.base_next = len(self.parent)

    def seed(self, states: list[tuple[State, int]]) -> tuple:
        """Hold the initial states this worker owns (fingerprinted by the coordinator, checked here:
        a model whose fingerprints differ between processes would split its states at random)."""
        before = dict(self.checks.reached_at)
        for s, fp in states:
            c = self.canon(s) if self.canon is not None else s
            bucket = bucket_of(self.part, self.fingerprint, c, fp)
            if self.fingerprint(c) != fp or owner(self.part, self.owners, bucket, fp, self.n) != self.w:
                raise RuntimeError("this model's fingerprints differ between processes: it cannot be partitioned")
            if fp not in self.visited:
                self.visited.add(fp)
                if self.part is not None:
                    self.bucket_fps[bucket].append(fp)
                self.add(s, -1, -1, None, bucket)
        self._advance()
        return ("seeded", len(self.frontier), self.bad, self._reached(before))

    @_busy()
    def take(self, gifts: list[bytes]) -> None:
        """Hold states of the level that other workers gave (`give`), made of this process's own
        node tuples where it has them (the model's `share`); owning by buckets, also the visited
        fingerprints of the buckets given to this worker."""
        share = getattr(self.model, "share", None)
        for data in gifts:
            if not data:
                continue
            states, fps = pickle.loads(data)
            if share is not None:
                states = [(share(s), *rest) for s, *rest in states]
            if self.part is None:
                self.guests += states
                continue
            for bucket, packed in fps:
                got = array("q")
                got.frombytes(packed)
                self.bucket_fps[bucket] = got.tolist()
                self.visited.update(self.bucket_fps[bucket])
            if states:
                if isinstance(self.numbers, range):
                    self.numbers = list(self.numbers)
                for s, gid, bucket in states:
                    self.frontier.append(s)
                    self.numbers.append(gid)
                    self.buckets.append(bucket)

    @_busy()
    def expand(self, seconds: float | None) -> tuple[tuple, list[bytes]]:
        """List the successors of the level's states: keep the new ones this worker owns; the
        fingerprints of the others go to their owners, who say which are new (`claim`)."""
        deadline = None if seconds is None else time.perf_counter() + seconds
        before = dict(self.checks.reached_at)
        n, w = self.n, self.w
        fingerprint, canon, raw_seen, part = self.fingerprint, self.canon, self.raw_seen, self.part
        owners, bucket_fps = self.owners, self.bucket_fps
        key, key_bucket = None, 0
        successors, changes = self.model.successors, self.checks.changed
        visited = self.visited
        seen, see, add = visited.__contains__, visited.add, self.add
        outbox: list[list[tuple]] = [[] for _ in range(n)]  # (state, successor, parent number, step index)
        fps: list[list[int]] = [[] for _ in range(n)]
        sent_buckets: list[list[int]] = [[] for _ in range(n)]
        transitions = 0
        error: int | None = None
        timed_out = False
        held = zip(self.frontier, self.numbers)
        for qi, (s, gid) in enumerate(itertools.chain(held, self.guests)):
            try:
                succ = successors(s)
            except StepError:
                error = gid
                break
            transitions += len(succ)
            if part is not None and canon is None:  # a successor sharing s's key has s's bucket
                key, key_bucket = part(s), self.buckets[qi]
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
                    bucket = 0
                    holder = fp % n
                else:
                    k = part(c)
                    bucket = key_bucket if k is key or k == key else fingerprint(k) % BUCKETS
                    holder = owners[bucket]
                if holder == w:
                    see(fp)
                    if part is not None:
                        bucket_fps[bucket].append(fp)
                    add(s2, gid, ai, changes(s, s2), bucket)
                else:
                    fps[holder].append(fp)
                    sent_buckets[holder].append(bucket)
                    outbox[holder].append((s, s2, gid, ai))
            if self.bad is not None:
                break
            if (qi & 63) == 0 and deadline is not None and time.perf_counter() >= deadline:
                timed_out = True
                break
        self.expanded = len(self.frontier) + len(self.guests)
        self.frontier, self.guests, self.outbox, self.sent_buckets = [], [], outbox, sent_buckets
        self.numbers, self.buckets = range(0), []
        by_buckets = part is not None
        sent = [b"" if to == w else array("q", batch).tobytes() + (array("H", sent_buckets[to]).tobytes() if by_buckets else b"")
                for to, batch in enumerate(fps)]
        return ("expanded", transitions, error, timed_out, self.bad, self._reached(before)), sent

    @_busy()
    def claim(self, received: list[bytes]) -> list[bytes]:
        """Mark which of the fingerprints the others sent are new (now visited): the marks, per sender."""
        visited, bucket_fps = self.visited, self.bucket_fps
        by_buckets = self.part is not None
        marks = []
        for data in received:
            fps, buckets = array("q"), array("H")
            if by_buckets:  # each fingerprint's bucket follows the fingerprints
                count = len(data) // (fps.itemsize + buckets.itemsize)
                fps.frombytes(data[: count * fps.itemsize])
                buckets.frombytes(data[count * fps.itemsize :])
            else:
                fps.frombytes(data)
            ok = bytearray(len(fps))
            for i, fp in enumerate(fps):
                if fp not in visited:
                    visited.add(fp)
                    if by_buckets:
                        bucket_fps[buckets[i]].append(fp)
                    ok[i] = 1
            marks.append(bytes(ok))
        return marks

    @_busy()
    def keep(self, marks: list[bytes]) -> tuple:
        """Hold the successors that their owners marked new, where they were found (only
        fingerprints travelled); `give` then hands them to their owners (owning by buckets) and
        evens out the workers' shares. The answer says how many states of the next level this
        worker holds, in each bucket (owning by buckets): the coordinator's plan for `give`."""
        before = dict(self.checks.reached_at)
        changes, add, nxt = self.checks.changed, self.add, self.next
        for box, ok, buckets in zip(self.outbox, marks, self.sent_buckets):
            for (s, s2, gid, ai), k, bucket in zip(box, ok, buckets):
                if k:
                    add(s2, gid, ai, changes(s, s2), bucket)
        self.outbox, self.sent_buckets = [], []
        held = dict(Counter(self.next_buckets)) if self.part is not None else {}
        cost = self.cpu / self.expanded if self.expanded >= COST_SAMPLE else 0.0
        return ("kept", len(nxt), (held, cost), self.bad, self._reached(before))

    @_busy(level_ends=True)
    def give(self, plan: Plan) -> list[bytes]:
        """Move states of the next level as planned, then begin it: what is given, per taker.
        Owning by buckets, the buckets change owners first (their visited fingerprints go to
        the new owners), then every state goes to its bucket's owner. Owning by fingerprint, the
        states planned ((giver, taker, count), ...) move. A moved state keeps its number: its
        parent pointer stays here."""
        w, n = self.w, self.n
        nxt = self.next
        states: list[list[tuple]] = [[] for _ in range(n)]
        fps: list[list[tuple[int, bytes]]] = [[] for _ in range(n)]
        start = self.base_next * n + w
        if self.part is not None:
            for bucket, taker in plan.buckets:
                if self.owners[bucket] == w:
                    fps[taker].append((bucket, array("q", self.bucket_fps[bucket]).tobytes()))
                    self.bucket_fps[bucket] = []
                self.owners[bucket] = taker
            gone = []
            if any(giver == w for giver, _, _ in plan.pairs):
                owners = self.owners
                for i, bucket in enumerate(self.next_buckets):
                    holder = owners[bucket]
                    if holder != w:
                        states[holder].append((nxt[i], start + i * n, bucket))
                        gone.append(i)
        else:
            gone = []
            for giver, taker, count in plan.pairs:
                if giver == w:
                    picked = range(len(gone), len(gone) + count)
                    states[taker] = [(nxt[i], start + i * n) for i in picked]
                    gone += picked
        gifts = [pickle.dumps((states[v], fps[v]), protocol=pickle.HIGHEST_PROTOCOL)
                 if any(giver == w and taker == v for giver, taker, _ in plan.pairs) else b"" for v in range(n)]
        if gone:
            out = set(gone)
            kept = [i for i in range(len(nxt)) if i not in out]
            self.frontier, self.numbers = [nxt[i] for i in kept], [start + i * n for i in kept]
            self.buckets = [self.next_buckets[i] for i in kept]
            self.next, self.next_buckets = [], []
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
BUCKETS = 4096  # owning by a key: the key's fingerprint picks one of these, which the owners' table maps to a worker
FP_MOVE_COST = 1 / 64  # what moving a visited fingerprint costs against moving a state (pickled, taken)


def owner_key(model: Model, n: int) -> Callable[[State], Any] | None:
    """The part of a (canonical) state whose fingerprint decides its owner, or None for the whole
    state's. A step changes one node's variables (and the network), so owning states by one
    node's variables (the model's `owner_key`) lets most successors be checked and claimed by the
    worker that found them, with no fingerprint sent. Such a part takes few values (gossip's
    node 0 has 165 over 372 k states), so it is used for at most `LOCAL_OWNERS_MAX` workers:
    beyond, the owners' shares of the visited set would grow uneven."""
    key = getattr(model, "owner_key", None)
    return key if key is not None and n <= LOCAL_OWNERS_MAX else None


def first_owners(n: int) -> list[int]:
    """Each bucket's owner before the search moves any (a list: indexing it is quicker than a bytearray)."""
    return [b % n for b in range(BUCKETS)]


def bucket_of(part: Callable[[State], Any] | None, fingerprint: Callable[[State], int], state: State, fp: int) -> int:
    """The bucket of the (canonical) `state` of fingerprint `fp`, owning by `part` (`owner_key`'s answer); 0 otherwise."""
    return fingerprint(part(state)) % BUCKETS if part is not None else 0


def owner(part: Callable[[State], Any] | None, owners: list[int], bucket: int, fp: int, n: int) -> int:
    """The worker owning a state of fingerprint `fp` in `bucket` (`bucket_of`)."""
    return owners[bucket] if part is not None else fp % n


def plan_buckets(held: list[dict[int, int]], owners: list[int], visited: list[int], cost: list[float] | None = None) -> Plan:
    """Owning by buckets: which buckets change owners so that the next level's work is shared out
    evenly, and which workers then send states or fingerprints to which. `held[w]` counts the next
    level's states worker w holds, by bucket; `visited` the fingerprints visited in each bucket
    (what moving it costs besides its states); `cost[w]` the CPU seconds per state worker w spent
    in this level, which predicts what its buckets' states will cost in the next (states of some
    buckets take longer than others': a leader's have more successors). The work of a worker is
    its states times its cost, kept within 0.5% of the mean. The buckets moved are those of the
    busiest that narrow the gap to the idlest most for what they cost to move."""
    n = len(held)
    load: Counter[int] = Counter()
    for h in held:
        load.update(h)
    per = [0] * n
    for bucket, k in load.items():
        per[owners[bucket]] += k
    rate = _relative_costs(cost or [1.0] * n)
    work = [k * r for k, r in zip(per, rate)]
    mean = sum(work) / n
    tolerance = max(16.0, mean / 100)
    moves: list[tuple[int, int]] = []
    moving = list(owners)
    while True:
        giver, taker = max(range(n), key=work.__getitem__), min(range(n), key=work.__getitem__)
        if max(work[giver] - mean, mean - work[taker]) <= tolerance:
            break
        gap, both = work[giver] - work[taker], rate[giver] + rate[taker]
        # moving k states narrows the gap to |gap - k (rate[giver] + rate[taker])|
        best, best_value = -1, (0.0, 0)
        for bucket, k in load.items():
            if moving[bucket] == giver and 0 < k * both < 2 * gap:
                value = ((gap - abs(gap - k * both)) / (k + FP_MOVE_COST * visited[bucket]), k)
                if value > best_value:
                    best, best_value = bucket, value
        if best < 0:
            break
        moving[best] = taker
        moves.append((best, taker))
        work[giver] -= load[best] * rate[giver]
        work[taker] += load[best] * rate[taker]
    pairs: Counter[tuple[int, int]] = Counter()
    for w, h in enumerate(held):
        for bucket, k in h.items():
            if moving[bucket] != w:
                pairs[w, moving[bucket]] += k
    for bucket, taker in moves:
        pairs[owners[bucket], taker] += 0
    return Plan([(g, t, k) for (g, t), k in pairs.items()], moves)


COST_SAMPLE = 1000  # states a worker expands in a level for its CPU seconds per state to count
COST_SPREAD = 1.25  # the most a worker's cost per state may count above (or below, inverted) the others'


def _relative_costs(cost: list[float]) -> list[float]:
    """Each worker's cost per state over their mean, within [1 / COST_SPREAD, COST_SPREAD]; a
    worker that measured nothing (cost 0: it expanded under `COST_SAMPLE` states) counts as the mean."""
    known = [c for c in cost if c > 0]
    mean = sum(known) / len(known) if known else 0.0
    if mean <= 0:
        return [1.0] * len(cost)
    return [min(COST_SPREAD, max(1 / COST_SPREAD, c / mean)) if c > 0 else 1.0 for c in cost]


def plan_states(held: list[int]) -> Plan:
    """Owning by fingerprint: which states move to even out the next level (`balance`)."""
    return Plan(balance(held), [])


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
    owners = first_owners(n)  # as the workers' tables
    visited = [0] * BUCKETS  # states discovered in each bucket (owning by buckets): what moving it costs
    seeds: list[list[tuple[State, int]]] = [[] for _ in range(n)]
    for s in model.init_states():
        c = canon(s) if canon is not None else s
        fp = fingerprint(c)
        bucket = bucket_of(part, fingerprint, c, fp)
        visited[bucket] += 1
        seeds[owner(part, owners, bucket, fp, n)].append((s, fp))
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
    plan = NO_PLAN
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
            if part is not None:
                for held, _ in (a[2] for a in kept):
                    for bucket, k in held.items():
                        visited[bucket] += k
                plan = plan_buckets([a[2][0] for a in kept], owners, visited, [a[2][1] for a in kept])
                for bucket, taker in plan.buckets:
                    owners[bucket] = taker
            else:
                plan = plan_states(sizes)
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
