"""Random simulation: seeded random walks through the state graph, for bugs deeper than BFS reaches.

Each walk starts from the initial state and takes a uniformly random enabled event at every
step, checking the invariants and `reachable` properties on the way. A violation's trace is
the walk that found it, not a shortest one; the seed makes it replay exactly.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from pnyx.model.compiler import CompiledSpec, PropertyEntry

from . import bounds
from .bfs import Options, Result, Stats, Violation, _peak_rss, stop_limit
from .model import SpecModel, StepError
from .trace import replay


@dataclass
class SimOptions:
    runs: int = 100
    depth: int = 100
    seed: int = 0
    max_seconds: float | None = None


def simulate(cs: CompiledSpec, opts: SimOptions | None = None) -> Result:
    """Walk `runs` random paths of at most `depth` steps; stop at the first violation."""
    o = opts or SimOptions()
    model = SpecModel(cs)
    rng = random.Random(o.seed)
    invariants = [p for p in cs.properties if p.kind == "invariant"]
    reached: dict[str, list[int]] = {}
    seen: set[int] = set()
    stats = Stats()
    start = time.perf_counter()
    violation: Violation | None = None
    stopped_by = "runs"
    guard = bounds.current()  # a walk's steps touch nothing the summary needs: a stop is raised in them at once
    try:
        guard.interruptible = True
        for run in range(o.runs):
            state = model.init_states()[0]
            steps: list[int] = []
            for d in range(o.depth + 1):
                seen.add(hash(state))
                ns, up, net = state[0], state[1], state[2]
                try:
                    bad = next((p for p in invariants if not p.holds(ns, up, net)), None)
                    if bad is not None:
                        trace = replay(model, steps)
                        violation = Violation("invariant", bad.name, f"invariant {bad.name} is violated",
                                              bad.explain(ns, up, net) or {}, trace)
                        break
                    for p in cs.properties:
                        if p.kind == "reachable" and p.name not in reached and p.holds(ns, up, net):
                            reached[p.name] = list(steps)
                except Exception as exc:  # noqa: BLE001 - a property failed to evaluate: the spec's error, with its trace
                    failing = next(p for p in cs.properties if _raises(p, state))
                    e = cs.model_error(exc, f"{failing.kind} {failing.name} cannot be evaluated")
                    violation = Violation("error", failing.name, str(e), {}, replay(model, steps))
                    break
                stats.depth = max(stats.depth, d)
                if d == o.depth:
                    break
                try:
                    succ = model.successors(state)
                except StepError as err:
                    trace = replay(model, steps)
                    trace.failed_event = err.event
                    violation = Violation("error", "error", str(err.error), {}, trace)
                    break
                if not succ:
                    break  # no event is enabled: the walk ends here
                i = rng.randrange(len(succ))
                steps.append(i)
                state = succ[i][1]
                stats.transitions += 1
            if violation is not None:
                break
            if run + 1 < o.runs and o.max_seconds is not None and time.perf_counter() - start >= o.max_seconds:
                stopped_by = "time"
                break
            if guard.pending is not None and run + 1 < o.runs:
                stopped_by = guard.poll() or stopped_by
                break
    except bounds.Stop as stop:
        guard.poll()
        stopped_by = stop.kind
    guard.interruptible = False
    stats.distinct = len(seen)
    stats.seconds = time.perf_counter() - start
    stats.peak_rss_bytes = _peak_rss()
    result = Result(spec=cs.name, stats=stats, complete=False, stopped_by=stopped_by, violation=violation,
                    invariants=[p.name for p in invariants], shortest=False,
                    stop_limit=stop_limit(Options(max_seconds=o.max_seconds), stopped_by))
    for p in cs.properties:
        if p.kind == "reachable":
            result.reached[p.name] = replay(model, reached[p.name]) if p.name in reached else None
    return result


def _raises(p: PropertyEntry, state: tuple) -> bool:
    try:
        p.holds(state[0], state[1], state[2])
    except Exception:  # noqa: BLE001
        return True
    return False
