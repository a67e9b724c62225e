"""Shrinking counterexamples (checker/shrink.py): simpler traces that still violate the property."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from specs import compiled, explore

from pnyx.checker.bfs import Violation
from pnyx.checker.model import SpecModel
from pnyx.checker.mutants import compile_mutant, load_mutants
from pnyx.checker.shrink import Costs, shrink
from pnyx.checker.simulate import SimOptions, simulate
from pnyx.checker.trace import replay
from pnyx.model.compiler import CompiledSpec
from pnyx.model.system import Crash, Recover

# Breadth-first order takes n1's timer, then n1's crash and recovery (the recover handler sets
# `done` once `a` is set): a 3-step trace with 2 faults. n2 reaches `done` in 3 steps with none.
FAULTY_FIRST = """spec faulty_first
const GO = 2
nodes first: 1, second: 1
network fifo
budget { crashes = 1 }
state {
  persistent a: bool = false
  volatile s: 0..3 = 0
  volatile done: bool = false
}
on timer t1 when self in first and not a { a = true }
on timer go when self in second and s < GO { s = s + 1 }
on timer fin when self in second and s == GO { done = true }
on recover { if a { done = true } }
invariant NotDone: forall n in Node: not n.done
"""


def _violates_only_at_end(v: Violation) -> bool:
    """The trace replays (its successor indices, from the initial state) to a state that violates
    the property, and no earlier state does."""
    model = SpecModel(v.trace.model.cs)
    prop = next(p for p in model.properties() if p.name == v.name)
    again = replay(model, v.trace.steps)
    assert again.events == v.trace.events
    return not prop.holds(again.states[-1]) and all(prop.holds(s) for s in again.states[:-1])


def _zab_mutant(name: str) -> CompiledSpec:
    m = next(m for m in load_mutants(ROOT / "spec" / "zab_mutants") if m.name == name)
    return compile_mutant(ROOT / "spec" / "zab.pnyx", m)


def test_the_plain_shortest_trace_crashes_and_the_shrunk_one_does_not() -> None:
    r = explore(FAULTY_FIRST)
    v = r.violation
    assert v is not None and len(v.trace) == 3
    assert any(isinstance(e, Crash) for e in v.trace.events) and any(isinstance(e, Recover) for e in v.trace.events)
    s = shrink(v.trace.model.cs, v)
    assert s.before.faults == 2 and s.after.faults == 0
    assert s.after.steps == s.before.steps == 3 and s.complete
    assert [e.at for e in s.violation.trace.events] == [1, 1, 1]
    assert s.violation.bindings == {"n": 1} and s.violation.name == "NotDone"
    assert _violates_only_at_end(s.violation)


def test_longer_trades_steps_for_fewer_faults() -> None:
    cs = compiled(FAULTY_FIRST, GO=3)  # now the fault-free trace takes 4 steps
    v = explore(FAULTY_FIRST, GO=3).violation
    assert v is not None and len(v.trace) == 3
    short = shrink(cs, v, "shortest")
    assert short.after.faults == 2 and short.after.steps == 3  # no 3-step trace without faults
    longer = shrink(cs, v, "longer")
    assert (longer.after.faults, longer.after.steps) == (0, 4)
    assert _violates_only_at_end(longer.violation)


def test_fewer_context_switches_on_a_mutant() -> None:
    cs = _zab_mutant("log_zxid_before_increment")
    from pnyx.checker.bfs import check

    v = check(cs).violation
    assert v is not None
    s = shrink(cs, v)
    assert s.after.steps == s.before.steps and s.after.faults == s.before.faults
    assert s.after.switches < s.before.switches
    assert _violates_only_at_end(s.violation)


def test_a_random_walk_gets_strictly_shorter_on_a_mutant() -> None:
    cs = _zab_mutant("log_zxid_before_increment")
    r = simulate(cs, SimOptions(runs=200, depth=60, seed=1))
    v = r.violation
    assert v is not None and len(v.trace) > 12
    s = shrink(cs, v, "walk")
    assert s.local is not None and s.local.steps < s.before.steps  # the deletions alone already help
    assert s.after.steps == 12 and s.complete  # the search up to that length finds the shortest (the mutant's length)
    assert _violates_only_at_end(s.violation)


def test_the_walk_passes_alone_keep_the_violation() -> None:
    cs = _zab_mutant("log_zxid_before_increment")
    v = simulate(cs, SimOptions(runs=200, depth=60, seed=1)).violation
    assert v is not None
    s = shrink(cs, v, "walk", max_states=1)  # the search gives up at once: the local passes' result stands
    assert not s.complete and s.local is not None
    assert s.after == s.local and s.after.steps < s.before.steps
    assert _violates_only_at_end(s.violation)


def test_a_budget_too_small_keeps_the_original() -> None:
    v = explore(FAULTY_FIRST).violation
    assert v is not None
    s = shrink(v.trace.model.cs, v, max_states=2)
    assert not s.complete and s.after == s.before
    assert s.violation.trace.events == v.trace.events


def test_a_failing_handler_is_not_shrunk(tmp_path: Path) -> None:
    src = FAULTY_FIRST.replace("on timer fin when self in second and s == GO { done = true }",
                               "on timer fin when self in second and s == GO { s = s + 2 }").replace(
        "on recover { if a { done = true } }", "")
    v = explore(src).violation
    assert v is not None and v.kind == "error"
    s = shrink(v.trace.model.cs, v)
    assert s.violation is v and s.after == s.before
    path = tmp_path / "fails.pnyx"
    path.write_text(src)
    p = run_cli("check", str(path), "--shrink", "--json")
    assert p.returncode == 1 and "kept as found" in p.stderr and "shrink" not in json.loads(p.stdout)


def test_costs_count_faults_switches_and_nodes() -> None:
    cs = compiled(FAULTY_FIRST)
    v = explore(FAULTY_FIRST).violation
    assert v is not None
    shape = Costs(cs).shape(v.trace.events)
    assert (shape.steps, shape.faults, shape.switches, shape.nodes) == (3, 2, 0, 1)


def test_cli_check_shrink(tmp_path: Path) -> None:
    spec = tmp_path / "faulty.pnyx"
    spec.write_text(FAULTY_FIRST)
    p = run_cli("check", str(spec), "--shrink", "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["shrink"]["before"]["faults"] == 2 and doc["shrink"]["after"]["faults"] == 0
    assert doc["violation"]["length"] == 3 and doc["violation"]["bindings"] == {"n": "n2"}
    text = run_cli("check", str(spec), "--shrink", "longer")
    assert text.returncode == 1 and "shrunk" in text.stdout and "Shrunk (longer): 3 steps, 2 faults" in text.stdout
    bad = run_cli("check", str(spec), "--shrink", "smallest")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_simulate_shrink(tmp_path: Path) -> None:
    mutant = ROOT / "spec" / "gossip_mutants" / "answer_invents_news.toml"
    m = next(x for x in load_mutants(mutant.parent) if x.name == "answer_invents_news")
    consts = [a for k, x in m.constants.items() for a in ("-D", f"{k}={str(x).lower()}")]
    spec = Path(m.path).parent.parent / "gossip.pnyx"
    src = m.apply(spec.read_text())
    path = tmp_path / "mutant.pnyx"  # the mutant as a file for the command line
    path.write_text(src)
    p = run_cli("simulate", str(path), *consts, "--runs", "200", "--depth", "40", "--seed", "1", "--shrink", "--json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["shrink"]["mode"] == "walk"
    assert doc["shrink"]["after"]["steps"] < doc["shrink"]["before"]["steps"]
    assert doc["violation"]["length"] == doc["shrink"]["after"]["steps"]


@pytest.mark.parametrize("mode", ["shortest", "longer"])
def test_shrinking_never_makes_it_worse_on_the_gossip_mutants(mode: str) -> None:
    from pnyx.checker.bfs import check

    for m in load_mutants(ROOT / "spec" / "gossip_mutants"):
        cs = compile_mutant(ROOT / "spec" / "gossip.pnyx", m)
        v = check(cs).violation
        assert v is not None
        s = shrink(cs, v, mode)
        assert s.after.key(mode) <= s.before.key(mode), m.name
        assert s.after.steps == m.length or mode == "longer", m.name
        assert _violates_only_at_end(s.violation), m.name


def test_bench_shrink_runs() -> None:
    from test_benchmarks import SMOKE_ARGS, _run

    proc = _run("bench_shrink.py", *SMOKE_ARGS["bench_shrink.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == [f"gossip/{m.name}" for m in load_mutants(ROOT / "spec" / "gossip_mutants")]
    walk = next(r for r in rows if r[0] == "gossip/answer_invents_news")
    assert walk[6:9] == ["7/0/1", "→", "3/0/1"], walk  # the walk's 7 steps shrink to the mutant's 3
