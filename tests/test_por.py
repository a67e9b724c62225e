"""Partial-order reduction (checker/por.py, docs/por.md).

Sleep sets must keep every state at its BFS depth: the same distinct states, diameter,
verdicts, violated property and trace lengths as plain BFS, with and without symmetry, on every
bundled spec, every generated sample spec and every mutant; only transitions go. The
independence they rest on (`Footprints`, model/system.py) is tested event kind by event kind,
and a deliberately wrong independence is shown to lose states, so the equalities can fail.
Ample sets must keep every verdict and find real counterexamples (replayed on the full model),
with no more states than plain BFS; a model where they remove states pins how many, and an
ample set blind to what the properties read is shown to miss a bug.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from gen_specs import sample_specs
from specs import compiled
from test_pinned_numbers import BUNDLED
from test_zab import SLOW as SLOW_ZAB_MUTANTS

from pnyx.checker import bfs
from pnyx.checker.mutants import Mutant, compile_mutant, load_mutants
from pnyx.checker.por import AmpleSets
from pnyx.checker.trace import replay
from pnyx.model.compiler import CompiledSpec, compile_checked
from pnyx.model.errors import ArgumentError
from pnyx.model.parser import parse, parse_file
from pnyx.model.system import Crash, Deliver, Footprints, Lose, Recover, Request, Timer
from pnyx.model.typecheck import check as typecheck

RUN_SLOW = os.environ.get("PNYX_SLOW_TESTS") == "1"
AMPLE_INIT = AmpleSets.__init__
# mutants whose search explores ten thousand states or more: with PNYX_SLOW_TESTS=1 only
SLOW_MUTANTS = SLOW_ZAB_MUTANTS | {"accept_lower_epoch", "quorum_off_by_one", "recovered_keeps_volatile",
                                   "propose_from_any_leader"}


def run(cs: CompiledSpec, por: str, symmetry: bool = False, **kw: object) -> bfs.Result:
    return bfs.check(cs, bfs.Options(symmetry=symmetry, por=por, **kw))  # type: ignore[arg-type]


def observable(r: bfs.Result) -> dict[str, object]:
    """What a reduction that keeps every state must leave as it is."""
    v = r.violation
    return {
        "distinct": r.stats.distinct, "diameter": r.stats.depth, "complete": r.complete,
        "violated": None if v is None else (v.kind, v.name, len(v.trace.events)),
        "reached": {k: None if t is None else len(t.events) for k, t in r.reached.items()},
    }


def same_as_plain(cs_of: object, symmetry: bool) -> tuple[bfs.Result, bfs.Result]:
    plain = run(cs_of(), "none", symmetry)  # type: ignore[operator]
    sleep = run(cs_of(), "sleep", symmetry)  # type: ignore[operator]
    assert observable(sleep) == observable(plain)
    assert sleep.stats.transitions + sleep.stats.pruned == plain.stats.transitions or plain.violation is not None
    return plain, sleep


# ---- independence ------------------------------------------------------------------------
FIFO3 = Footprints(3, True, [-1, 0])  # handler 1: a timer that spends budget slot 0
UNORDERED3 = Footprints(3, False, [-1, 0])


def test_events_at_one_node_are_dependent() -> None:
    assert not FIFO3.independent(Deliver(0, 1, (0,), 0), Timer(0, 0))
    assert not FIFO3.independent(Deliver(0, 1, (0,), 0), Deliver(0, 2, (0,), 0))


def test_events_at_different_nodes_touching_nothing_shared_are_independent() -> None:
    assert FIFO3.independent(Deliver(0, 1, (0,), 0), Deliver(2, 1, (0,), 0))
    assert FIFO3.independent(Timer(0, 0), Timer(1, 0, (), ((2, (0,)),)))


def test_a_shared_budget_makes_events_at_different_nodes_dependent() -> None:
    assert not FIFO3.independent(Request(0, 0, ()), Request(1, 0, ()))
    assert not FIFO3.independent(Timer(0, 1), Timer(1, 1))  # both spend slot 0
    assert FIFO3.independent(Timer(0, 1), Timer(1, 0))  # one spends nothing


def test_a_channel_makes_sender_and_receiver_dependent() -> None:
    send_0_to_1 = Timer(0, 0, (), ((1, (0,)),))
    assert not FIFO3.independent(send_0_to_1, Deliver(1, 0, (0,), 0))  # the channel 0 -> 1
    assert FIFO3.independent(send_0_to_1, Deliver(1, 2, (0,), 0))  # another channel into 1
    disconnect = Timer(0, 0, (), ((1, None),))
    assert not FIFO3.independent(disconnect, Deliver(0, 1, (0,), 0))  # both directions close


def test_crash_recover_and_sends_to_the_node() -> None:
    send_0_to_1 = Timer(0, 0, (), ((1, (0,)),))
    assert not FIFO3.independent(Recover(1), send_0_to_1)  # a send to a down node is dropped
    assert not FIFO3.independent(Crash(1), Deliver(2, 1, (0,), 0))  # a TCP connection breaks at either end
    assert UNORDERED3.independent(Crash(1), Deliver(2, 1, (0,), 0))  # a UDP packet in flight survives its sender


def test_loss_and_delivery_of_one_channel_are_dependent() -> None:
    assert not FIFO3.independent(Lose(1, 0, (0,), 1), Deliver(1, 0, (0,), 0))
    assert not FIFO3.independent(Lose(1, 0, (0,), 0), Lose(2, 0, (0,), 0))  # the loss budget
    assert FIFO3.independent(Lose(1, 0, (0,), 0), Timer(1, 0))  # a loss touches no node's variables


def test_an_unordered_loss_is_named_without_its_slot() -> None:
    assert UNORDERED3.key(Lose(1, 0, (0,), 3)) == UNORDERED3.key(Lose(1, 0, (0,), 5))
    assert FIFO3.key(Lose(1, 0, (0,), 3)) != FIFO3.key(Lose(1, 0, (0,), 5))


# ---- sleep sets keep every state -----------------------------------------------------------
def _bundled() -> Iterator[object]:
    for path, constants in BUNDLED:
        for sym in (False, True):
            marks = [pytest.mark.slow]
            if path == "spec/zab.pnyx" and not sym:
                marks.append(pytest.mark.skipif(not RUN_SLOW, reason="100 k states twice: set PNYX_SLOW_TESTS=1"))
            yield pytest.param(path, constants, sym, id=f"{path}-{'sym' if sym else 'plain'}", marks=marks)


@pytest.mark.parametrize(("path", "constants", "symmetry"), list(_bundled()))
def test_sleep_sets_keep_every_bundled_spec_s_numbers(path: str, constants: dict[str, object], symmetry: bool) -> None:
    plain, sleep = same_as_plain(lambda: compile_checked(typecheck(parse_file(ROOT / path), constants)), symmetry)
    assert sleep.por == "sleep"
    if plain.stats.transitions > 50:  # a reduction at all: some transitions were asleep
        assert 0 < sleep.stats.pruned < plain.stats.transitions


@pytest.mark.slow
def test_sleep_sets_keep_every_generated_spec_s_numbers() -> None:
    for src in sample_specs(6, key=lambda s: s):
        for sym in (False, True):
            same_as_plain(lambda s=src: compile_checked(typecheck(parse(s, "gen.pnyx"), {})), sym)


@pytest.mark.parametrize(("path", "symmetry"), [("spec/examples/two_phase_commit.pnyx", False),
                                               ("tests/golden/tla/relay.pnyx", False), ("spec/gossip.pnyx", True)])
def test_sleep_sets_keep_every_state_at_its_depth(path: str, symmetry: bool) -> None:
    """The states within depth k, for every k: equal counts at every depth mean every state is
    found at its own BFS depth, not deeper."""
    consts: dict[str, object] = {"LOG": 1, "MAXV": 1} if "relay" in path else {"WRITES": 1} if "gossip" in path else {}
    cs = compile_checked(typecheck(parse_file(ROOT / path), consts))
    full = run(cs, "none", symmetry)
    for k in range(1, full.stats.depth + 1):
        a = run(cs, "none", symmetry, max_depth=k)
        b = run(cs, "sleep", symmetry, max_depth=k)
        assert (b.stats.distinct, b.stats.depth) == (a.stats.distinct, a.stats.depth), k


def _mutants() -> Iterator[object]:
    for spec, folder in (("zab.pnyx", "zab_mutants"), ("fle.pnyx", "fle_mutants")):
        for m in load_mutants(ROOT / "spec" / folder):
            marks = [pytest.mark.slow]
            if m.name in SLOW_MUTANTS:
                marks.append(pytest.mark.skipif(not RUN_SLOW, reason="seconds of search each: set PNYX_SLOW_TESTS=1"))
            yield pytest.param(spec, m, id=f"{folder}/{m.name}", marks=marks)


@pytest.mark.parametrize(("spec", "mutant"), list(_mutants()))
def test_sleep_sets_catch_every_mutant_with_a_shortest_trace(spec: str, mutant: Mutant) -> None:
    r = run(compile_mutant(ROOT / "spec" / spec, mutant), "sleep", symmetry=True)
    v = r.violation
    assert v is not None, f"{mutant.name}: not caught with --por sleep"
    assert (v.kind, v.name, len(v.trace.events)) == ("invariant", mutant.property, mutant.length)


# A bug that shows only when two nodes' independent steps both happened and the third node then
# received their messages in one order: reduced transitions must not hide it.
ORDER_BUG = """spec order
nodes 3
network fifo
message Note()
state {
  volatile sent: bool = false
  volatile first: option[Node] = none
  volatile count: 0..2 = 0
}
on timer go when self != node(3) and not sent {
  sent = true
  send Note() to node(3)
}
on Note() from q when count < 2 {
  if count == 0 { first = some(q) }
  count = count + 1
}
invariant FirstIsNode1: forall n in Node: n.count < 2 or n.first == some(node(1))
"""


def test_a_broken_model_is_caught_with_sleep_sets_and_the_same_shortest_trace() -> None:
    cs = compiled(ORDER_BUG)
    plain = run(cs, "none")
    sleep = run(cs, "sleep")
    assert plain.violation is not None and sleep.violation is not None
    assert sleep.violation.name == "FirstIsNode1"
    assert len(sleep.violation.trace.events) == len(plain.violation.trace.events) == 4
    assert sleep.stats.pruned > 0
    # the trace is a real run: replayed from the initial state, its last state violates the invariant
    model = bfs.SpecModel(cs)
    steps = [[ev for ev, _ in model.successors(s)].index(ev)
             for s, ev in zip(sleep.violation.trace.states, sleep.violation.trace.events)]
    again = replay(model, steps)
    assert again.states[-1] == sleep.violation.trace.states[-1]


# ---- a wrong independence loses states, and these tests see it -----------------------------
RESEND = """spec resend
nodes 2
network fifo
budget { crashes = 1 }
message Ping()
state {
  persistent fired: bool = false
  persistent recovered: bool = false
  volatile got: bool = false
}
on recover { recovered = true }
on timer ping when self == node(1) and not fired {
  fired = true
  send Ping() to node(2)
}
on Ping() from q { got = true }
"""


def test_ignoring_up_flags_would_lose_states(monkeypatch: pytest.MonkeyPatch) -> None:
    """Node 2 down: node 1's ping is dropped if sent before node 2 recovers, and arrives if sent
    after. An independence that forgets that sends read the receiver's up flag treats the two
    orders as one and loses the state with the ping in flight after the recovery."""
    cs = compiled(RESEND)
    plain = run(cs, "none")
    assert run(cs, "sleep").stats.distinct == plain.stats.distinct
    monkeypatch.setattr(Footprints, "up", lambda self, node: 0)
    assert run(compiled(RESEND), "sleep").stats.distinct < plain.stats.distinct


# ---- options -------------------------------------------------------------------------------
def test_sleep_sets_refuse_workers() -> None:
    with pytest.raises(ArgumentError, match="one process"):
        run(compiled(ORDER_BUG), "sleep", workers=2)


def test_the_command_line_takes_por_and_reports_it(tmp_path: Path) -> None:
    proc = run_cli("check", "spec/examples/two_phase_commit.pnyx", "--por", "sleep", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)["summary"]
    plain = json.loads(run_cli("check", "spec/examples/two_phase_commit.pnyx", "--json").stdout)["summary"]
    assert s["partial_order_reduction"] == "sleep" and plain["partial_order_reduction"] == "none"
    assert s["distinct_states"] == plain["distinct_states"]
    assert s["transitions"] + s["transitions_pruned"] == plain["transitions"] and s["transitions_pruned"] > 0


@pytest.mark.parametrize(("args", "message"), [
    (["--por", "bogus"], "--por 'bogus': expected one of none, sleep, ample"),
    (["--por", "sleep", "--workers", "2"], "--por sleep runs in one process"),
])
def test_bad_por_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = run_cli("check", "spec/examples/two_phase_commit.pnyx", *args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_liveness_is_checked_on_the_full_graph_with_a_note() -> None:
    proc = run_cli("check", "spec/examples/two_phase_commit.pnyx", "--por", "sleep", "--liveness", "--quiet")
    plain = run_cli("check", "spec/examples/two_phase_commit.pnyx", "--liveness", "--quiet")
    assert "note: --por sleep reduces the safety search only; --liveness explores the full state graph" in proc.stderr
    assert proc.returncode == plain.returncode
    assert _liveness_lines(proc.stdout) == _liveness_lines(plain.stdout)


def _liveness_lines(stdout: str) -> list[str]:
    """The liveness report without what varies from run to run (CPU time, peak memory)."""
    lines = [ln for ln in stdout.splitlines() if "liveness" in ln.lower() or "eventually" in ln.lower()]
    measured = re.compile(r"[\d.]+ CPU s \(analysis [\d.]+ s\), peak memory [\d,]+ MiB")
    return [measured.sub("<measured>", ln) for ln in lines]


# ---- ample sets: fewer states, the same verdicts, real counterexamples -----------------------
# Node 1 sends two jobs to each peer, then ticks a private counter; the peers take their jobs and
# tick theirs. While jobs wait in both channels from node 1, the peers' events form an ample set
# (nothing node 1 does can touch them, and no property reads what they change): node 1's ticks
# wait, and the states where node 1 ticked while jobs were still in flight are never built.
PIPE = """spec pipe
const K = 2
nodes 3
network fifo
message Job()
state {
  volatile sent: bool = false
  volatile ticks: 0..K = 0
  volatile jobs: 0..2 = 0
}
on timer start when self == node(1) and not sent {
  sent = true
  send Job() to {n in Node where n != self}
  send Job() to {n in Node where n != self}
}
on timer tick when (sent or jobs > 0) and ticks < K { ticks = ticks + 1 }
on Job() from q when jobs < 2 { jobs = jobs + 1 }
invariant OnlyNode1Starts: forall n in Node: n.sent => n == node(1)
reachable Started: exists n in Node: n.sent
"""
# A property that reads the ticks and the jobs: every event is visible, nothing is reduced, and the
# state where node 1 ticked twice before any job arrived is found (an ample set that took the
# peers' deliveries while node 1's ticks waited would never build it).
PIPE_BUG = PIPE.replace("invariant OnlyNode1Starts: forall n in Node: n.sent => n == node(1)",
                        "invariant NoEarlyTicks: forall n in Node: n.ticks < K or not n.sent or (exists m in Node: m.jobs > 0)")


def verdicts(r: bfs.Result) -> dict[str, object]:
    """What any sound reduction must keep: the violated property, and which goals were reached."""
    v = r.violation
    return {"violated": None if v is None else (v.kind, v.name), "complete": r.complete,
            "reached": sorted(k for k, t in r.reached.items() if t is not None)}


def assert_real(cs: CompiledSpec, r: bfs.Result) -> None:
    """The counterexample is a run of the full model: each step is one of its state's successors,
    replayed from the initial state, and its last state violates the property."""
    assert r.violation is not None
    model = bfs.SpecModel(cs)
    trace = r.violation.trace
    steps = [[ev for ev, _ in model.successors(s)].index(ev) for s, ev in zip(trace.states, trace.events)]
    again = replay(model, steps)
    assert again.states == trace.states
    (prop,) = [p for p in model.properties() if p.name == r.violation.name]
    assert not prop.holds(again.states[-1])


def test_ample_sets_remove_states_and_keep_verdicts() -> None:
    cs = compiled(PIPE)
    plain, ample = run(cs, "none"), run(cs, "ample")
    assert ample.por == "ample" and verdicts(ample) == verdicts(plain) and plain.ok
    assert (plain.stats.distinct, ample.stats.distinct) == (148, 116)
    assert ample.stats.pruned > 0


def test_ample_sets_respect_visibility(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug needs node 1's ticks before the jobs arrive: found with ample sets because the
    property reads the ticks; an ample set blind to what properties read would miss it."""
    cs = compiled(PIPE_BUG)
    ample = run(cs, "ample")
    assert ample.violation is not None and ample.violation.name == "NoEarlyTicks"
    assert_real(cs, ample)
    monkeypatch.setattr(AmpleSets, "__init__", _blind_init)
    assert run(compiled(PIPE_BUG), "ample").violation is None


def _blind_init(self: AmpleSets, model: bfs.SpecModel, props: list, footprints: Footprints) -> None:
    AMPLE_INIT(self, model, props, footprints)
    self.visible = ()


@pytest.mark.parametrize(("path", "constants", "symmetry"), list(_bundled()))
def test_ample_sets_keep_every_bundled_spec_s_verdicts(path: str, constants: dict[str, object], symmetry: bool) -> None:
    def cs() -> CompiledSpec:
        return compile_checked(typecheck(parse_file(ROOT / path), constants))

    plain, ample = run(cs(), "none", symmetry), run(cs(), "ample", symmetry)
    assert verdicts(ample) == verdicts(plain)
    assert ample.stats.distinct <= plain.stats.distinct and ample.stats.transitions <= plain.stats.transitions


@pytest.mark.parametrize(("spec", "mutant"), list(_mutants()))
def test_ample_sets_catch_every_mutant_with_a_real_trace(spec: str, mutant: Mutant) -> None:
    cs = compile_mutant(ROOT / "spec" / spec, mutant)
    r = run(cs, "ample", symmetry=True)
    v = r.violation
    assert v is not None, f"{mutant.name}: not caught with --por ample"
    assert (v.kind, v.name) == ("invariant", mutant.property)
    assert len(v.trace.events) >= mutant.length  # no shorter than the shortest
    assert_real(cs, r)


def test_ample_sets_catch_the_order_bug_with_a_real_trace() -> None:
    cs = compiled(ORDER_BUG)
    r = run(cs, "ample")
    assert r.violation is not None and r.violation.name == "FirstIsNode1"
    assert_real(cs, r)
