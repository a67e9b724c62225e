"""`pnyx diff` (checker/diff.py): what a protocol change changed, on the state both versions share."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from specs import compiled

from pnyx.checker.diff import DiffError, Shared, contrast, diff, diff_json
from pnyx.checker.model import SpecModel
from pnyx.checker.mutants import Mutant, compile_mutant, load_mutants
from pnyx.checker.trace import replay

GOSSIP = ROOT / "spec" / "gossip.pnyx"


def _gossip_mutant(name: str) -> Mutant:
    return next(m for m in load_mutants(ROOT / "spec" / "gossip_mutants") if m.name == name)


def _pair(name: str):  # the spec and its mutant, at the mutant's constants
    m = _gossip_mutant(name)
    from pnyx.cli import load_spec

    old = load_spec(str(GOSSIP), [f"{k}={str(x).lower()}" for k, x in m.constants.items()])
    return m, old, compile_mutant(GOSSIP, m)


def _defines(m: Mutant) -> list[str]:
    return [a for k, x in m.constants.items() for a in ("-D", f"{k}={str(x).lower()}")]


def test_identical_specs_differ_in_nothing() -> None:
    m, old, _ = _pair("push_back_to_sender")
    again = compile_mutant(GOSSIP, Mutant("none", "", "", 0, m.constants, ()))
    d = diff(old, again)
    assert d.identical and not d.only_new and not d.only_old and not d.new_failures
    assert all(v.old == v.new for v in d.verdicts) and d.compared_depth is None


def test_a_mutant_reaches_new_states_with_traces_that_replay_in_new() -> None:
    m, old, new = _pair("push_back_to_sender")  # a node may push news back to the peer it came from
    d = diff(old, new)
    assert d.only_new, "the mutant reaches states the spec does not"
    model = SpecModel(new)
    project = d.shared.projector(model)
    for proj, sid in d.only_new[:3]:
        trace = replay(model, d.new.path(sid))
        assert project(trace.states[-1]) == proj  # the trace reaches the reported state in NEW
        assert proj not in d.old.first
        assert len(trace) == d.new.depth[sid]
    assert [v.name for v in d.verdicts if v.new_failure] == [m.property]
    first = contrast(d.shared, replay(model, d.new.path(d.only_new[0][1])), d.old, "OLD")
    assert first.blocked is None and first.steps == 3  # OLD takes the same 3 steps ...
    assert first.differences == ["n2.sent = {} (OLD: {n1})"]  # ... and records the giver as a peer it sent to
    doc = diff_json(d)
    assert doc["only_in_new"]["count"] == len(d.only_new) and len(doc["only_in_new"]["examples"]) == 3
    assert doc["new_failures"] == [m.property]


def test_a_fix_is_not_a_new_failure() -> None:
    _, old, new = _pair("push_back_to_sender")
    d = diff(new, old)  # from the broken version to the spec
    fixed = [v for v in d.verdicts if v.changed]
    assert fixed and all(v.old == "violated" and v.new == "holds" for v in fixed)
    assert d.new_failures == [] and d.only_old


def test_a_property_only_new_declares_and_violates_is_a_new_failure() -> None:
    base = """spec counter
nodes 2
network fifo
state { volatile x: 0..3 = 0 }
on timer inc when x < 3 { x = x + 1 }
"""
    old = compiled(base)
    new = compiled(base + "invariant Small: forall n in Node: n.x < 3\n")
    d = diff(old, new)
    v = next(v for v in d.verdicts if v.name == "Small")
    assert (v.old, v.new) == (None, "violated") and d.new_failures == ["Small"] and not d.only_new


def test_bounded_searches_compare_only_the_depth_both_completed() -> None:
    _, old, new = _pair("push_back_to_sender")
    early = diff(old, new, max_depth=2)
    assert early.compared_depth == 2 and not early.only_new and not early.new_failures  # alike for 2 steps
    d = diff(old, new, max_depth=3)
    assert d.compared_depth == 3 and not d.new.complete
    assert d.only_new and all(d.new.depth[sid] <= 3 for _, sid in d.only_new)
    assert not d.new_failures  # NeverBack breaks at step 4


def test_versions_with_nothing_in_common_are_refused() -> None:
    a = compiled("spec a\nnodes 2\nnetwork fifo\nstate { volatile x: bool = false }\n")
    b = compiled("spec b\nnodes 2\nnetwork fifo\nstate { volatile y: bool = false }\n")
    with pytest.raises(DiffError, match="share no variable"):
        Shared.of(a, b)
    c = compiled("spec c\nnodes 3\nnetwork fifo\nstate { volatile x: bool = false }\n")
    with pytest.raises(DiffError, match="2 and 3 nodes"):
        Shared.of(a, c)


def test_integer_ranges_may_differ() -> None:
    a = compiled("spec a\nnodes 2\nnetwork fifo\nstate { volatile x: 0..2 = 0 }\n")
    b = compiled("spec b\nnodes 2\nnetwork fifo\nstate { volatile x: 0..5 = 0 }\n")
    assert Shared.of(a, b).variables == ("x",)


# ---- the command ------------------------------------------------------------------------------
def _mutant_file(tmp_path: Path, m: Mutant) -> Path:
    path = tmp_path / f"{m.name}.pnyx"
    path.write_text(m.apply(GOSSIP.read_text()))
    return path


def test_cli_identical_exits_0() -> None:
    m = _gossip_mutant("push_back_to_sender")
    p = run_cli("diff", str(GOSSIP), str(GOSSIP), *_defines(m))
    assert p.returncode == 0, p.stderr
    assert "States only NEW reaches: 0" in p.stdout and "No difference" in p.stdout


def test_cli_new_violation_exits_1_with_its_trace(tmp_path: Path) -> None:
    m = _gossip_mutant("push_back_to_sender")
    new = _mutant_file(tmp_path, m)
    p = run_cli("diff", str(GOSSIP), str(new), *_defines(m))
    assert p.returncode == 1, p.stderr
    assert f"New violation: invariant {m.property} in NEW" in p.stdout and "<- new failure" in p.stdout
    j = run_cli("diff", str(GOSSIP), str(new), *_defines(m), "--json")
    assert j.returncode == 1
    doc = json.loads(j.stdout)
    prop = next(x for x in doc["properties"] if x["name"] == m.property)
    assert prop["old"] == "holds" and prop["new"] == "violated" and prop["new_trace"]["states"]
    back = run_cli("diff", str(new), str(GOSSIP), *_defines(m))  # the fix: no new failure
    assert back.returncode == 0, back.stdout


@pytest.mark.parametrize("args, message", [
    (["MISSING"], "no such file"),
    (["ZAB"], "share no variable"),
    (["SAME", "-D", "NOPE=1"], "neither version declares: NOPE"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    second = {"MISSING": str(ROOT / "spec" / "missing.pnyx"), "ZAB": str(ROOT / "spec" / "zab.pnyx"),
              "SAME": str(GOSSIP)}[args[0]]
    p = run_cli("diff", str(GOSSIP), second, *args[1:])
    assert p.returncode == 2
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_diff_mutants_script_runs() -> None:
    from test_benchmarks import SMOKE_ARGS, _run

    proc = _run("diff_mutants.py", *SMOKE_ARGS["diff_mutants.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = proc.stdout.splitlines()[1].split()
    assert row[0] == "push_back_to_sender" and row[-1] == "NeverBack", row
    assert row[1:6] == ["112", "742", "all", "729", "99"], row  # both searches complete: every state compared


def _workflow_script() -> str:
    """The shell script of docs/diff-workflow.yml's comparison step (the `run: |` block after its name)."""
    lines = (ROOT / "docs" / "diff-workflow.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "Compare every changed spec" in line)
    run = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |")
    indent = len(lines[run + 1]) - len(lines[run + 1].lstrip())
    block = []
    for line in lines[run + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        block.append(line[indent:])
    return "\n".join(block) + "\n"


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("git") is None, reason="needs git and jq")
def test_the_workflow_example_fails_on_a_new_violation_only(tmp_path: Path) -> None:
    """The example's script, run as GitHub runs it (bash -eo pipefail) in a repository where a pull
    request changes a spec: a change that breaks a property fails the step; an unrelated change does not."""
    import os
    import subprocess
    import sys

    m = _gossip_mutant("push_back_to_sender")
    base_src = GOSSIP.read_text()
    for c, x in m.constants.items():  # the repository's spec keeps the mutant's constants, so that it stays small
        base_src = re.sub(rf"^const {c} = \S+", f"const {c} = {str(x).lower()}", base_src, count=1, flags=re.M)
    repo = tmp_path / "repo"
    (repo / "spec").mkdir(parents=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()

    (repo / "spec" / "gossip.pnyx").write_text(base_src)
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    script = _workflow_script()

    def pull_request(src: str) -> subprocess.CompletedProcess[str]:
        (repo / "spec" / "gossip.pnyx").write_text(src)
        git("commit", "-qam", "change")
        return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repo,
                              env=dict(env, BASE=base), capture_output=True, text=True, timeout=300)

    harmless = pull_request(base_src + "\n// a comment\n")
    assert harmless.returncode == 0, harmless.stdout + harmless.stderr
    assert harmless.stdout.rstrip().endswith("newly failing:"), harmless.stdout
    broken = pull_request(m.apply(base_src))
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"newly failing: {m.property}" in broken.stdout
    report = json.loads((repo / "review" / "gossip.diff.json").read_text())
    assert report["new_failures"] == [m.property]
    page = (repo / "review" / "gossip.trace.html").read_text()  # the shrunk counterexample, to click through
    assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype html>"), page[:80]
    assert m.property in page
