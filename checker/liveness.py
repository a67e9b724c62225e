"""Liveness under fairness: `eventually`, `infinitely` and `leadsto`, with lasso counterexamples.

Generic over checker.protocol.Model, like breadth-first search, and driven by the model's own
successors: there is no second step function. The check has two phases.

1. Exploration: every reachable state once, breadth first, without symmetry reduction (a
   renaming of nodes maps a behaviour to a behaviour, but a lasso in the quotient graph need
   not be one in the real graph with the same fairness: liveness is checked on the real
   graph). Edges are kept compactly (compressed rows: per state an offset into two `array`s,
   the target state's number and the id of the event's fairness class), in the order the
   model lists successors, so an edge's position in its row is the step a trace replays.
   Each property's predicates are evaluated once per state into a bit per state.

2. Analysis, per property, as TLC does it (Lamport, "Specifying Systems", 14.3.2): a
   counterexample is a fair behaviour that avoids the goal forever. Restricted to the states
   where the goal does not hold and that a trigger reaches through such states, it is
     - a stutter: a state where no fair event class is enabled; behaviours may stop there
       (TLA+'s stuttering steps), every fairness condition then holds; a terminal state
       (nothing enabled at all) is the special case; or
     - a fair strongly connected component (iterative Tarjan): for every weakly fair class,
       the class is disabled in some state of it or taken by an edge inside it; for every
       strongly fair class, the class is enabled in no state of it or taken inside it. A
       component that fails a strong condition loses the states where the offending classes
       are enabled, and the rest is split into components again and tested (a weak failure
       cannot be repaired by going smaller).
   A step that leaves the state as it was (a self loop) is a stutter, as in TLA+ (where
   fairness is about steps that change the variables): it neither enables nor takes its class.
   The goal and trigger: `eventually P`: from an initial state, through not-P states;
   `infinitely P`: any reachable not-P state (P must come back); `leadsto P ~> Q`: from a
   state where P holds and Q does not, through not-Q states.

The lasso is the shortest path to a trigger, a shortest path from there (through goal-free
states) to the component, and a cycle inside the component that meets every fairness
obligation (each step goes to the nearest state or edge that discharges one), back to where it
entered; or the path to a stutter state. Budgets keep every behaviour's faults and requests
finite: once spent, a behaviour goes on without them, or stutters.
"""

from __future__ import annotations

import resource
import time
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import ModelError
from pnyx.model.ir import LIVENESS
from pnyx.model.system import FAIRNESS_NAMES, fairness_class, fairness_subject

from .bfs import Stats, Violation
from .model import SpecModel, StepError
from .protocol import Model
from .trace import Trace, replay

UNFAIR, WEAK, STRONG = 0, 1, 2
LEVEL_NAMES = {WEAK: "weak", STRONG: "strong"}


@dataclass
class LiveProperty:
    """A liveness property as the analysis sees it: predicates on states."""

    name: str
    kind: str  # eventually | infinitely | leadsto
    holds: Callable[[Any], bool]  # P
    target: Callable[[Any], bool] | None = None  # leadsto: Q
    line: int = 0


@dataclass
class Fairness:
    """Which events are fair: `level(event)` is UNFAIR, WEAK or STRONG, the same for every event
    of one class (`klass(event)`: the events that are one action to fairness)."""

    level: Callable[[Any], int]
    klass: Callable[[Any], Hashable]
    described: list[str] = field(default_factory=list)  # the declarations, for the report


@dataclass
class LiveOptions:
    max_states: int | None = None
    max_seconds: float | None = None  # CPU seconds of the exploration
    progress: Callable[[Stats], None] | None = None  # called during the exploration, every `progress_every` s
    progress_every: float = 10.0


@dataclass
class Lasso:
    """A behaviour that never meets its goal: `trace` runs from an initial state; from state
    `loop` on, the steps repeat forever (the last state is state `loop` again), or, if `stutter`,
    the behaviour stays in the last state forever (then `loop` is its index)."""

    trace: Trace
    loop: int
    stutter: bool
    trigger: int = 0  # leadsto: the state where P holds and after which Q never does

    @property
    def prefix(self) -> int:
        return self.loop

    @property
    def cycle(self) -> int:
        return len(self.trace.events) - self.loop


@dataclass
class Verdict:
    name: str
    kind: str
    line: int
    holds: bool | None  # None: not decided (the exploration was cut short, or P could not be evaluated)
    lasso: Lasso | None = None
    error: str | None = None


@dataclass
class LivenessResult:
    spec: str
    stats: Stats
    complete: bool
    stopped_by: str | None
    verdicts: list[Verdict]
    fairness: list[str]
    classes: int = 0  # event classes met
    fair_classes: int = 0
    analysis_seconds: float = 0.0
    step_error: Violation | None = None
    stop_limit: float | None = None

    @property
    def ok(self) -> bool:
        return self.step_error is None and all(v.holds for v in self.verdicts)

    @property
    def violated(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.holds is False]


# ---- the spec's fairness and properties ----------------------------------------------------
def spec_fairness(cs: CompiledSpec) -> Fairness:
    """The spec's `fair` declarations as levels per event (model/system.py's fairness classes)."""
    table: dict[tuple[str, tuple[str, int] | None], int] = {}
    described = []
    for f in cs.checked.core.fairness:
        lv = STRONG if f.strong else WEAK
        described.append(f"{'strong' if f.strong else 'weak'} fair {f.kind}" + (" " + ", ".join(f.names) if f.names else ""))
        if not f.names:
            table[(f.kind, None)] = lv
            continue
        by = FAIRNESS_NAMES[f.kind]
        for name in f.names:
            if by == "message":
                table[(f.kind, ("message", next(m.id for m in cs.messages if m.name == name)))] = lv
            else:
                for h in cs.handlers:
                    if h.kind == by and h.name == name:
                        table[(f.kind, ("handler", h.index))] = lv

    def level(ev: tuple) -> int:
        lv = table.get((ev[0], None))
        return lv if lv is not None else table.get((ev[0], fairness_subject(ev)), UNFAIR)

    return Fairness(level, fairness_class, described)


def spec_properties(cs: CompiledSpec) -> list[LiveProperty]:
    out = []
    for p in cs.properties:
        if p.kind not in LIVENESS:
            continue
        holds = p.holds
        target = p.target
        out.append(LiveProperty(
            p.name, p.kind, lambda s, f=holds: f(s[0], s[1], s[2]),
            (lambda s, f=target: f(s[0], s[1], s[2])) if target is not None else None, p.line))
    return out


def check(cs: CompiledSpec, options: LiveOptions | None = None, names: Sequence[str] | None = None) -> LivenessResult:
    """Check the spec's liveness properties (those in `names`, if given) under its fairness."""
    props = [p for p in spec_properties(cs) if names is None or p.name in names]
    return check_model(SpecModel(cs), props, spec_fairness(cs), options)


# ---- phase 1: the state graph --------------------------------------------------------------
class Graph:
    """Every reachable state, numbered in breadth-first order, and its edges in compressed rows:
    the edges of state v are `dst[off[v]:off[v + 1]]`, labelled with fairness class ids `lab`."""

    def __init__(self) -> None:
        self.off = array("Q", [0])
        self.dst = array("I")
        self.lab = array("I")
        self.parent = array("q")  # the breadth-first tree: shortest paths from an initial state
        self.pedge = array("q")  # the edge (its index in dst) that first reached the state
        self.depth = array("I")
        self.level = bytearray()  # per class id: UNFAIR, WEAK or STRONG
        self.n_init = 0

    @property
    def n(self) -> int:
        return len(self.parent)

    def path(self, v: int) -> list[int]:
        """The edges from an initial state to v, along the breadth-first tree."""
        edges = []
        while self.parent[v] >= 0:
            edges.append(self.pedge[v])
            v = self.parent[v]
        return edges[::-1]

    def step(self, e: int, src: int) -> int:
        return e - self.off[src]

    def source(self, e: int) -> int:
        """The state an edge leaves (binary search in the offsets)."""
        off = self.off
        lo, hi = 0, len(off) - 2
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if off[mid] <= e:
                lo = mid
            else:
                hi = mid - 1
        return lo


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check_model(model: Model, props: list[LiveProperty], fairness: Fairness,
                options: LiveOptions | None = None) -> LivenessResult:
    """Explore the model's whole state graph, then decide each property on it."""
    opts = options or LiveOptions()
    start = time.process_time()
    g = Graph()
    preds: list[Callable[[Any], bool]] = []
    for p in props:
        preds.append(p.holds)
        if p.target is not None:
            preds.append(p.target)
    bits = [bytearray() for _ in preds]
    errors: dict[int, str] = {}
    fingerprint = model.fingerprint
    visited: dict[int, int] = {}
    classes: dict[Hashable, int] = {}
    level_of, klass_of = fairness.level, fairness.klass
    queue: deque = deque()
    stats = Stats()

    def evaluate(s: Any) -> None:
        for k, f in enumerate(preds):
            try:
                bits[k].append(1 if f(s) else 0)
            except Exception as exc:  # noqa: BLE001 - a predicate failed to evaluate: the spec's error, reported
                errors.setdefault(k, _error_text(model, props, k, exc))
                bits[k].append(0)

    for s in model.init_states():
        fp = fingerprint(s)
        if fp in visited:
            continue
        visited[fp] = g.n
        g.parent.append(-1)
        g.pedge.append(-1)
        g.depth.append(0)
        evaluate(s)
        queue.append(s)
    g.n_init = g.n
    stopped_by: str | None = None
    step_error: tuple[int, StepError] | None = None
    sid = 0
    next_report = start + opts.progress_every
    dst_append, lab_append, off_append = g.dst.append, g.lab.append, g.off.append
    while queue:
        s = queue.popleft()
        try:
            succ = model.successors(s)
        except StepError as err:
            step_error = (sid, err)
            break
        d1 = g.depth[sid] + 1
        for ev, s2 in succ:
            fp = fingerprint(s2)
            t = visited.get(fp)
            if t is None:
                t = visited[fp] = len(g.parent)
                g.parent.append(sid)
                g.pedge.append(len(g.dst))
                g.depth.append(d1)
                evaluate(s2)
                queue.append(s2)
            key = klass_of(ev)
            c = classes.get(key)
            if c is None:
                c = classes[key] = len(classes)
                g.level.append(level_of(ev))
            dst_append(t)
            lab_append(c)
        off_append(len(g.dst))
        sid += 1
        if (sid & 1023) == 0:
            if opts.max_states is not None and g.n >= opts.max_states:
                stopped_by = "states"
                break
            now = time.process_time()
            if opts.max_seconds is not None and now - start >= opts.max_seconds:
                stopped_by = "time"
                break
            if opts.progress is not None and now >= next_report:
                next_report = now + opts.progress_every
                stats.distinct, stats.transitions, stats.depth = g.n, len(g.dst), g.depth[sid - 1]
                stats.queue, stats.seconds = len(queue), now - start
                opts.progress(stats)
    if opts.max_states is not None and stopped_by is None and queue and g.n >= opts.max_states:
        stopped_by = "states"
    stats.distinct, stats.transitions = g.n, len(g.dst)
    stats.depth = max(g.depth) if g.n else 0
    result = LivenessResult(model.name, stats, complete=stopped_by is None and step_error is None, stopped_by=stopped_by,
                            verdicts=[], fairness=fairness.described, classes=len(classes),
                            fair_classes=sum(1 for x in g.level if x), stop_limit={
                                "states": opts.max_states, "time": opts.max_seconds}.get(stopped_by or ""))
    if step_error is not None:
        v, err = step_error
        trace = replay(model, [g.step(e, g.source(e)) for e in g.path(v)])  # type: ignore[arg-type]
        trace.failed_event = err.event
        e = err.error
        result.step_error = Violation("error", "error", e.message if not e.line else str(e), {}, trace)
    explored = time.process_time()
    k = 0
    for p in props:
        pk, qk = k, (k + 1 if p.target is not None else None)
        k += 2 if p.target is not None else 1
        err_text = errors.get(pk) or (errors.get(qk) if qk is not None else None)
        if err_text is not None or not result.complete:
            result.verdicts.append(Verdict(p.name, p.kind, p.line, None, error=err_text))
            continue
        found = _analyse(g, p.kind, bits[pk], bits[qk] if qk is not None else None)
        lasso = None
        if found is not None:
            steps, loop, stutter, trigger = found
            trace = replay(model, steps)  # type: ignore[arg-type]
            lasso = Lasso(trace, loop, stutter, trigger)
        result.verdicts.append(Verdict(p.name, p.kind, p.line, found is None, lasso))
    stats.seconds = time.process_time() - start
    result.analysis_seconds = time.process_time() - explored
    stats.peak_rss_bytes = _peak_rss()
    return result


def _error_text(model: Model, props: list[LiveProperty], k: int, exc: Exception) -> str:
    """Why predicate number k (P and Q of each property in turn) could not be evaluated."""
    i = 0
    for p in props:
        width = 2 if p.target is not None else 1
        if k < i + width:
            cs = getattr(model, "cs", None)
            what = f"{p.kind} {p.name}" + (" (its right side)" if k > i else "")
            if cs is not None:
                e: ModelError = cs.model_error(exc, f"{what} cannot be evaluated")
                return e.message if not e.line else str(e)
            return f"{what} cannot be evaluated: {exc}"
        i += width
    raise AssertionError(k)  # pragma: no cover


# ---- phase 2: fair cycles that avoid the goal ----------------------------------------------
def _analyse(g: Graph, kind: str, p: bytearray, q: bytearray | None) -> tuple[list[int], int, bool, int] | None:
    """A counterexample to the property as (steps, loop index, stutter, trigger index), or None."""
    n = g.n
    goal = q if kind == "leadsto" else p
    assert goal is not None
    if kind == "eventually":
        seeds = [v for v in range(g.n_init) if not goal[v]]
    elif kind == "infinitely":
        seeds = [v for v in range(n) if not goal[v]]
    else:
        assert q is not None
        seeds = [v for v in range(n) if p[v] and not q[v]]
    if not seeds:
        return None
    off, dst, level, lab = g.off, g.dst, g.level, g.lab
    # the goal-free states reachable from a trigger through goal-free states; cost: a path's length
    aparent = array("q", [-2]) * n  # -2: not reached; -1: a seed
    aedge = array("q", [-1]) * n
    cost = array("I", [0]) * n
    region: list[int] = []
    todo = deque()
    for v in sorted(seeds, key=lambda v: g.depth[v]):
        aparent[v] = -1
        cost[v] = g.depth[v]
        todo.append(v)
    while todo:
        v = todo.popleft()
        region.append(v)
        for e in range(off[v], off[v + 1]):
            w = dst[e]
            if aparent[w] == -2 and not goal[w]:
                aparent[w], aedge[w], cost[w] = v, e, cost[v] + 1
                todo.append(w)
    mark = array("I", [0]) * n
    for v in region:
        mark[v] = 1

    best: tuple[int, int, list[int] | None] | None = None  # (cost, entry, component or None for a stutter)
    for v in region:
        if best is not None and cost[v] >= best[0]:
            continue
        if not any(level[lab[e]] and dst[e] != v for e in range(off[v], off[v + 1])):
            best = (cost[v], v, None)
    for comp in _fair_components(g, region, mark):
        entry = min(comp, key=lambda v: cost[v])
        if best is None or cost[entry] < best[0]:
            best = (cost[entry], entry, comp)
    if best is None:
        return None
    _, entry, comp = best
    # the prefix: the breadth-first path to the seed, then the goal-free path to the entry
    tail = []
    v = entry
    while aparent[v] >= 0:
        tail.append(aedge[v])
        v = aparent[v]
    seed = v
    head = g.path(seed)
    prefix = head + tail[::-1]
    cycle = _fair_cycle(g, entry, comp) if comp is not None else []
    steps = [g.step(e, g.source(e)) for e in prefix + cycle]
    trigger = len(head)
    if kind == "leadsto":  # the earliest state on the path from which the right side never holds
        sids = [seed if not head else g.parent[g.dst[head[0]]]] + [dst[e] for e in prefix]
        assert q is not None
        while trigger > 0 and p[sids[trigger - 1]] and not q[sids[trigger - 1]]:
            trigger -= 1
    return steps, len(prefix), comp is None, trigger


def _tarjan(g: Graph, nodes: Sequence[int], mark: array, stamp: int, index: array, low: array) -> Iterator[list[int]]:
    """The strongly connected components of the subgraph on the states v with mark[v] == stamp,
    iteratively (no recursion limit at a million states). `index` and `low` are scratch arrays
    over all states, -1 where unused, and are left so for the nodes given."""
    off, dst = g.off, g.dst
    counter = 0
    stack: list[int] = []
    onstack = set()
    for root in nodes:
        if index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        onstack.add(root)
        calls = [(root, off[root])]
        while calls:
            v, e = calls[-1]
            end = off[v + 1]
            descended = False
            while e < end:
                w = dst[e]
                e += 1
                if mark[w] != stamp:
                    continue
                if index[w] == -1:
                    calls[-1] = (v, e)
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    onstack.add(w)
                    calls.append((w, off[w]))
                    descended = True
                    break
                if w in onstack and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            calls.pop()
            if calls:
                u = calls[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                yield comp
    for v in nodes:
        index[v] = -1


def _fair_components(g: Graph, nodes: list[int], mark: array) -> Iterator[list[int]]:
    """The fair components among `nodes` (marked 1 in `mark`, 0 elsewhere). A component failing a
    strong fairness condition is searched again without the states where the offending classes
    are enabled; marks are stamps, so that no step costs time in the number of all states."""
    off, dst, lab, level = g.off, g.dst, g.lab, g.level
    n = g.n
    index = array("i", [-1]) * n
    low = array("i", [0]) * n
    inner = array("I", [0]) * n  # stamp of the component being tested
    comp_stamp = 0
    next_stamp = 2
    work = [(nodes, 1)]
    while work:
        subset, stamp = work.pop()
        for comp in list(_tarjan(g, subset, mark, stamp, index, low)):
            if len(comp) == 1:
                continue  # no cycle but self loops, which are stutters (found separately)
            comp_stamp += 1
            for v in comp:
                inner[v] = comp_stamp
            taken: set[int] = set()
            weak: set[int] | None = None
            strong: set[int] = set()
            for v in comp:
                here: set[int] = set()
                for e in range(off[v], off[v + 1]):
                    c = lab[e]
                    lv = level[c]
                    if not lv or dst[e] == v:
                        continue
                    if inner[dst[e]] == comp_stamp:
                        taken.add(c)
                    if lv == STRONG:
                        strong.add(c)
                    else:
                        here.add(c)
                weak = here if weak is None else weak & here
            if weak and weak - taken:
                continue  # a weakly fair class enabled throughout, never taken: no fair behaviour stays here
            bad = strong - taken
            if not bad:
                yield comp
                continue
            keep = [v for v in comp if not any(lab[e] in bad and dst[e] != v for e in range(off[v], off[v + 1]))]
            if keep:
                for v in keep:
                    mark[v] = next_stamp
                work.append((keep, next_stamp))
                next_stamp += 1


def _enabled(g: Graph, v: int) -> set[int]:
    """The fair classes enabled at v (by a step that changes the state: a self loop is a stutter)."""
    return {g.lab[e] for e in range(g.off[v], g.off[v + 1]) if g.level[g.lab[e]] and g.dst[e] != v}


def _fair_cycle(g: Graph, entry: int, comp: list[int]) -> list[int]:
    """Edges of a cycle from `entry` back to it inside a fair component, meeting every fairness
    obligation: each weakly fair class enabled somewhere in it is taken or seen disabled, each
    strongly fair one enabled somewhere is taken. Greedy: the nearest discharge each time."""
    off, dst, lab, level = g.off, g.dst, g.lab, g.level
    inner = set(comp)
    weak: set[int] = set()
    strong: set[int] = set()
    for v in comp:
        for c in _enabled(g, v):
            (strong if level[c] == STRONG else weak).add(c)
    todo_weak = weak - _disabled_at(g, entry, weak)
    todo_strong = set(strong)
    edges: list[int] = []
    cur = entry
    while todo_weak or todo_strong:
        # breadth-first from cur to the nearest state where an owed weak class is disabled, or edge taking an owed class
        prev: dict[int, int] = {cur: -1}
        frontier = deque([cur])
        hit_edge = -1
        hit_state = -1
        while frontier and hit_edge < 0 and hit_state < 0:
            v = frontier.popleft()
            if v != cur and todo_weak and (todo_weak - _enabled(g, v)):
                hit_state = v
                break
            for e in range(off[v], off[v + 1]):
                w = dst[e]
                if w not in inner or w == v:
                    continue
                c = lab[e]
                if c in todo_weak or c in todo_strong:
                    hit_edge = e
                    break
                if w not in prev:
                    prev[w] = e
                    frontier.append(w)
        if hit_edge >= 0:
            path = _back(g, prev, g.source(hit_edge)) + [hit_edge]
        else:
            assert hit_state >= 0, "a fair component discharges every obligation"
            path = _back(g, prev, hit_state)
        for e in path:
            todo_strong.discard(lab[e])
            todo_weak.discard(lab[e])
            todo_weak -= _disabled_at(g, dst[e], todo_weak)
        edges += path
        cur = dst[path[-1]]
    # back to the entry, by at least one edge
    prev = {}
    frontier = deque()
    for e in range(off[cur], off[cur + 1]):
        w = dst[e]
        if w in inner and w not in prev and w != cur:
            prev[w] = e
            frontier.append(w)
    if cur != entry or not edges:
        while entry not in prev:
            v = frontier.popleft()
            for e in range(off[v], off[v + 1]):
                w = dst[e]
                if w in inner and w not in prev and w != v:
                    prev[w] = e
                    frontier.append(w)
        path = []
        v = entry
        while True:
            e = prev[v]
            path.append(e)
            v = g.source(e)
            if v == cur:
                break
        edges += path[::-1]
    return edges


def _disabled_at(g: Graph, v: int, classes: set[int]) -> set[int]:
    return classes - _enabled(g, v) if classes else set()


def _back(g: Graph, prev: dict[int, int], v: int) -> list[int]:
    path = []
    while prev[v] >= 0:
        e = prev[v]
        path.append(e)
        v = g.source(e)
    return path[::-1]


__all__ = ["LiveOptions", "LiveProperty", "Fairness", "Lasso", "Verdict", "LivenessResult", "check", "check_model",
           "spec_fairness", "spec_properties", "UNFAIR", "WEAK", "STRONG"]
