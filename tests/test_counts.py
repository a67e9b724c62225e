"""Exact distinct-state counts on tiny specs counted by hand (comments show the counting),
with and without symmetry reduction. The naive reference explorer must agree too."""

from __future__ import annotations

import pytest
from reference import NaiveExplorer
from specs import checked, explore

COUNTER = """spec counter
nodes 2 SYM
state { volatile x: 0..3 = 0 }
on timer inc when x < 3 { x = x + 1 }
"""
# 4 values at each of 2 nodes: 16; up to renaming, multisets of 2 out of 4 values: 6 + 4 = 10.

PING = """spec ping
nodes 2 SYM
network NET
budget { losses = LOSSES  duplicates = DUPS }
message Ping()
state {
  volatile sent: bool = false
  volatile got: 0..2 = 0
}
on timer go when not sent {
  sent = true
  send Ping() to {p in Node where p != self}
}
on Ping() from q { got = got + 1 }
"""
# Each direction i->j is in one of 3 phases: not sent, in flight, delivered (got_j = 1): 3 * 3 = 9.
# Up to renaming: 3 + 3 (unordered pairs of phases) = 6.
# One loss allowed adds the phase "lost" (sent, nothing in flight, got 0) to at most one direction:
# 9 + 2 * 3 = 15; up to renaming 6 + 3 = 9.
# One duplication (unordered): the duplicated direction is in flight twice, or once after one
# delivery (got 1), or delivered twice (got 2): 9 + 2 * 3 * 3 = 27; up to renaming 6 + 9 = 15.

CRASH = """spec crash
nodes 1
budget { crashes = 2 }
state {
  persistent p: 0..1 = 0
  volatile v: 0..1 = 0
}
on timer a when v == 0 { v = 1 }
on timer b when p == 0 and v == 1 { p = 1 }
"""
# (p, v) while up with c crashes used; a crash keeps p and resets v.
# c=0: up (0,0) (0,1) (1,1): 3.  c=1: down p=0|1: 2, up (0,0) (1,0) (0,1) (1,1): 4.  c=2: the same 6.
# Total 3 + 6 + 6 = 15.

REQUESTS = """spec req
nodes 2
budget { requests = 2 }
state { volatile x: 0..2 = 0 }
on request add(k: 1..2) when x + k <= 2 {
  x = x + k
  reply x
}
"""
# (x1, x2) after r requests: r=0 (0,0); r=1 (1,0) (2,0) (0,1) (0,2); r=2 (2,0) (0,2) (1,1) (1,2) (2,1) (2,2).
# 1 + 4 + 6 = 11 (the budget used is part of the state, so (2,0) counts once per r).

CAPACITY = """spec cap
nodes 2 SYM
network fifo CAP
message Tick()
state { volatile sent: 0..2 = 0 }
on timer t when sent < 2 {
  sent = sent + 1
  send Tick() to {p in Node where p != self}
}
"""
# Tick has no handler: it is delivered and dropped. Per direction (sent, in channel):
# capacity 1: (0,0) (1,0) (1,1) (2,0) (2,1) = 5 -> 25, up to renaming 15;
# unbounded:  also (2,2)                    = 6 -> 36, up to renaming 21.


def spec(src: str, **subst: str) -> str:
    for k, v in subst.items():
        src = src.replace(k, v)
    return src


CASES = [
    # (name, source, plain count, count with symmetry or None)
    ("counter", COUNTER, 16, 10),
    ("ping fifo", spec(PING, NET="fifo", LOSSES="0", DUPS="0"), 9, 6),
    ("ping unordered", spec(PING, NET="unordered", LOSSES="0", DUPS="0"), 9, 6),
    ("ping fifo one loss", spec(PING, NET="fifo", LOSSES="1", DUPS="0"), 15, 9),
    ("ping unordered one loss", spec(PING, NET="unordered", LOSSES="1", DUPS="0"), 15, 9),
    ("ping unordered one duplicate", spec(PING, NET="unordered", LOSSES="0", DUPS="1"), 27, 15),
    ("crash and recover", CRASH, 15, None),
    ("requests", REQUESTS, 11, None),
    ("fifo capacity 1", spec(CAPACITY, CAP="capacity 1"), 25, 15),
    ("fifo unbounded", spec(CAPACITY, CAP=""), 36, 21),
]


@pytest.mark.parametrize(("name", "src", "plain", "orbits"), CASES, ids=[c[0] for c in CASES])
def test_exact_counts(name: str, src: str, plain: int, orbits: int | None) -> None:
    nosym = src.replace("SYM", "")
    r = explore(nosym)
    assert r.complete and r.ok
    assert r.stats.distinct == plain
    assert len(NaiveExplorer(checked(nosym)).explore()) == plain
    if orbits is not None:
        sym = src.replace("SYM", "symmetric")
        assert explore(sym, symmetry=True).stats.distinct == orbits
        assert explore(sym, symmetry=False).stats.distinct == plain  # the option turns it off
        ct = checked(sym)
        ref = NaiveExplorer(ct)
        assert ref.orbits(ref.explore()) == orbits


def test_counter_transitions_and_diameter() -> None:
    r = explore(COUNTER.replace("SYM", ""))
    # every state fires the timer at each node still below 3: 2 * (4 * 3) transitions
    assert r.stats.transitions == 24
    assert r.stats.depth == 6  # from (0,0) to (3,3)


def test_depth_and_state_bounds_cut_the_search() -> None:
    from specs import compiled

    from pnyx.checker import bfs

    cs = compiled(COUNTER.replace("SYM", ""))
    r = bfs.check(cs, bfs.Options(symmetry=False, max_depth=2))
    assert (r.complete, r.stopped_by) == (False, "depth")
    assert r.stats.distinct == 6  # sums 0, 1 and 2: 1 + 2 + 3
    r = bfs.check(cs, bfs.Options(symmetry=False, max_states=5))
    assert (r.complete, r.stopped_by) == (False, "states")
    assert r.stats.distinct >= 5


CHOOSE_RANGE = """spec pick
nodes 2
budget { requests = 1 }
state {
  volatile x: 0..3 = 0
  volatile s: set[0..3] = {}
}
on request go() {
  choose y in 1..3
  x = y
  choose z subset of 0..3 size 2
  s = z
}
"""


def test_choose_over_a_range() -> None:
    # the one request at either node, times 3 values of y, times C(4, 2) = 6 subsets, plus the initial state
    r = explore(CHOOSE_RANGE)
    assert r.stats.distinct == 1 + 2 * 3 * 6
    assert r.stats.transitions == 2 * 3 * 6
    assert len(NaiveExplorer(checked(CHOOSE_RANGE)).explore()) == 1 + 2 * 3 * 6


NEGATIVE = """spec neg
nodes 1
state { volatile x: -2..0 = 0 }
on timer down when x > -2 { x = x - 1 }
reachable Bottom: exists n in Node: n.x == -2
"""


def test_negative_values_are_distinct_states() -> None:
    # CPython's hash(-1) == hash(-2): such specs get a digest fingerprint instead
    assert len(NaiveExplorer(checked(NEGATIVE)).explore()) == 3  # x = 0, -1, -2
    r = explore(NEGATIVE)
    assert r.stats.distinct == 3
    assert r.reached["Bottom"] is not None
