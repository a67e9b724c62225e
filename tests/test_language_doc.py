"""The worked example of docs/language.md is true: its spec, run through the CLI, prints
the counterexample the page shows."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, run_cli

DOC = (ROOT / "docs" / "language.md").read_text()


def _blocks(after: str) -> list[str]:
    section = DOC[DOC.index(after):]
    return re.findall(r"```\n(.*?)```", section, flags=re.S)


def _norm(text: str) -> list[str]:
    # the console wraps long lines when it is not a terminal: compare words, line by line of the doc
    return text.split()


def test_worked_example_output_matches_the_doc(tmp_path: Path) -> None:
    spec, output = _blocks("## A worked example")[:2]
    (tmp_path / "token.pnyx").write_text(spec)
    proc = run_cli("check", "token.pnyx", "--quiet", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    shown = output.splitlines()
    summary = shown[-1]
    expected_words = _norm("\n".join(shown[:-1]))
    got_words = _norm(proc.stdout)
    assert got_words[: len(expected_words)] == expected_words
    # the last line has timings: compare its counts only
    counts = re.match(r"([\d,]+ distinct states, [\d,]+ transitions, diameter \d+)", summary)
    assert counts is not None and counts.group(1) in " ".join(got_words)


def test_worked_example_holds_without_duplication(tmp_path: Path) -> None:
    spec = _blocks("## A worked example")[0]
    (tmp_path / "token.pnyx").write_text(spec)
    proc = run_cli("check", "token.pnyx", "-D", "DUPS=0", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "Holds: invariant Mutex in every reachable state" in proc.stdout


def test_every_grammar_rule_is_documented() -> None:
    grammar = (ROOT / "model" / "grammar.lark").read_text()
    keywords = set(re.findall(r'"([a-z]+)"', grammar))
    missing = sorted(k for k in keywords if f"`{k}" not in DOC and f"{k} " not in DOC)
    assert not missing, f"keywords missing from docs/language.md: {missing}"
