"""Smoke tests: every script in benchmarks/ runs at a tiny size, so a refactoring cannot leave one broken."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

# script name -> arguments that make it run in a few seconds
SMOKE_ARGS: dict[str, list[str]] = {
    "bench_checker.py": ["--only", "2pc", "--max-seconds", "0.5"],
    "bench_impl.py": ["--seconds", "0.3", "--clients", "1", "--sizes", "5", "--seeds", "1"],
    "zab_mutants.py": ["--only", "log_zxid_before_increment"],
    "bench_tla.py": ["--smoke"],
    "bench_bmc.py": ["--smoke"],  # run by tests/test_bench_bmc.py
    "bench_speed.py": ["--smoke"],
    "bench_memory.py": ["--smoke", "--no-tlc"],
    "bench_zab5.py": ["--smoke"],
    "bench_liveness.py": ["--smoke"],
    "bench_epidemics.py": ["--smoke"],
}


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=180)


def test_every_benchmark_script_has_a_smoke_test() -> None:
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(SMOKE_ARGS)


def test_bench_checker_runs() -> None:
    proc = _run("bench_checker.py", *SMOKE_ARGS["bench_checker.py"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "error" not in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("2pc")]
    assert len(rows) == 4, proc.stdout  # N=4 and N=5, symmetry off and on (its participants are symmetric)


@pytest.mark.slow
def test_bench_impl_runs() -> None:
    proc = _run("bench_impl.py", *SMOKE_ARGS["bench_impl.py"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "ZAB key-value service" in out and "Gossip, one write" in out
    assert "processes" in out and "simulation" in out


def test_zab_mutants_runs() -> None:
    proc = _run("zab_mutants.py", *SMOKE_ARGS["zab_mutants.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "log_zxid_before_increment" in proc.stdout and proc.stdout.rstrip().endswith("ok")


def test_bench_tla_runs() -> None:
    from test_tla import tlc_jar

    tlc_jar()  # TLC is needed: a missing jar fails in CI and skips elsewhere
    proc = _run("bench_tla.py", *SMOKE_ARGS["bench_tla.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["spec", "constants", "Pnyx", "states", "TLC", "states", "Pnyx", "s", "TLC", "s", "agree"]
    rows = [line for line in lines[1:] if line.strip() and not line.startswith("3 of")]
    assert [r.split("  ")[0] for r in rows] == ["tests/golden/tla/flood.pnyx", "spec/zab.pnyx [log_zxid_before_increment]",
                                                "generated spec 0"]
    assert all(r.rstrip().endswith("yes") for r in rows), proc.stdout
    assert "3 of 3 models agree" in proc.stdout


def test_bench_speed_runs() -> None:
    from test_tla import tlc_jar

    tlc_jar()  # TLC is needed: a missing jar fails in CI and skips elsewhere
    proc = _run("bench_speed.py", *SMOKE_ARGS["bench_speed.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "constants", "distinct"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["gossip", "zab"], proc.stdout
    assert all(r[-1] == "yes" for r in rows), proc.stdout  # both tools count the same distinct states


def test_bench_memory_runs() -> None:
    proc = _run("bench_memory.py", *SMOKE_ARGS["bench_memory.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "tool", "distinct"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[2]) for r in rows] == [("gossip", k) for k in ("memory", "compact", "disk")] + [
        ("zab", k) for k in ("memory", "compact", "disk")], proc.stdout
    assert len({r[3] for r in rows[:3]}) == 1 and len({r[3] for r in rows[3:]}) == 1  # each kind counts the same states


def test_bench_zab5_runs() -> None:
    proc = _run("bench_zab5.py", *SMOKE_ARGS["bench_zab5.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("spec/zab.pnyx N=5") and lines[1].split()[:2] == ["code", "states"]
    (row,) = [line for line in lines if line.startswith("this")]
    states, depth = row.split()[3:5]
    assert int(states.replace(",", "")) > 0 and int(depth) > 0  # a progress line was read within the budget


def test_bench_liveness_runs() -> None:
    proc = _run("bench_liveness.py", *SMOKE_ARGS["bench_liveness.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["model", "constants"]
    rows = [line.split() for line in lines[1:-1]]
    assert [r[0] for r in rows] == ["gossip", "zab"], proc.stdout
    assert all(r[-1] == "holds" for r in rows), proc.stdout  # each spec's liveness property, at tiny constants


def test_bench_epidemics_runs(tmp_path: Path) -> None:
    plots = importlib.util.find_spec("matplotlib") is not None
    args = SMOKE_ARGS["bench_epidemics.py"] + (["--plots", str(tmp_path)] if plots else [])
    proc = _run("bench_epidemics.py", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for title in ("feedback, counter, push (Table 1)", "blind, coin, push (Table 2)", "Anti-entropy", "Push gossip"):
        assert title in out, out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("push ", "pull ", "push-pull "))]
    assert [r[0] for r in rows] == ["push", "pull", "push-pull"], out
    if plots:
        assert sorted(p.name for p in tmp_path.glob("*.png")) == ["gossip_infected.png", "gossip_traffic_residue.png"]
