"""The readings of Demers et al.'s simulation in benchmarks/bench_epidemics.py change what they say.

Each option is checked by an identity that holds exactly, run by run, under one reading and
fails under the other, on spec/gossip_rumor.pnyx's compiled handlers at n = 60."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_epidemics", ROOT / "benchmarks" / "bench_epidemics.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_epidemics"] = bench  # its dataclasses look their module up
_spec.loader.exec_module(bench)

N = 60
SEEDS = 12
FEEDBACK_COUNTER = {"N": N, "FEEDBACK": True, "COIN": False}


def _runs(consts: dict, reading: object) -> list:
    return bench.runs(bench.RUMOR, consts, SEEDS, seed0=5, reading=reading)


def _reached(r: object) -> int:
    return sum(1 for t in r.infected_at if t >= 0)


@pytest.mark.parametrize("k", [2, 3])
def test_lifetime_counter_sends_exactly_k_unnecessary_pushes_per_site(k: int) -> None:
    """Counted over a life, every reached site makes K unnecessary contacts and every other push
    reaches a new site: traffic = (K+1) * reached - 1, the paper's lower bound. Counted in a row,
    a necessary contact restarts the count, so some runs send more (up to its bound k(2m - 1))."""
    lifetime = _runs({**FEEDBACK_COUNTER, "K": k}, bench.READINGS[1])
    assert [r.pushes for r in lifetime] == [(k + 1) * _reached(r) - 1 for r in lifetime]
    in_a_row = _runs({**FEEDBACK_COUNTER, "K": k}, bench.READINGS[0])
    assert all((k + 1) * _reached(r) - 1 <= r.pushes <= k * (2 * _reached(r) - 1) for r in in_a_row)
    assert any(r.pushes > (k + 1) * _reached(r) - 1 for r in in_a_row)


def test_pushes_answered_at_the_cycle_start_can_both_be_necessary() -> None:
    """With K = 1 and pushes answered on arrival, a site's first unnecessary contact ends it and
    only the first push to reach a site is necessary: traffic = 2 * reached - 1. Answered from the
    state at the cycle's start, two pushes that reach one ignorant site in a cycle both find it
    ignorant, so traffic exceeds that in some run (and never falls below it)."""
    on_arrival = _runs({**FEEDBACK_COUNTER, "K": 1}, bench.READINGS[0])
    assert [r.pushes for r in on_arrival] == [2 * _reached(r) - 1 for r in on_arrival]
    at_start = _runs({**FEEDBACK_COUNTER, "K": 1}, bench.READINGS[2])
    assert all(r.pushes >= 2 * _reached(r) - 1 for r in at_start)
    assert any(r.pushes > 2 * _reached(r) - 1 for r in at_start)


def test_a_site_infected_in_a_cycle_pushes_in_the_next_one_unless_same_cycle() -> None:
    """Blind, coin, K = 1: each site pushes once, so the news travels a chain. One hop per cycle
    puts the sites at cycles 0, 1, 2, ... (the paper's Table 2, k = 1: t_ave 19 = t_last 38 / 2);
    with sites processed in turn within a cycle, some hops happen in the same cycle."""
    blind_coin = {"N": N, "FEEDBACK": False, "COIN": True, "K": 1}
    for r in _runs(blind_coin, bench.READINGS[0]):
        assert sorted(t for t in r.infected_at if t >= 0) == list(range(_reached(r)))
    same_cycle = _runs(blind_coin, bench.READINGS[4])
    assert any(r.t_last < _reached(r) - 1 for r in same_cycle)


def test_a_reading_that_contradicts_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot infect within it"):
        bench.Reading("both", judged="cycle-start", timing="same-cycle")
    with pytest.raises(ValueError, match="judged arrival"):
        bench.Reading("typo", judged="sometime")


def test_the_papers_rounding_widens_the_comparison_by_half_a_unit() -> None:
    assert [bench.half_unit(x) for x in ("0.0036", "0.20", "14.1", "19")] == pytest.approx([5e-5, 5e-3, 0.05, 0.5])
