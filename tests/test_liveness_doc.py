"""The worked example of docs/liveness.md is true: its spec, run through the CLI, prints the
lasso the page shows, and strong fairness makes the property hold as the page says."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, run_cli

DOC = (ROOT / "docs" / "liveness.md").read_text()


def _blocks(after: str) -> list[str]:
    section = DOC[DOC.index(after):]
    return re.findall(r"```\n(.*?)```", section, flags=re.S)


def test_worked_example_prints_the_lasso_of_the_doc(tmp_path: Path) -> None:
    spec, output = _blocks("## A worked example")[:2]
    (tmp_path / "lock.pnyx").write_text(spec)
    proc = run_cli("check", "lock.pnyx", "--liveness", "--quiet", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    live = proc.stdout[proc.stdout.index("Liveness under fairness"):]
    # the console wraps long lines when it is not a terminal: compare words
    assert live.split()[: len(output.split())] == output.split()


def test_worked_example_holds_under_strong_fairness(tmp_path: Path) -> None:
    spec = _blocks("## A worked example")[0]
    assert "fair timer serve" in spec
    (tmp_path / "lock.pnyx").write_text(spec.replace("fair timer serve", "strong fair timer serve"))
    proc = run_cli("check", "lock.pnyx", "--liveness", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "Holds: eventually Served: every fair behaviour reaches it" in proc.stdout
    assert "Holds: eventually Served: every fair behaviour reaches it" in DOC
