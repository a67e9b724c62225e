"""Half-open ranges `a..<b` (in expressions and types) mean `a..b - 1`: the indexes of a sequence
without the `- 1` that inclusive ranges need; an off-by-one written with them is caught."""

from __future__ import annotations

import pytest
from specs import checked, explore

from pnyx.model.errors import SpecError
from pnyx.model.types import IntType

SPEC = """spec Ranges
nodes 2
type Idx = 0..<3
state { volatile s: seq[Idx, 3] = [] }
on timer grow when len(s) < 3 { s = append(s, len(s)) }
invariant Indexes: forall n in Node: forall i in 0..<len(n.s): n.s[i] == i
reachable Full: exists n in Node: len(n.s) == 3 and len({i in 0..<len(n.s) where true}) == 3
"""


def test_a_half_open_type_has_its_upper_bound_left_out() -> None:
    t = checked(SPEC).types["Idx"]
    assert isinstance(t, IntType) and (t.lo, t.hi) == (0, 2)


def test_half_open_ranges_hold_and_reach_the_end() -> None:
    result = explore(SPEC)
    assert result.violation is None and "Full" in result.reached


def test_an_empty_half_open_range_has_no_values() -> None:
    vacuous = "reachable Full: (forall i in 0..<0: false) and (exists n in Node: len(n.s) == 3"
    src = SPEC.replace("reachable Full: exists n in Node: len(n.s) == 3", vacuous).replace("== 3\n", "== 3)\n")
    assert "Full" in explore(src).reached


def test_an_off_by_one_is_caught() -> None:
    # `0..<len(s) + 1` reads one past the end: a step error when evaluating the property
    broken = SPEC.replace("0..<len(n.s): n.s[i] == i", "0..<len(n.s) + 1: n.s[i] == i")
    assert explore(broken).violation is not None


def test_a_range_missing_its_end_is_a_located_syntax_error() -> None:
    with pytest.raises(SpecError) as info:  # `state` is then read as the end, and `{` is unexpected
        checked(SPEC.replace("type Idx = 0..<3", "type Idx = 0..<"))
    assert ":4:7: unexpected '{'" in str(info.value)
