"""The bundled two-phase commit example passes, agrees with the reference explorer, and broken
copies of it are caught with the shortest traces known by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from reference import NaiveExplorer
from specs import checked, explore

SPEC = ROOT / "spec" / "examples" / "two_phase_commit.pnyx"
SOURCE = SPEC.read_text()


def test_cli_passes_with_defaults() -> None:
    proc = run_cli("check", str(SPEC), "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    for name in ("SomeCommit", "SomeAbort", "AllCommitted"):
        assert f"Reached: {name}" in out
    assert "Holds: invariant Atomicity in every reachable state" in out
    assert "Holds: invariant CommitNeedsAllYes in every reachable state" in out


@pytest.mark.parametrize(("n", "crashes"), [(2, 0), (2, 1), (3, 1)])
def test_agrees_with_the_reference(n: int, crashes: int) -> None:
    r = explore(SOURCE, N=n, CRASHES=crashes)
    assert r.ok and r.complete
    # shortest commit: begin, then each participant votes and its vote arrives, then the decision
    assert len(r.reached["SomeCommit"]) == 1 + 2 * (n - 1)  # type: ignore[arg-type]
    assert len(r.reached["AllCommitted"]) == 1 + 2 * (n - 1) + (n - 1)  # type: ignore[arg-type]
    assert len(r.reached["SomeAbort"]) == 1  # a participant gives up before any Prepare arrives
    assert r.stats.distinct == len(NaiveExplorer(checked(SOURCE, N=n, CRASHES=crashes)).explore())


def test_commit_on_the_first_yes_is_caught() -> None:
    broken = SOURCE.replace("if len(yes_votes) == N - 1 {", "if len(yes_votes) >= 1 {")
    assert broken != SOURCE
    r = explore(broken)
    v = r.violation
    assert v is not None and v.name == "CommitNeedsAllYes"
    # begin; n2 votes yes; n1 counts it and commits while n3 has not voted
    assert len(v.trace) == 3
    assert v.bindings == {"n": 0}
    # without that invariant, atomicity breaks one step later: n3 gives up (aborts) as well
    r = explore(broken.replace("invariant CommitNeedsAllYes", "reachable CommitNeedsAllYes"))
    assert r.violation is not None and r.violation.name == "Atomicity" and len(r.violation.trace) == 4


def test_cli_reports_the_broken_copy(tmp_path: Path) -> None:
    f = tmp_path / "2pc_broken.pnyx"
    f.write_text(SOURCE.replace("    if not yes { outcome = Aborted }", "    if not yes { outcome = Committed }"))
    proc = run_cli("check", str(f), "--quiet")
    assert proc.returncode == 1
    out = " ".join(proc.stdout.split())
    # begin; n2 votes no yet records a commit
    assert "Invariant violated: invariant CommitNeedsAllYes is violated (2 steps, shortest)" in out
    assert "Step 2: n2 receives Prepare from n1 choosing yes = false" in out
    assert "n2.outcome: Pending -> Committed" in out
