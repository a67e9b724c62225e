"""Breadth-first exploration: every reachable state once, the shortest path to each.

Generic over checker.protocol.Model. Visited states are kept as a set of 64-bit fingerprints
(the model's `fingerprint` of the canonical state: for a spec, Python's hash, the same in every
process because states hold only bools, ints and tuples; a blake2b digest when the spec's
integers may be both -1 and -2, which CPython hashes alike). States are numbered in the order
they are discovered, so one level's states have consecutive numbers and the frontier holds
states alone; two arrays hold each state's parent and the index of the step that reached it,
so any state's path is replayed from the initial state.
"""

from __future__ import annotations

import contextlib
import gc
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import ModelError

from . import bounds
from .fpset import DEFAULT_BUDGET, FingerprintSet, make_fingerprint_set
from .model import SpecModel, State, StepError, stable_fingerprint
from .protocol import Model, Property
from .spill import Frontier, Pointers
from .trace import Trace, replay

__all__ = ["Options", "Stats", "Violation", "Result", "check", "explore", "stable_fingerprint"]


@dataclass
class Options:
    max_depth: int | None = None
    max_states: int | None = None
    max_seconds: float | None = None
    symmetry: bool = True
    progress: Callable[[Stats], None] | None = None
    progress_every: float = 0.5
    workers: int = 1  # processes searching (pnyx.checker.parallel); 1: this one. Ray: actors (0: one per CPU)
    engine: str = "processes"  # or "ray": pnyx.checker.ray_engine, with `workers` actors
    address: str | None = None  # the Ray cluster to join (ray.init's address); None: a local one
    por: str = "none"  # partial-order reduction (pnyx.checker.por): none | sleep | ample
    fpset: str = "memory"  # where fingerprints, the frontier and parent pointers are kept (checker/fpset.py)
    fpset_budget: int = DEFAULT_BUDGET  # bytes of fingerprint table in memory, for fpset "disk"


@dataclass
class Stats:
    distinct: int = 0
    transitions: int = 0
    depth: int = 0
    queue: int = 0
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    fingerprint_bytes: int = 0  # memory the fingerprint set's own data took at the end (one process)
    dropped: dict[str, int] = field(default_factory=dict)  # transitions dropping an unhandled message, by kind
    pruned: int = 0  # transitions partial-order reduction did not take (asleep, or outside an ample set)
    # CPU seconds of the search itself (one process: its own; partitioned: every worker's phases), and each
    # level's CPU seconds per worker (partitioned only): what the search would take on idle cores
    cpu_seconds: float | None = None
    worker_cpu: list[list[float]] | None = None

    @property
    def critical_cpu_seconds(self) -> float | None:
        """The sum over levels of the busiest worker's CPU seconds: the search's length on as many
        idle cores as workers, barriers aside (one process: its CPU seconds)."""
        if self.worker_cpu is None:
            return self.cpu_seconds
        return sum(max(level) for level in self.worker_cpu if level)

    @property
    def states_per_second(self) -> float:
        return self.distinct / self.seconds if self.seconds > 0 else 0.0

    @property
    def collision_probability(self) -> float:
        """The chance that two of the distinct states share a 64-bit fingerprint, so that one of
        them (and what only it leads to) went unexplored, were fingerprints random:
        n(n-1)/2 pairs, each alike with probability 2^-64 (as TLC's "optimistic" estimate)."""
        return self.distinct * (self.distinct - 1) / 2.0**65


@dataclass
class Violation:
    kind: str  # invariant | error
    name: str  # property name, or the failing handler for an error
    message: str
    bindings: dict[str, int]
    trace: Trace


@dataclass
class Result:
    spec: str
    stats: Stats
    complete: bool  # the whole reachable state space was explored
    stopped_by: str | None  # depth | states | time | memory | interrupt | terminate when the search was cut short
    violation: Violation | None
    reached: dict[str, Trace | None] = field(default_factory=dict)
    invariants: list[str] = field(default_factory=list)
    symmetry: bool = False
    shortest: bool = True  # traces are shortest (BFS); random simulation's are not
    stop_limit: float | None = None  # the value of the bound named by stopped_by (memory: MB)
    por: str = "none"  # the partial-order reduction applied (pnyx.checker.por)

    @property
    def bounded(self) -> bool:
        """A bound (depth, states, time, memory) or a signal cut the search short: what it did not
        explore, it did not check."""
        return self.stopped_by in ("depth", "states", "time", "memory", "interrupt", "terminate")

    @property
    def ok(self) -> bool:
        return self.violation is None and all(t is not None for t in self.reached.values())


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check(cs: CompiledSpec, options: Options | None = None) -> Result:
    """Explore the spec's state graph breadth-first, checking every property."""
    if options is not None and options.engine == "ray":
        from .ray_engine import explore_ray  # it imports this module

        return explore_ray(SpecModel(cs), options, options.workers, options.address)
    if options is not None and options.por != "none":
        from . import por  # it imports this module

        return por.explore_reduced(SpecModel(cs), options)
    if options is not None and options.workers > 1:
        from .parallel import explore_parallel  # it imports this module

        return explore_parallel(SpecModel(cs), options, options.workers)
    return explore(SpecModel(cs), options)


class Checks:
    """A model's properties, evaluated on each newly discovered state. Given what the step that
    reached it changed (`Model.changed`), only the invariants whose reads changed are
    evaluated: the others held in the predecessor. The one reported is the first false one
    in declaration order."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.props = model.properties()
        self.invariants = [(p, p.reads, p.holds) for p in self.props if p.kind == "invariant"]
        self.pending: list[tuple[Property, frozenset | None]] = [(p, p.reads) for p in self.props if p.kind == "reachable"]
        self.reached_at: dict[str, int] = {}  # reachable property -> the number of the first state where it holds
        self.failures: dict[str, ModelError] = {}  # property -> why evaluating it raised
        # Whether a step's changed reads are worth working out: some property may then be skipped.
        self.incremental = any(p.reads is not None for p in self.props)
        self.always = [holds for _, reads, holds in self.invariants if reads is None]  # read everything
        self.selective = [(reads, holds) for _, reads, holds in self.invariants if reads is not None]

    def changed(self, before: State, after: State) -> set | None:
        """What a step changed, if that can spare evaluations (None: evaluate everything)."""
        return self.model.changed(before, after) if self.incremental else None

    def check(self, s: State, sid: int, changed: set | None) -> Property | None:
        """The property s violates, if any (evaluating only those whose reads are in `changed`,
        unless None); records the reachable properties s is the first to satisfy."""
        try:
            if changed is not None:
                for holds in self.always:
                    if not holds(s):
                        return self.first_false(s)
                if changed:
                    for reads, holds in self.selective:
                        if reads & changed and not holds(s):
                            return self.first_false(s)
            else:
                for _, _, holds in self.invariants:
                    if not holds(s):
                        return self.first_false(s)
            if self.pending:
                for entry in list(self.pending):
                    r, reads = entry
                    if changed is not None and reads is not None and not (reads & changed):
                        continue
                    if r.holds(s):
                        self.reached_at[r.name] = sid
                        self.pending.remove(entry)
        except Exception:  # noqa: BLE001 - a property failed to evaluate (an index out of range...): the spec's error
            return self.failing_property(s)
        return None

    def violated(self, s: State) -> Property | None:
        """The invariant s violates, or the property whose evaluation raises in s; None if none."""
        try:
            return self.first_false(s)
        except Exception:  # noqa: BLE001 - as in `check`
            return self.failing_property(s)

    def first_false(self, s: State) -> Property | None:
        """The first invariant, in declaration order, that is false in s."""
        for inv, _, holds in self.invariants:
            if not holds(s):
                return inv
        return None

    def failing_property(self, s: State) -> Property:
        """The property whose evaluation raises in state s, its error kept for the report."""
        for p in self.props:
            try:
                p.holds(s)
            except Exception as exc:  # noqa: BLE001
                self.failures[p.name] = p.error(exc)
                return p
        raise AssertionError("a property failed once and then evaluated")  # pragma: no cover - properties are pure


def explore(model: Model, options: Options | None = None) -> Result:
    """Explore a model's state graph breadth-first, checking every property."""
    # The cyclic garbage collector would walk every stored state again and again (they are
    # tuples), and exploration makes no cycles worth collecting: it is paused meanwhile.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _explore(model, options)
    finally:
        if enabled:
            gc.enable()


def _explore(model: Model, options: Options | None = None) -> Result:
    opts = options or Options()
    reducing = opts.symmetry and model.symmetric
    budget = opts.fpset_budget // 2 if reducing else opts.fpset_budget  # shared by the two sets below
    with contextlib.ExitStack() as cleanup:  # files removed however the search ends (SIGTERM: see pnyx.cli)
        spill = tempfile.mkdtemp(prefix="pnyx-bfs-") if opts.fpset == "disk" else None
        if spill is not None:
            cleanup.callback(shutil.rmtree, spill, ignore_errors=True)
        visited = make_fingerprint_set(opts.fpset, budget, spill)  # fingerprints of the (canonical) states discovered
        cleanup.callback(visited.close)
        # fingerprints of generated states as they are, before canonicalization: most successors were
        # generated before as this very state, and then need no N!-bounded canonicalization
        raw_seen = make_fingerprint_set(opts.fpset, budget, spill) if reducing else None
        if raw_seen is not None:
            cleanup.callback(raw_seen.close)
        pointers = Pointers(spill)  # a state's number is its order of discovery
        cleanup.callback(pointers.close)
        return _search(model, opts, visited, raw_seen, pointers, spill, reducing)


def _search(model: Model, opts: Options, visited: FingerprintSet, raw_seen: FingerprintSet | None,
            pointers: Pointers, spill: str | None, reducing: bool) -> Result:
    """Level by level; a level's states are expanded a batch at a time: the batch's successors are
    gathered (the first of equal fingerprints kept), the fingerprint set keeps the new ones, and
    those are numbered and checked in the order they were generated, so the states, their numbers
    and the first violation are those of a search that looked each successor up on its own."""
    fingerprint = model.fingerprint
    canon = model.representative() if reducing else None
    checks = Checks(model)
    check, changes = checks.check, checks.changed
    stats = Stats()
    start = time.perf_counter()
    cpu_start = time.process_time()
    next_report = start + opts.progress_every
    violation: tuple[str, Property | None, int, StepError | None] | None = None
    add_parent, add_step = pointers.parent.append, pointers.step.append
    batch = visited.batch
    known = (raw_seen if raw_seen is not None else visited).known  # seen for sure (False: ask add_new)
    max_states = opts.max_states
    drop_counts = getattr(model, "drop_counts", None)
    dropped: dict[str, int] | None = None  # as counted up to where a search stopped inside a batch

    frontier = Frontier(spill)  # one level; its states' numbers are consecutive, from `base`
    stopped_by: str | None = None
    depth = 0
    guard = bounds.current()  # a stop asked for is noticed after each batch; inside one (a long step), raised
    try:
        guard.interruptible = True
        firsts: dict[int, State] = {}  # fingerprint -> the first initial state with it
        raws: list[int] = []
        for s in model.init_states():
            raws.append(fingerprint(s))
            firsts.setdefault(fingerprint(canon(s)) if canon is not None else raws[-1], s)
        if raw_seen is not None:
            raw_seen.add_new(list(dict.fromkeys(raws)))
        visited.add_new(list(firsts))
        guard.interruptible = False
        for s in firsts.values():
            sid = len(pointers)
            add_parent(-1)
            add_step(-1)
            frontier.append(s)
            bad = check(s, sid, None)
            if bad is not None and violation is None:
                violation = ("invariant", bad, sid, None)

        base = 0
        successors = model.successors
        while len(frontier) and violation is None:
            if opts.max_depth is not None and depth >= opts.max_depth:
                stopped_by = "depth"
                break
            nxt = Frontier(spill)
            add_next = nxt.append
            nid = base + len(frontier)
            done = 0  # states of this level expanded in earlier slices
            for part in frontier.slices():
                i = 0
                while i < len(part) and violation is None and stopped_by is None:
                    # gather the successors of part[i:j] not known to be seen: the k-th is states[k], reached from
                    # part[sources[k]] by its successor number steps[k]
                    sources: list[int] = []
                    steps: list[int] = []
                    states: list[State] = []
                    fps: list[int] = []
                    after: list[int] = []  # transitions counted after each source
                    transitions = stats.transitions
                    failed: StepError | None = None
                    drops_before = drop_counts() if drop_counts is not None else None
                    j = i
                    guard.interruptible = True  # until the batch's new states are recorded
                    while j < len(part) and len(fps) < batch:
                        try:
                            succ = successors(part[j])
                        except StepError as err:
                            failed = err
                            break
                        transitions += len(succ)
                        after.append(transitions)
                        for ai, (_, s2) in enumerate(succ):
                            fp = fingerprint(s2)
                            if not known(fp):
                                sources.append(j)
                                steps.append(ai)
                                states.append(s2)
                                fps.append(fp)
                        j += 1
                    if canon is not None:  # raw fingerprints: the new ones canonicalized
                        assert raw_seen is not None
                        firsts = raw_seen.add_new(fps)
                        fresh = [firsts[k] for k in visited.add_new([fingerprint(canon(states[k])) for k in firsts])]
                    else:
                        fresh = visited.add_new(fps)
                    guard.interruptible = False
                    stats.transitions = transitions
                    # the source where the --max-states bound was met
                    full_at = i if max_states is not None and len(pointers) >= max_states else -1
                    for k in fresh:
                        src, ai, s2 = sources[k], steps[k], states[k]
                        if full_at >= 0 and src != full_at:
                            break
                        sid = base + done + src
                        add_parent(sid)
                        add_step(ai)
                        add_next(s2)
                        bad = check(s2, nid, changes(part[src], s2))
                        nid += 1
                        if bad is not None:
                            violation = ("invariant", bad, nid - 1, None)
                            full_at = src
                            break
                        if full_at < 0 and max_states is not None and nid >= max_states:
                            full_at = src
                    if full_at >= 0 and full_at < j:  # stopped after source full_at: later sources' successors are not counted
                        stats.transitions = after[full_at - i]
                        if violation is None:
                            stopped_by = "states"
                        if drop_counts is not None and full_at < j - 1:
                            dropped = _dropped_until(drop_counts, drops_before or {}, successors, part[i:full_at + 1])
                        break
                    if failed is not None:
                        violation = ("error", None, base + done + j, failed)
                        break
                    i = j
                    nxt.spill()
                    pointers.spill()
                    now = time.perf_counter()
                    if opts.max_seconds is not None and now - start >= opts.max_seconds:
                        stopped_by = "time"
                        break
                    if guard.pending is not None:
                        stopped_by = guard.poll()
                        break
                    if opts.progress is not None and now >= next_report:
                        next_report = now + opts.progress_every
                        stats.distinct, stats.depth, stats.seconds = len(pointers), depth + 1, now - start
                        stats.queue = len(frontier) - done - i + len(nxt)
                        opts.progress(stats)
                if violation is not None or stopped_by is not None:
                    break
                done += len(part)
            base += len(frontier)
            visited.next_level()
            if raw_seen is not None:
                raw_seen.next_level()
            frontier = nxt
            if stopped_by or violation is not None:
                break
            if len(frontier):
                depth += 1
    except bounds.Stop as stop:  # a long step, set-up, or a search that did not notice in time
        guard.interruptible = False
        guard.poll()
        stopped_by = stop.kind

    stats.distinct = len(pointers)
    stats.depth = depth
    stats.queue = len(frontier) if stopped_by else 0
    stats.seconds = time.perf_counter() - start
    stats.cpu_seconds = time.process_time() - cpu_start
    stats.peak_rss_bytes = _peak_rss()
    stats.fingerprint_bytes = visited.nbytes + (raw_seen.nbytes if raw_seen is not None else 0)

    def path(sid: int) -> list[int]:
        steps = []
        while True:
            up, ai = pointers.get(sid)
            if up == -1:
                return steps[::-1]
            steps.append(ai)
            sid = up

    return finish(model, checks, opts, stats, stopped_by, violation, path, reducing, dropped)


def stop_limit(opts: Options, stopped_by: str | None) -> float | None:
    """The value of the bound that stopped a search (None for a signal)."""
    guard = bounds.current()
    limits = {"depth": opts.max_depth, "states": opts.max_states, "time": opts.max_seconds,
              "memory": guard.max_memory // 2**20 if guard.max_memory is not None else None}
    if stopped_by == "time" and opts.max_seconds is None:
        return guard.max_seconds
    return limits.get(stopped_by or "")


def _dropped_until(drop_counts: Callable[[], dict[str, int]], before: dict[str, int],
                   successors: Callable[[State], object], sources: list[State]) -> dict[str, int]:
    """The unhandled messages dropped up to the end of `sources`, when the batch expanded more:
    the counts before the batch, plus what expanding `sources` again adds."""
    mid = drop_counts()
    for s in sources:
        successors(s)
    end = drop_counts()
    counts = {k: before.get(k, 0) + end[k] - mid.get(k, 0) for k in end}
    return {k: n for k, n in counts.items() if n}


def finish(model: Model, checks: Checks, opts: Options, stats: Stats, stopped_by: str | None,
           violation: tuple[str, Property | None, int, StepError | None] | None,
           path: Callable[[int], list[int]], reducing: bool, dropped: dict[str, int] | None = None) -> Result:
    """The result of a search: the traces to the violation and to each reachable property, replayed."""
    counts = getattr(model, "drop_counts", None)
    if dropped is not None:
        stats.dropped = dropped
    elif counts is not None:  # before the replays below step the model again
        stats.dropped = counts()
    result = Result(
        spec=model.name, stats=stats, complete=stopped_by is None and violation is None,
        stopped_by=stopped_by, violation=None, invariants=[p.name for p, _, _ in checks.invariants], symmetry=reducing,
        stop_limit=stop_limit(opts, stopped_by),
    )
    for p in checks.props:
        if p.kind == "reachable":
            sid_r = checks.reached_at.get(p.name)
            result.reached[p.name] = replay(model, path(sid_r)) if sid_r is not None else None
    if violation is not None:
        kind, prop, sid, err = violation
        trace = replay(model, path(sid))
        failures = checks.failures
        if kind == "invariant" and prop is not None and prop.name in failures:
            e = failures[prop.name]
            result.violation = Violation("error", prop.name, e.message if not e.line else str(e), {}, trace)
        elif kind == "invariant":
            assert prop is not None
            last = trace.states[-1]
            bindings = prop.explain(last) or {}
            result.violation = Violation("invariant", prop.name, f"invariant {prop.name} is violated", bindings, trace)
        else:
            assert err is not None
            trace.failed_event = err.event
            result.violation = Violation("error", "error", err.error.message if not err.error.line else str(err.error), {}, trace)
    return result
