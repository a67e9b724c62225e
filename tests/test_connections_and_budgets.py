"""`disconnect` (closing a connection loses what is in flight) and named budgets that timers spend,
with state counts worked out by hand."""

from __future__ import annotations

import pytest
from specs import checked, explore

from pnyx.model.errors import SpecError

CLOSE = """spec close
nodes 2
network fifo
budget { requests = 1 }
message Ping()
state {
  volatile closed: bool = false
  volatile got: 0..1 = 0
  ghost sent: bool = false
}
on request go() when self == node(1) {
  sent = true
  send Ping() to node(2)
}
on timer giveUp when self == node(1) and not closed {
  closed = true
  DISCONNECT
}
on Ping() from q { got = got + 1 }
reachable Lost: (exists a in Node: a.sent and a.closed) and (forall b in Node: b.got == 0) and len(Ping) == 0
"""
# (closed, got, channel, request used): S0 = (F,0,[],0); request -> S1 (F,0,[P],1); timer -> S2 (T,0,[],0).
# S1: deliver -> S3 (F,1,[],1); timer -> S4 (T,0,[],1): the disconnect lost the ping.
# S2: request -> S5 (T,0,[P],1).  S3: timer -> S6 (T,1,[],1).  S5: deliver -> (T,1,[],1) = S6.
# 7 states. Without the disconnect S4 would be (T,0,[P],1) = S5: 6 states, and Lost never holds.


def test_disconnect_loses_the_messages_in_flight() -> None:
    r = explore(CLOSE.replace("DISCONNECT", "disconnect node(2)"))
    assert r.stats.distinct == 7
    trace = r.reached["Lost"]
    assert trace is not None and len(trace) == 2  # the request, then the timer that disconnects


def test_without_disconnect_the_message_survives() -> None:
    r = explore(CLOSE.replace("DISCONNECT", ""))
    assert r.stats.distinct == 6
    assert r.reached["Lost"] is None and not r.ok


def test_disconnect_takes_nodes() -> None:
    with pytest.raises(SpecError) as info:
        checked(CLOSE.replace("DISCONNECT", "disconnect 3"))
    assert "disconnect names a node" in info.value.message
    assert (info.value.span.line, info.value.span.col) == (17, 14)


TIMEOUTS = """spec timeouts
const K = 1
nodes 2 symmetric
budget { suspicions = K }
state { volatile n: 0..3 = 0 }
on timer suspect spends suspicions when n < 3 { n = n + 1 }
"""
# Each firing at either node spends one of K units shared by both nodes: the states are the pairs
# (n1, n2) with n1 + n2 <= K. K = 2: (0,0) (1,0) (0,1) (2,0) (1,1) (0,2) = 6; up to renaming 4.


@pytest.mark.parametrize("k, plain, orbits", [(0, 1, 1), (1, 3, 2), (2, 6, 4), (6, 16, 10)])
def test_a_named_budget_bounds_every_timer_that_spends_it(k: int, plain: int, orbits: int) -> None:
    assert explore(TIMEOUTS, K=k).stats.distinct == plain
    assert explore(TIMEOUTS, symmetry=True, K=k).stats.distinct == orbits


def test_a_budget_no_timer_spends_is_an_error() -> None:
    with pytest.raises(SpecError) as info:
        checked(TIMEOUTS.replace("spends suspicions ", ""), K=1)
    assert "unknown budget 'suspicions'" in info.value.message


def test_spending_a_budget_that_is_not_given_is_an_error() -> None:
    with pytest.raises(SpecError) as info:
        checked(TIMEOUTS.replace("budget { suspicions = K }", ""), K=1)
    assert "spends 'suspicions'" in info.value.message


OVERFLOW = """spec overflow
nodes 2
message M(v: 0..2)
state { volatile sent: bool = false }
on timer go when not sent {
  sent = true
  send M(7) to {p in Node where p != self}
}
on M(v) from q { }
"""


def test_a_message_field_outside_its_type_is_an_error_with_a_trace() -> None:
    r = explore(OVERFLOW)
    v = r.violation
    assert v is not None and v.kind == "error"
    assert "field v of M" in v.message and "spec line 7" in v.message
    assert len(v.trace) == 0  # it fails on the first step, from the initial state
