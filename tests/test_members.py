"""SWIM membership (spec/members.pnyx): its check, its liveness, its mutants, and the running group.

Each mutant (spec/members_mutants/*.toml) must be caught with the violation of the property it
names, in a shortest trace of the length it records; together they break every invariant but
SelfAlive, which a member's own code keeps whatever the bug (no mutant of the catalogue breaks
it; tests below break it by hand). Liveness mutants are edits here, each failing its property.
Sizes where exploration takes more than a few seconds run with PNYX_SLOW_TESTS=1 only.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, run_cli

from pnyx.checker.bfs import Options, check
from pnyx.checker.liveness import check as check_liveness
from pnyx.checker.mutants import Mutant, load_mutants, run_mutant
from pnyx.impl.config import ConfigError, MembersConfig, parse_config, to_toml
from pnyx.impl.faults import run_fault_machine
from pnyx.impl.sim import Simulation
from pnyx.impl.transport import UdpPeers
from pnyx.model.compiler import CompiledSpec, compile_checked, load
from pnyx.model.parser import parse
from pnyx.model.typecheck import check as typecheck

SPEC = ROOT / "spec" / "members.pnyx"
MUTANTS = load_mutants(ROOT / "spec" / "members_mutants")
INVARIANTS = {"SelfAlive", "Refutes", "NeverOlder", "DeadOnlyAfterSuspicion"}
RUN_SLOW = os.environ.get("PNYX_SLOW_TESTS") == "1"


def edited(find: str, replace: str, **consts: object) -> CompiledSpec:
    src = SPEC.read_text()
    assert src.count(find) == 1, find
    return compile_checked(typecheck(parse(src.replace(find, replace), "members.pnyx"), dict(consts)))


def verdicts(cs: CompiledSpec) -> dict[str, bool]:
    return {v.name: v.holds for v in check_liveness(cs).verdicts}


# ---- safety ------------------------------------------------------------------------------
def test_check_holds_and_reaches_detection_and_a_false_positive() -> None:
    """Two members, one crash, no refutation left (MAX_INC=0): every invariant holds; a crash is
    detected, and a live member can be declared dead (a timeout may race its ack)."""
    cs = load(str(SPEC), {"MAX_INC": 0})
    r = check(cs)
    assert r.complete and r.violation is None
    assert {p.name for p in cs.properties if p.kind == "invariant"} == INVARIANTS
    assert r.reached["CrashDetected"] is not None and r.reached["FalsePositive"] is not None
    # ping, delivered (its ack stays in flight), ping-req, suspect, ping, confirm
    assert len(r.reached["FalsePositive"].events) == 6
    assert r.reached["Refuted"] is None  # no incarnation to refute with


@pytest.mark.skipif(not RUN_SLOW, reason="129,000 states: set PNYX_SLOW_TESTS=1")
def test_default_check_holds_and_refutes() -> None:
    r = check(load(str(SPEC), {}))
    assert r.complete and r.violation is None
    assert all(t is not None for t in r.reached.values()), r.reached


@pytest.mark.skipif(not RUN_SLOW, reason="29,000 states: set PNYX_SLOW_TESTS=1")
def test_three_members_use_ping_req_within_nine_steps() -> None:
    """Three members are beyond an exhaustive search (docs/members.md); nine steps of them hold
    every invariant and already relay an ack through a helper."""
    goal = "reachable RelayedAck: exists a in Ack: a.origin != a.dst\n"
    cs = compile_checked(typecheck(parse(SPEC.read_text() + goal, "members.pnyx"), {"N": 3}))
    r = check(cs, Options(max_depth=9))
    assert r.violation is None and not r.complete
    assert r.reached["RelayedAck"] is not None and len(r.reached["RelayedAck"].events) <= 9


@pytest.mark.parametrize("m", MUTANTS, ids=lambda m: m.name)
def test_mutant_is_caught(m: Mutant) -> None:
    _, r = run_mutant(SPEC, m)
    assert r.violation is not None, f"{m.name}: no violation"
    assert (r.violation.kind, r.violation.name) == ("invariant", m.property)
    assert len(r.violation.trace.events) == m.length


def test_the_mutants_cover_every_invariant_a_protocol_bug_can_break() -> None:
    assert {m.property for m in MUTANTS} == INVARIANTS - {"SelfAlive"}


def test_self_alive_catches_a_member_that_believes_a_rumour_about_itself() -> None:
    """A member that merges entries about itself like any other holds itself suspect."""
    cs = edited("  if m == self {\n", "  if false {\n", MAX_INC=0)
    r = check(cs)
    assert r.violation is not None and r.violation.name == "SelfAlive"


# ---- liveness ----------------------------------------------------------------------------
def test_liveness_holds() -> None:
    """At MAX_INC=0 FalseDeathRepaired holds trivially (no member can refute): the slow test below
    checks it with a refutation to make."""
    assert verdicts(load(str(SPEC), {"MAX_INC": 0})) == {"CrashDeclaredDead": True, "FalseDeathRepaired": True,
                                                         "Converged": True}


def test_a_suspicion_never_confirmed_leaves_a_crash_undetected() -> None:
    cs = edited("{ hold(m, Entry(inc: view[m].inc, status: Dead)) }", "{ age[m] = 0 }", MAX_INC=0)  # waits forever
    assert verdicts(cs)["CrashDeclaredDead"] is False


def test_without_fair_probes_nothing_is_detected() -> None:
    cs = edited("fair timer probe\n", "", MAX_INC=0)
    assert verdicts(cs)["CrashDeclaredDead"] is False


@pytest.mark.skipif(not RUN_SLOW, reason="80,000 states without symmetry: set PNYX_SLOW_TESTS=1")
def test_a_false_death_is_repaired_by_refutation() -> None:
    """With a refutation to make, a false death is undone and the views converge; a member that
    does not refute a death leaves both undone."""
    assert verdicts(load(str(SPEC), {"CRASHES": 0}))["FalseDeathRepaired"] is True
    # a member that refutes suspicions but not a death stays dead in the others' views
    cs = edited("if e.status != Alive and e.inc >= view[self].inc", "if e.status == Suspect and e.inc >= view[self].inc",
                CRASHES=0)
    v = verdicts(cs)
    assert v["FalseDeathRepaired"] is False and v["Converged"] is False


# ---- the simulation: many members, random delays and losses, the spec's invariants after every step
def members_spec(n: int) -> CompiledSpec:
    return load(str(SPEC), {**MembersConfig().constants, "N": n})


def views(sim: Simulation) -> list[tuple | None]:
    return [sim.var(i, "view") if sim.nodes[i].up else None for i in range(sim.n)]


@pytest.mark.parametrize("seed", [1, 2])
def test_simulation_detects_a_crash_and_converges(seed: int) -> None:
    """Six members with the service's constants, 5% loss: the invariants hold after every step
    (Simulation checks them), the crashed member ends dead in every live view, and the live views
    agree on every member."""
    sim = Simulation(members_spec(6), seed=seed, loss=0.05)
    sim.run(3.0)
    sim.crash(2)

    def settled(s: Simulation) -> bool:
        vs = [v for v in views(s) if v is not None]
        return all(v[2][1] == 2 for v in vs) and all(v == vs[0] for v in vs)  # status 2: Dead

    assert sim.run(30.0, stop=settled), views(sim)
    assert 3.0 < sim.now < 30.0


def test_simulation_without_loss_declares_no_live_member_dead() -> None:
    """Timers far apart from network delays (ticks of 0.1 s, delays of at most 10 ms) and no loss:
    no live member is ever suspected; what the model allows (a timeout racing its ack) needs a
    delay above a tick."""
    sim = Simulation(members_spec(5), seed=3)
    suspected = []
    sim.observers.append(lambda s, what: suspected.extend(
        (i, m) for i, v in enumerate(views(s)) if v is not None for m in range(s.n) if v[m][1] != 0))
    sim.run(20.0)
    assert suspected == []
    assert sim.stats.steps > 1000


def test_invariants_hold_under_random_fault_schedules() -> None:
    """Four members with the service's constants: hypothesis draws deliveries, ticks, crashes,
    losses, partitions and time; the simulation checks the spec's invariants after every step."""
    run_fault_machine(members_spec(4), examples=25, steps=30, max_crashes=2, max_losses=4, database=None)


# ---- the running group ---------------------------------------------------------------------
def test_loss_is_a_fraction_below_one() -> None:
    assert parse_config({"loss": 0.25}).loss == 0.25
    for bad in (1, 1.5, -0.1, "x", True):
        with pytest.raises(ConfigError, match="loss"):
            parse_config({"loss": bad})


def test_loss_and_the_members_table_survive_the_cluster_s_config_file() -> None:
    cfg = parse_config({"loss": 0.2, "members": {"constants": {"SUSPICION": 7}}})
    back = parse_config(tomllib.loads(to_toml(cfg)))
    assert back.loss == 0.2 and back.members.constants["SUSPICION"] == 7 and back.members.constants["K"] == 3
    assert back.constants("members")["SUSPICION"] == 7


def test_udp_loss_drops_that_fraction_at_the_sender() -> None:
    sent: list[object] = []
    peers = UdpPeers(0, [("127.0.0.1", 1), ("127.0.0.1", 2)], lambda src, payload: None, loss=0.25, rng=random.Random(7))
    peers.transport = SimpleNamespace(sendto=lambda data, addr: sent.append(addr))  # type: ignore[assignment]
    for _ in range(4000):
        peers.send(0, 1, (0, 1))
    assert peers.sent == 4000 and peers.dropped + len(sent) == 4000
    assert 900 < peers.dropped < 1100  # 1000 expected; the binomial's sd is 27
    with pytest.raises(ValueError):
        UdpPeers(0, [], lambda src, payload: None, loss=1.0)


def test_cluster_refuses_loss_on_a_fifo_spec(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("loss = 0.1\n")
    res = run_cli("cluster", "start", "spec/zab.pnyx", "--nodes", "3", "--dir", str(tmp_path / "z"),
                  "--config", str(cfg), "--detach")
    assert res.returncode == 2 and "only an unordered spec" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_bench_members_smoke() -> None:
    """benchmarks/bench_members.py --smoke: a 4-node group, one kill -9, one lossy window."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_members.py"), "--smoke"],
                          capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Detection of a kill -9: 4 nodes" in out and "False positives under loss: 4 nodes" in out
    kill_row = next(line for line in out.splitlines() if line.split()[:1] == ["1"])
    first, last = float(kill_row.split()[3]), float(kill_row.split()[5])
    assert 0 < first <= last < 60
    loss_row = next(line for line in out.splitlines() if line.startswith(" 0.10"))
    assert int(loss_row.split()[1]) > 0  # probes were made and counted
    assert "Traceback" not in proc.stderr
