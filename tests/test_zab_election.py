"""The ZAB service's Fast Leader Election (impl/zab_election.py): FLE's decisions drive zab.pnyx's `elect`.

The composition is sound when every leader FLE names is a value zab.pnyx's `choose` may take and,
for a decision by vote, one the RANKED guard lets lead the follower (docs/fle.md). Both are
tested here on the compiled handlers themselves: FLE runs in the deterministic simulation with
each server's history drawn at random and answered by the service's own chooser, then each
follower's ZAB `elect` runs with the service's `DecidedLeader` and its FOLLOWERINFO is
delivered to the leader's ZAB. A broken FLE (a mutant) must make the same check fail.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

import pytest
from test_impl_zab_ops import _Host
from test_impl_zab_sim import RUNTIME

from pnyx.checker.mutants import load_mutants
from pnyx.impl.config import ConfigError, TimerConfig, load_config, parse_config, to_toml
from pnyx.impl.node import HandlerError, NodeRuntime
from pnyx.impl.sim import Simulation
from pnyx.impl.storage import MemoryStorage
from pnyx.impl.zab_election import FLE_SPEC, DecidedLeader, HistoryChooser, encode_zxid, load_fle, vote_leader_index
from pnyx.impl.zab_service import ZabService
from pnyx.model.compiler import CompiledSpec, load

ROOT = Path(__file__).resolve().parent.parent
ZAB = str(ROOT / "spec" / "zab.pnyx")
TXNS, EPOCHS = 4, 3
LOOKING, FOLLOWING, LEADING = 0, 1, 2


class _Drop:
    def send(self, src: int, dst: int, msg: tuple) -> None:
        pass


def zab_cs() -> CompiledSpec:
    return load(ZAB, {"TXNS": TXNS, "MAX_EPOCH": EPOCHS, "TIMEOUTS": 10, "VALUES": 10})


def zab_node(cs: CompiledSpec, i: int, epoch: int, zxid: tuple[int, int], chooser: DecidedLeader | None = None) -> NodeRuntime:
    """A LOOKING ZAB server whose vote is (epoch, zxid): currentEpoch and the log's last zxid."""
    rt = NodeRuntime(cs, i, MemoryStorage(), _Drop(), chooser=chooser)
    rt.start()
    slot = {v.name: v.slot for v in cs.vars}
    st = list(rt.state)
    st[slot["acceptedEpoch"]] = st[slot["currentEpoch"]] = epoch
    st[slot["history"]] = (((zxid, 0),) if zxid != (0, 0) else ())
    rt.state = tuple(st)
    return rt


def random_history(rng: random.Random) -> tuple[int, tuple[int, int]]:
    """(currentEpoch, last zxid) as ZAB has them: the zxid's epoch is at most currentEpoch."""
    epoch = rng.randint(0, EPOCHS)
    zepoch = rng.randint(0, epoch)
    return epoch, (zepoch, rng.randint(1, TXNS) if zepoch else 0)


def elect_and_join(zcs: CompiledSpec, fle: CompiledSpec, seed: int, broken: bool = False) -> tuple[int, int]:
    """One FLE election among three servers with random histories, then ZAB's `elect` at every
    follower that decided by vote and its FOLLOWERINFO at the leader: (followers checked, refused).
    The spec's invariants are checked after every step, except for a `broken` FLE (which need not
    decide either)."""
    rng = random.Random(seed)
    hist = [random_history(rng) for _ in range(3)]
    choosers = [HistoryChooser(lambda h=h: (h[0], encode_zxid(h[1], TXNS))) for h in hist]
    cfg = load_config(None)
    cfg.timers["restart"] = TimerConfig(period=1e9)  # a decided server keeps its decision in this run
    sim = Simulation(fle, seed=seed, config=cfg, choosers=choosers, check_invariants=not broken)
    role, vote, by_vote = ({v.name: v.slot for v in fle.vars}[n] for n in ("role", "vote", "byVote"))
    decided = sim.run(5.0, stop=lambda s: all(st[role] != LOOKING for st in s.states), max_steps=3000)
    assert decided or broken, f"seed {seed}: no decision"
    info = next(m for m in zcs.messages if m.name == "FollowerInfo")
    checked = refused = 0
    for n, st in enumerate(sim.states):
        if st[role] != FOLLOWING or not st[by_vote]:
            continue
        leader = st[vote][vote_leader_index(fle)]
        chooser = DecidedLeader()
        follower = zab_node(zcs, n, *hist[n], chooser=chooser)
        chooser.leader = leader
        step = follower.timer(follower.timer_handler("elect"))
        assert step is not None and chooser.refused == 0
        ((dst, msg),) = step.sends
        assert dst == leader and msg[0] == info.id
        at_leader = zab_node(zcs, leader, *hist[leader])
        checked += 1
        refused += at_leader.deliver(n, msg) is None  # RANKED: the follower's vote ranks above the leader's
    return checked, refused


def test_every_fle_follower_is_one_the_ranked_guard_accepts() -> None:
    zcs = zab_cs()
    fle = load_fle(zcs)
    results = [elect_and_join(zcs, fle, seed) for seed in range(60)]
    assert sum(c for c, _ in results) >= 60  # decisions by vote were checked, not vacuously none
    assert sum(r for _, r in results) == 0


def test_a_broken_fle_makes_the_ranked_guard_refuse(tmp_path: Path) -> None:
    """Negative control: FLE ranking votes without the epoch (a catalogued mutant) elects leaders
    whose vote ranks below a follower's, and the check above sees the guard refuse them."""
    (mutant,) = [m for m in load_mutants(ROOT / "spec" / "fle_mutants") if m.name == "rank_ignores_epoch"]
    path = tmp_path / "fle.pnyx"
    path.write_text(mutant.apply(FLE_SPEC.read_text()))
    zcs = zab_cs()
    fle = load_fle(zcs, path)
    refused = sum(elect_and_join(zcs, fle, seed, broken=True)[1] for seed in range(60))
    assert refused > 0


def test_decided_leader_refuses_a_value_zab_cannot_choose() -> None:
    """`elect` chooses among the other servers: a decision naming this server itself is refused."""
    zcs = zab_cs()
    chooser = DecidedLeader()
    rt = zab_node(zcs, 1, 0, (0, 0), chooser=chooser)
    chooser.leader = 1
    with pytest.raises(HandlerError, match="not among ZAB's options"):
        rt.timer(rt.timer_handler("elect"))
    assert chooser.refused == 1
    chooser.leader = None  # not armed: no election decided
    with pytest.raises(HandlerError):
        rt.timer(rt.timer_handler("elect"))


def test_history_outside_fle_ranges_is_an_error() -> None:
    fle = load_fle(zab_cs())
    chooser = HistoryChooser(lambda: (EPOCHS + 1, 0))  # an epoch above FLE's MAX_EPOCH (ZAB's)
    rt = NodeRuntime(fle, 0, MemoryStorage(), _Drop(), chooser=chooser)
    rt.start()
    with pytest.raises(HandlerError, match="outside FLE's ranges"):
        rt.timer(rt.timer_handler("start"))


def test_zxid_encoding_keeps_zab_order() -> None:
    zxids = [(e, c) for e in range(4) for c in range(TXNS + 1)]
    assert sorted(zxids, key=lambda z: encode_zxid(z, TXNS)) == sorted(zxids)
    assert len({encode_zxid(z, TXNS) for z in zxids}) == len(zxids)


def test_election_setting() -> None:
    assert load_config(None).zab.election == "fle"
    cfg = parse_config({"zab": {"election": "random"}})
    assert cfg.zab.election == "random"
    assert 'election = "random"' in to_toml(cfg)
    assert parse_config({"zab": {"election": "fle"}}).zab == replace(cfg.zab, election="fle")
    with pytest.raises(ConfigError, match="election: expected one of 'fle', 'random', got 'paxos'"):
        parse_config({"zab": {"election": "paxos"}})
    with pytest.raises(ConfigError, match="election"):
        parse_config({"zab": {"election": 1}})


def test_the_service_runs_fle_and_follows_its_decision() -> None:
    """The wiring, step by step on a stand-in host: FLE's first round at start, ZAB's `elect` on
    FLE's decision, a new round with ZAB's present history when ZAB is LOOKING again."""
    host = _Host(0)  # [zab] election = "fle", the default
    svc = ZabService(host)
    asyncio.run(svc.start())
    fle, zab = svc.election.node.rt, svc.node.rt
    note = next(m.id for m in fle.cs.messages if m.name == "Note")
    zmsg = {m.name: m.id for m in zab.cs.messages}

    def notes() -> list[tuple[int, tuple]]:
        out = [(dst, m[1]) for dst, m in host.sent if m[0] == "fle"]
        host.sent.clear()
        return out

    assert notes() == [(1, (note, (0, 0, 0), 1, LOOKING)), (2, (note, (0, 0, 0), 1, LOOKING))]  # its own vote, round 1
    assert svc._name(zab.state, "role") == "LOOKING"
    svc.on_peer(2, ("fle", (note, (0, 0, 2), 1, LOOKING)))  # n3's vote ranks higher (same history, higher id)
    assert {dst for dst, _ in notes()} == {1, 2}  # adopted and sent on
    assert svc._name(zab.state, "role") == "LOOKING"  # no decision before the finalize wait ends
    fle.timer(fle.timer_handler("finalize"))  # what the host's finalize timer runs
    assert svc._name(zab.state, "role") == "FOLLOWING" and svc._name(zab.state, "leader") == "some(n3)"
    assert [dst for dst, m in host.sent if m[0] == zmsg["FollowerInfo"]] == [2]
    assert svc.info()["fle_role"] == "FOLLOWING" and svc.info()["fle_elections"] == 1
    assert svc.election.leader.refused == 0
    # n3 leads epoch 1 with one transaction; then its follower loses it
    zab.deliver(2, (zmsg["NewEpoch"], 1))
    txn = (((1, 1), ((2, 7, 1, 1), ("create", "/a", b"x"))),)
    zab.deliver(2, (zmsg["NewLeader"], 1, False, (0, 0), 0, (), txn, True))
    host.sent.clear()
    zab.timer(zab.timer_handler("followerTimeout"))
    assert svc._name(zab.state, "role") == "LOOKING"
    vote = (1, encode_zxid((1, 1), RUNTIME["TXNS"]), 0)  # (currentEpoch, last zxid, itself)
    assert notes() == [(1, (note, vote, 2, LOOKING)), (2, (note, vote, 2, LOOKING))]


def test_random_election_runs_no_fle() -> None:
    host = _Host(0, election="random")
    svc = ZabService(host)
    asyncio.run(svc.start())
    assert svc.election is None and not [m for _, m in host.sent if m[0] == "fle"]
    assert "elect" in host.timers and "finalize" not in host.timers
    svc.on_peer(1, ("fle", (0, (0, 0, 1), 1, LOOKING)))  # a peer electing by FLE: ignored, not an error
    assert svc.info()["election"] == "random"


def test_a_leader_no_follower_joins_starts_a_new_round_after_looking_timeout() -> None:
    """FLE decides LEADING; ZAB stays LOOKING until FOLLOWERINFO comes. If none comes within
    `lookingTimeout` (restarted by the decision), the host's timer starts a new round."""
    host = _Host(0)
    svc = ZabService(host)
    asyncio.run(svc.start())
    fle = svc.election.node.rt
    note = next(m.id for m in fle.cs.messages if m.name == "Note")
    watchdog = host.timers["lookingTimeout"]
    svc.on_peer(1, ("fle", (note, (0, 0, 0), 1, LOOKING)))  # n2 votes for n1
    fle.timer(fle.timer_handler("finalize"))
    assert svc.info()["fle_role"] == "LEADING" and svc._name(svc.node.rt.state, "role") == "LOOKING"
    assert watchdog.resets == 1
    host.sent.clear()
    svc.election._still_looking()  # the timer's callback, once its period ran out
    assert svc.info()["fle_round"] == 2 and svc.info()["fle_role"] == "LOOKING"
    assert {dst for dst, m in host.sent if m[0] == "fle"} == {1, 2}
    svc.election._still_looking()  # a round going on: nothing more
    assert svc.info()["fle_round"] == 2
