"""`proc` (statement blocks run by name, inlined by the core IR with their locals renamed apart)
and `reset` (variables back to their initial values): the doc's example runs, broken uses are
caught or refused where they are written, and the compiled checker agrees state for state with
the independent reference interpreter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from reference import NaiveExplorer
from specs import checked, explore

from pnyx.model import ir
from pnyx.model.errors import SpecError

DOC = (ROOT / "docs" / "language.md").read_text()
SPEC, OUTPUT = re.findall(r"```\n(.*?)```", DOC[DOC.index("## Procedures"):], flags=re.S)[:2]


def test_the_docs_example_prints_what_the_doc_shows(tmp_path: Path) -> None:
    (tmp_path / "procs.pnyx").write_text(SPEC)
    proc = run_cli("check", "procs.pnyx", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in OUTPUT.strip().splitlines():
        assert line in proc.stdout


@pytest.mark.parametrize("symmetry", [False, True])
def test_the_reference_agrees_on_every_state(symmetry: bool) -> None:
    ct = checked(SPEC)
    ref = NaiveExplorer(ct)
    expected = ref.explore()
    got = explore(SPEC, symmetry=symmetry).stats.distinct
    assert got == (ref.orbits(expected) if symmetry else len(expected))


def test_a_call_is_the_body_in_its_place() -> None:
    inlined = SPEC.replace("  remember(count)\n", "  seen = seen | {count}\n  if notes < MAX { notes = notes + 1 }\n")
    assert explore(inlined).stats.distinct == explore(SPEC).stats.distinct


def test_reset_is_the_initial_value_and_a_missing_reset_is_caught() -> None:
    # without the reset, count never returns to 0: Wrapped becomes unreachable
    assert explore(SPEC).reached.get("Wrapped") is not None
    assert explore(SPEC.replace("if k == MAX { reset count, seen }", "")).reached.get("Wrapped") is None
    # `reset` of a variable without `= init` gives its type's default; with `= self`-style inits, that value
    src = SPEC.replace("volatile count: 0..MAX = 0", "volatile count: 0..MAX")
    assert explore(src).stats.distinct == explore(SPEC).stats.distinct


def test_a_broken_procedure_is_caught() -> None:
    # remembering notes without counting them breaks Bounded
    broken = SPEC.replace("if notes < MAX { notes = notes + 1 }", "")
    result = explore(broken)
    assert result.violation is not None and result.violation.name == "Bounded"


def test_locals_of_an_inlined_body_do_not_meet_the_callers() -> None:
    src = SPEC.replace("proc remember(k: 0..MAX) {", "proc remember(k: 0..MAX) {\n  let j = k").replace(
        "  count = count + 1\n", "  let j = 0\n  count = count + 1\n").replace(
        "  send Note(count)", "  j = j + 1\n  send Note(count)")
    core = checked(src).core
    go = next(h for h in core.handlers if isinstance(h, ir.OnRequest))
    lets = [s.name for s in go.body if isinstance(s, ir.Let)]
    assert "j" in lets and any(n.startswith("j__remember") for n in lets) and any(n.startswith("k__remember") for n in lets)
    assert explore(src).stats.distinct == explore(SPEC).stats.distinct


BAD = [
    ("proc p() { q() }\nproc q() { x = 1 }", "3:12", "not q, declared at line 4"),
    ("proc p() { p() }", "3:12", "not itself"),
    ("proc p() { choose k in 1..2 }", "3:12", "a procedure cannot `choose`"),
    ("proc p() { reply 1 }", "3:12", "a procedure cannot `reply`"),
    ("proc p(a: int) { x = a }\non timer t { p(true) }", "4:16", "argument a of p must be int"),
    ("proc p(a: int) { x = a }\non timer t { p() }", "4:14", "p takes 1 argument, 0 given"),
    ("proc p() { x = 1 }\non timer t { r() }", "4:14", "unknown procedure 'r'"),
    ("on timer t { reset x, k }", "3:14", "reset names state variables; 'k' is not one"),
    ("on timer t { reset x, x }", "3:14", "reset names 'x' twice"),
    ("proc len() { x = 1 }", "3:1", "has the name of a built-in function"),
]


@pytest.mark.parametrize(("decl", "where", "message"), BAD)
def test_a_bad_procedure_or_reset_is_refused_where_it_is_written(decl: str, where: str, message: str) -> None:
    src = f"spec S\nnodes 2\n{decl}\nstate {{ volatile x: int = 0 }}\n"
    with pytest.raises(SpecError) as info:
        checked(src)
    text = str(info.value)
    assert message in text and f":{where}" in text, text
