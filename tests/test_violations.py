"""Every property kind violated by a deliberately broken model, with the shortest trace
length known by hand; and crash/recovery keeping persistent and resetting volatile state."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from reference import NaiveExplorer
from specs import checked, compiled, explore

from pnyx.checker.model import SpecModel
from pnyx.model.system import Crash, Recover, Timer

COUNTER = """spec counter
nodes 2
state { volatile x: 0..3 = 0 }
on timer inc when x < 3 { x = x + 1 }
"""


def test_invariant_violation_has_the_shortest_trace() -> None:
    src = COUNTER + "invariant Low: forall n in Node: n.x < 2\n"
    r = explore(src)
    v = r.violation
    assert v is not None and v.kind == "invariant" and v.name == "Low"
    assert len(v.trace) == 2  # one node fires its timer twice
    assert v.bindings == {"n": 0}  # BFS fires n1 first
    assert [ev[:2] for ev in v.trace.events] == [("timer", 0), ("timer", 0)]
    assert v.trace.states[-1][0] == ((2,), (0,))
    assert NaiveExplorer(checked(src)).shortest_violation() == ("Low", 2)


def test_invariant_violated_in_the_initial_state() -> None:
    r = explore(COUNTER + "invariant Never: forall n in Node: n.x > 0\n")
    assert r.violation is not None and len(r.violation.trace) == 0


def test_reachable_reports_the_shortest_witness_and_unreached_ones() -> None:
    src = COUNTER + "reachable Full: forall n in Node: n.x == 3\nreachable Over: exists n in Node: n.x == 4\n"
    r = explore(src)
    assert r.violation is None and r.complete
    assert r.reached["Full"] is not None and len(r.reached["Full"]) == 6
    assert r.reached["Over"] is None
    assert not r.ok


def test_handler_error_is_reported_with_its_trace() -> None:
    src = COUNTER.replace("when x < 3 ", "")  # x leaves 0..3 on the fourth firing
    r = explore(src)
    v = r.violation
    assert v is not None and v.kind == "error"
    assert len(v.trace) == 3
    assert v.trace.failed_event is not None and v.trace.failed_event[:2] == ("timer", 0)
    assert "x leaves its declared type: 4" in v.message
    assert "line 4" in v.message


def test_division_by_zero_is_a_handler_error() -> None:
    src = """spec d
nodes 1
state { volatile x: 0..3 = 2 }
on timer t when x >= 0 { x = 6 / x }
"""
    r = explore(src)  # 2 -> 3 -> 2 ... never 0: fine
    assert r.ok and r.stats.distinct == 2
    r = explore(src.replace("6 / x", "x - 2"))  # 2 -> 0, then 0 - 2 leaves 0..3
    assert r.violation is not None and r.violation.kind == "error" and len(r.violation.trace) == 1
    r = explore(src.replace("6 / x", "(x - 2) / (x - 2)"))
    assert r.violation is not None and "division by zero" in r.violation.message


# ---- through the command line ---------------------------------------------------------


def test_cli_exit_status_for_each_kind(tmp_path: Path) -> None:
    cases = {
        "ok": (COUNTER + "invariant Bound: forall n in Node: n.x <= 3\nreachable Full: forall n in Node: n.x == 3\n", 0),
        "inv": (COUNTER + "invariant Low: forall n in Node: n.x < 2\n", 1),
        "never": (COUNTER + "reachable Over: exists n in Node: n.x == 4\n", 1),
        "error": (COUNTER.replace("when x < 3 ", ""), 1),
    }
    for name, (src, status) in cases.items():
        f = tmp_path / f"{name}.pnyx"
        f.write_text(src)
        proc = run_cli("check", str(f), "--quiet")
        assert proc.returncode == status, (name, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        out = " ".join(proc.stdout.split())  # the console may wrap long lines
        if name == "inv":
            assert "Invariant violated: invariant Low is violated (2 steps, shortest)" in out
            assert "Step 1: n1 fires timer inc n1.x: 0 -> 1" in out
            assert "Step 2: n1 fires timer inc n1.x: 1 -> 2" in out
            assert f"Violated: invariant Low ({f}:5) with n = n1" in out
        if name == "never":
            assert "Never reached: Over — no reachable state satisfies it" in out
        if name == "error":
            assert "Step 4: n1 fires timer inc -> fails" in out
        if name == "ok":
            assert "Reached: Full (after 6 steps)" in out and "Holds: invariant Bound" in out


# ---- crash and recovery ---------------------------------------------------------------

CRASHY = """spec crashy
nodes 2
network fifo
budget { crashes = 1 }
message Note(k: 0..2)
state {
  persistent epoch: 0..2 = 0
  volatile seen: 0..2 = 0
  ghost log: seq[0..2, 3] = []
  volatile recovered: bool = false
}
on timer bump when epoch < 2 {
  epoch = epoch + 1
  seen = epoch
  log = append(log, epoch)
  send Note(epoch) to {p in Node where p != self}
}
on Note(k) { seen = k }
on recover { recovered = true }
invariant NoLostEpoch: forall n in Node: n.seen <= n.epoch or n.seen > 0
"""


def test_crash_keeps_persistent_and_ghost_and_resets_volatile() -> None:
    cs = compiled(CRASHY)
    m = SpecModel(cs)
    s0 = m.init_states()[0]
    # n1 bumps: epoch 1, seen 1, log [1], and a Note(1) to n2 is in flight
    ev, s1 = next((e, s) for e, s in m.successors(s0) if e[:2] == ("timer", 0))
    assert s1[0][0] == (1, 1, (1,), False)
    assert s1[2][0 * 2 + 1] == ((0, 1),)
    # n2 bumps too, sending Note(1) to n1; then n1 crashes
    _, s2 = next((e, s) for e, s in m.successors(s1) if isinstance(e, Timer) and e.node == 1)
    ev, s3 = next((e, s) for e, s in m.successors(s2) if e == Crash(0))
    assert s3[1] == (False, True)
    assert s3[0][0] == (1, 0, (1,), False)  # epoch and log kept, seen reset
    assert s3[0][1] == s2[0][1]  # the other node is untouched
    assert s3[2] == ((), (), (), ())  # both channels of n1 are gone
    assert s3[3] == (0, 1, 0, 0)  # one crash used
    assert not any(isinstance(e, Crash) for e, _ in m.successors(s3))  # budget exhausted
    ev, s4 = next((e, s) for e, s in m.successors(s3) if isinstance(e, Recover))
    assert s4[1] == (True, True)
    assert s4[0][0] == (1, 0, (1,), True)  # the recover handler ran


def test_no_timer_or_delivery_at_a_down_node() -> None:
    cs = compiled(CRASHY)
    m = SpecModel(cs)
    s = m.init_states()[0]
    _, s = next((e, x) for e, x in m.successors(s) if e[:2] == ("crash", 1))
    _, s = next((e, x) for e, x in m.successors(s) if e[:2] == ("timer", 0))
    assert s[2] == ((), (), (), ())  # the send to the down node was dropped
    kinds = {(e[0], e[1]) for e, _ in m.successors(s)}
    assert ("timer", 1) not in kinds and ("recover", 1) in kinds


def test_crash_spec_agrees_with_the_reference() -> None:
    ct = checked(CRASHY)
    r = explore(CRASHY)
    assert r.ok
    assert r.stats.distinct == len(NaiveExplorer(ct).explore())
