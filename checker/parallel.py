"""Breadth-first search on several cores: `pnyx.checker.partition`'s search over forked processes.

The workers are forked processes (the compiled model holds generated functions that cannot be
sent to another process; a fork inherits them). Commands and answers go through pipes; what
workers send each other between phases (fingerprints, marks, given states) through files in a
scratch folder, in memory under /dev/shm when there is one, named level-sender-receiver. Where
fork is not available the search runs in one process.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from . import bounds
from .bfs import Options, Result, explore
from .partition import Partition, search
from .protocol import Model


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
        start = time.perf_counter()
        with _Processes(model, opts, workers, scratch) as transport:
            return search(model, opts, transport, start)
    finally:
        if enabled:
            gc.enable()
        shutil.rmtree(scratch, ignore_errors=True)


class _Processes:
    """The transport (partition.Transport) over forked workers: pipes for commands, files between workers."""

    def __init__(self, model: Model, opts: Options, n: int, scratch: Path) -> None:
        self.n = n
        ctx = mp.get_context("fork")
        self.conns: list[Connection] = []
        self.procs = []
        for w in range(n):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(model, opts.symmetry, w, n, str(scratch), theirs),
                            daemon=True, name=f"pnyx-bfs-{w}")
            p.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(p)
        self.guard = bounds.current()
        self.guard.pids.update(p.pid for p in self.procs if p.pid is not None)  # their memory counts too

    def __enter__(self) -> _Processes:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.guard.pids.difference_update(p.pid for p in self.procs if p.pid is not None)
        self.guard.poll()  # a stop asked for now is this very ending: the clean-up is not interrupted
        if exc_type is not None:  # stopped in the middle of a phase (Ctrl-C, a bound) or failed: no waiting
            self.abort()
            return
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.send(("stop",))
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():  # pragma: no cover - a worker that does not stop
                p.kill()

    def abort(self) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.join(timeout=10)

    def ask(self, msg: tuple) -> list[Any]:
        for c in self.conns:
            c.send(msg)
        return [self._answer(w) for w in range(self.n)]

    def _answer(self, w: int) -> Any:
        try:
            a = self.conns[w].recv()
        except EOFError:
            raise RuntimeError(f"search worker {w} died (out of memory?)") from None
        if a[0] == "failed":  # a worker's own bug: raised here with its traceback
            raise RuntimeError(f"search worker {w} failed:\n{a[1]}")
        return a

    def parent(self, worker: int, local: int) -> tuple[int, int]:
        self.conns[worker].send(("parent", local))
        _, parent, step = self._answer(worker)
        return parent, step


def _worker_main(model: Model, symmetry: bool, w: int, n: int, scratch: str, conn: Connection) -> None:
    """A worker's life. Ctrl-C is the coordinator's to handle (it stops the workers); the worker
    leaves by os._exit, flushing nothing inherited from the parent (a progress display's thread
    may have held a stream's lock when the worker was forked)."""
    import traceback

    bounds.in_child()
    gc.disable()
    try:
        _serve(Partition(model, symmetry, w, n), Path(scratch), conn)
    except Exception:  # noqa: BLE001 - reported to the coordinator, which raises it
        with contextlib.suppress(OSError):
            conn.send(("failed", traceback.format_exc()))
    finally:
        os._exit(0)


def _serve(part: Partition, scratch: Path, conn: Connection) -> None:
    """Answer the coordinator's commands, reading what the other workers sent for this phase
    and writing what this one sends them."""
    w, n = part.w, part.n

    def write(name: str, data: bytes) -> None:
        tmp = scratch / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.rename(scratch / name)

    def read(name: str) -> bytes:
        path = scratch / name
        data = path.read_bytes()
        path.unlink()
        return data

    def from_others(level: int, kind: str) -> list[bytes]:
        return [b"" if v == w else read(f"{level}-{v}-{w}.{kind}") for v in range(n)]

    def to_others(level: int, kind: str, batches: list[bytes]) -> None:
        for v, data in enumerate(batches):
            if v != w:
                write(f"{level}-{w}-{v}.{kind}", data)

    while True:
        msg = conn.recv()
        op = msg[0]
        if op == "stop":
            return
        if op == "seed":
            conn.send(part.seed(msg[1][w]))
        elif op == "expand":
            level, plan, seconds = msg[1:]
            part.take([read(f"{level - 1}-{giver}-{w}.give") for giver, taker, _ in plan.pairs if taker == w])
            answer, sent = part.expand(seconds)
            to_others(level, "fp", sent)
            conn.send(answer)
        elif op == "claim":
            to_others(msg[1], "ok", part.claim(from_others(msg[1], "fp")))
            conn.send(("claimed",))
        elif op == "keep":
            conn.send(part.keep(from_others(msg[1], "ok")))
        elif op == "give":
            level, plan = msg[1:]
            gifts = part.give(plan)
            for giver, taker, _ in plan.pairs:
                if giver == w:
                    write(f"{level}-{w}-{taker}.give", gifts[taker])
            conn.send(("given",))
        elif op == "parent":
            conn.send(("parent", *part.parent_of(msg[1])))
        elif op == "end":
            conn.send(part.end())
