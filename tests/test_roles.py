"""Node roles: `nodes coordinator: 1, participant: N - 1 symmetric` names blocks of node ids;
symmetry reduction interchanges nodes only within a symmetric role. Checked against the
independent reference (orbits under role-preserving renamings), with a renaming that crosses
roles shown to be unsound, and bad declarations refused where they are written."""

from __future__ import annotations

import pytest
from conftest import ROOT
from reference import NaiveExplorer
from specs import checked, explore

from pnyx.checker import symmetry
from pnyx.model import ir
from pnyx.model.compiler import compile_checked
from pnyx.model.errors import SpecError

TPC = (ROOT / "spec" / "examples" / "two_phase_commit.pnyx").read_text()


def test_roles_are_blocks_of_ids_and_their_names_are_sets() -> None:
    ct = checked(TPC, N=4)
    assert [(r.name, r.members, r.symmetric) for r in ct.roles] == [
        ("coordinator", (0,), False), ("participant", (1, 2, 3), True)]
    assert ct.symmetry_classes == (0, 1, 1, 1)
    core = ct.core
    assert [(r.name, r.first, r.count) for r in core.roles] == [("coordinator", 0, 1), ("participant", 1, 3)]
    used = {x.name: x.members for h in core.handlers for s in h.body for x in ir.walk(s) if isinstance(x, ir.RoleNodes)}
    assert used["participant"] == (1, 2, 3)


@pytest.mark.parametrize("n", [3, 4])
def test_symmetry_within_a_role_counts_the_reference_orbits(n: int) -> None:
    ct = checked(TPC, N=n)
    ref = NaiveExplorer(ct)
    states = ref.explore()
    assert explore(TPC, N=n).stats.distinct == len(states)
    reduced = explore(TPC, symmetry=True, N=n)
    assert reduced.stats.distinct == ref.orbits(states) < len(states)
    assert reduced.reached.keys() == explore(TPC, N=n).reached.keys()


def test_a_renaming_across_roles_would_merge_inequivalent_states(monkeypatch: pytest.MonkeyPatch) -> None:
    # Control: if the coordinator were interchangeable with the participants (classes all 0),
    # the checker would merge states no role-preserving renaming relates: fewer than the orbits.
    ct = checked(TPC, N=3)
    ref = NaiveExplorer(ct)
    orbits = ref.orbits(ref.explore())
    cs = compile_checked(ct)
    canon = symmetry.canonicalizer(cs)
    monkeypatch.setattr(type(ct), "symmetry_classes", property(lambda self: (0,) * self.n_nodes))
    crossing = symmetry.canonicalizer(cs)
    states = ref.explore()
    assert len({canon(s) for s in states}) == orbits
    assert len({crossing(s) for s in states}) < orbits


BAD = [
    ("nodes a: 1, b: 0 symmetric", "2:16", "a role has at least one node; b has 0"),
    ("nodes a: 1, a: 2", "2:13", "role 'a' is declared twice"),
    ("nodes a: 1, Node: 2", "2:13", "Node is the built-in type"),
    ("nodes a: 1, b: 2 symmetric\non timer t when self == node(2) { x = 1 }", "3:25", "node(i) names one node"),
    ("nodes a: 1, x: 2", "3:9", "state variable 'x' has the name of the role 'x'"),
]


@pytest.mark.parametrize(("decl", "where", "message"), BAD)
def test_a_bad_role_is_refused_where_it_is_written(decl: str, where: str, message: str) -> None:
    src = f"spec S\n{decl}\nstate {{ volatile x: int = 0 }}\n"
    with pytest.raises(SpecError) as info:
        checked(src)
    text = str(info.value)
    assert message in text and f":{where}" in text, text
