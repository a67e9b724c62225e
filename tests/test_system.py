"""pnyx.model.system: typed events stay tuples, the network operations, and a consumer
(the TLA+ export) that fails loudly on an event kind it does not handle."""

from __future__ import annotations

import pickle
from typing import ClassVar, NamedTuple

import pytest
from conftest import ROOT

from pnyx.checker.tla import export
from pnyx.checker.tla import module as tla_module
from pnyx.model.parser import parse_file
from pnyx.model.system import (
    CRASH,
    DUP,
    EVENTS,
    LOSS,
    REQ,
    Crash,
    Deliver,
    FifoNetwork,
    Lose,
    Request,
    UnorderedNetwork,
    as_event,
    budget_slot,
)
from pnyx.model.typecheck import BUDGETS, check


def test_events_are_the_tuples_they_replace() -> None:
    ev = Deliver(1, 0, (2, 7), 3, ((0, 1),), ((0, (1,)),))
    assert ev == ("deliver", 1, 0, (2, 7), 3, ((0, 1),), ((0, (1,)),)) and hash(ev) == hash(tuple(ev))
    assert (ev.kind, ev.dst, ev.src, ev.handler, ev.at) == ("deliver", 1, 0, 3, 1)
    assert as_event(tuple(ev)) == ev and type(as_event(tuple(ev))) is Deliver
    assert pickle.loads(pickle.dumps(ev)) == ev and Crash(2)._replace(node=0) == ("crash", 0)
    assert Request(0, 1, (5,)).replies == ()  # an event a handler failed in: nothing sent, nothing replied
    assert Lose(1, 0, ("m",), 2).slot == 2
    with pytest.raises(ValueError, match="not an event"):
        as_event(("deliver", 1, 0))


def test_the_budget_layout_follows_the_catalogue() -> None:
    assert (REQ, CRASH, LOSS, DUP) == (0, 1, 2, 3) and BUDGETS == ("requests", "crashes", "losses", "duplicates")
    assert budget_slot({"requests": 1, "crashes": 0, "losses": 0, "duplicates": 0, "heartbeats": 2}, "heartbeats") == 4


def test_fifo_channels() -> None:
    net = FifoNetwork(2, cap=2)
    s = net.push(net.empty(), 0, [(1, ("a",)), (1, ("b",))], (True, True))
    assert s == ((), (("a",), ("b",)), (), ())
    assert net.push(s, 0, [(1, ("c",))], (True, True)) is None  # over capacity: the step is not enabled
    assert net.push(s, 0, [(1, ("c",))], (True, False)) == s  # a send to a down node is dropped
    heads, losses = net.exits(s, losing=True)
    assert [(d, src, m, k) for d, src, m, k, _ in heads] == [(1, 0, ("a",), 0)]
    assert [(m, k) for _, _, m, k, _ in losses] == [(("a",), 0), (("b",), 1)]
    assert net.exits(s, losing=False)[1] == []
    assert net.cut(s, 1) == ((), (), (), ()) and net.push(s, 1, [(0, None)], (True, True)) == net.empty()
    assert net.in_flight(s) == [(0, 1, ("a",)), (0, 1, ("b",))] and net.from_in_flight(net.in_flight(s)) == s


def test_unordered_multiset() -> None:
    net = UnorderedNetwork(2, cap=2)
    s = net.push(net.empty(), 0, [(1, ("a",)), (1, ("a",))], (True, True))
    assert s == ((1, 0, ("a",)), (1, 0, ("a",)))
    every, lost = net.exits(s, losing=True)
    assert len(every) == 1 and lost is every  # two equal entries are one choice
    assert net.duplicates(s) == []  # the pair holds `cap` messages already
    assert net.cut(s, 0) == s and net.cut(s, 1) == ()  # only messages to the crashed node are lost
    assert net.from_in_flight(net.in_flight(s)) == s


class _Stall(NamedTuple):
    kind: str
    node: int


class Stall(_Stall):
    KIND: ClassVar[str] = "stall"
    SPENDS: ClassVar[str | None] = None


def test_the_tla_export_refuses_an_event_kind_it_has_no_action_for(monkeypatch: pytest.MonkeyPatch) -> None:
    ct = check(parse_file(str(ROOT / "spec" / "gossip.pnyx")), {})
    assert export(ct).tla  # the catalogue as it is: every kind has an action
    monkeypatch.setattr(tla_module, "EVENTS", EVENTS + (Stall,))
    with pytest.raises(AssertionError, match="no action for the event kind.* stall"):
        export(ct)

