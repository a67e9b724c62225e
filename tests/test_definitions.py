"""`def`: pure definitions with parameters, one IR node (`Apply`) that each back end handles
with one method; the doc's example runs, a broken definition is caught, bad ones are refused
at their location, and the compiled checker agrees with the independent reference."""

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
SPEC, OUTPUT = re.findall(r"```\n(.*?)```", DOC[DOC.index("## Definitions"):], flags=re.S)[:2]


def test_the_docs_example_prints_what_the_doc_shows(tmp_path: Path) -> None:
    (tmp_path / "defs.pnyx").write_text(SPEC)
    proc = run_cli("check", "defs.pnyx", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in OUTPUT.strip().splitlines():
        assert line.split(",")[0] in proc.stdout


def test_a_wrong_definition_is_caught() -> None:
    # `newer` that also accepts equal zxids hides nothing; a write that does not advance the
    # counter breaks Increasing at the second write, a two-step trace
    broken = SPEC.replace("(z[0], z[1] + 1)", "(z[0], z[1])")
    result = explore(broken)
    assert result.violation is not None
    assert result.violation.name == "Increasing" and len(result.violation.trace.events) == 2


def test_the_reference_agrees_on_every_state() -> None:
    ct = checked(SPEC)
    expected = NaiveExplorer(ct).explore()
    assert explore(SPEC).stats.distinct == len(expected) == 13


def test_the_ir_keeps_a_definition_whole() -> None:
    core = checked(SPEC).core
    assert [d.name for d in core.definitions] == ["lastZxid", "newer"]
    newer = core.definitions[1]
    assert [p.name for p in newer.params] == ["a", "b"]
    args = [x for x in ir.walk(newer.body) if isinstance(x, ir.Local)]
    assert args and all(x.binding == "argument" for x in args)
    applied = [x for h in core.handlers for s in h.body for x in ir.walk(s) if isinstance(x, ir.Apply)]
    assert [(a.name, a.index) for a in applied] == [("lastZxid", 0)]


BAD = [
    ("def f(a: int): int = g(a)\ndef g(a: int): int = a", "3:22", "not g, defined at line 4"),
    ("def f(a: int): int = f(a)", "3:22", "not itself"),
    ("def f(a: int): bool = a + 1", "3:23", "the body of f must be bool, got int"),
    ("def f(a: int): int = x", "3:22", "'x' is a state variable: a definition reads only its parameters"),
    ("def f(a: int): int = self", "3:22", "`self` is only defined inside handlers"),
    ("def f(a: int, a: int): int = a", "3:1", "names each parameter once"),
    ("def len(a: int): int = a", "3:1", "has the name of a built-in function"),
    ("def x(a: int): int = a", "4:", "has the name of the definition 'x'"),
    ("def f(a: int): int = a\nconst K = 1\ndef g(b: bool): int = f(b)", "5:25", "argument a of f must be int"),
    ("def f(a: int): int = a\nconst K = 1\ndef g(b: int): int = f(b, b)", "5:22", "f takes 1 argument, 2 given"),
    ("def f(a: int): int = a\nconst K = 1\ndef g(b: int): int = f(a: b)", "5:22", "positional arguments"),
]


@pytest.mark.parametrize(("decl", "where", "message"), BAD)
def test_a_bad_definition_is_refused_where_it_is_written(decl: str, where: str, message: str) -> None:
    src = f"spec S\nnodes 2\n{decl}\nstate {{ volatile x: int = 0 }}\n"
    with pytest.raises(SpecError) as info:
        checked(src)
    text = str(info.value)
    assert message in text and f":{where}" in text, text
