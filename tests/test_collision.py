"""The summary states the chance that two distinct states shared a fingerprint (as TLC does)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

from pnyx.checker.bfs import Stats

ROOT = Path(__file__).resolve().parent.parent


def test_the_birthday_estimate() -> None:
    assert Stats(distinct=0).collision_probability == 0.0
    assert Stats(distinct=2).collision_probability == 2.0**-64  # one pair
    assert abs(Stats(distinct=2**32).collision_probability - 0.5) < 1e-9  # about 2^63 pairs


def test_check_reports_it_and_simulate_does_not() -> None:
    spec = str(ROOT / "spec" / "gossip.pnyx")
    checked = run_cli("check", spec, "--json")
    summary = json.loads(checked.stdout)["summary"]
    n = summary["distinct_states"]
    assert summary["fingerprint_collision_probability"] == float(f"{n * (n - 1) / 2**65:.2g}") > 0
    assert "fingerprint collision probability 8.7e-13" in run_cli("check", spec, "--quiet").stdout  # 5,679 states
    walks = json.loads(run_cli("simulate", spec, "--json").stdout)["summary"]
    assert walks["fingerprint_collision_probability"] is None  # random walks keep no fingerprint set
    assert "collision" not in run_cli("simulate", spec).stdout
