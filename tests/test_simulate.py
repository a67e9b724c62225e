"""Random simulation: it finds a planted bug, replays exactly from its seed, and passes a correct model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from specs import compiled

from pnyx.checker.simulate import SimOptions, simulate

ROOT = Path(__file__).resolve().parent.parent
GOSSIP = (ROOT / "spec" / "gossip.pnyx").read_text()
# a receiver that invents a value nobody wrote
BROKEN = GOSSIP.replace("    value = v\n    sent = {src}", "    value = if v < WRITES then v + 1 else v\n    sent = {src}")


def test_the_planted_bug_is_found_and_the_trace_really_violates() -> None:
    assert BROKEN != GOSSIP
    cs = compiled(BROKEN)
    r = simulate(cs, SimOptions(runs=200, depth=40, seed=1))
    v = r.violation
    assert v is not None and v.name == "Validity" and not r.shortest
    last = v.trace.states[-1]
    validity = next(p for p in cs.properties if p.name == "Validity")
    assert not validity.holds(last[0], last[1], last[2])
    assert all(validity.holds(s[0], s[1], s[2]) for s in v.trace.states[:-1])


def test_the_same_seed_walks_the_same_path() -> None:
    cs = compiled(BROKEN)
    a = simulate(cs, SimOptions(runs=200, depth=40, seed=7)).violation
    b = simulate(cs, SimOptions(runs=200, depth=40, seed=7)).violation
    assert a is not None and b is not None and a.trace.steps == b.trace.steps


def test_a_correct_model_survives_and_is_not_vacuous() -> None:
    r = simulate(compiled(GOSSIP), SimOptions(runs=100, depth=40, seed=0))
    assert r.violation is None
    assert r.reached["AllHoldLatest"] is not None
    assert r.stats.transitions > 100


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pnyx"
    bad.write_text(BROKEN)
    run = [sys.executable, "-m", "pnyx", "simulate"]
    p = subprocess.run(run + [str(bad), "--runs", "200", "--seed", "1", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["violation"]["property"] == "Validity"
    assert len(out["violation"]["trace"]["states"]) == out["violation"]["length"] + 1
    p = subprocess.run(run + ["spec/gossip.pnyx", "--runs", "20"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(run + ["spec/gossip.pnyx", "--runs", "0"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "expected a positive integer" in p.stderr and "Traceback" not in p.stderr
