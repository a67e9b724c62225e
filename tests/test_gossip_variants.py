"""The classic epidemic variants (spec/gossip_rumor.pnyx, spec/gossip_antientropy.pnyx):
each property holds on the spec, for every variant its constants select, and catches a
deliberately broken model."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.checker import liveness
from pnyx.checker.bfs import check
from pnyx.model.compiler import CompiledSpec, compile_checked
from pnyx.model.parser import parse
from pnyx.model.typecheck import check as typecheck

SPEC = Path(__file__).resolve().parent.parent / "spec"
RUMOR = SPEC / "gossip_rumor.pnyx"
AE = SPEC / "gossip_antientropy.pnyx"


def _compiled(path: Path, consts: dict, find: str = "", replace: str = "") -> CompiledSpec:
    source = path.read_text()
    if find:
        assert source.count(find) == 1, f"the mutation site {find!r} moved"
        source = source.replace(find, replace)
    return compile_checked(typecheck(parse(source, f"{path} [mutated]" if find else str(path)), consts))


# (spec, constants): every variant, at sizes the suite affords
VARIANTS = [
    (RUMOR, {"FEEDBACK": True, "COIN": False, "K": 1}),
    (RUMOR, {"FEEDBACK": True, "COIN": False, "K": 2}),
    (RUMOR, {"FEEDBACK": True, "COIN": False, "K": 2, "IN_A_ROW": False}),
    (RUMOR, {"FEEDBACK": False, "COIN": False, "K": 2}),
    (RUMOR, {"FEEDBACK": True, "COIN": True, "K": 2}),
    (RUMOR, {"FEEDBACK": False, "COIN": True, "K": 2}),
    (AE, {"MODE": 1}),
    (AE, {"MODE": 2}),
    (AE, {"MODE": 3}),
    (AE, {"MODE": 3, "LOSSES": 1}),
]


def _vid(v: tuple[Path, dict]) -> str:
    return v[0].stem + "-" + ",".join(f"{k}={x}" for k, x in v[1].items())


@pytest.mark.parametrize(("path", "consts"), VARIANTS, ids=[_vid(v) for v in VARIANTS])
def test_every_variant_is_safe_and_spreads(path: Path, consts: dict) -> None:
    r = check(_compiled(path, consts))
    assert r.complete and r.violation is None
    assert all(t is not None for t in r.reached.values()), r.reached  # every site can hear the news


@pytest.mark.parametrize(("path", "consts"), [v for v in VARIANTS if not v[1].get("COIN")],
                         ids=[_vid(v) for v in VARIANTS if not v[1].get("COIN")])
def test_liveness_holds_for_every_variant(path: Path, consts: dict) -> None:
    r = liveness.check(_compiled(path, consts))
    assert r.complete and r.ok, [(v.name, v.holds) for v in r.verdicts]


# (spec, property, bug, text to replace, replacement, constants)
SAFETY_BUGS = [
    (RUMOR, "Validity", "a client write is applied but not recorded as written",
     "  written = written | {v}\n", "", {}),
    (RUMOR, "StaysRemoved", "a push of a value the site already holds makes it infective again",
     "  if v > value { adopt(v) }\n}", "  if v >= value { adopt(v) }\n}", {}),
    (AE, "Validity", "a client write is applied but not recorded as written",
     "  written = written | {v}\n", "", {}),
    (AE, "NewestWins", "a site takes whatever a peer sends, older or not",
     "  if v > value { value = v }\n}", "  value = v\n}", {"WRITES": 2}),
]


@pytest.mark.parametrize(("path", "prop", "bug", "find", "replace", "consts"), SAFETY_BUGS,
                         ids=[f"{b[0].stem}-{b[1]}" for b in SAFETY_BUGS])
def test_invariant_catches_its_bug(path: Path, prop: str, bug: str, find: str, replace: str, consts: dict) -> None:
    v = check(_compiled(path, consts, find, replace)).violation
    assert v is not None, bug
    assert (v.kind, v.name) == ("invariant", prop)


# (spec, property, bug, text to replace, replacement, constants)
LIVENESS_BUGS = [
    (RUMOR, "RumorDies", "unnecessary contacts are not counted: a site never loses interest",
     "  count = count + 1\n", "", {}),
    (RUMOR, "RumorDies", "a coin instead of a counter: a site may win the toss forever", "", "", {"COIN": True, "K": 2}),
    (AE, "Converges", "a site never starts a second sweep: a write made after it is never pulled",
     "  if len(contacted) == N - 1 { contacted = {} }   // a new sweep\n", "", {"MODE": 2}),
]


@pytest.mark.parametrize(("path", "prop", "bug", "find", "replace", "consts"), LIVENESS_BUGS,
                         ids=[f"{b[0].stem}-{b[1]}-{i}" for i, b in enumerate(LIVENESS_BUGS)])
def test_liveness_catches_its_bug(path: Path, prop: str, bug: str, find: str, replace: str, consts: dict) -> None:
    r = liveness.check(_compiled(path, consts, find, replace))
    assert r.complete
    assert [v.name for v in r.violated] == [prop], bug
    assert r.violated[0].lasso is not None


def test_rumors_leave_a_residue() -> None:
    """Rumor mongering need not reach every site (Demers's residue): convergence, which
    anti-entropy guarantees, fails with a lasso where the rumor dies out early."""
    conv = "leadsto Converges: (exists n in Node: n.value == WRITES) ~> (forall n in Node: n.value == WRITES)\n"
    source = RUMOR.read_text() + conv
    cs = compile_checked(typecheck(parse(source, f"{RUMOR} [Converges]"), {}))
    r = liveness.check(cs, names=["Converges"])
    assert r.complete and [v.name for v in r.violated] == ["Converges"]
    lasso = r.violated[0].lasso
    assert lasso is not None and lasso.stutter  # everybody lost interest: nothing is left to do
    cs_ae = compile_checked(typecheck(parse(AE.read_text(), str(AE)), {}))
    assert liveness.check(cs_ae, names=["Converges"]).ok
