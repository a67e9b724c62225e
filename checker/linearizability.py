"""Is a recorded history of key-value register operations linearizable?

A real cluster's clients record every operation they tried: what (a write of a value, a read
and the value it returned), on which key, when it was invoked and when its answer came, and its
outcome: `ok` (answered), `failed` (refused: it certainly took no effect) or `unknown` (a timeout
or a connection lost after the request was sent: a write may have taken effect, at any moment
after its invocation, or never). The history is linearizable if every ok operation, and any
subset of the unknown writes, can be put in one order that respects real time (an operation that
returned before another was invoked comes first) in which each read returns the value of the
last write before it (Herlihy and Wing, 1990).

Linearizability is local: a history is linearizable if and only if each key's sub-history is,
so every key is searched on its own. The search is Wing and Gong's, with Lowe's memoization of
(set of operations linearized, register value) as Porcupine and Knossos do it: walk the
operations in time order, linearize one whose invocation has come when the register allows it,
backtrack when an operation's return is reached before it was linearized.

When each write of a key writes a value of its own (the load generators do), unknown writes are
first made definite: one whose value no read returned is dropped (were it linearized, the next
write hides it), and one whose value a read returned must precede that read's return, which
becomes its own. Unknown writes otherwise stay pending forever and can make the search
exponential in their number.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pnyx.model.errors import PnyxError

OUTCOMES = ("ok", "failed", "unknown")
KINDS = ("write", "read")
NEVER = float("inf")  # the return time of an operation that never returned


@dataclass(frozen=True)
class Op:
    """One client operation: `write` of `value`, or `read` that returned `value`.

    `invoke` and `ret` are times on one clock (any unit); `ret` is None when the operation never
    returned (outcome unknown). `process` names the client, for reports only."""

    process: int
    kind: str
    key: str
    value: Any
    invoke: float
    ret: float | None
    outcome: str = "ok"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PnyxError(f"operation kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.outcome not in OUTCOMES:
            raise PnyxError(f"operation outcome {self.outcome!r}: expected one of {', '.join(OUTCOMES)}")
        if self.outcome == "ok" and self.ret is None:
            raise PnyxError(f"an ok {self.kind} of {self.key!r} has no return time")
        if self.ret is not None and self.ret < self.invoke:
            raise PnyxError(f"a {self.kind} of {self.key!r} returns at {self.ret} before its invocation at {self.invoke}")

    def describe(self) -> str:
        end = "never" if self.ret is None else f"{self.ret:g}"
        what = f"write({self.value!r})" if self.kind == "write" else f"read() -> {self.value!r}"
        return f"client {self.process}: {what} on {self.key!r} [{self.invoke:g}, {end}] {self.outcome}"


@dataclass
class KeyResult:
    """The verdict on one key: linearizable, not (with what explains it), or undecided."""

    key: str
    ops: int
    linearizable: bool | None  # None: the search budget ran out first
    states: int
    reason: str = ""
    stuck: list[str] = field(default_factory=list)  # the operations around the point no order gets past


@dataclass
class Verdict:
    linearizable: bool | None  # None: some key was left undecided by the budget, none failed
    ops: int
    keys: list[KeyResult]

    @property
    def failures(self) -> list[KeyResult]:
        return [k for k in self.keys if k.linearizable is False]

    def summary(self) -> str:
        word = {True: "linearizable", False: "NOT linearizable", None: "undecided (search budget exhausted)"}
        lines = [f"{word[self.linearizable]}: {self.ops} operations on {len(self.keys)} keys"]
        for k in self.keys:
            if k.linearizable is not True:
                lines.append(f"  key {k.key!r}: {word[k.linearizable]} ({k.reason})")
                lines += [f"    {s}" for s in k.stuck]
        return "\n".join(lines)


def check(history: Iterable[Op], initial: dict[str, Any] | None = None, default: Any = None,
          max_states: int = 2_000_000) -> Verdict:
    """Check a register history; `initial` gives keys' values before it (else `default`).

    `max_states` bounds the (linearized set, value) pairs visited per key: past it that key is
    undecided rather than the check running for ever (the problem is NP-complete in general)."""
    per_key: dict[str, list[Op]] = defaultdict(list)
    total = 0
    for op in history:
        per_key[op.key].append(op)
        total += 1
    results = [check_key(k, per_key[k], (initial or {}).get(k, default), max_states) for k in sorted(per_key, key=str)]
    verdicts = [r.linearizable for r in results]
    overall = False if False in verdicts else None if None in verdicts else True
    return Verdict(overall, total, results)


def _definite(ops: list[Op]) -> tuple[list[Op], list[tuple[float, float]]]:
    """The operations the search places, with the (invoke, return) window of each.

    Failed operations took no effect; unknown reads observed nothing. With unique write values,
    an unknown write is dropped or bounded by the first read of its value (the module's docstring)."""
    writes = [op for op in ops if op.kind == "write" and op.outcome != "failed"]
    unique = len({_hashable(op.value) for op in writes}) == len(writes)
    first_read: dict[Any, float] = {}
    for op in ops:
        if op.kind == "read" and op.outcome == "ok":
            v = _hashable(op.value)
            first_read[v] = min(first_read.get(v, NEVER), op.ret if op.ret is not None else NEVER)
    kept, windows = [], []
    for op in ops:
        if op.outcome == "failed" or (op.kind == "read" and op.outcome != "ok"):
            continue
        ret = NEVER if op.ret is None or op.outcome == "unknown" else op.ret
        if op.kind == "write" and op.outcome == "unknown" and unique:
            seen = first_read.get(_hashable(op.value))
            if seen is None:
                continue  # never observed: leaving it out changes no read
            ret = max(seen, op.invoke)
        kept.append(op)
        windows.append((op.invoke, ret))
    return kept, windows


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def check_key(key: str, ops: list[Op], initial: Any, max_states: int = 2_000_000) -> KeyResult:
    """Wing and Gong's search with memoization over one key's operations (a register)."""
    kept, windows = _definite(ops)
    n = len(kept)
    written = {_hashable(op.value) for op in ops if op.kind == "write" and op.outcome != "failed"}
    for op in kept:  # a value nobody wrote: no search needed, and the report says exactly that
        if op.kind == "read" and _hashable(op.value) not in written and _hashable(op.value) != _hashable(initial):
            failed_write = any(o.kind == "write" and _hashable(o.value) == _hashable(op.value) for o in ops)
            why = "a read returned a value whose write failed" if failed_write else "a read returned a value never written"
            return KeyResult(key, len(ops), False, 0, why, [op.describe()])
    # Entries: 1..2n (a call and a return per operation) in time order, calls before returns at
    # equal times (touching intervals are concurrent); 0 is the head of a doubly linked list.
    events = sorted([(windows[i][0], 0, i) for i in range(n)] + [(windows[i][1], 1, i) for i in range(n)])
    size = 2 * n + 1
    nxt, prv = list(range(1, size + 1)), list(range(-1, size - 1))
    op_of, is_ret, partner = [0] * size, [False] * size, [0] * size
    call_entry: dict[int, int] = {}
    for e, (_, r, i) in enumerate(events, start=1):
        op_of[e], is_ret[e] = i, bool(r)
        if r:
            partner[call_entry[i]] = e
        else:
            call_entry[i] = e
    end = size  # one past the last entry
    nxt[size - 1] = end

    def lift(e: int) -> None:
        nxt[prv[e]], prv[nxt[e]] = nxt[e], prv[e]
        r = partner[e]
        nxt[prv[r]] = nxt[r]
        if nxt[r] != end:
            prv[nxt[r]] = prv[r]

    def unlift(e: int) -> None:
        r = partner[e]
        nxt[prv[r]] = r
        if nxt[r] != end:
            prv[nxt[r]] = r
        nxt[prv[e]], prv[nxt[e]] = e, e

    state, linearized = _hashable(initial), 0
    stack: list[tuple[int, Any]] = []
    cache: set[tuple[int, Any]] = set()
    best: tuple[int, int] = (-1, 0)  # the most operations ever linearized at once, and the entry that stopped it
    e = nxt[0]
    while nxt[0] != end:
        if len(cache) > max_states:
            return KeyResult(key, len(ops), None, len(cache), f"more than {max_states} search states")
        if not is_ret[e]:
            op = kept[op_of[e]]
            value = _hashable(op.value)
            if op.kind == "write" or value == state:
                after = value if op.kind == "write" else state
                lin = linearized | (1 << op_of[e])
                if (lin, after) not in cache:
                    cache.add((lin, after))
                    stack.append((e, state))
                    state, linearized = after, lin
                    lift(e)
                    e = nxt[0]
                    continue
            e = nxt[e]
        else:  # this operation's return came and it is not linearized: undo the last choice
            if len(stack) > best[0]:
                best = (len(stack), e)
            if not stack:
                return _failure(key, ops, kept, windows, cache, best, op_of)
            e, state = stack.pop()
            linearized &= ~(1 << op_of[e])
            unlift(e)
            e = nxt[e]
    return KeyResult(key, len(ops), True, len(cache))


def _failure(key: str, ops: list[Op], kept: list[Op], windows: list[tuple[float, float]], cache: set[tuple[int, Any]],
             best: tuple[int, int], op_of: list[int]) -> KeyResult:
    """A report of a key no order fits: the operation whose return no linearization got past,
    with the operations that overlap it or just precede it."""
    i = op_of[best[1]]
    lo, hi = windows[i]
    near = [j for j in range(len(kept)) if windows[j][1] >= lo - (hi - lo) and windows[j][0] <= hi]
    near.sort(key=lambda j: windows[j][0])
    lines = [f"{'>> ' if j == i else '   '}{kept[j].describe()}" for j in near[-12:]]
    return KeyResult(key, len(ops), False, len(cache),
                     f"no order of its operations gets past the return of {kept[i].describe()} "
                     f"({best[0]} operations placed before it at best)", lines)


# ---- histories as files ---------------------------------------------------------------------
def write_history(path: str | Path, ops: Iterable[Op], initial: dict[str, Any] | None = None) -> None:
    """One JSON object per line: a header with the initial values, then one operation each."""
    with open(path, "w") as f:
        f.write(json.dumps({"initial": initial or {}}) + "\n")
        for op in ops:
            f.write(json.dumps(asdict(op)) + "\n")


def read_history(path: str | Path) -> tuple[list[Op], dict[str, Any]]:
    """The operations and initial values of a file written by `write_history`; PnyxError if malformed."""
    ops: list[Op] = []
    initial: dict[str, Any] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise PnyxError(f"{path}: cannot read the history: {exc.strerror or exc}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if "initial" in obj:
                initial = dict(obj["initial"])
            else:
                ops.append(Op(**obj))
        except (ValueError, TypeError) as exc:
            raise PnyxError(f"{path}:{n}: not an operation of a history: {exc}") from None
    return ops, initial
