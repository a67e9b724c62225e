"""The checker's numbers pinned: what a refactoring of the core must leave exactly as it is.

For every bundled spec (at constants sized for the suite), every catalogued ZAB mutant and a
fixed sample of generated specs: distinct states and transitions with and without symmetry,
the diameter, the violated property and the steps of its shortest trace, and which
`reachable` goals were reached in how many steps. The numbers live in
tests/golden/pinned.json; after an intended change of semantics (never of structure alone),
regenerate them with ``PNYX_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_pinned_numbers.py``
and explain the diff in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, TESTS
from gen_specs import sample_specs

from pnyx.checker import bfs
from pnyx.checker.mutants import compile_mutant, load_mutants
from pnyx.model.compiler import CompiledSpec, compile_checked
from pnyx.model.parser import parse, parse_file
from pnyx.model.typecheck import check

GOLDEN = TESTS / "golden" / "pinned.json"

# (spec, constants): every bundled spec, sized so that all of them take seconds
BUNDLED: list[tuple[str, dict[str, object]]] = [
    ("spec/gossip.pnyx", {}),
    ("spec/gossip.pnyx", {"ANTI_ENTROPY": True, "N": 2}),
    ("spec/zab_broadcast.pnyx", {}),
    ("spec/examples/two_phase_commit.pnyx", {}),
    ("spec/zab.pnyx", {"TXNS": 1, "CRASHES": 0}),
    ("spec/fle.pnyx", {"MAX_EPOCH": 0}),
    ("spec/members.pnyx", {"MAX_INC": 0}),
    ("tests/golden/tla/relay.pnyx", {"LOG": 1, "MAXV": 1}),
    ("tests/golden/tla/flood.pnyx", {}),
]
# mutants at their catalogued constants, with symmetry only (their plain counts are TLC's
# business in tests/test_tla.py); MUTANT_CONSTANTS may shrink one that grows too large
MUTANT_CONSTANTS: dict[str, dict[str, object]] = {
    # 432,132 states at its constants since the leader logs in a step of its own: past the cap
    "late_rebuilt_settled": {"CAP": 1},  # 361,921 states, NoCommittedTxnLost in 30 steps
}
GENERATED = 12


def _numbers(cs_of: Any, symmetric: bool, plain: bool = True) -> dict[str, Any]:
    """One row: counts without symmetry and with it (where the spec allows it), verdict, trace lengths."""
    out: dict[str, Any] = {}
    for sym in [False] * plain + [True] * symmetric:
        r = bfs.check(cs_of(), bfs.Options(symmetry=sym, max_states=400_000))
        tag = "sym" if sym else "plain"
        out[tag] = {
            "distinct": r.stats.distinct,
            "transitions": r.stats.transitions,
            "diameter": r.stats.depth,
            "complete": r.complete,
            "violated": None if r.violation is None else [r.violation.kind, r.violation.name,
                                                          len(r.violation.trace.events)],
            "reached": {k: (None if t is None else len(t.events)) for k, t in sorted(r.reached.items())},
        }
    return out


def _compiled_file(path: str, constants: dict[str, object]) -> CompiledSpec:
    return compile_checked(check(parse_file(ROOT / path), constants))


def _rows() -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for path, constants in BUNDLED:
        cs = _compiled_file(path, constants)
        key = f"{path} {json.dumps(constants, sort_keys=True)}"
        rows[key] = _numbers(lambda p=path, c=constants: _compiled_file(p, c), cs.symmetric)
    zab = ROOT / "spec" / "zab.pnyx"
    for m in load_mutants(ROOT / "spec" / "zab_mutants"):
        over = MUTANT_CONSTANTS.get(m.name)
        rows[f"mutant {m.name}"] = _numbers(lambda m=m, o=over: compile_mutant(zab, m, o), True, plain=False)
    for k, src in enumerate(sample_specs(GENERATED, key=lambda s: s)):
        rows[f"generated {k}"] = _numbers(lambda s=src: compile_checked(check(parse(s, "gen.pnyx"), {})), True)
    return rows


@pytest.mark.slow
def test_numbers_are_pinned() -> None:
    rows = _rows()
    if os.environ.get("PNYX_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(rows) == sorted(pinned), "the list of pinned models changed: regenerate deliberately"
    differ = {k: (pinned[k], rows[k]) for k in rows if rows[k] != pinned[k]}
    assert not differ, f"numbers changed: {json.dumps(differ, indent=1)[:4000]}"


def test_a_changed_semantics_changes_the_numbers() -> None:
    """The pin can fail: the broadcast spec with its commit quorum weakened gives other numbers than the pinned ones."""
    path = Path("spec/zab_broadcast.pnyx")
    src = (ROOT / path).read_text()
    quorum = "2 * len({p in Node where acked[p] >= k}) > N"
    assert src.count(quorum) == 1
    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))[f"{path.as_posix()} {{}}"]
    weak = src.replace(quorum, "2 * len({p in Node where acked[p] >= k}) >= N")
    broken = _numbers(lambda: compile_checked(check(parse(weak, "b.pnyx"), {})), True)
    assert broken != pinned
