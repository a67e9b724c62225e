"""The z3 back end: inductive invariants, counterexamples to induction, bounded model checking.

Every verdict is cross-checked with the explicit side: a CTI's states are evaluated
with the compiled property functions, and BMC's depth is compared with BFS's shortest
trace on small broken models.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pnyx.checker.bfs import Options
from pnyx.checker.bfs import check as bfs_check
from pnyx.checker.z3.bmc import bmc
from pnyx.checker.z3.prove import explicit_reach, prove
from pnyx.cli import main
from pnyx.model.compiler import CompiledSpec, compile_checked, load
from pnyx.model.errors import ArgumentError, PnyxError
from pnyx.model.parser import parse
from pnyx.model.system import Deliver
from pnyx.model.typecheck import check

ROOT = Path(__file__).resolve().parent.parent
GOSSIP = ROOT / "spec" / "gossip.pnyx"
ZAB = ROOT / "spec" / "zab_broadcast.pnyx"
ZAB_HELPERS = ["PrefixOfLeader", "CommittedLogged", "CommittedOnQuorum", "AckedLogged",
               "ProposeOk", "AckOk", "CommitOk", "SyncOk"]
SMALL_ZAB = {"TXNS": 1, "VALUES": 1, "CAP": 2}


def mutant(tmp_path: Path, src: Path, old: str, new: str, name: str) -> Path:
    text = src.read_text()
    assert old in text, f"the mutation site {old!r} moved"
    out = tmp_path / name
    out.write_text(text.replace(old, new))
    return out


def holds(cs: CompiledSpec, name: str, state: tuple) -> bool:
    p = next(p for p in cs.properties if p.name == name)
    return bool(p.holds(state[0], state[1], state[2]))


def from_text(text: str) -> CompiledSpec:
    spec = parse(text, "inline.pnyx")
    return compile_checked(check(spec))


# ---- prove -------------------------------------------------------------------
def test_gossip_validity_alone_is_not_inductive_and_its_cti_really_breaks_it() -> None:
    cs = load(str(GOSSIP), {"WRITES": 1})
    res = prove(cs, ["Validity"])
    assert not res.ok and res.cti is not None
    cti = res.cti
    assert cti.kind == "step" and cti.property == "Validity"
    assert cti.pre is not None and cti.event is not None
    assert holds(cs, "Validity", cti.pre)  # the pre-state satisfies the invariant ...
    assert not holds(cs, "Validity", cti.post)  # ... and the step breaks it, by the compiled evaluator
    assert cti.explicit_agrees
    assert isinstance(cti.event, Deliver)  # a Push carrying a value nobody wrote
    assert "n" in cti.bindings
    # the explicit checker never meets that pre-state (its nodes perhaps, never with that
    # Push in flight): the invariant needs strengthening
    reach = explicit_reach(cs, cti.pre)
    assert reach.complete and not reach.exact and not reach.network


def test_gossip_validity_with_its_helper_is_inductive() -> None:
    cs = load(str(GOSSIP))
    res = prove(cs, ["Validity", "PushValid", "DigestValid", "AnswerValid"])
    assert res.ok, res.cti
    assert res.branches > 0 and res.queries > res.branches


def test_zab_broadcast_agreement_is_inductive() -> None:
    cs = load(str(ZAB), SMALL_ZAB)
    res = prove(cs, ["Agreement"] + ZAB_HELPERS)
    assert res.ok, res.cti
    assert res.channel_bound is None  # the spec declares its channels' capacity


def test_zab_broadcast_without_a_helper_gives_a_cti_the_explicit_evaluator_confirms() -> None:
    cs = load(str(ZAB), SMALL_ZAB)
    assumed = ["Agreement"] + [h for h in ZAB_HELPERS if h != "ProposeOk"]
    res = prove(cs, assumed)
    assert not res.ok and res.cti is not None and res.cti.kind == "step"
    cti = res.cti
    assert cti.property == "PrefixOfLeader" and cti.event is not None
    ev = cti.event
    assert isinstance(ev, Deliver) and ev.msg[0] == 0  # a follower logs a bogus Propose
    assert cti.pre is not None
    reach = explicit_reach(cs, cti.pre)
    assert reach.complete and not reach.found
    # the pre-state is arbitrary but never has a down node act or hold messages (the step
    # relation needs the receiver up; the prover assumes what every reachable state shows)
    ns, up, net, budget = cti.pre
    assert up[cti.event[1]]
    assert all(not ch for ci, ch in enumerate(net) if not (up[ci // cs.n_nodes] and up[ci % cs.n_nodes]))
    assert sum(not u for u in up) <= budget[1]
    for name in assumed:
        assert holds(cs, name, cti.pre), name
    assert not holds(cs, cti.property, cti.post)


def test_a_wrong_invariant_gives_a_cti_between_real_states() -> None:
    cs = from_text("""
spec counter
nodes 2
budget { requests = 3 }
state { volatile x: 0..3 = 0 }
on request bump() when x < 3 { x = x + 1 }
invariant Small: forall n in Node: n.x <= 1
invariant Zero: forall n in Node: n.x == 0 or n.x == 1 or n.x == 2 or n.x == 3
""")
    res = prove(cs, ["Small"])
    assert res.cti is not None and res.cti.kind == "step"
    assert holds(cs, "Small", res.cti.pre) and not holds(cs, "Small", res.cti.post)
    # Small is no invariant at all: the explicit checker and BMC break it after two requests
    explicit = bfs_check(cs)
    assert explicit.violation is not None and len(explicit.violation.trace) == 2
    # the pre-state (one node at 1) is reached in one request, maybe with another budget
    reach = explicit_reach(cs, res.cti.pre)
    assert reach.found and reach.network and reach.depth == 1
    assert len(bmc(cs, 3).events) == 2
    assert prove(cs, ["Zero"]).ok


def test_unknown_or_non_invariant_names_are_argument_errors() -> None:
    cs = load(str(GOSSIP))
    with pytest.raises(ArgumentError, match="no invariant 'Nope'"):
        prove(cs, ["Nope"])
    with pytest.raises(ArgumentError, match="reachable"):
        prove(cs, ["AllHoldLatest"])


def test_an_unsupported_construct_is_named_with_its_position() -> None:
    cs = from_text("""
spec bad
nodes 2
state { volatile seen: set[int] = {} }
on timer t { seen = seen | {1} }
invariant Ok: forall n in Node: len(n.seen) < 5
""")
    with pytest.raises(PnyxError) as info:
        prove(cs, ["Ok"])
    text = str(info.value)
    assert "inline.pnyx:4:" in text and "does not support" in text and "set[int]" in text


def test_an_unsupported_message_field_is_located_at_the_field() -> None:
    cs = from_text("""
spec bad
nodes 2
message M(ok: 0..1, s: set[int])
state { volatile x: 0..1 = 0 }
on M(a, b) { x = a }
invariant Ok: forall n in Node: n.x <= 1
""")
    with pytest.raises(PnyxError) as info:
        prove(cs, ["Ok"])
    assert "inline.pnyx:4:21:" in str(info.value) and "set[int]" in str(info.value)


def test_the_z3_back_end_handles_every_expression_and_statement_of_the_ir() -> None:
    from pnyx.checker.z3.translate import _Symbolic
    from pnyx.model import ir

    assert _Symbolic.missing_kinds(ir.Expr) == [] and _Symbolic.missing_kinds(ir.Stmt) == []


# ---- bmc ---------------------------------------------------------------------
def bfs_depth(cs: CompiledSpec) -> tuple[str, int]:
    res = bfs_check(cs, Options(symmetry=False, max_states=200_000))
    assert res.violation is not None
    return res.violation.name, len(res.violation.trace)


def test_bmc_finds_a_broken_gossip_at_the_depth_bfs_does(tmp_path: Path) -> None:
    # a write no longer records itself: Validity breaks after one step
    path = mutant(tmp_path, GOSSIP, "  written = written | {v}\n", "", "gossip_unrecorded.pnyx")
    cs = load(str(path), {"WRITES": 1})
    name, depth = bfs_depth(cs)
    res = bmc(cs, depth)
    assert (res.kind, res.name, len(res.events)) == ("invariant", name, depth)
    assert res.steps is not None  # the trace replays on the explicit model
    assert bmc(cs, depth - 1).ok


def test_bmc_finds_a_deeper_gossip_bug_at_the_depth_bfs_does(tmp_path: Path) -> None:
    # pushing to peers that already have the news: NeverTwice breaks after a write and two pushes
    path = mutant(tmp_path, GOSSIP, "{p in Node where p != self and p not in sent}", "{p in Node where p != self}",
                  "gossip_repeats.pnyx")
    cs = load(str(path), {"WRITES": 1, "LOSSES": 0})
    name, depth = bfs_depth(cs)
    assert name == "NeverTwice" and depth >= 3
    res = bmc(cs, depth)
    assert (res.kind, res.name, len(res.events)) == ("invariant", name, depth)
    assert res.steps is not None
    assert bmc(cs, depth - 1).ok


def test_bmc_finds_a_zab_commit_without_quorum_at_the_depth_bfs_does(tmp_path: Path) -> None:
    # `>=` instead of `>`: with 4 servers, 2 acknowledgements commit
    path = mutant(tmp_path, ZAB, "2 * len({p in Node where acked[p] >= k}) > N",
                  "2 * len({p in Node where acked[p] >= k}) >= N", "zab_half_quorum.pnyx")
    cs = load(str(path), {"N": 4, "TXNS": 1, "VALUES": 1, "CRASHES": 0, "CAP": 2})
    name, depth = bfs_depth(cs)
    assert name == "CommittedOnQuorum"
    res = bmc(cs, depth)
    assert (res.kind, res.name, len(res.events)) == ("invariant", name, depth)
    assert res.steps is not None
    assert res.bindings == {"i": 0}


def test_bmc_reports_a_handler_failure_as_bfs_does() -> None:
    cs = from_text("""
spec overflow
nodes 1
budget { requests = 3 }
state { volatile x: 0..1 = 0 }
on request bump() { x = x + 1 }
invariant Fine: forall n in Node: n.x >= 0
""")
    res = bmc(cs, 3)
    assert res.kind == "error" and "x leaves its declared type" in res.name
    explicit = bfs_check(cs)
    assert explicit.violation is not None and explicit.violation.kind == "error"
    assert len(res.events) == len(explicit.violation.trace) == 1


def test_bmc_of_correct_models_finds_nothing() -> None:
    assert bmc(load(str(GOSSIP), {"WRITES": 1}), 3).ok
    assert bmc(load(str(ZAB), {"TXNS": 1, "VALUES": 1, "CAP": 2}), 3).ok


# ---- command line --------------------------------------------------------------
def test_cli_prove_and_bmc(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["prove", str(GOSSIP), "--invariant", "Validity", "--assume", "PushValid,DigestValid,AnswerValid"]) == 0
    assert "Proved" in capsys.readouterr().out
    assert main(["prove", str(GOSSIP), "-D", "WRITES=1", "--invariant", "Validity", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["inductive"] is False and out["cti"]["property"] == "Validity"
    assert out["cti"]["explicit_evaluation_agrees"] is True
    assert out["cti"]["pre_state_reachable"]["exact"] is False
    assert out["cti"]["pre_state_reachable"]["network"] is False
    assert main(["prove", str(GOSSIP), "--invariant", "Nope"]) == 2
    assert "no invariant 'Nope'" in capsys.readouterr().err
    broken = mutant(tmp_path, GOSSIP, "  written = written | {v}\n", "", "g.pnyx")
    assert main(["bmc", str(broken), "-D", "WRITES=1", "--depth", "2", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["violation"]["property"] == "Validity" and out["violation"]["length"] == 1
    assert out["violation"]["replays_on_explicit_model"] is True
    assert main(["bmc", str(broken), "-D", "WRITES=1", "--depth", "2"]) == 1
    assert "Invariant violated" in capsys.readouterr().out
    assert main(["bmc", str(GOSSIP), "--depth", "-1"]) == 2
    assert "--depth" in capsys.readouterr().err
    assert main(["bmc", str(GOSSIP), "-D", "WRITES=1", "--depth", "2", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "No violation" in captured.out and "Reductions: symmetric nodes first act in id order" in captured.out
    assert [ln.split(":")[0] for ln in captured.err.splitlines()] == ["depth 0", "depth 1", "depth 2"]
    assert main(["bmc", str(GOSSIP), "-D", "WRITES=1", "--depth", "2", "--no-reduce", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reductions"] == {"symmetry": False, "independent_steps_ordered": False}
    assert len(out["depth_cpu_seconds"]) == 3


@pytest.mark.parametrize("network", ["fifo", "unordered", "fifo capacity 1"])
def test_bmc_follows_disconnect_like_bfs(network: str) -> None:
    from specs import compiled
    from test_connections_and_budgets import CLOSE

    lost = ("invariant NotLost: not ((exists a in Node: a.sent and a.closed) and (forall b in Node: b.got == 0)"
            " and len(Ping) == 0)")
    src = CLOSE.replace("network fifo", f"network {network}").replace("reachable Lost:", "// reachable Lost:") + lost + "\n"

    cs = compiled(src.replace("DISCONNECT", "disconnect node(2)"))
    found = bfs_check(cs).violation
    assert found is not None and found.name == "NotLost" and len(found.trace) == 2
    res = bmc(cs, 3)
    assert not res.ok and res.name == "NotLost" and len(res.events) == 2
    assert res.steps is not None  # the trace replays on the explicit model
    assert bmc(compiled(src.replace("DISCONNECT", "")), 4).ok  # without it the ping is never lost


def test_a_sequence_bounded_at_zero_is_translated() -> None:
    # ZAB with TXNS=0 reads last(history) under `len(history) == 0`: a branch never taken
    src = """
spec empty
nodes 1
budget { requests = 1 }
state {
  volatile s: seq[0..1, 0] = []
  volatile x: 0..1 = 0
}
on request r() { x = if len(s) == 0 then 0 else last(s) }
invariant Ok: forall n in Node: n.x == 0
"""
    cs = from_text(src)
    assert bmc(cs, 2).ok and prove(cs, ["Ok"]).ok
    # taken, the call fails, as in the explicit checker
    failing = from_text(src.replace("if len(s) == 0 then 0 else last(s)", "last(s)"))
    res = bmc(failing, 2)
    assert res.kind == "error" and "last() of an empty sequence" in res.name and len(res.events) == 0
    explicit = bfs_check(failing).violation
    assert explicit is not None and explicit.kind == "error" and len(explicit.trace) == 0


@pytest.mark.parametrize("command", [["bmc", "--depth", "2"], ["prove", "--invariant", "Validity", "--assume", "PushValid"]])
def test_a_huge_constant_is_a_located_refusal_not_an_exhausted_machine(command: list[str],
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # gossip's `written: set[WriteId]` with WriteId = 0..WRITES: a billion z3 terms per state before this check
    code = main([command[0], str(GOSSIP), "-D", "WRITES=1000000000", *command[1:]])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "gossip.pnyx:44:3" in err and "more than 10,000 values" in err
