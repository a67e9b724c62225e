"""Liveness under fairness (checker/liveness.py): each property kind and each fairness kind
catches a model broken on purpose, and lassos have the shape the model forces."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from specs import compiled

from pnyx.checker import liveness
from pnyx.checker.liveness import STRONG, UNFAIR, WEAK, Fairness, LiveProperty, check_model
from pnyx.checker.liveness_report import format_lasso, lasso_itf, lasso_mermaid
from pnyx.model.compiler import load
from pnyx.model.errors import SpecError
from pnyx.model.system import Deliver, Timer, fairness_class

GOSSIP = ROOT / "spec" / "gossip.pnyx"
TWO_PC = ROOT / "spec" / "examples" / "two_phase_commit.pnyx"
ZAB = ROOT / "spec" / "zab.pnyx"


# ---- a hand-written graph: the analysis alone, exact shapes ------------------------------
class Edges:
    """A model given by its edges: states are ints, events are labels; 0 is initial."""

    name = "edges"
    symmetric = False

    def __init__(self, edges: dict[int, list[tuple[str, int]]]) -> None:
        self.edges = edges

    def init_states(self) -> list[int]:
        return [0]

    def successors(self, s: int) -> list[tuple[str, int]]:
        return list(self.edges.get(s, []))

    def properties(self) -> list:
        return []

    def changed(self, before: int, after: int) -> set[Hashable]:
        return set()

    def fingerprint(self, s: int) -> int:
        return hash(s)

    def representative(self) -> Callable[[int], int]:
        return lambda s: s


def run(edges: dict[int, list[tuple[str, int]]], prop: LiveProperty, **levels: int) -> liveness.Verdict:
    fair = Fairness(lambda ev: levels.get(ev, UNFAIR), lambda ev: ev)
    r = check_model(Edges(edges), [prop], fair)  # type: ignore[arg-type]
    assert r.complete
    return r.verdicts[0]


def cycle_states(v: liveness.Verdict) -> list[int]:
    assert v.lasso is not None and not v.lasso.stutter
    states = v.lasso.trace.states
    assert states[-1] == states[v.lasso.loop]  # the cycle returns to where it started
    return states[v.lasso.loop:]


REACH3 = LiveProperty("Reach3", "eventually", lambda s: s == 3)


def test_weak_fairness_is_met_where_the_action_is_disabled_strong_is_not() -> None:
    # 1 <-> 2 forever; `go` (to the goal) is enabled at 2 only
    edges = {0: [("t", 1)], 1: [("t", 2)], 2: [("t", 1), ("go", 3)]}
    weak = run(edges, REACH3, t=WEAK, go=WEAK)
    assert weak.holds is False and sorted(set(cycle_states(weak))) == [1, 2]
    assert run(edges, REACH3, t=WEAK, go=STRONG).holds is True


def test_strong_fairness_refines_a_component_to_a_fair_sub_cycle() -> None:
    # {0, 1, 2} is one component; `go` is enabled at 2, never taken inside: without 2, 0 <-> 1 is fair
    edges = {0: [("t", 1)], 1: [("t", 0), ("t", 2)], 2: [("t", 1), ("go", 3)]}
    v = run(edges, REACH3, t=WEAK, go=STRONG)
    assert v.holds is False and set(cycle_states(v)) == {0, 1}
    assert v.lasso is not None and (v.lasso.prefix, v.lasso.cycle) == (0, 2)


def test_without_fairness_a_behaviour_stutters() -> None:
    edges = {0: [("t", 1)], 1: [("go", 3)]}
    v = run(edges, REACH3)  # nothing fair: stopping anywhere is a behaviour
    assert v.holds is False and v.lasso is not None and v.lasso.stutter and v.lasso.prefix == 0
    assert run(edges, REACH3, t=WEAK, go=WEAK).holds is True


def test_a_terminal_state_stutters_forever_whatever_is_fair() -> None:
    v = run({0: [("t", 1)], 1: [("t", 2)]}, REACH3, t=STRONG)
    assert v.lasso is not None and v.lasso.stutter and v.lasso.trace.states == [0, 1, 2]


def test_weak_fairness_of_a_class_enabled_throughout_excludes_the_cycle() -> None:
    # 1 <-> 2 by `spin`; `go` stays enabled at both: weakly fair, it must be taken
    edges = {0: [("t", 1)], 1: [("spin", 2), ("go", 3)], 2: [("spin", 1), ("go", 3)]}
    assert run(edges, REACH3, t=WEAK, spin=WEAK, go=WEAK).holds is True
    v = run(edges, REACH3, t=WEAK, spin=WEAK)  # go not fair: spinning forever is fair
    assert v.holds is False and cycle_states(v) == [1, 2, 1] and v.lasso is not None and v.lasso.prefix == 1


def test_a_step_that_changes_nothing_is_a_stutter() -> None:
    # a self loop neither enables nor takes its class (TLA+'s <<A>>_vars): `spin` cannot keep 1 going
    edges = {0: [("t", 1)], 1: [("spin", 1), ("go", 3)]}
    assert run(edges, REACH3, t=WEAK, spin=WEAK, go=WEAK).holds is True
    v = run(edges, REACH3, t=WEAK, spin=STRONG)
    assert v.holds is False and v.lasso is not None and v.lasso.stutter and v.lasso.trace.states == [0, 1]
    # strong fairness of `a`, enabled at 1 only by a self loop: not enabled there, so the 1 <-> 2 cycle is fair
    edges = {0: [("t", 1)], 1: [("a", 1), ("t", 2)], 2: [("t", 1), ("a", 3)]}
    assert run(edges, REACH3, t=WEAK, a=WEAK).holds is False
    assert run(edges, REACH3, t=WEAK, a=STRONG).holds is True


def test_infinitely_and_leadsto_and_eventually_differ() -> None:
    # 0 -> 1 <-> 2: P holds only initially
    edges = {0: [("t", 1)], 1: [("t", 2)], 2: [("t", 1)]}
    assert run(edges, LiveProperty("E", "eventually", lambda s: s == 0), t=WEAK).holds is True
    inf = run(edges, LiveProperty("I", "infinitely", lambda s: s == 0), t=WEAK)
    assert inf.holds is False and inf.lasso is not None and (inf.lasso.prefix, inf.lasso.cycle) == (1, 2)
    assert run(edges, LiveProperty("I2", "infinitely", lambda s: s == 2), t=WEAK).holds is True
    assert run(edges, LiveProperty("L", "leadsto", lambda s: s == 1, lambda s: s == 2), t=WEAK).holds is True
    # 1 may also go to 4 and back
    edges[1] = [("t", 2), ("spin", 4)]
    edges[4] = [("spin", 1)]
    lead = run(edges, LiveProperty("L", "leadsto", lambda s: s == 1, lambda s: s == 2), spin=WEAK)
    assert lead.holds is False and lead.lasso is not None and lead.lasso.trigger == 1 and cycle_states(lead) == [1, 4, 1]
    # t is disabled at 4, so weak fairness of t allows 1 -> 4 -> 1 forever; strong fairness does not
    assert run(edges, LiveProperty("L", "leadsto", lambda s: s == 1, lambda s: s == 2), spin=WEAK, t=WEAK).holds is False
    assert run(edges, LiveProperty("L", "leadsto", lambda s: s == 1, lambda s: s == 2), spin=WEAK, t=STRONG).holds is True


def test_a_cycle_visits_a_state_where_each_weak_class_is_disabled() -> None:
    # 0 -> 1 -> 2 -> 3 -> 1; `a` (to the goal) is enabled except at 3: the cycle must pass 3
    edges = {0: [("t", 1)], 1: [("t", 2), ("a", 9)], 2: [("t", 3), ("a", 9)], 3: [("t", 1)]}
    v = run(edges, LiveProperty("Never9", "eventually", lambda s: s == 9), t=WEAK, a=WEAK)
    assert v.holds is False and 3 in cycle_states(v)


def test_a_cycle_of_200000_states_is_found_without_recursion() -> None:
    k = 200_000

    class Ring(Edges):
        def successors(self, s: int) -> list[tuple[str, int]]:
            return [("t", (s + 1) % k)]

    fair = Fairness(lambda ev: WEAK, lambda ev: ev)
    r = check_model(Ring({}), [LiveProperty("Never", "eventually", lambda s: s < 0)], fair)  # type: ignore[arg-type]
    lasso = r.verdicts[0].lasso
    assert r.stats.distinct == k and lasso is not None and (lasso.prefix, lasso.cycle) == (0, k)


# ---- the language ---------------------------------------------------------------------
TOGGLE = """
spec toggle
nodes 1
state {
  volatile flag: bool = false
  volatile done: bool = false
}
on timer flip when not done { flag = not flag }
on timer finish when flag and not done { done = true }
FAIRNESS
eventually Done: forall n in Node: n.done
"""


def _verdict(source: str, **overrides: object) -> liveness.Verdict:
    r = liveness.check(compiled(source, **overrides))
    assert r.complete and len(r.verdicts) == 1
    return r.verdicts[0]


@pytest.mark.parametrize(("fairness", "holds", "stutter"), [
    ("", False, True),  # nothing fair: it may never start
    ("fair timer flip", False, False),  # flipping forever
    ("fair timer flip\nfair timer finish", False, False),  # finish is disabled whenever flag is false
    ("fair timer flip\nstrong fair timer finish", True, None),
    ("strong fair timer finish", False, True),  # flip not fair: stops with flag false
    ("fair timer", False, False),  # every timer weakly fair
    ("strong fair timer", True, None),
])
def test_weak_and_strong_timer_fairness_in_a_spec(fairness: str, holds: bool, stutter: bool | None) -> None:
    v = _verdict(TOGGLE.replace("FAIRNESS", fairness))
    assert v.holds is holds
    if not holds:
        assert v.lasso is not None and v.lasso.stutter is stutter
        if not stutter:
            assert [e.kind for e in v.lasso.trace.events[v.lasso.loop:]] == ["timer", "timer"]


PING = """
spec ping
nodes 2
network fifo capacity 1
budget { requests = 1  crashes = CRASHES }
const CRASHES = 0
message Ping()
state {
  persistent asked: bool = false
  persistent got: bool = false
}
on request ask() when self == node(1) and not asked { asked = true }
// resent while the channel has room (a send that would overflow it is not enabled)
on timer send when self == node(1) and asked { send Ping() to node(2) }
on Ping() { got = true }
FAIRNESS
eventually Got: exists n in Node: n.got
"""


@pytest.mark.parametrize(("fairness", "holds"), [
    ("fair request ask\nfair timer send\nfair deliver Ping", True),
    ("fair timer send\nfair deliver Ping", False),  # the client never asks
    ("fair request ask\nfair deliver Ping", False),  # the timer never fires
    ("fair request ask\nfair timer send", False),  # the Ping stays in flight
    ("fair request\nfair timer\nfair deliver", True),
])
def test_request_timer_and_delivery_fairness(fairness: str, holds: bool) -> None:
    v = _verdict(PING.replace("FAIRNESS", fairness))
    assert v.holds is holds
    if not holds:
        assert v.lasso is not None and v.lasso.stutter


def test_recovery_fairness_and_unfair_crashes() -> None:
    fair = "fair request ask\nfair timer send\nfair deliver Ping"
    crashed = _verdict(PING.replace("FAIRNESS", fair), CRASHES=1)  # a node crashes and stays down
    assert crashed.holds is False and crashed.lasso is not None
    assert "crash" in [e.kind for e in crashed.lasso.trace.events]
    assert _verdict(PING.replace("FAIRNESS", fair + "\nfair recover"), CRASHES=1).holds is True


def test_fairness_class_is_the_event_without_its_outcome() -> None:
    assert fairness_class(Deliver(1, 0, (0, 5), 3, ((0, 1),), ((0, (1,)),))) == ("deliver", 1, 0, (0, 5))
    assert fairness_class(Deliver(1, 0, (0, 5), -1)) == fairness_class(Deliver(1, 0, (0, 5), 2))
    assert fairness_class(Timer(0, 2, ((0, 1),))) == ("timer", 0, 2) != fairness_class(Timer(1, 2))


@pytest.mark.parametrize(("text", "message", "where"), [
    ("fair timr flip", "unknown event kind 'timr'", "10:6"),
    ("fair timer flop", "unknown timer 'flop'", "10:12"),
    ("fair crash flip", "`fair crash` takes no names", "10:12"),
    ("fair deliver Pong", "unknown message 'Pong'", "10:14"),
    ("fair timer flip\nstrong fair timer", "timer events are declared fair twice", "11:1"),
    ("fair timer flip\nfair timer flip", "timer events of flip are declared fair twice", "11:1"),
])
def test_bad_fairness_declarations_are_located(text: str, message: str, where: str) -> None:
    with pytest.raises(SpecError) as exc:
        compiled(TOGGLE.replace("FAIRNESS", text) + "message Ping()\n")
    assert message in str(exc.value) and f"test.pnyx:{where}:" in str(exc.value)


def test_leadsto_sides_are_boolean_and_both_are_read() -> None:
    with pytest.raises(SpecError, match="the right side of leadsto L must be bool"):
        compiled(TOGGLE.replace("FAIRNESS", "leadsto L: true ~> 1"))
    cs = compiled(TOGGLE.replace("FAIRNESS", "leadsto L: (forall n in Node: n.flag) ~> (forall n in Node: n.done)"))
    p = next(p for p in cs.checked.core.properties if p.name == "L")
    assert p.kind == "leadsto" and p.target is not None and p.reads == ("done", "flag")


def test_a_property_that_cannot_be_evaluated_is_reported() -> None:
    src = TOGGLE.replace("FAIRNESS", "eventually Bad: forall n in Node: [1][if n.flag then 5 else 0] == 1")
    r = liveness.check(compiled(src))
    bad = next(v for v in r.verdicts if v.name == "Bad")
    assert bad.holds is None and bad.error is not None and "eventually Bad cannot be evaluated" in bad.error
    assert not r.ok


# ---- the bundled protocols ----------------------------------------------------------------
def _check(path: Path, text: Callable[[str], str] | None = None, **consts: int) -> liveness.LivenessResult:
    if text is None:
        cs = load(str(path), consts)
    else:
        cs = compiled(text(path.read_text()), **consts)
    r = liveness.check(cs)
    assert r.complete
    return r


def _events(v: liveness.Verdict) -> list[str]:
    assert v.lasso is not None
    return [e.kind for e in v.lasso.trace.events]


def test_gossip_newest_write_reaches_everyone_with_one_loss() -> None:
    r = _check(GOSSIP)
    assert [(v.name, v.holds) for v in r.verdicts] == [("NewestEverywhere", True)]


@pytest.mark.parametrize("consts", [{"N": 2}, {"LOSSES": 2}])
def test_gossip_loses_the_newest_write_for_good(consts: dict[str, int]) -> None:
    """Honest about budgets: the counterexample ends in a quiet state where nothing fair is
    enabled (only requests a client may never make): the lost push is never resent."""
    v = _check(GOSSIP, **consts).verdicts[0]
    assert v.holds is False and v.lasso is not None and v.lasso.stutter
    assert "lose" in _events(v)


def test_gossip_without_fair_delivery_or_timers_is_caught() -> None:
    for decl in ("fair deliver\n", "fair timer gossip, antientropy\n"):
        v = _check(GOSSIP, lambda s, d=decl: s.replace(d, ""), LOSSES=0).verdicts[0]
        assert v.holds is False and v.lasso is not None and v.lasso.stutter, decl


def test_two_phase_commit_blocks_when_the_coordinator_crashes() -> None:
    v = _check(TWO_PC).verdicts[0]
    assert v.name == "Termination" and v.holds is False and v.lasso is not None and v.lasso.stutter
    crash = next(e for e in v.lasso.trace.events if e.kind == "crash")
    assert crash.node == 0  # the coordinator
    assert not v.lasso.trace.states[-1][1][0]  # and it stays down
    assert _check(TWO_PC, CRASHES=0).verdicts[0].holds is True
    # a recovering coordinator does not resend a decision its crash lost
    recovered = _check(TWO_PC, lambda s: s + "\nfair recover\n").verdicts[0]
    assert recovered.holds is False and recovered.lasso is not None and _events(recovered)[-1] == "recover"


ZAB_SMALL = {"TXNS": 1, "CRASHES": 0}


@pytest.mark.slow
def test_zab_commits_a_write_without_wrong_suspicions() -> None:
    assert _check(ZAB, TIMEOUTS=0, **ZAB_SMALL).verdicts[0].holds is True
    assert _check(ZAB, MAX_EPOCH=1, **ZAB_SMALL).verdicts[0].holds is True


@pytest.mark.slow
def test_zab_with_a_bounded_detector_deadlocks_once_the_budget_is_spent() -> None:
    v = _check(ZAB, TIMEOUTS=1, **ZAB_SMALL).verdicts[0]
    assert v.holds is False and v.lasso is not None and v.lasso.stutter
    assert "timer" in _events(v)
    cs = v.lasso.trace.model.cs
    assert v.lasso.trace.states[-1][3][list(cs.budget).index("timeouts")] == cs.budget["timeouts"]  # spent


def _unbounded(src: str) -> str:
    """ZAB with a failure detector that may suspect again and again: the follower's timeout
    spends no budget, and it is weakly fair (a follower that keeps waiting does time out)."""
    src = src.replace("on timer followerTimeout spends timeouts when", "on timer followerTimeout when")
    return src + "\nfair timer followerTimeout\neventually Established: exists n in Node: len(n.established) > 0\n"


@pytest.mark.slow
def test_zab_flp_recurring_suspicions_are_a_lasso() -> None:
    r = _check(ZAB, _unbounded, TIMEOUTS=0, **ZAB_SMALL)
    by = {v.name: v for v in r.verdicts}
    for name in ("WriteCommitted", "Established"):
        v = by[name]
        assert v.holds is False and v.lasso is not None and not v.lasso.stutter, name
        cycle = v.lasso.trace.events[v.lasso.loop:]
        assert any(e.kind == "timer" and v.lasso.trace.model.cs.handlers[e.handler].name == "followerTimeout"
                   for e in cycle), name


# ---- output: text, ITF, Mermaid, the CLI -------------------------------------------------
def _toggle_cycle() -> tuple:
    cs = compiled(TOGGLE.replace("FAIRNESS", "fair timer flip"))
    v = liveness.check(cs).verdicts[0]
    assert v.lasso is not None
    return cs, v


def test_lasso_text_marks_the_cycle() -> None:
    cs, v = _toggle_cycle()
    lines = format_lasso(cs, v)
    i = lines.index("-- cycle: steps 1 to 2 repeat forever (step 2 returns to the initial state) --")
    assert lines[i + 1].startswith("Step 1: n1 fires timer flip")


def test_lasso_itf_has_a_loop_index_and_no_repeated_state() -> None:
    _, v = _toggle_cycle()
    itf = lasso_itf(v.lasso)
    assert itf["loop"] == 0 and len(itf["states"]) == 2  # the state closing the cycle is state 0 again
    assert itf["states"][-1]["#meta"]["loop_event"]["timer"] == "flip"
    assert itf["#meta"]["steps"] == v.lasso.trace.steps


def test_lasso_mermaid_puts_the_cycle_in_a_loop_block() -> None:
    _, v = _toggle_cycle()
    text = lasso_mermaid(v.lasso, "t", "Violated")
    lines = text.splitlines()
    assert lines.index("    loop repeats forever") < lines.index("    end") < len(lines) - 1


def test_cli_liveness_json_and_exit_status(tmp_path: Path) -> None:
    proc = run_cli("check", str(TWO_PC), "--liveness", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    term = doc["liveness"]["properties"]["Termination"]
    assert doc["liveness"]["verdict"] == "violated" and term["holds"] is False and term["lasso"]["stutter"]
    assert term["lasso"]["trace"]["loop"] == len(term["lasso"]["trace"]["states"]) - 1
    assert doc["liveness"]["summary"]["symmetry_reduction"] is False
    ok = run_cli("check", str(TWO_PC), "-D", "CRASHES=0", "--liveness", "--quiet")
    assert ok.returncode == 0 and "Holds: leadsto Termination" in ok.stdout
    plain = run_cli("check", str(TWO_PC), "--quiet")
    assert plain.returncode == 0 and "Not checked: 1 liveness property" in plain.stdout


def test_cli_liveness_bounds(tmp_path: Path) -> None:
    bounded = run_cli("check", str(GOSSIP), "--liveness", "--max-states", "50", "--quiet")
    assert bounded.returncode == 3 and "Not decided: leadsto NewestEverywhere" in bounded.stdout
    depth = run_cli("check", str(GOSSIP), "--liveness", "--max-depth", "3")
    assert depth.returncode == 2 and "--max-depth does not apply to --liveness" in depth.stderr


def test_cli_liveness_mermaid(tmp_path: Path) -> None:
    src = tmp_path / "toggle.pnyx"
    src.write_text(TOGGLE.replace("FAIRNESS", "fair timer flip"))
    out = tmp_path / "lasso.mmd"
    proc = run_cli("check", str(src), "--liveness", "--quiet", "--mermaid", str(out))
    assert proc.returncode == 1 and "Liveness violated: eventually Done" in proc.stdout
    assert "loop repeats forever" in out.read_text()


def test_prove_refuses_a_liveness_property() -> None:
    pytest.importorskip("z3")
    proc = run_cli("prove", str(GOSSIP), "--invariant", "NewestEverywhere")
    assert proc.returncode == 2 and "NewestEverywhere is a `leadsto` property" in proc.stderr


# ---- against brute force: every fair cycle of small random graphs ----------------------------
def _brute_force_violated(edges: dict[int, list[tuple[str, int]]], goal: set[int], levels: dict[str, int],
                          seeds: set[int]) -> bool:
    """Whether a fair behaviour from a seed avoids `goal` forever, by trying every set of edges
    that could be the ones taken infinitely often (a strongly connected subgraph), and every stutter."""
    region = {v for v in seeds if v not in goal}
    todo = list(region)
    while todo:
        v = todo.pop()
        for _, w in edges.get(v, []):
            if w not in goal and w not in region:
                region.add(w)
                todo.append(w)
    enabled = {v: {lab for lab, w in edges.get(v, []) if w != v} for v in region}  # self loops are stutters
    if any(not any(levels.get(c, UNFAIR) for c in enabled[v]) for v in region):
        return True  # stutter where nothing fair is enabled
    inner = [(v, lab, w) for v in sorted(region) for lab, w in edges.get(v, []) if w in region and w != v]
    for mask in range(1, 2 ** len(inner)):
        chosen = [e for k, e in enumerate(inner) if mask >> k & 1]
        nodes = {v for v, _, _ in chosen} | {w for _, _, w in chosen}
        if not all(_reaches(chosen, a, b) for a in nodes for b in nodes):
            continue
        taken = {lab for _, lab, _ in chosen}
        fair = True
        for c, lv in levels.items():
            if lv == WEAK and all(c in enabled[v] for v in nodes) and c not in taken:
                fair = False
            if lv == STRONG and any(c in enabled[v] for v in nodes) and c not in taken:
                fair = False
        if fair:
            return True
    return False


def _assert_fair_cycle(edges: dict[int, list[tuple[str, int]]], lasso: liveness.Lasso, levels: dict[str, int]) -> None:
    """The lasso's cycle itself meets every fairness condition."""
    states = lasso.trace.states[lasso.loop:]
    steps = zip(lasso.trace.states[lasso.loop:], lasso.trace.states[lasso.loop + 1:], lasso.trace.events[lasso.loop:])
    taken = {ev for a, b, ev in steps if a != b}
    for c, lv in levels.items():
        enabled_at = [any(lab == c and w != s for lab, w in edges.get(s, [])) for s in states]
        if lv == WEAK:
            assert c in taken or not all(enabled_at), (c, states)
        if lv == STRONG:
            assert c in taken or not any(enabled_at), (c, states)


def _reaches(chosen: list[tuple[int, str, int]], a: int, b: int) -> bool:
    seen, todo = {a}, [a]
    while todo:
        v = todo.pop()
        for x, _, w in chosen:
            if x == v and w not in seen:
                seen.add(w)
                todo.append(w)
    return b in seen and any(x == a for x, _, _ in chosen)


def _reachable(edges: dict[int, list[tuple[str, int]]]) -> set[int]:
    seen, todo = {0}, [0]
    while todo:
        for _, w in edges.get(todo.pop(), []):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


@pytest.mark.parametrize("kind", ["eventually", "infinitely", "leadsto"])
def test_each_kind_agrees_with_brute_force_on_random_graphs(kind: str) -> None:
    import random

    rng = random.Random(7)
    checked = violated = 0
    for _ in range(400):
        n = rng.randint(2, 5)
        edges: dict[int, list[tuple[str, int]]] = {}
        for v in range(n):
            for _ in range(rng.randint(0, 3)):
                edges.setdefault(v, []).append((rng.choice("abc"), rng.randrange(n)))
        inner = sum(len(x) for x in edges.values())
        if inner > 11:
            continue
        goal = {v for v in range(1 if kind == "eventually" else 0, n) if rng.random() < 0.4}
        levels = {c: rng.choice((UNFAIR, WEAK, WEAK, STRONG, STRONG)) for c in "abc"}
        reach = _reachable(edges)
        in_goal = lambda s, g=frozenset(goal): s in g  # noqa: E731
        if kind == "eventually":
            prop, seeds = LiveProperty("E", kind, in_goal), {0}
        elif kind == "infinitely":
            prop, seeds = LiveProperty("I", kind, in_goal), reach
        else:
            trig = {v for v in range(n) if rng.random() < 0.5}
            prop, seeds = LiveProperty("L", kind, lambda s, t=frozenset(trig): s in t, in_goal), reach & trig
        v = run(edges, prop, **levels)
        expected = _brute_force_violated(edges, goal, levels, seeds)
        assert (v.holds is False) == expected, (edges, goal, levels)
        if v.lasso is not None:  # the lasso avoids the goal from its trigger on (eventually: from the start)
            start = v.lasso.loop if kind == "infinitely" else v.lasso.trigger
            assert not set(v.lasso.trace.states[start:]) & goal
            assert kind != "eventually" or start == 0
            assert kind != "leadsto" or v.lasso.trace.states[start] in trig
            if not v.lasso.stutter:
                assert v.lasso.trace.states[-1] == v.lasso.trace.states[v.lasso.loop]
                _assert_fair_cycle(edges, v.lasso, levels)
        checked += 1
        violated += expected
    assert checked > 300 and 40 < violated < checked - 40  # both verdicts well represented


def test_the_python_api_checks_liveness() -> None:
    import pnyx

    r = pnyx.check_liveness(pnyx.load(str(TWO_PC)))
    assert not r.ok and r.complete and r.violated[0].name == "Termination"
    bounded = pnyx.check_liveness(pnyx.load(str(GOSSIP)), max_states=100)
    assert not bounded.complete and bounded.verdicts[0].holds is None


def test_progress_is_reported_during_the_exploration() -> None:
    seen: list[int] = []
    opts = liveness.LiveOptions(progress=lambda st: seen.append(st.distinct), progress_every=0.0)
    r = liveness.check(load(str(GOSSIP)), opts)
    assert seen and seen == sorted(seen) and seen[-1] <= r.stats.distinct


RESTART = """
spec restart
nodes 1
budget { crashes = 1 }
state { persistent restarted: bool = false }
on recover { restarted = true }
FAIRNESS
eventually Restarted: forall n in Node: n.restarted
"""


@pytest.mark.parametrize(("fairness", "holds"), [
    ("fair crash\nfair recover", True),
    ("fair recover", False),  # a crash is a fault: not fair unless declared, it may never happen
    ("fair crash", False),  # the node may stay down
])
def test_faults_are_fair_only_when_declared(fairness: str, holds: bool) -> None:
    v = _verdict(RESTART.replace("FAIRNESS", fairness))
    assert v.holds is holds
    if not holds:
        assert v.lasso is not None and v.lasso.stutter
