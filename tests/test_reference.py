"""The BFS checker and an independent naive explorer (tests/reference.py, which interprets the
AST) agree on the exact set of reachable states; with symmetry, BFS counts the orbits."""

from __future__ import annotations

from conftest import ROOT
from gen_specs import PROPERTIES, small_specs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reference import Interpreter, NaiveExplorer
from specs import checked

from pnyx.checker import bfs
from pnyx.checker.model import SpecModel
from pnyx.model.compiler import compile_checked
from pnyx.model.parser import parse_file
from pnyx.model.typecheck import Checked, check

GOSSIP = str(ROOT / "spec" / "gossip.pnyx")
MAX_STATES = 3000  # generated specs larger than this are skipped (the reference is slow)


def checker_states(model: SpecModel) -> set:
    """Every state reachable through the checker's own successor function."""
    init = model.init_states()
    seen, todo = set(init), list(init)
    while todo:
        s = todo.pop()
        for _, s2 in model.successors(s):
            if s2 not in seen:
                seen.add(s2)
                todo.append(s2)
    return seen


def assert_agree(ct: Checked, symmetric: bool) -> set:
    ref = NaiveExplorer(ct)
    expected = ref.explore()
    cs = compile_checked(ct)
    assert checker_states(SpecModel(cs)) == expected
    plain = bfs.check(cs, bfs.Options(symmetry=False))
    assert plain.complete and plain.stats.distinct == len(expected)
    if symmetric:
        reduced = bfs.check(cs, bfs.Options(symmetry=True))
        assert reduced.stats.distinct == ref.orbits(expected)
    return expected


def test_gossip_default_size_agrees() -> None:
    ct = check(parse_file(GOSSIP), {"N": 3, "WRITES": 1, "LOSSES": 1, "CRASHES": 1})
    states = assert_agree(ct, symmetric=True)
    assert len(states) > 1000


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 3), fanout=st.integers(0, 2), writes=st.integers(1, 2), losses=st.integers(0, 1),
       crashes=st.integers(0, 1))
def test_gossip_constants_agree(n: int, fanout: int, writes: int, losses: int, crashes: int) -> None:
    if n == 3 and writes == 2:
        writes = 1  # keeps the reference's run under a second
    ct = check(parse_file(GOSSIP), {"N": n, "FANOUT": fanout, "WRITES": writes, "LOSSES": losses, "CRASHES": crashes})
    assert_agree(ct, symmetric=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(small_specs())
def test_generated_specs_agree(src: str) -> None:
    ct = checked(src)
    probe = bfs.check(compile_checked(ct), bfs.Options(symmetry=False, max_states=MAX_STATES))
    assume(probe.complete)  # a few generated specs are too large for the slow reference: skip them
    states = assert_agree(ct, symmetric=ct.symmetric)
    # the compiled properties and the interpreted ones agree in every reachable state
    cs = compile_checked(ct)
    it = Interpreter(ct)
    for p, entry in zip(ct.properties, cs.properties):
        assert p.kind == "reachable" and entry.name == p.name
        for s in states:
            assert entry.holds(s[0], s[1], s[2]) == it.holds(p, s[0], s[2]), (p.name, s)
    # and the checker reports a reachable property reached exactly when some state satisfies it
    r = bfs.check(cs, bfs.Options(symmetry=False))
    for p in ct.properties:
        assert (r.reached[p.name] is not None) == any(it.holds(p, s[0], s[2]) for s in states), p.name
    assert len(ct.properties) == len(PROPERTIES)

