"""Partial-order reduction for breadth-first search: sleep sets (docs/por.md has the argument).

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
"""

from __future__ import annotations

import gc
import time
from array import array
from collections.abc import Callable

from pnyx.model.errors import ArgumentError

from .bfs import Checks, Options, Result, Stats, _peak_rss, finish
from .model import SpecModel, State, StepError
from .protocol import Property

MODES = ("none", "sleep")  # `pnyx check --por`

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


def explore_sleep(model: SpecModel, options: Options | None = None) -> Result:
    """Explore a spec's state graph breadth-first with sleep sets; the same states as `bfs.explore`."""
    enabled = gc.isenabled()
    gc.disable()  # as in bfs.explore: the stored states are tuples, the collector would only walk them
    try:
        return _explore_sleep(model, options or Options())
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


def _explore_sleep(model: SpecModel, opts: Options) -> Result:
    fps = model.footprints()
    footprint, event_key = fps.of, fps.key
    fingerprint = model.fingerprint
    reducing = opts.symmetry and model.symmetric
    canon: Callable[[State], State] | None = model.representative() if reducing else None
    checks = Checks(model)
    check, changes = checks.check, checks.changed

    visited: set[int] = set()
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
    slept = 0
    successors = model.successors
    while frontier and violation is None:
        if opts.max_depth is not None and depth >= opts.max_depth:
            stopped_by = "depth"
            break
        nxt: list[State] = []
        nxt_sleeps: list[Sleep] = []
        in_level: dict[int, tuple[int, int]] = {}  # fingerprint -> (position in nxt, raw fingerprint of the state kept)
        nid = base + len(frontier)
        for qi, s in enumerate(frontier):
            sid = base + qi
            asleep = sleeps[qi]
            try:
                succ = successors(s)
            except StepError as err:
                violation = ("error", None, sid, err)
                break
            listed: list[tuple[tuple, int, int]] = []  # (key, reads, writes) of the events listed so far
            for ai, (ev, s2) in enumerate(succ):
                key = event_key(ev)
                reads, writes = footprint(key)
                if key in asleep:
                    slept += 1
                    listed.append((key, reads, writes))
                    continue
                stats.transitions += 1
                raw = fingerprint(s2)
                fp = fingerprint(canon(s2)) if canon is not None else raw
                if fp in visited:
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
                nxt_sleeps.append(arrival_sleep(asleep, listed, reads, writes) or _AWAKE)
                listed.append((key, reads, writes))
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

    stats.distinct = len(parent)
    stats.depth = depth
    stats.queue = len(frontier) if stopped_by else 0
    stats.seconds = time.perf_counter() - start
    stats.peak_rss_bytes = _peak_rss()
    stats.slept = slept

    def path(sid: int) -> list[int]:
        steps = []
        while parent[sid] != -1:
            steps.append(step[sid])
            sid = parent[sid]
        return steps[::-1]

    result = finish(model, checks, opts, stats, stopped_by, violation, path, reducing)
    result.por = "sleep"
    return result
