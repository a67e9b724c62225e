"""ZAB properties that the mutant catalogue does not isolate, each broken by a hand-built state.

The mutant catalogue (spec/zab_mutants/) shows most invariants violated by a realistic bug. For
TotalOrder, PrimaryIntegrity and CommittedPrefixesAgree the broken protocols we worked through
break Agreement (declared earlier) or NoCommittedTxnLost (in a shorter trace) first;
GlobalPrimaryOrder has a mutant (leader_merges_late_joiner, a slow one) and a state here too.
Each test here builds a state violating exactly one invariant and checks that the compiled
property is False there, True on the initial state, and that every other invariant still holds
there (so the property, not a neighbour, is what catches it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.checker.model import SpecModel
from pnyx.model.compiler import CompiledSpec, load

SPEC = Path(__file__).resolve().parent.parent / "spec" / "zab.pnyx"
LOOKING, FOLLOWING, LEADING = 0, 1, 2
A = ((1, 1), 1)  # epoch 1, counter 1, value 1
B = ((1, 2), 1)  # the next write of epoch 1
C = ((2, 1), 1)  # the first write of epoch 2


@pytest.fixture(scope="module")
def cs() -> CompiledSpec:
    return load(str(SPEC), {"TXNS": 2, "MAX_EPOCH": 2})


def state(cs: CompiledSpec, *nodes: dict[str, object]) -> tuple:
    """The initial global state with the given variables of nodes n1, n2, n3 replaced."""
    ns, up, net, budget = SpecModel(cs).init_states()[0]
    slot = {v.name: i for i, v in enumerate(cs.vars)}
    out = []
    for ns_i, changes in zip(ns, nodes + ({},) * (len(ns) - len(nodes))):
        node = list(ns_i)
        for name, value in changes.items():
            node[slot[name]] = value
        out.append(tuple(node))
    return tuple(out), up, net, budget


def violated(cs: CompiledSpec, st: tuple) -> list[str]:
    return [p.name for p in cs.properties if p.kind == "invariant" and not p.holds(st[0], st[1], st[2])]


def test_every_invariant_holds_initially(cs: CompiledSpec) -> None:
    assert violated(cs, SpecModel(cs).init_states()[0]) == []


def test_total_order_catches_a_recommitted_position(cs: CompiledSpec) -> None:
    # n1 delivered A at position 0, crashed, and later committed another transaction there: the
    # ghost `conflict` records it; nobody delivered that other transaction, so Agreement holds
    st = state(cs, {"delivered": (A,), "conflict": True}, {"proposed": (A,), "currentEpoch": 1, "history": (A,)})
    assert violated(cs, st) == ["TotalOrder"]


def test_global_primary_order_catches_an_older_epoch_delivered_late(cs: CompiledSpec) -> None:
    # n1 delivered epoch 2's C before epoch 1's A; the primary of epoch 2 (n2) holds A, after C
    st = state(cs, {"delivered": (C, A)},
               {"proposed": (C,), "currentEpoch": 2, "history": (C, A)},
               {"proposed": (A,), "currentEpoch": 1, "history": (A,)})
    assert violated(cs, st) == ["GlobalPrimaryOrder"]


def test_primary_integrity_catches_a_primary_missing_a_delivered_txn(cs: CompiledSpec) -> None:
    # n2 broadcast C in epoch 2 without A, which n1 delivered in epoch 1; n2 has stepped down
    # since (a LEADING, established primary would break NoCommittedTxnLost as well)
    st = state(cs, {"delivered": (A,), "currentEpoch": 1, "history": (A,)},
               {"proposed": (C,), "currentEpoch": 2, "history": (C,), "role": LOOKING},
               {"proposed": (A,), "currentEpoch": 1, "history": (A,)})
    assert violated(cs, st) == ["PrimaryIntegrity"]


def test_committed_prefixes_agree_catches_diverging_commit_points(cs: CompiledSpec) -> None:
    # the volatile commit points disagree (A vs C at position 0) while the ghost deliveries do
    # not show it: with deliveries recorded, Agreement would fail first
    st = state(cs, {"history": (A,), "commit": 1, "currentEpoch": 1, "role": FOLLOWING},
               {"history": (C,), "commit": 1, "currentEpoch": 2, "role": FOLLOWING})
    assert violated(cs, st) == ["CommittedPrefixesAgree"]


def test_a_consistent_hand_built_state_breaks_nothing(cs: CompiledSpec) -> None:
    # the builder itself does not break invariants: the same data, told consistently, holds
    st = state(cs, {"delivered": (A, B), "currentEpoch": 1, "history": (A, B), "commit": 2},
               {"delivered": (A, B), "proposed": (A, B), "currentEpoch": 1, "history": (A, B), "commit": 2,
                "role": LEADING, "phase": 3})
    assert violated(cs, st) == []
