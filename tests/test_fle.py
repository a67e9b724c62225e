"""The Fast Leader Election model: its check, its liveness, and the mutant catalogue.

Each mutant (spec/fle_mutants/*.toml) must be caught with the violation of the property it
names, in a shortest trace of the length it records; together they break every invariant.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.checker.bfs import check
from pnyx.checker.liveness import check as check_liveness
from pnyx.checker.mutants import Mutant, load_mutants, run_mutant
from pnyx.model.compiler import compile_checked, load
from pnyx.model.parser import parse
from pnyx.model.typecheck import check as typecheck

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "fle.pnyx"
MUTANTS = load_mutants(ROOT / "spec" / "fle_mutants")
INVARIANTS = {"VotesGenuine", "CountsThisRound", "RefinesAbstractElection", "LeaderMostRecentOfQuorum",
              "DecidedByQuorum", "HeardEachOtherAgree"}


def test_default_check_holds_and_shows_two_leaders_in_a_round() -> None:
    cs = load(str(SPEC), {"MAX_EPOCH": 0})
    assert not cs.symmetric, "votes are ranked by server id"
    r = check(cs)
    assert r.complete and r.violation is None
    assert {p.name for p in cs.properties if p.kind == "invariant"} == INVARIANTS
    # FLE alone may elect two leaders in one round: ZAB's epochs settle it
    assert r.reached["TwoLeadersInARound"] is not None
    assert r.reached["AllDecided"] is not None and r.reached["JoinedDecided"] is not None


def test_a_new_round_resets_the_count() -> None:
    r = check(load(str(SPEC), {"MAX_EPOCH": 0, "RESTARTS": 1, "CAP": 1}))
    assert r.violation is None


@pytest.mark.parametrize("m", MUTANTS, ids=lambda m: m.name)
def test_mutant_is_caught(m: Mutant) -> None:
    _, r = run_mutant(SPEC, m)
    assert r.violation is not None, f"{m.name}: no violation"
    assert (r.violation.kind, r.violation.name) == ("invariant", m.property)
    assert len(r.violation.trace.events) == m.length


def test_every_invariant_has_a_mutant() -> None:
    assert {m.property for m in MUTANTS} == INVARIANTS


def test_elected_under_fair_delivery() -> None:
    res = check_liveness(load(str(SPEC), {"MAX_EPOCH": 0}))
    assert [(v.name, v.holds) for v in res.verdicts] == [("Elected", True)]


def test_a_lost_notification_can_stall_the_election() -> None:
    res = check_liveness(load(str(SPEC), {"MAX_EPOCH": 0, "LOSSES": 1}))
    assert [(v.name, v.holds) for v in res.verdicts] == [("Elected", False)]


def test_election_stalls_without_the_finalize_timer_fair() -> None:
    src = SPEC.read_text().replace("fair timer start, finalize", "fair timer start")
    assert src != SPEC.read_text()
    res = check_liveness(compile_checked(typecheck(parse(src, "fle.pnyx"), {"MAX_EPOCH": 0})))
    assert [(v.name, v.holds) for v in res.verdicts] == [("Elected", False)]


def test_a_joiner_may_rank_above_its_leader() -> None:
    """Joining by `outofelection` is zab.pnyx's unranked late join: the joiner's history may be the more recent."""
    goal = ("reachable JoinedAboveLeader: exists n in Node: n.role == FOLLOWING and not n.byVote\n"
            "  and (n.myEpoch, n.myZxid) > (n.vote.epoch, n.vote.zxid)\n")
    r = check(compile_checked(typecheck(parse(SPEC.read_text() + goal, "fle.pnyx"), {})))
    assert r.violation is None and r.reached["JoinedAboveLeader"] is not None
