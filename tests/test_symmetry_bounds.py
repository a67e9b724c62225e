"""Symmetry reduction at any node count: never more than MAX_RENAMINGS renamings per state,
nothing enumerated up front, and, when the cap cuts ties short, still sound: every
representative is a renaming of its state and every orbit is explored."""

from __future__ import annotations

import itertools
import math

import pytest
from conftest import ROOT
from reference import NaiveExplorer

from pnyx.checker import bfs, symmetry
from pnyx.checker.model import SpecModel
from pnyx.checker.symmetry import canonicalizer, tie_plan
from pnyx.model.compiler import compile_checked
from pnyx.model.parser import parse_file
from pnyx.model.typecheck import check

GOSSIP = ROOT / "spec" / "gossip.pnyx"
ZAB = ROOT / "spec" / "zab.pnyx"


def test_tie_plan_stays_within_the_cap() -> None:
    assert tie_plan((3,), 720) == (True,)
    assert tie_plan((6,), 720) == (True,)
    assert tie_plan((7,), 720) == (False,)
    assert tie_plan((50,), 720) == (False,)
    assert tie_plan((3, 3, 3, 3), 720) == (True, True, True, False)  # 6 ** 3 = 216, 6 ** 4 > 720
    assert tie_plan((1, 100, 2), 720) == (True, False, True)
    for sizes in itertools.product(range(1, 9), repeat=3):
        plan = tie_plan(sizes, 720)
        assert math.prod(math.factorial(s) for s, full in zip(sizes, plan) if full) <= 720


@pytest.mark.parametrize(("spec", "n"), [(GOSSIP, 50), (ZAB, 12)])
def test_many_nodes_enumerate_no_large_permutation_table(monkeypatch: pytest.MonkeyPatch, spec: object, n: int) -> None:
    real = itertools.permutations

    def guarded(seq: object, *rest: object) -> object:
        k = len(seq)  # type: ignore[arg-type]
        assert math.factorial(k) <= symmetry.MAX_RENAMINGS, f"permutations of {k} nodes enumerated"
        return real(seq, *rest)  # type: ignore[call-overload]

    monkeypatch.setattr(symmetry.itertools, "permutations", guarded)
    cs = compile_checked(check(parse_file(spec), {"N": n}))
    canon = canonicalizer(cs)
    model = SpecModel(cs)
    s0 = model.init_states()[0]
    seen = [s0]
    for _, s in model.successors(s0)[:20]:
        seen.append(s)
    for s in seen:
        r = canon(s)
        assert r == canon(r)  # a representative is its own representative
    res = bfs.check(cs, bfs.Options(max_states=300))
    assert res.stats.distinct >= 300 and res.violation is None


def _orbit_key(ref: NaiveExplorer, s: tuple, perms: list[tuple[int, ...]]) -> tuple:
    return min(ref.perm_state(s, p) for p in perms)


@pytest.fixture(scope="module")
def gossip_orbits() -> tuple[object, NaiveExplorer, set, list[tuple[int, ...]], set]:
    """Gossip's reachable states (3 nodes, crashes and losses) and their orbits, by the reference explorer."""
    ct = check(parse_file(GOSSIP), {"N": 3, "WRITES": 1, "LOSSES": 1, "CRASHES": 1})
    ref = NaiveExplorer(ct)
    states = ref.explore()
    perms = list(itertools.permutations(range(3)))
    return ct, ref, states, perms, {_orbit_key(ref, s, perms) for s in states}


@pytest.mark.parametrize("cap", [1, 2, 6])
def test_a_small_cap_stays_sound_and_complete(monkeypatch: pytest.MonkeyPatch, gossip_orbits: tuple, cap: int) -> None:
    # three nodes allow 6 renamings: capping below that merges fewer states but loses no orbit
    monkeypatch.setattr(symmetry, "MAX_RENAMINGS", cap)
    ct, ref, states, perms, orbits = gossip_orbits
    cs = compile_checked(ct)
    canon = canonicalizer(cs)
    reps = {canon(s) for s in states}
    for s in list(states)[:300]:
        assert canon(s) in {ref.perm_state(s, p) for p in perms}  # a renaming of s: sound
    assert {_orbit_key(ref, r, perms) for r in reps} == orbits  # every orbit represented
    reduced = bfs.check(cs, bfs.Options(symmetry=True))
    assert reduced.complete and len(orbits) <= reduced.stats.distinct <= len(states)
    if cap >= 6:
        assert reduced.stats.distinct == len(orbits)  # every tie permuted: one state per orbit
