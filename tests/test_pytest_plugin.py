"""The pytest plugin (pnyx/pytest_plugin.py): specs collected as tests, the marker, the fixtures,
fault schedules; and docs/pytest.md, whose example project is written out and run with pytest."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.impl.faults import Crash, Heal, Lose, Partition, Restart, Wait, fault_schedules, run_schedule
from pnyx.impl.sim import InvariantViolation, Simulation
from pnyx.model.compiler import load

pytest_plugins = "pytester"

DOC = (ROOT / "docs" / "pytest.md").read_text()
GOSSIP = ROOT / "spec" / "gossip.pnyx"

COUNTER = """spec counter
const N = 2
const MAX = 2
nodes N
symmetric
state { volatile count: 0..MAX = 0 }
on timer tick when count < MAX { count = count + 1 }
invariant Bounded: forall n in Node: n.count <= MAX
reachable AllDone: forall n in Node: n.count == MAX
"""
BROKEN = COUNTER.replace("n.count <= MAX", "n.count < MAX")
# eventually AllDone holds only if the tick timer is fair: without `fair`, a behaviour may stop at once
LIVE = COUNTER + "eventually Finished: forall n in Node: n.count == MAX\n"
FAIR = LIVE + "fair timer tick\n"


# ---- collection ----------------------------------------------------------------------
def test_the_plugin_is_registered_through_the_pytest11_entry_point(pytestconfig: pytest.Config) -> None:
    from importlib.metadata import entry_points

    assert [ep.value for ep in entry_points(group="pytest11") if ep.name == "pnyx"] == ["pnyx.pytest_plugin"], \
        "the pytest11 entry point is missing: an environment installed before it was added needs `pip install -e .`"
    assert pytestconfig.pluginmanager.has_plugin("pnyx")


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """pytest loads the plugin in every run of every project where pnyx is installed."""
    probe = ("import sys, pytest; before = set(sys.modules); import pnyx.pytest_plugin; "
             "print(sorted(m for m in ('lark', 'z3', 'rich', 'hypothesis', 'pnyx.model.compiler', 'pnyx.impl.sim') "
             "if m in sys.modules and m not in before))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_pnyx_files_are_collected_only_when_asked(pytester: pytest.Pytester) -> None:
    pytester.makefile(".pnyx", counter=COUNTER)
    assert pytester.runpytest().ret == pytest.ExitCode.NO_TESTS_COLLECTED
    pytester.runpytest("--pnyx-specs").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\npnyx_specs = true\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert pytester.runpytest("--pnyx-specs", "--collect-only", "-q").outlines[0] == "counter.pnyx::check"


def test_a_broken_spec_fails_with_the_trace_not_a_traceback(pytester: pytest.Pytester) -> None:
    pytester.makefile(".pnyx", broken=BROKEN, counter=COUNTER)
    r = pytester.runpytest("--pnyx-specs", "-rA")
    r.assert_outcomes(passed=1, failed=1)
    r.stdout.fnmatch_lines(["*_ pnyx check broken.pnyx _*", "*broken.pnyx: does not hold",
                            "Invariant violated: invariant Bounded is violated  (2 steps, shortest)",
                            "Step 1: n1 fires timer tick", "    n1.count: 0 -> 1",
                            "Step 2: n1 fires timer tick", "    n1.count: 1 -> 2",
                            "Violated: invariant Bounded (*broken.pnyx:8) with n = n1"])
    assert "Traceback" not in r.stdout.str() and "pytest_plugin.py" not in r.stdout.str()
    # the report is what `pnyx check` prints, but for the summary line's times and memory
    cli = run_cli("check", "broken.pnyx", cwd=pytester.path).stdout.splitlines()
    shown = r.stdout.lines
    start = shown.index(cli[0])
    assert shown[start:start + len(cli) - 1] == cli[:-1]
    assert shown[start + len(cli) - 1].startswith("3 distinct states, 4 transitions, diameter 1, ")


def test_spec_errors_and_bad_constants_are_messages(pytester: pytest.Pytester) -> None:
    pytester.makefile(".pnyx", syntax="spec bad\nconst N = \n", counter=COUNTER)
    r = pytester.runpytest("--pnyx-specs")
    r.assert_outcomes(failed=1, passed=1)
    r.stdout.fnmatch_lines(["*syntax.pnyx:2:*: unexpected end of file", "  const N =*"])
    assert "Traceback" not in r.stdout.str() and "During handling" not in r.stdout.str()
    r = pytester.runpytest("--pnyx-specs", "counter.pnyx", "--pnyx-define", "MAX=-1")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*empty range 0..-1*"])
    r = pytester.runpytest("--pnyx-specs", "counter.pnyx", "--pnyx-define", "MAX")
    r.stdout.fnmatch_lines(["*-D MAX: expected NAME=VALUE*"])
    assert r.ret != 0 and "Traceback" not in r.stdout.str()


def test_defines_and_the_state_bound_apply_to_collected_specs(pytester: pytest.Pytester) -> None:
    pytester.makefile(".pnyx", counter=COUNTER)
    pytester.makeini("[pytest]\npnyx_defines =\n    MAX=3\n")
    r = pytester.runpytest("--pnyx-specs", "--junitxml=out.xml")
    r.assert_outcomes(passed=1)
    # the JSON result is the test's property: 10 states = two counters in 0..3 up to renaming
    assert '"distinct_states": 10' in (pytester.path / "out.xml").read_text().replace("&quot;", '"')
    r = pytester.runpytest("--pnyx-specs", "--pnyx-max-states", "3", "-W", "always")
    r.assert_outcomes(passed=1, warnings=1)
    r.stdout.fnmatch_lines(["*PnyxBoundedWarning*no violation within the bound; the check is no proof*"])
    r = pytester.runpytest("--pnyx-specs", "--pnyx-max-states", "-3")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--pnyx-max-states*'-3': expected a positive integer*"])


def test_liveness_is_an_item_of_its_own_checked_on_request(pytester: pytest.Pytester) -> None:
    pytester.makefile(".pnyx", live=LIVE, fair=FAIR)
    r = pytester.runpytest("--pnyx-specs", "-rs")
    r.assert_outcomes(passed=2, skipped=2)
    r.stdout.fnmatch_lines(["*1 liveness property not checked (--pnyx-liveness checks them)*"])
    r = pytester.runpytest("--pnyx-specs", "--pnyx-liveness", "-v")
    r.assert_outcomes(passed=3, failed=1)
    r.stdout.fnmatch_lines(["fair.pnyx::liveness PASSED*", "live.pnyx::liveness FAILED*"])
    r.stdout.fnmatch_lines(["*_ pnyx check live.pnyx --liveness _*", "*Violated: eventually Finished*"])


# ---- the fixture and the marker -------------------------------------------------------------
def test_the_check_fixture(pytester: pytest.Pytester) -> None:
    pytester.makefile(".pnyx", counter=COUNTER, broken=BROKEN)
    pytester.makepyfile("""
        def test_holds(pnyx_check):
            c = pnyx_check("counter.pnyx", N=3, symmetry=False).assert_holds(complete=True)
            assert c.ok and c.stats.distinct == 27 and "Holds: invariant Bounded" in c.report()
            assert c.to_json()["verdict"] == "ok"

        def test_caught(pnyx_check):
            v = pnyx_check("broken.pnyx").assert_violates("Bounded")
            assert len(v.trace.events) == 2

        def test_holds_on_a_broken_spec_fails(pnyx_check):
            pnyx_check("broken.pnyx").assert_holds()

        def test_violates_on_a_sound_spec_fails(pnyx_check):
            pnyx_check("counter.pnyx").assert_violates()

        def test_a_bounded_check_is_not_complete(pnyx_check):
            pnyx_check("counter.pnyx", max_states=2).assert_holds(complete=True)

        def test_no_such_file(pnyx_check):
            pnyx_check("nowhere.pnyx")

        def test_an_unknown_constant(pnyx_check):
            pnyx_check("counter.pnyx", NODES=3)
    """)
    r = pytester.runpytest("-rA")
    r.assert_outcomes(passed=2, failed=5)
    r.stdout.fnmatch_lines(["*broken.pnyx: does not hold", "Invariant violated: invariant Bounded*"])
    r.stdout.fnmatch_lines(["*counter.pnyx: expected a violation, found none", "Holds: invariant Bounded*"])
    r.stdout.fnmatch_lines(["*counter.pnyx: the search was cut short by a bound", "*stopped by the --max-states 2 bound*"])
    r.stdout.fnmatch_lines(["*nowhere.pnyx: no such spec file (a relative path is read from the rootdir*"])
    r.stdout.fnmatch_lines(["*NODES*"])
    assert "Traceback" not in r.stdout.str()


def test_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makefile(".pnyx", counter=COUNTER, broken=BROKEN)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.pnyx_check("counter.pnyx", MAX=3)
        def test_sound(pnyx_result):
            assert pnyx_result.stats.distinct == 10

        @pytest.mark.pnyx_check("broken.pnyx")
        def test_broken():
            raise RuntimeError("the body of a test whose spec is broken ran")

        @pytest.mark.pnyx_check()
        def test_no_path():
            pass
    """)
    r = pytester.runpytest("-rA")
    r.assert_outcomes(passed=1, failed=2)
    r.stdout.fnmatch_lines(["*Violated: invariant Bounded*"])
    r.stdout.fnmatch_lines(["*@pytest.mark.pnyx_check takes one spec path*"])
    assert "the body of a test whose spec is broken ran" not in r.stdout.str()


# ---- fault schedules --------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5), crashes=st.integers(0, 3), losses=st.integers(0, 3), partitions=st.booleans(), data=st.data())
def test_fault_schedules_are_valid_for_the_nodes(n: int, crashes: int, losses: int, partitions: bool,
                                                 data: st.DataObject) -> None:
    steps = data.draw(fault_schedules(n, max_steps=25, max_crashes=crashes, max_losses=losses, partitions=partitions))
    up = set(range(n))
    assert len(steps) <= 25
    assert sum(isinstance(s, Crash) for s in steps) <= crashes and sum(isinstance(s, Lose) for s in steps) <= losses
    for s in steps:
        if isinstance(s, Crash):
            assert s.node in up
            up.discard(s.node)
        elif isinstance(s, Restart):
            assert s.node in range(n) and s.node not in up
            up.add(s.node)
        elif isinstance(s, Partition):
            assert partitions and 0 < len(s.side) < n and set(s.side) <= set(range(n))
        elif isinstance(s, Heal):
            assert partitions and n > 1
        else:
            assert isinstance(s, Wait | Lose)


def test_a_schedule_plays_on_the_simulation() -> None:
    sim = Simulation(load(str(GOSSIP), {"N": 3, "WRITES": 2}), seed=4)
    sim.request(0, "write", (1,))
    run_schedule(sim, [Partition((0,)), Wait(1.0), Crash(1), Lose(0), Restart(1), Heal(), Wait(2.0)])
    text = "\n".join(sim.log)
    for seen in ("partition n1 | n2,n3", "n2 crashes", "n2 recovers", "the partition heals"):
        assert seen in text
    assert repr([Crash(1), Partition((0, 2))]) == "[Crash(n2), Partition(n1,n3)]"


def test_fault_schedules_catch_a_broken_gossip(tmp_path: Path) -> None:
    """Pushing to any peer (not only to those not yet told) breaks NeverTwice or NeverBack: a schedule shows it."""
    spec = tmp_path / "broken.pnyx"
    spec.write_text(GOSSIP.read_text().replace("{p in Node where p != self and p not in sent}", "{p in Node where p != self}"))
    cs = load(str(spec), {"N": 3})

    @settings(max_examples=200, deadline=None, database=None)
    @given(schedule=fault_schedules(cs), seed=st.integers(0, 2**32 - 1))
    def play(schedule: list, seed: int) -> None:
        sim = Simulation(cs, seed=seed)
        sim.request(0, "write", (1,))
        run_schedule(sim, schedule)

    with pytest.raises(InvariantViolation, match="NeverTwice|NeverBack"):
        play()


# ---- docs/pytest.md --------------------------------------------------------------------------
def doc_blocks() -> dict[str, str]:
    """The named blocks of docs/pytest.md: ```LANG NAME ... ``` (files to write, and `text` outputs)."""
    return {name: body for _, name, body in re.findall(r"```(\w+) (\S+)\n(.*?)```", DOC, flags=re.S)}


CLUSTER_PROBE = '''
import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # raises if the body failed
    if item.name == "test_a_write_reaches_every_node_and_one_that_was_down":
        raise AssertionError("probe: the body passed, now the test fails")
    return result
'''


def running_nodes(base: Path) -> tuple[int, list[int]]:
    """(how many pid files the clusters under `base` wrote, the pids among them still running a node)."""
    from pnyx.impl.cluster import node_pid

    pid_files = sorted(base.glob("pnyx-cluster[0-9]*/c/n*/pid"))
    alive = [pid for f in pid_files if (pid := node_pid(f.parent.parent, int(f.parent.name[1:]) - 1)) is not None]
    return len(pid_files), alive


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_the_doc_examples_run_as_shown(tmp_path: Path) -> None:
    """The example project of docs/pytest.md, run with the commands it shows. A conftest.py added here
    fails the cluster test after its body passed: its nodes must still be stopped."""
    project = tmp_path / "project"
    blocks = doc_blocks()
    for name, body in blocks.items():
        if name not in ("output", "summary"):
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(body)
    (project / "spec").mkdir()
    shutil.copy(GOSSIP, project / "spec" / "gossip.pnyx")
    (project / "tests" / "conftest.py").write_text(CLUSTER_PROBE)

    specs = pytest_run(project, "--pnyx-specs", "models/", "-v")
    assert specs.returncode == 1, specs.stdout + specs.stderr
    lines = [x.strip() for x in specs.stdout.splitlines()]
    for want in blocks["output"].splitlines():
        assert any(x.startswith(want.strip()) for x in lines), f"{want!r} not in:\n{specs.stdout}"

    base = tmp_path / "base"
    try:
        run = pytest_run(project, "-v", f"--basetemp={base}")
        out = run.stdout
        failed_line, counts = blocks["summary"].strip().splitlines()
        assert failed_line in out, out + run.stderr
        assert "Violated: invariant Bounded" in out
        # the doc's counts, but for the probe's failure of the cluster test (whose body passed)
        failed, passed = map(int, re.fullmatch(r"(\d+) failed, (\d+) passed", counts).groups())  # type: ignore[union-attr]
        assert f"{failed + 1} failed, {passed - 1} passed" in out, out
        assert "probe: the body passed, now the test fails" in out
        started, alive = running_nodes(base)
        assert started == 3 and alive == [], (started, alive)
    finally:
        from pnyx.impl.cluster import stop_cluster

        for meta in base.glob("pnyx-cluster[0-9]*/c/cluster.json"):
            stop_cluster(meta.parent)
