"""Each gossip invariant catches a deliberately broken model, with the shortest trace.

The broken models are spec/gossip_mutants/*.toml: each names the property whose violation
catches it and the length of the shortest trace to it; together they break every invariant
of spec/gossip.pnyx (Validity and NeverTwice are also broken in tests/test_z3.py, against
bounded model checking). Anti-entropy's own checks, safety and liveness, are here too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pnyx.checker import liveness
from pnyx.checker.bfs import check
from pnyx.checker.mutants import Mutant, load_mutants, run_mutant
from pnyx.model.compiler import compile_checked, load
from pnyx.model.parser import parse
from pnyx.model.typecheck import check as typecheck

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "gossip.pnyx"
MUTANTS = load_mutants(ROOT / "spec" / "gossip_mutants")


@pytest.mark.parametrize("m", MUTANTS, ids=lambda m: m.name)
def test_mutant_is_caught_by_its_property(m: Mutant) -> None:
    _, r = run_mutant(SPEC, m)
    v = r.violation
    assert v is not None, f"{m.name}: no violation"
    assert (v.kind, v.name, len(v.trace.events)) == ("invariant", m.property, m.length)


def test_every_invariant_has_a_mutant() -> None:
    cs = load(str(SPEC))
    assert {m.property for m in MUTANTS} == {p.name for p in cs.properties if p.kind == "invariant"}


@pytest.mark.parametrize("m", MUTANTS, ids=lambda m: m.name)
def test_correct_gossip_holds_at_the_mutants_constants(m: Mutant) -> None:
    r = check(load(str(SPEC), m.constants))
    assert r.complete and r.violation is None


def test_never_back_is_per_incarnation() -> None:
    """A restarted node forgets whom it heard its news from (`sent` is volatile) and may push it
    back: NeverBack holds only because `on recover` starts the ghost afresh, as it does for
    NeverTwice. Keep the ghost across crashes and the checker shows the push back."""
    src = SPEC.read_text()
    find = "  givers = {}          // \"never twice\" and \"never back\" hold per incarnation\n"
    assert src.count(find) == 1
    cs = compile_checked(typecheck(parse(src.replace(find, ""), f"{SPEC} [givers kept]"),
                                   {"N": 2, "WRITES": 1, "LOSSES": 0, "CRASHES": 1}))
    v = check(cs).violation
    assert v is not None and v.name == "NeverBack"
    assert "crash" in [e.kind for e in v.trace.events]
    assert check(load(str(SPEC), {"N": 2, "WRITES": 1, "LOSSES": 0, "CRASHES": 1})).violation is None


# Anti-entropy, as the gossip service runs it: (constants) at sizes the suite affords
# (test_anti_entropy_three_nodes checks three nodes, slowly).
AE_SAFE = [
    {"ANTI_ENTROPY": True, "N": 2},
    {"ANTI_ENTROPY": True, "N": 2, "LOSSES": 2},
    {"ANTI_ENTROPY": True, "N": 2, "WRITES": 1, "TIMEOUTS": 1},
    {"ANTI_ENTROPY": True, "N": 2, "WRITES": 1, "CRASHES": 1, "LOSSES": 0},
]


@pytest.mark.parametrize("consts", AE_SAFE, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_anti_entropy_keeps_every_invariant(consts: dict) -> None:
    r = check(load(str(SPEC), consts))
    assert r.complete and r.violation is None
    assert r.reached["AllHoldLatest"] is not None


@pytest.mark.skipif(os.environ.get("PNYX_SLOW_TESTS") != "1", reason="a minute: set PNYX_SLOW_TESTS=1")
def test_anti_entropy_three_nodes() -> None:
    r = check(load(str(SPEC), {"ANTI_ENTROPY": True, "N": 3, "WRITES": 1, "LOSSES": 0}))
    assert r.complete and r.violation is None and r.stats.distinct > 100_000


def test_anti_entropy_repairs_a_lost_push() -> None:
    """Push gossip alone never resends a lost push (tests/test_liveness.py shows the lasso);
    with anti-entropy the newest write reaches everyone on every fair behaviour."""
    alone = liveness.check(load(str(SPEC), {"N": 2}))
    assert [(v.name, v.holds) for v in alone.verdicts] == [("NewestEverywhere", False)]
    both = liveness.check(load(str(SPEC), {"N": 2, "ANTI_ENTROPY": True}))
    assert both.complete and [(v.name, v.holds) for v in both.verdicts] == [("NewestEverywhere", True)]


def test_two_losses_can_stall_anti_entropy_in_the_model() -> None:
    """The model's limit: a lost Digest leaves its caller waiting unless a timeout fires, and
    timeouts are budgeted and unfair. With the push and the writer's Digest both lost, and the
    other node holding nothing to exchange, nothing fair is left to do. (The service's
    exchangeTimeout fires for ever.)"""
    r = liveness.check(load(str(SPEC), {"N": 2, "LOSSES": 2, "ANTI_ENTROPY": True}))
    (v,) = r.violated
    assert v.name == "NewestEverywhere" and v.lasso is not None and v.lasso.stutter
    assert [e.kind for e in v.lasso.trace.events].count("lose") == 2


def test_anti_entropy_that_never_starts_a_new_sweep_is_caught() -> None:
    """Each node exchanges with each peer once and stops: an exchange made before the write
    cannot repair the push lost after it."""
    src = SPEC.read_text()
    find = "  if len(contacted) == N - 1 { contacted = {} }   // a new sweep\n"
    assert src.count(find) == 1
    cs = compile_checked(typecheck(parse(src.replace(find, ""), f"{SPEC} [one sweep]"), {"N": 2, "ANTI_ENTROPY": True}))
    r = liveness.check(cs)
    assert r.complete and [v.name for v in r.violated] == ["NewestEverywhere"]
    assert r.violated[0].lasso is not None
