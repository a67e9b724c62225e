"""Bounds a command honours however long one step or its set-up takes: a deadline (--max-seconds),
a memory budget (--max-memory), Ctrl-C (SIGINT) and SIGTERM.

Searches look at `Guard.pending` between batches of states, which costs nothing per state. A
step that does not return (a handler looping 10^9 times) or a set-up that explodes (symmetry
tables, domains) is stopped by raising `Stop` from a signal handler in the main thread, at once
while the running code has marked itself `interruptible` (a search: while it gathers successors,
touching nothing its summary counts), else after `GRACE` seconds if it has not noticed the
request by then. A watchdog thread, awake every `TICK` seconds, turns the deadline and the memory
budget into a SIGALRM for the main thread: a real signal, so that a blocking read of a worker's
pipe returns too. It also reads the signals as they arrive (through `signal.set_wakeup_fd`), so
that code running outside the interpreter, which delays Python's own signal handlers, is told
at once by the hooks registered for it (z3's `Context.interrupt`).

Without `guarded` (the Python API called from any thread) the guard is `NULL`, which never trips.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator

__all__ = ["Stop", "Guard", "NULL", "current", "guarded", "rss_bytes", "exit_status", "describe", "in_child"]

TICK = 0.1  # seconds between the watchdog's looks at the clock and the memory
GRACE = 1.0  # seconds a search has to notice a request before it is raised wherever the search is

# What stopped a command -> its exit status: 3 a bound (not a proof), 128 + the signal otherwise.
EXIT_STATUS = {"time": 3, "memory": 3, "interrupt": 128 + signal.SIGINT, "terminate": 128 + signal.SIGTERM}
SIGNAL_KINDS = {signal.SIGINT: "interrupt", signal.SIGTERM: "terminate"}


class Stop(BaseException):
    """A bound was met or the user asked to stop. A BaseException, as KeyboardInterrupt: the
    `except Exception` that turns a failing handler into the spec's error must not catch it."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # time | memory | interrupt | terminate


def exit_status(kind: str) -> int:
    return EXIT_STATUS[kind]


def describe(kind: str, max_seconds: float | None = None, max_memory_mb: int | None = None) -> str:
    """What stopped a command, as a person reads it: `--max-seconds 5`, `Ctrl-C (SIGINT)`..."""
    if kind == "time":
        return "--max-seconds" + (f" {max_seconds:g}" if max_seconds is not None else "")
    if kind == "memory":
        return "--max-memory" + (f" {max_memory_mb} MB" if max_memory_mb is not None else "")
    return {"interrupt": "Ctrl-C (SIGINT)", "terminate": "SIGTERM"}[kind]


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes(pids: Iterable[int] = ()) -> int:
    """The resident memory of this process and of `pids` (its workers), from /proc: a read of a
    few bytes each. Pages a forked worker still shares with its parent count twice (an
    overestimate: a budget errs on the safe side). Without /proc, this process's peak."""
    total = 0
    for pid in ("self", *pids):
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            if pid == "self":
                return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return total


class Guard:
    """The bounds of one command and what has been asked of it (`pending`)."""

    def __init__(self, max_seconds: float | None = None, max_memory: int | None = None) -> None:
        self.pending: str | None = None  # the kind of stop asked for, once asked
        self.interruptible = False  # the main thread may be stopped at once (nothing half-recorded)
        self.max_seconds = max_seconds
        self.max_memory = max_memory  # bytes
        self.started = time.monotonic()
        self.deadline = None if max_seconds is None else self.started + max_seconds
        self.pids: set[int] = set()  # worker processes whose memory counts against the budget
        self.hooks: list[Callable[[], None]] = []  # called (from the watchdog thread) once a stop is asked
        self._noticed = False  # the main thread is stopping (it polled, or caught the Stop)
        self._forced = False  # not noticed within GRACE: raised wherever the main thread is
        self._raised_at = 0.0  # when a Stop was last raised (monotonic)
        self._retry = False  # a Stop was due inside a finalizer: raise it at the next look

    def ask(self, kind: str) -> None:
        """Ask for a stop (the first reason asked is kept)."""
        if self.pending is None:
            self.pending = kind

    def poll(self) -> str | None:
        """The stop asked for, if any; the caller promises to stop at once (so it is not forced).
        Whoever catches a `Stop` calls it too: until then, it is raised again every GRACE seconds
        (a Stop raised inside a `__del__` is lost: Python only prints it)."""
        if self.pending is not None:
            self._noticed = True
        return self.pending


NULL = Guard()  # never asked to stop: the Python API outside `guarded`
_current: Guard = NULL


def current() -> Guard:
    return _current


@contextlib.contextmanager
def guarded(max_seconds: float | None = None, max_memory_mb: int | None = None,
            interruptible: bool = True) -> Iterator[Guard]:
    """Honour the bounds and SIGINT/SIGTERM in the main thread until the block ends: a `Stop`
    raised in it says which. `interruptible`: the block may be stopped at once until a search
    takes over the flag (set-up is)."""
    global _current
    if threading.current_thread() is not threading.main_thread():
        yield NULL  # signal handlers can only be set from the main thread
        return
    guard = Guard(max_seconds, None if max_memory_mb is None else max_memory_mb * 2**20)
    guard.interruptible = interruptible
    main = threading.main_thread().ident
    assert main is not None

    def on_signal(signum: int, frame: object) -> None:
        if done.is_set():
            return
        kind = SIGNAL_KINDS.get(signum)
        again = kind is not None and guard.pending == kind  # Ctrl-C twice: now, wherever the search is
        if kind is not None:
            guard.ask(kind)
        if guard.pending is None or (guard._noticed and not again):
            return
        if again or guard.interruptible or guard._forced:
            if _in_finalizer(frame):  # Python would only print it (or break an import): raised again at the watchdog's next look
                guard._retry = True
                return
            guard._raised_at = time.monotonic()
            raise Stop(guard.pending)

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    done = threading.Event()

    def wake_main() -> None:
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_kill(main, signal.SIGALRM)

    def watch() -> None:
        woken = 0.0  # when the main thread was last sent SIGALRM
        while not done.is_set():
            ready, _, _ = select.select([reader], [], [], TICK)
            if ready:
                with contextlib.suppress(OSError):
                    for signum in reader.recv(64):
                        if signum in SIGNAL_KINDS:
                            guard.ask(SIGNAL_KINDS[signum])
            if done.is_set():
                return
            if guard.pending is None:
                if guard.deadline is not None and time.monotonic() >= guard.deadline:
                    guard.ask("time")
                elif guard.max_memory is not None and rss_bytes(guard.pids) > guard.max_memory:
                    guard.ask("memory")
                if guard.pending is not None:
                    woken = time.monotonic()
                    wake_main()
            if guard.pending is not None and not guard._noticed:
                for hook in list(guard.hooks):
                    with contextlib.suppress(Exception):
                        hook()
                now = time.monotonic()
                woken = max(woken or now, guard._raised_at)  # a signal's own delivery counts as a wake
                if guard._retry or now - woken > GRACE:  # not noticed in time: raised wherever the main thread is
                    guard._forced, guard._retry = True, False
                    woken = now
                    wake_main()

    kinds = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)
    previous = {s: signal.signal(s, on_signal) for s in kinds}
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    thread = threading.Thread(target=watch, name="pnyx-bounds", daemon=True)
    _current = guard
    thread.start()
    try:
        yield guard
    finally:
        done.set()  # from here on, no Stop is raised
        with contextlib.suppress(OSError):
            writer.send(b"\0")  # wakes the watchdog, which then ends
        thread.join()  # and no SIGALRM sent (whose default action would end the process)
        _current = NULL
        signal.set_wakeup_fd(old_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
        reader.close()
        writer.close()


def _in_finalizer(frame: object) -> bool:
    """Whether the main thread is inside a `__del__` or the import machinery (which runs weak
    reference callbacks): an exception raised there is printed and dropped, or leaves a module
    half imported."""
    f = frame
    while f is not None:
        code = f.f_code  # type: ignore[attr-defined]
        if code.co_name == "__del__" or code.co_filename.startswith("<frozen importlib"):
            return True
        f = f.f_back  # type: ignore[attr-defined]
    return False


def in_child() -> None:
    """In a forked worker: the parent's guard is not this process's (the parent stops it)."""
    global _current
    _current = NULL
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at a terminal reaches every process: the parent's to handle
