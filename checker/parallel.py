"""Breadth-first search on several cores: a partitioned, level-synchronous BFS.

Each worker process owns the fingerprints congruent to its number modulo the number of
workers: it alone keeps the visited set of those. A level runs in phases, each ended by a
barrier in the coordinating process, with files in a scratch folder (in memory, under
/dev/shm when there is one) between them:

- expand: every worker lists the successors of the states it holds; a new one whose
  fingerprint it owns it keeps at once (checking its properties, as the one-process search
  does); the fingerprints of the others it writes to their owners;
- claim: every owner marks which of the fingerprints sent to it are new, senders in order,
  and records them as visited;
- keep: each worker holds the successors its owners marked new, with their parent pointers,
  and checks them; only fingerprints and marks have travelled, no states;
- give: the coordinator evens out the next level by moving states from the workers holding
  most to the others (pickled, but only the imbalance); a moved state keeps its number.

Every state is therefore discovered at its BFS depth, whoever finds it: the distinct states,
transitions and diameter are those of `pnyx.checker.bfs.explore`, and a counterexample is as
short (the search stops at the end of the first level with a violation; an error while
expanding level d is preferred to an invariant violated at level d+1, its trace being shorter).
A state's global number is ``local number * workers + holder``, so a trace is rebuilt by asking
each holder along the path for its parent pointer; the coordinator then replays it and finds
the violation again. Bounds (`max_states`, `max_seconds`) are checked between levels and, for
time, during expansion, so a bounded search may count a few states more than one process would.

Workers are forked (the compiled model holds generated functions that cannot be sent to
another process); where fork is not available the search runs in one process.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing as mp
import os
import pickle
import resource
import shutil
import tempfile
import time
from array import array
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .bfs import Checks, Options, Result, Stats, explore, finish
from .model import State, StepError
from .protocol import Model
from .trace import replay


def available() -> bool:
    """Whether worker processes can be forked here."""
    return "fork" in mp.get_all_start_methods()


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def explore_parallel(model: Model, options: Options | None = None, workers: int = 2) -> Result:
    """`bfs.explore` with `workers` processes; one worker (or no fork) is the one-process search."""
    opts = options or Options()
    if workers <= 1 or not available():
        return explore(model, opts)
    scratch = Path(tempfile.mkdtemp(prefix="pnyx-bfs-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    enabled = gc.isenabled()
    gc.disable()  # see bfs.explore
    try:
        return _Coordinator(model, opts, workers, scratch).run()
    finally:
        if enabled:
            gc.enable()
        shutil.rmtree(scratch, ignore_errors=True)


# ---- the coordinating process ------------------------------------------------------------
class _Coordinator:
    def __init__(self, model: Model, opts: Options, n: int, scratch: Path) -> None:
        self.model, self.opts, self.n, self.scratch = model, opts, n, scratch
        self.reducing = opts.symmetry and model.symmetric

    def run(self) -> Result:
        model, opts, n = self.model, self.opts, self.n
        start = time.perf_counter()
        deadline = start + opts.max_seconds if opts.max_seconds is not None else None
        ctx = mp.get_context("fork")
        conns: list[Connection] = []
        procs = []
        for w in range(n):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(model, opts, w, n, str(self.scratch), deadline, theirs),
                            daemon=True, name=f"pnyx-bfs-{w}")
            p.start()
            theirs.close()
            conns.append(mine)
            procs.append(p)
        self.conns = conns
        try:
            return self._search(start)
        finally:
            for c in conns:
                with contextlib.suppress(OSError):
                    c.send(("stop",))
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():  # pragma: no cover - a worker that does not stop
                    p.kill()

    def ask(self, msg: tuple) -> list[Any]:
        """Send one command to every worker and collect their answers, in worker order."""
        for c in self.conns:
            c.send(msg)
        answers = []
        for w, c in enumerate(self.conns):
            try:
                a = c.recv()
            except EOFError:
                raise RuntimeError(f"search worker {w} died (out of memory?)") from None
            if a[0] == "failed":  # a worker's own bug: raised here with its traceback
                raise RuntimeError(f"search worker {w} failed:\n{a[1]}")
            answers.append(a)
        return answers

    def _search(self, start: float) -> Result:
        model, opts, n = self.model, self.opts, self.n
        fingerprint = model.fingerprint
        canon = model.representative() if self.reducing else None
        seeds: list[list[tuple[State, int]]] = [[] for _ in range(n)]
        for s in model.init_states():
            fp = fingerprint(canon(s) if canon is not None else s)
            seeds[fp % n].append((s, fp))
        seeded = self.ask(("seed", seeds))  # ("seeded", states kept, violating state, reached)
        stats = Stats()
        frontier = stats.distinct = sum(a[1] for a in seeded)
        reached: dict[str, int] = {}
        self._reached(seeded, reached)
        bad = [a[2] for a in seeded if a[2] is not None]
        violation = ("invariant", min(bad)) if bad else None
        stopped_by: str | None = None
        depth = 0
        level = 0
        plan: list[tuple[int, int, int]] = []
        next_report = start + opts.progress_every
        while frontier and violation is None:
            if opts.max_depth is not None and depth >= opts.max_depth:
                stopped_by = "depth"
                break
            # ("expanded", transitions, failing state, timed out, violating state, reached)
            expanded = self.ask(("expand", level, plan))
            self.ask(("claim", level))
            kept = self.ask(("keep", level))  # ("kept", states of the next level held, violating state, reached)
            sizes = [a[1] for a in kept]
            plan = _balance(sizes)
            self.ask(("give", level, plan))
            level += 1
            stats.transitions += sum(a[1] for a in expanded)
            frontier = sum(sizes)
            stats.distinct += frontier
            self._reached(expanded + kept, reached)
            errors = [a[2] for a in expanded if a[2] is not None]
            bad = [a[4] for a in expanded if a[4] is not None] + [a[2] for a in kept if a[2] is not None]
            if errors:  # a failing step from level d: a shorter trace than a violation at level d+1
                violation = ("error", min(errors))
            elif bad:
                violation = ("invariant", min(bad))
            if violation is not None:
                break
            now = time.perf_counter()
            if any(a[3] for a in expanded) or (opts.max_seconds is not None and now - start >= opts.max_seconds):
                stopped_by = "time"
                break
            if opts.max_states is not None and stats.distinct >= opts.max_states:
                stopped_by = "states"
                break
            if frontier:
                depth += 1
            if opts.progress is not None and now >= next_report:
                next_report = now + opts.progress_every
                stats.depth, stats.queue, stats.seconds = depth, frontier, now - start
                opts.progress(stats)
        stats.depth = depth
        stats.queue = frontier if stopped_by else 0
        stats.seconds = time.perf_counter() - start
        ends = self.ask(("end",))  # ("end", peak RSS, unhandled messages dropped by kind or None)
        stats.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + sum(a[1] for a in ends)
        dropped: dict[str, int] = {}
        for a in ends:
            for kind, k in (a[2] or {}).items():
                dropped[kind] = dropped.get(kind, 0) + k

        checks = Checks(model)  # the violation is found again here, in the trace's last state
        found: tuple[str, Any, int, StepError | None] | None = None
        if violation is not None:
            kind, gid = violation
            state = replay(model, self.path(gid)).states[-1]
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
        result = finish(model, checks, opts, stats, stopped_by, found, self.path, self.reducing)
        # the workers' transitions (not the replays), in the spec's order of message kinds as one process lists them
        kinds = [m.name for m in getattr(getattr(model, "cs", None), "messages", [])]
        result.stats.dropped = {k: dropped[k] for k in sorted(dropped, key=lambda k: kinds.index(k) if k in kinds else 0)}
        return result

    @staticmethod
    def _reached(answers: list[Any], reached: dict[str, int]) -> None:
        """Record the reachable properties first met at this level (the least state number among workers)."""
        level: dict[str, int] = {}
        for a in answers:
            for name, gid in a[-1].items():
                level[name] = min(level.get(name, gid), gid)
        for name, gid in level.items():
            reached.setdefault(name, gid)

    def path(self, gid: int) -> list[int]:
        """The step indices from an initial state to the state numbered `gid`, asking each owner in turn."""
        steps = []
        while True:
            conn = self.conns[gid % self.n]
            conn.send(("parent", gid // self.n))
            _, parent, step = conn.recv()
            if parent == -1:
                return steps[::-1]
            steps.append(step)
            gid = parent


def _balance(sizes: list[int]) -> list[tuple[int, int, int]]:
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


# ---- a worker process --------------------------------------------------------------------
def _worker_main(model: Model, opts: Options, w: int, n: int, scratch: str, deadline: float | None,
                 conn: Connection) -> None:
    """A worker's life. Ctrl-C is the coordinator's to handle (it stops the workers); the worker
    leaves by os._exit, flushing nothing inherited from the parent (a progress display's thread
    may have held a stream's lock when the worker was forked)."""
    import signal
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    try:
        _Worker(model, opts, w, n, Path(scratch), deadline, conn).serve()
    except Exception:  # noqa: BLE001 - reported to the coordinator, which raises it
        with contextlib.suppress(OSError):
            conn.send(("failed", traceback.format_exc()))
    finally:
        os._exit(0)


class _Worker:
    def __init__(self, model: Model, opts: Options, w: int, n: int, scratch: Path, deadline: float | None,
                 conn: Connection) -> None:
        self.model, self.w, self.n, self.scratch, self.deadline, self.conn = model, w, n, scratch, deadline, conn
        self.fingerprint = model.fingerprint
        self.canon: Callable[[State], State] | None = (
            model.representative() if opts.symmetry and model.symmetric else None)
        self.raw_seen: set[int] = set()
        self.visited: set[int] = set()  # the fingerprints this worker owns that were discovered
        self.parent = array("q")  # of each state this worker holds: its parent's global number
        self.step = array("l")
        self.frontier: list[State] = []  # held states of the level, numbered from `base`
        self.base = 0
        self.guests: list[tuple[State, int]] = []  # states of the level held by another worker, with their numbers
        self.next: list[State] = []  # held states of the next level, numbered from `base_next`
        self.base_next = 0
        self.outbox: list[list[tuple]] = []
        self.checks = Checks(model)
        self.bad: int | None = None  # the first state found violating a property, by global number

    def serve(self) -> None:
        conn = self.conn
        while True:
            msg = conn.recv()
            op = msg[0]
            if op == "stop":
                return
            if op == "seed":
                conn.send(self.seed(msg[1][self.w]))
            elif op == "expand":
                self.take(msg[1] - 1, msg[2])
                conn.send(self.expand(msg[1]))
            elif op == "claim":
                conn.send(self.claim(msg[1]))
            elif op == "keep":
                conn.send(self.keep(msg[1]))
            elif op == "give":
                conn.send(self.give(msg[1], msg[2]))
            elif op == "parent":
                lid = msg[1]
                conn.send(("parent", self.parent[lid], self.step[lid]))
            elif op == "end":
                counts = getattr(self.model, "drop_counts", None)
                conn.send(("end", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                           counts() if counts is not None else None))

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
        self.frontier, self.base, self.next = self.next, self.base_next, []
        self.base_next = len(self.parent)

    def seed(self, states: list[tuple[State, int]]) -> tuple:
        before = dict(self.checks.reached_at)
        for s, fp in states:
            if fp not in self.visited:
                self.visited.add(fp)
                self.add(s, -1, -1, None)
        self._advance()
        return ("seeded", len(self.frontier), self.bad, self._reached(before))

    def expand(self, level: int) -> tuple:
        """List the successors of the level's states: keep the new ones this worker owns, and write
        the fingerprints of the others to their owners, who say which are new (`claim`)."""
        before = dict(self.checks.reached_at)
        n, w = self.n, self.w
        fingerprint, canon, raw_seen = self.fingerprint, self.canon, self.raw_seen
        successors, changes = self.model.successors, self.checks.changed
        visited = self.visited
        seen, see, add = visited.__contains__, visited.add, self.add
        outbox: list[list[tuple]] = [[] for _ in range(n)]  # (state, successor, parent number, step index)
        fps = [array("q") for _ in range(n)]
        transitions = 0
        error: int | None = None
        timed_out = False
        start = self.base * n + w
        held = zip(self.frontier, range(start, start + len(self.frontier) * n, n))
        for qi, (s, gid) in enumerate(itertools.chain(held, self.guests)):
            try:
                succ = successors(s)
            except StepError:
                error = gid
                break
            transitions += len(succ)
            for ai, (_, s2) in enumerate(succ):
                if canon is not None:
                    raw = fingerprint(s2)
                    if raw in raw_seen:
                        continue
                    raw_seen.add(raw)
                    fp = fingerprint(canon(s2))
                else:
                    fp = fingerprint(s2)
                owner = fp % n
                if owner == w:
                    if not seen(fp):
                        see(fp)
                        add(s2, gid, ai, changes(s, s2))
                else:
                    fps[owner].append(fp)
                    outbox[owner].append((s, s2, gid, ai))
            if self.bad is not None:
                break
            if (qi & 63) == 0 and self.deadline is not None and time.perf_counter() >= self.deadline:
                timed_out = True
                break
        self.frontier, self.guests, self.outbox = [], [], outbox
        for owner, batch in enumerate(fps):
            if owner != w:
                self._write(f"{level}-{w}-{owner}.fp", batch.tobytes())
        return ("expanded", transitions, error, timed_out, self.bad, self._reached(before))

    def claim(self, level: int) -> tuple:
        """Mark which of the fingerprints the others found are new (now visited), senders in order."""
        visited = self.visited
        for v in range(self.n):
            if v != self.w:
                fps = array("q")
                fps.frombytes(self._read(f"{level}-{v}-{self.w}.fp"))
                ok = bytearray(len(fps))
                for i, fp in enumerate(fps):
                    if fp not in visited:
                        visited.add(fp)
                        ok[i] = 1
                self._write(f"{level}-{self.w}-{v}.ok", bytes(ok))
        return ("claimed",)

    def keep(self, level: int) -> tuple:
        """Hold the successors that their owners found new: the states stay where they were
        found (only fingerprints travel), and `give` evens out the workers' shares."""
        before = dict(self.checks.reached_at)
        changes, add = self.checks.changed, self.add
        for owner, box in enumerate(self.outbox):
            if owner != self.w:
                ok = self._read(f"{level}-{owner}-{self.w}.ok")
                for (s, s2, gid, ai), k in zip(box, ok):
                    if k:
                        add(s2, gid, ai, changes(s, s2))
        self.outbox = []
        return ("kept", len(self.next), self.bad, self._reached(before))

    def give(self, level: int, plan: list[tuple[int, int, int]]) -> tuple:
        """Move states of the next level as planned ((giver, taker, count), ...), then begin it.
        A moved state keeps its number: its parent pointer stays with the giver."""
        for giver, taker, count in plan:
            if giver == self.w:
                cut = len(self.next) - count
                numbers = range((self.base_next + cut) * self.n + self.w,
                                 (self.base_next + len(self.next)) * self.n + self.w, self.n)
                batch = list(zip(self.next[cut:], numbers))
                del self.next[cut:]
                self._write(f"{level}-{giver}-{taker}.give", pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        self._advance()
        return ("given",)

    def take(self, level: int, plan: list[tuple[int, int, int]]) -> None:
        for giver, taker, _ in plan:
            if taker == self.w:
                self.guests += pickle.loads(self._read(f"{level}-{giver}-{taker}.give"))

    def _write(self, name: str, data: bytes) -> None:
        tmp = self.scratch / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.rename(self.scratch / name)

    def _read(self, name: str) -> bytes:
        path = self.scratch / name
        data = path.read_bytes()
        path.unlink()
        return data
