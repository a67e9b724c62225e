"""Smoke tests: every script in benchmarks/ runs at a tiny size, so a refactoring cannot leave one broken."""

from __future__ import annotations

import importlib.util
import json
import os
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
    "bench_zk.py": ["--smoke", "--json"],
    "bench_scale.py": ["--smoke"],
    "bench_por.py": ["--smoke"],
    "bench_write_cost.py": ["--smoke"],
    "bench_members.py": ["--smoke"],  # run by tests/test_members.py
    "bench_kills.py": ["--smoke", "--json"],
    "bench_bounds.py": ["--smoke"],
    "bench_soak.py": ["--smoke", "--json"],
    "bench_shrink.py": ["--smoke"],  # run by tests/test_shrink.py
    "diff_mutants.py": ["--catalogue", "gossip", "--only", "push_back_to_sender"],  # run by tests/test_diff.py
}


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=180)


SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())


def test_every_benchmark_script_has_a_smoke_test() -> None:
    assert SCRIPTS == sorted(SMOKE_ARGS)


def _into_closed_pipe(code: str) -> tuple[int, str]:
    """Run `code` with its stdout a pipe whose reader is already gone; its status and stderr."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=BENCH)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    return proc.wait(timeout=60), err


def test_a_closed_pipe_ends_a_script_quietly() -> None:
    """`bench_x.py | head -1`: every script starts through entry.run, which ends quietly with SIGPIPE's status."""
    assert [s for s in SCRIPTS if "from entry import run" not in (BENCH / s).read_text()] == []
    writes = "def main():\n    for _ in range(1000):\n        print('row ' * 20, flush=True)\n"
    status, err = _into_closed_pipe(writes + "from entry import run\nrun(main)\n")
    assert status == -13 and err == "", (status, err)
    status, err = _into_closed_pipe(writes + "main()\n")  # the control: without it, a traceback
    assert "BrokenPipeError" in err, (status, err)


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


@pytest.mark.slow
def test_bench_write_cost_runs(tmp_path: Path) -> None:
    """Before/after in one run: the same tree as its own baseline; a baseline without the spec is refused."""
    proc = _run("bench_write_cost.py", *SMOKE_ARGS["bench_write_cost.py"], "--baseline", str(ROOT), "--json")
    assert proc.returncode == 0, proc.stderr
    res = __import__("json").loads(proc.stdout)
    for tree in ("after", "before"):
        assert set(res[tree]["cluster"]) == {"sequential", "16 outstanding", "sequential, no fsync"}
        assert all(r["writes"] > 0 and r["cpu_ms"] > 0 for r in res[tree]["cluster"].values())
        assert set(res[tree]["history"]) == {"0", "200"} and all(r["cpu_ms"] > 0 for r in res[tree]["history"].values())
    assert set(res["fsync"]) == {"on", "off"} and all(r["appends"] == 20 and r["p50"] > 0 for r in res["fsync"].values())
    bad = _run("bench_write_cost.py", "--smoke", "--baseline", str(tmp_path))
    assert bad.returncode == 2 and "no spec/zab.pnyx there" in bad.stderr and "Traceback" not in bad.stderr


def test_bench_write_cost_tree_table_runs() -> None:
    """Tree snapshots' cost per write, before/after in one run (the same tree as its own baseline)."""
    proc = _run("bench_write_cost.py", "--only", "tree", "--smoke", "--baseline", str(ROOT), "--json")
    assert proc.returncode == 0, proc.stderr
    res = __import__("json").loads(proc.stdout)
    for tree in ("after", "before"):
        got = res[tree]["tree"]
        assert set(got["sizes"]) == {"300", "3000"} and got["replay"]["replay_us"] > 0 < got["replay"]["log_bytes"]
        for row in got["sizes"].values():
            assert row["take_s"] > 0 and row["ms_per_write"] > 0 and row["interval"] >= got["retain"] / 2
            assert row["log_kept"] > row["interval"] and row["replay_s"] > 0


def test_bench_write_cost_election_table_runs() -> None:
    proc = _run("bench_write_cost.py", "--only", "election", "--smoke", "--json")
    assert proc.returncode == 0, proc.stderr
    got = __import__("json").loads(proc.stdout)["after"]["election"]
    assert set(got) == {"100", "1000"} and all(0 < r["slowest_ms"] <= r["total_ms"] for r in got.values())


def test_bench_write_cost_fsync_table_runs() -> None:
    proc = _run("bench_write_cost.py", "--only", "fsync", "--appends", "30")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["on"], ["off"])]
    assert [r[0] for r in rows] == ["on", "off"] and all(float(r[1]) > 0 for r in rows)


def test_bench_write_cost_history_table_runs() -> None:
    proc = _run("bench_write_cost.py", "--only", "history", "--lengths", "0,300", "--writes", "10")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "300"] and all(float(r[1]) > 0 and r[2] == "10" for r in rows)


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
    bad = _run("bench_tla.py", "--generated", "-1")
    assert bad.returncode == 2 and "a count of 0 or more" in bad.stderr and "Traceback" not in bad.stderr


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
    # Table 1 under every reading of the paper's simulation, Table 2 under two; each beside the paper
    assert out.count("(Table 1) (n = 60") == 5 and out.count("(Table 2) (n = 60") == 2, out
    assert out.count("largest gap from the paper") == 7, out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("push ", "pull ", "push-pull "))]
    assert [r[0] for r in rows] == ["push", "pull", "push-pull"], out
    if plots:
        assert sorted(p.name for p in tmp_path.glob("*.png")) == ["gossip_infected.png", "gossip_traffic_residue.png"]


@pytest.mark.slow
def test_bench_zk_runs() -> None:
    """Both systems when ZooKeeper and kazoo are installed, Pnyx alone (saying why) otherwise."""
    proc = _run("bench_zk.py", *SMOKE_ARGS["bench_zk.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    res = json.loads(proc.stdout)
    px = res["pnyx"]
    assert px["kills"] == 1 and px["lost"] == 0 and px["kill_acked_writes"] > 0 and px["seq_ops"] > 0
    assert res["pnyx_election"] == "fle" and res["pnyx_by_election"] == {"fle": px}  # the default election
    assert "finalize wait" in res["pnyx_detectors"]
    for bad in ("paxos", "fle,fle", ","):
        proc = _run("bench_zk.py", "--elections", bad)
        assert proc.returncode == 2 and "--elections" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    spec = importlib.util.spec_from_file_location("bench_zk", BENCH / "bench_zk.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    missing = bench.zookeeper_missing()
    if missing:
        assert res["zookeeper"] is None and res["zookeeper_skipped"] == missing and missing in proc.stderr
    else:
        zk = res["zookeeper"]
        assert zk["kills"] == 1 and zk["lost"] == 0 and zk["kill_acked_writes"] > 0
        assert res["ratios"]["seq_ops"] == pytest.approx(px["seq_ops"] / zk["seq_ops"])


@pytest.mark.slow
def test_bench_soak_runs() -> None:
    """Three windows, two leader kills: each kill recovers and no acknowledged write is lost."""
    proc = _run("bench_soak.py", *SMOKE_ARGS["bench_soak.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout)
    assert [w["writes"] for w in res["windows"]] == [40, 40, 40]
    assert all(w["ops"] > 0 and w["cpu_per_write"] > 0 and w["p99"] >= w["p50"] > 0 for w in res["windows"])
    assert len(res["kills"]) == 2 and all(k["recovery"] > 0 and k["stall"] is None for k in res["kills"])
    assert res["acked"] == 120 and res["lost"] == 0
    bad = _run("bench_soak.py", "--writes", "0")
    assert bad.returncode == 2 and "at least 1" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.skipif(os.environ.get("PNYX_SLOW_TESTS") != "1", reason="a few minutes: set PNYX_SLOW_TESTS=1")
def test_a_fifty_thousand_write_soak_loses_nothing() -> None:
    """The soak at a size where compactions and tree snapshots happen many times (RETAIN = 10,000):
    five windows, two leader kills, each recovered, no acknowledged write lost."""
    proc = subprocess.run([sys.executable, str(BENCH / "bench_soak.py"), "--writes", "50000", "--window", "10000",
                           "--kill-every", "20000", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout)
    assert [w["writes"] for w in res["windows"]] == [10000] * 5
    assert len(res["kills"]) == 2 and all(k["recovery"] > 0 and k["stall"] is None for k in res["kills"])
    assert res["acked"] == 50000 and res["lost"] == 0


def test_bench_scale_runs() -> None:
    proc = _run("bench_scale.py", *SMOKE_ARGS["bench_scale.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "engine", "workers"]
    rows = [line.split("  ") for line in lines[1:]]
    engines = ["one process", "processes"] + (["ray"] if importlib.util.find_spec("ray") is not None else [])
    assert [[c.strip() for c in r if c.strip()][1] for r in rows] == engines, proc.stdout
    assert all(line.endswith("yes") for line in lines[1:]), proc.stdout  # every engine counts the same states
    # CPU seconds of the process trees (the 7th column from the end: an engine's name may be two words)
    assert all(float(line.split()[-7]) > 0 for line in lines[1:]), proc.stdout
    assert all(float(line.split()[-2]) > 0 for line in lines[1:]), proc.stdout  # the speedup estimated on idle cores


def test_bench_scale_fit_recovers_a_known_model() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from bench_scale import fit
    finally:
        sys.path.remove(str(BENCH))
    k, u, b, t = 12.0, 0.8, 3e-6, 1_000_000
    points = [(w, k + u * w + b * t * (1 - 1 / w)) for w in (1, 2, 4, 8)]
    assert [round(x, 9) for x in fit(points, t)] == [k, u, b]


def test_bench_por_runs() -> None:
    proc = _run("bench_por.py", *SMOKE_ARGS["bench_por.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert len(rows) == 12 and all(r[-1] == "same" for r in rows)  # 2 models x symmetry off/on x 3 modes
    assert {r[-9] for r in rows} == {"none", "sleep", "ample"}


def test_bench_kills_runs() -> None:
    """2 kills and a 1-second anchor: nothing lost, the history linearizable; bad input is refused."""
    proc = _run("bench_kills.py", *SMOKE_ARGS["bench_kills.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout)
    anchor, kills = res["rows"]
    assert res["ok"] is True and anchor["kills"] == 0 and kills["kills"] == 2
    assert kills["lost"] == 0 and kills["linearizable"] == "yes" and kills["acknowledged"] > 0 and anchor["ops"] > 0
    bad = _run("bench_kills.py", "--kills", "0")
    assert bad.returncode == 2 and "--kills" in bad.stderr and "Traceback" not in bad.stderr
