"""Each gossip invariant catches a deliberately broken model, with the shortest trace.

Validity and NeverTwice are also broken in tests/test_z3.py (against bounded model checking);
this table keeps one small bug per invariant in one place, PushValid's included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.checker.bfs import check
from pnyx.model.compiler import compile_checked, load
from pnyx.model.parser import parse
from pnyx.model.typecheck import check as typecheck

SPEC = Path(__file__).resolve().parent.parent / "spec" / "gossip.pnyx"

# (invariant, bug, text to replace, replacement, constants, shortest trace length)
BUGS = [
    ("Validity", "a client write is applied but not recorded as written",
     "  written = written | {v}\n", "", {"WRITES": 1}, 1),
    ("PushValid", "a node with no news yet gossips its empty value 0, which nobody wrote",
     "on timer gossip when value > 0 and", "on timer gossip when", {"WRITES": 1}, 1),
    ("NeverTwice", "pushes go to any peer, also those that already have the news",
     "{p in Node where p != self and p not in sent}", "{p in Node where p != self}",
     {"WRITES": 1, "LOSSES": 0}, 3),
]


@pytest.mark.parametrize(("prop", "bug", "find", "replace", "consts", "length"), BUGS, ids=[b[0] for b in BUGS])
def test_invariant_catches_its_bug(prop: str, bug: str, find: str, replace: str, consts: dict, length: int) -> None:
    source = SPEC.read_text()
    assert source.count(find) == 1, f"the mutation site of {bug!r} moved"
    cs = compile_checked(typecheck(parse(source.replace(find, replace), f"{SPEC} [{prop}]"), consts))
    v = check(cs).violation
    assert v is not None, bug
    assert (v.kind, v.name, len(v.trace)) == ("invariant", prop, length)


def test_correct_gossip_survives_the_bugs_constants() -> None:
    for _, _, _, _, consts, _ in BUGS:
        r = check(load(str(SPEC), consts))
        assert r.complete and r.violation is None
