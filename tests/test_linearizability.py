"""The register linearizability checker (checker/linearizability.py): hand-written histories with
known answers, and a brute-force comparison on tiny random ones."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.checker.linearizability import Op, check, read_history, write_history
from pnyx.model.errors import PnyxError


def w(p: int, v: Any, t0: float, t1: float | None, outcome: str = "ok", key: str = "x") -> Op:
    return Op(p, "write", key, v, t0, t1, outcome)


def r(p: int, v: Any, t0: float, t1: float | None, outcome: str = "ok", key: str = "x") -> Op:
    return Op(p, "read", key, v, t0, t1, outcome)


def ok(*ops: Op, initial: Any = 0) -> bool | None:
    return check(ops, default=initial).linearizable


# ---- accepted ------------------------------------------------------------------------------
def test_sequential_history_is_linearizable() -> None:
    assert ok(w(1, 1, 0, 1), r(2, 1, 2, 3), w(1, 2, 4, 5), r(2, 2, 6, 7)) is True


def test_read_of_initial_value_before_any_write() -> None:
    assert ok(r(1, 0, 0, 1), w(2, 5, 2, 3), r(1, 5, 4, 5)) is True


def test_concurrent_reads_may_see_old_or_new_value() -> None:
    # write 1 spans [0, 10]: reads inside it see 0 or 1, but once one saw 1 a later one cannot see 0
    assert ok(w(1, 1, 0, 10), r(2, 0, 1, 2), r(3, 1, 3, 4), r(2, 1, 5, 6)) is True


def test_concurrent_writes_in_either_order() -> None:
    assert ok(w(1, 1, 0, 10), w(2, 2, 0, 10), r(3, 1, 11, 12)) is True
    assert ok(w(1, 1, 0, 10), w(2, 2, 0, 10), r(3, 2, 11, 12)) is True


def test_touching_intervals_are_concurrent() -> None:
    # the read is invoked at the very moment the write returns: either order is allowed
    assert ok(w(1, 1, 0, 5), r(2, 0, 5, 6)) is True


def test_failed_write_took_no_effect() -> None:
    assert ok(w(1, 1, 0, 1, "failed"), r(2, 0, 2, 3)) is True


def test_unknown_write_may_take_effect_late() -> None:
    # the write's client lost its connection; the write was committed long after
    assert ok(w(1, 1, 0, None, "unknown"), r(2, 0, 5, 6), r(2, 1, 50, 51)) is True


def test_unknown_write_may_never_take_effect() -> None:
    assert ok(w(1, 1, 0, None, "unknown"), r(2, 0, 5, 6), r(2, 0, 50, 51)) is True


def test_unknown_read_is_ignored() -> None:
    assert ok(w(1, 1, 0, 1), r(2, 7, 2, None, "unknown")) is True


def test_keys_are_independent() -> None:
    h = [w(1, 1, 0, 1, key="a"), w(1, 1, 2, 3, key="b"), r(2, 1, 4, 5, key="a"), r(2, 0, 4, 5, key="c")]
    v = check(h, default=0)
    assert v.linearizable is True and [k.key for k in v.keys] == ["a", "b", "c"]


# ---- rejected ------------------------------------------------------------------------------
def test_stale_read_after_acknowledged_write() -> None:
    v = check([w(1, 1, 0, 1), r(2, 0, 2, 3)], default=0)
    assert v.linearizable is False
    assert "return of client 2: read() -> 0" in v.failures[0].reason


def test_reads_see_concurrent_writes_in_opposite_orders() -> None:
    # writes 1 and 2 overlap; client 3 sees 1 then 2, client 4 sees 2 then 1: no single order
    h = [w(1, 1, 0, 20), w(2, 2, 0, 20),
         r(3, 1, 1, 2), r(3, 2, 3, 4),
         r(4, 2, 1, 2), r(4, 1, 3, 4)]
    assert ok(*h) is False


def test_read_of_value_never_written() -> None:
    v = check([w(1, 1, 0, 1), r(2, 9, 2, 3)], default=0)
    assert v.linearizable is False
    assert v.failures[0].reason == "a read returned a value never written"


def test_read_of_value_whose_write_failed() -> None:
    v = check([w(1, 1, 0, 1, "failed"), r(2, 1, 2, 3)], default=0)
    assert v.failures[0].reason == "a read returned a value whose write failed"


def test_read_of_unknown_write_before_it_was_invoked() -> None:
    assert ok(r(2, 1, 0, 1), w(1, 1, 5, None, "unknown")) is False


def test_value_reappears_after_overwrite() -> None:
    # 1 was overwritten by 2 (both acknowledged, in order); a later read cannot see 1 again
    assert ok(w(1, 1, 0, 1), w(1, 2, 2, 3), r(2, 2, 4, 5), r(2, 1, 6, 7)) is False


def test_unknown_write_seen_then_lost() -> None:
    # an unknown write observed once must stay until overwritten: reading the old value after is stale
    assert ok(w(1, 1, 0, None, "unknown"), r(2, 1, 5, 6), r(2, 0, 7, 8)) is False


def test_one_bad_key_fails_the_history() -> None:
    h = [w(1, 1, 0, 1, key="a"), r(2, 1, 2, 3, key="a"), w(1, 1, 0, 1, key="b"), r(2, 0, 2, 3, key="b")]
    v = check(h, default=0)
    assert v.linearizable is False and [k.key for k in v.failures] == ["b"]
    assert "key 'b': NOT linearizable" in v.summary()


def test_search_budget_leaves_a_key_undecided() -> None:
    # many overlapping writes with non-unique values and late reads: more states than a budget of 3
    h = [w(p, p % 2, 0, 100) for p in range(8)] + [r(9, 1, 101, 102), r(9, 0, 103, 104)]
    assert check(h, default=0, max_states=3).linearizable is None
    assert check(h, default=0).linearizable is False  # every write returned before the reads: 1 then 0 cannot both hold


# ---- input errors and files ------------------------------------------------------------------
def test_bad_operations_are_refused_with_a_message() -> None:
    with pytest.raises(PnyxError, match="kind 'cas'"):
        Op(1, "cas", "x", 1, 0, 1)
    with pytest.raises(PnyxError, match="outcome 'maybe'"):
        Op(1, "write", "x", 1, 0, 1, "maybe")
    with pytest.raises(PnyxError, match="no return time"):
        Op(1, "write", "x", 1, 0, None)
    with pytest.raises(PnyxError, match="before its invocation"):
        Op(1, "write", "x", 1, 5, 1)


def test_history_round_trips_through_a_file(tmp_path: Path) -> None:
    h = [w(1, [1, 2], 0, 1), r(2, [1, 2], 2, 3), w(3, "z", 4, None, "unknown")]
    write_history(tmp_path / "h.jsonl", h, {"x": None})
    ops, initial = read_history(tmp_path / "h.jsonl")
    assert initial == {"x": None} and len(ops) == 3
    assert check(ops, initial).linearizable is True
    (tmp_path / "bad.jsonl").write_text('{"initial": {}}\n{"process": 1}\n')
    with pytest.raises(PnyxError, match="bad.jsonl:2"):
        read_history(tmp_path / "bad.jsonl")


# ---- against brute force ---------------------------------------------------------------------
def brute_force(ops: list[Op], initial: Any) -> bool:
    """Every subset of the unknown writes, every order of what is included that respects real
    time: does one make every read return the last value written to its key?"""
    definite = [o for o in ops if o.outcome == "ok"]
    maybe = [o for o in ops if o.outcome == "unknown" and o.kind == "write"]

    def end(o: Op) -> float:
        return float("inf") if o.ret is None else o.ret

    for k in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, k):
            chosen = definite + list(extra)
            for order in itertools.permutations(chosen):
                if any(end(b) < a.invoke for i, a in enumerate(order) for b in order[i + 1:]):
                    continue  # b returned before a was invoked but comes after it
                if legal(order, initial):
                    return True
    return False


def legal(order: tuple[Op, ...], initial: Any) -> bool:
    """Each read returns the value of the last write to its key before it in `order`."""
    value: dict[str, Any] = {}
    for o in order:
        if o.kind == "write":
            value[o.key] = o.value
        elif value.get(o.key, initial) != o.value:
            return False
    return True


@st.composite
def tiny_histories(draw: st.DrawFn) -> tuple[list[Op], bool]:
    """Up to 5 operations on 1 or 2 keys at small integer times; values unique per write or not."""
    unique = draw(st.booleans())
    n = draw(st.integers(1, 5))
    ops = []
    for i in range(n):
        kind = draw(st.sampled_from(["write", "read"]))
        key = draw(st.sampled_from(["x", "y"]))
        t0 = draw(st.integers(0, 6))
        t1 = t0 + draw(st.integers(0, 4))
        if kind == "write":
            value = 10 + i if unique else draw(st.integers(0, 2))
            outcome = draw(st.sampled_from(["ok", "ok", "unknown", "failed"]))
        else:
            value = draw(st.sampled_from([0, 1, 2, 10, 11, 12, 13, 14]))
            outcome = draw(st.sampled_from(["ok", "ok", "ok", "unknown"]))
        ops.append(Op(i % 3, kind, key, value, t0, None if outcome == "unknown" else t1, outcome))
    return ops, unique



@settings(max_examples=400, deadline=None)
@given(tiny_histories())
def test_agrees_with_brute_force(case: tuple[list[Op], bool]) -> None:
    ops, _ = case
    assert check(ops, default=0).linearizable is brute_force(ops, 0)
