"""max/min of a filtered range: scanned from the winning end, with the full evaluation's results and errors.

The compiler stops at the first k that passes the filter only when the filter cannot fail
for any k of the range; otherwise it evaluates the whole set as before, so a spec whose
filter fails on some k still gets the error."""

from __future__ import annotations

import random

import pytest
from specs import compiled

from pnyx.model.errors import ModelError

SPEC = """
spec scan
nodes 1
type V = 0..9
state {
  volatile s: seq[V, 8] = []
  volatile r: int = 0
}
on request put(xs: V) { s = append(s, xs) }
// the position after the last entry equal to x: an in-bounds index, scanned from the end
on request last(x: V) { r = max({0} | {k in 1..len(s) where s[k - 1] == x}) }
on request first(x: V) { r = min({len(s)} | {k in 0..len(s) - 1 where s[k] == x}) }
// k = len(s) indexes past the end: the full evaluation fails, the scan must not hide it
on request bad(x: V) { r = max({k in 0..len(s) where s[k] == x}) }
// division by zero at k = 1, below the winner
on request div() { r = max({k in 0..3 where 6 / (k - 1) > 0}) }
// the winner of an empty set is an error either way
on request none() { r = max({k in 1..len(s) where s[k - 1] == 99}) }
"""


def run(cs, state: tuple, name: str, *args: object) -> tuple:
    h = next(h for h in cs.requests if h.name == name)
    out = h.fn(0, state, *args, None)
    assert out is not None
    return out[0]


def test_the_scan_is_emitted_only_where_the_filter_cannot_fail() -> None:
    src = compiled(SPEC).source
    assert "_downto(1, len(S_s))" in src  # last: from the end
    assert "range(0, (len(S_s) - 1) + 1)" in src and "next(" in src  # first: from the start
    assert "_max(tuple(L_k for L_k in range(0, len(S_s) + 1)" in src  # bad: listed whole
    assert "_max(tuple(L_k for L_k in range(0, 3 + 1) if (_div(6" in src  # div: listed whole


def test_scanned_results_equal_the_definition() -> None:
    cs = compiled(SPEC)
    rng = random.Random(7)
    for _ in range(300):
        s = tuple(rng.randrange(3) for _ in range(rng.randrange(9)))
        x = rng.randrange(3)
        st = (s, 0)
        want_last = max([0] + [k for k in range(1, len(s) + 1) if s[k - 1] == x])
        want_first = min([len(s)] + [k for k in range(len(s)) if s[k] == x])
        assert run(cs, st, "last", x)[1] == want_last
        assert run(cs, st, "first", x)[1] == want_first


@pytest.mark.parametrize("name, args, message", [
    ("bad", (1,), "index 3 is out of range"),
    ("div", (), "division by zero"),
    ("none", (), "max() of an empty collection"),
])
def test_a_filter_that_fails_or_an_empty_set_still_raises(name: str, args: tuple, message: str) -> None:
    cs = compiled(SPEC)
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(cs, ((1, 1, 1), 0), name, *args)
