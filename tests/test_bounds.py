"""Every bound is honoured inside one long step and during set-up: --max-seconds, --max-memory,
Ctrl-C (SIGINT) and SIGTERM stop `pnyx check`, `simulate` and `bmc` with their partial summary.

The commands run in subprocesses on deliberately pathological specs: a handler looping 10^9
times, a `-D` constant whose initial value is a set of 10^8 numbers, a state space that grows
past a small memory budget. A subprocess timeout (generous) is what fails a test that does not
stop; no test asserts a wall-clock limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

from pnyx.checker import bounds

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_bounds import HUGE, write_specs  # the pathological specs, measured there too

TIMEOUT = 60  # seconds a stopped command may take at most, set-up and a loaded machine included
DEADLINE = "4"  # --max-seconds, set-up included: past the set-up even on a loaded machine, so a step is cut


@pytest.fixture()
def specs(tmp_path: Path) -> dict[str, str]:
    """spin (a handler looping 10^9 times), grow (10^12 states), bigset (with HUGE: 10^8 numbers at set-up)."""
    return write_specs(tmp_path)


def pnyx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pnyx", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=TIMEOUT)


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_partial_summary(out: str, cause: str, status: int) -> None:
    """The summary of what was explored (as TLC prints on a stop), which stop it was, and that it proves nothing."""
    out = flat(out)
    assert "distinct states" in out and "transitions" in out and "diameter" in out and "states/s" in out, out
    assert cause in out, out
    assert "Traceback" not in out
    if status == 3:
        assert "not a proof" in out and f"(exit status {status})" in out, out
    else:
        assert f"(exit status {status})" in out, out


def test_a_step_that_never_returns_is_stopped_at_the_deadline(specs: dict[str, str]) -> None:
    proc = pnyx("check", specs["spin"], "--max-seconds", DEADLINE)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert_partial_summary(proc.stdout, f"the search stopped at the --max-seconds {DEADLINE} bound", 3)


def test_a_step_that_never_returns_in_a_random_walk(specs: dict[str, str]) -> None:
    proc = pnyx("simulate", specs["spin"], "--max-seconds", DEADLINE, "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "bounded" and doc["ok"] is False and "transitions" in doc["summary"]
    assert doc["summary"]["stopped_by"] == "time" and doc["summary"]["bounded_by"] == f"--max-seconds {DEADLINE}"


def test_the_json_summary_says_which_bound(specs: dict[str, str]) -> None:
    proc = pnyx("check", specs["spin"], "--max-seconds", DEADLINE, "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "bounded" and doc["complete"] is False and "not a proof" in doc["note"]
    assert doc["summary"]["stopped_by"] == "time" and doc["summary"]["distinct_states"] >= 1


def _processes_running(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (forked workers keep their parent's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_workers_stuck_in_a_step_are_stopped_too(specs: dict[str, str]) -> None:
    proc = pnyx("check", specs["spin"], "--workers", "2", "--max-seconds", DEADLINE)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"--max-seconds {DEADLINE} bound" in flat(proc.stdout)
    time.sleep(0.5)
    assert _processes_running(specs["spin"]) == []  # no worker left behind


def test_a_set_up_that_explodes_is_stopped_at_the_deadline(specs: dict[str, str]) -> None:
    proc = pnyx("check", specs["bigset"], "-D", HUGE, "--max-seconds", "1")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "--max-seconds 1" in flat(proc.stdout) and "Traceback" not in proc.stderr


def test_a_memory_budget_stops_a_growing_search(specs: dict[str, str]) -> None:
    proc = pnyx("check", specs["grow"], "--max-memory", "100", "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "bounded" and doc["summary"]["stopped_by"] == "memory"
    assert doc["summary"]["bounded_by"] == "--max-memory 100 MB" and doc["summary"]["distinct_states"] > 0
    assert "the search stopped at the --max-memory 100 MB bound" in doc["note"] and "not a proof" in doc["note"]


def test_a_memory_budget_guards_the_set_up(specs: dict[str, str]) -> None:
    proc = pnyx("check", specs["bigset"], "-D", HUGE, "--max-memory", "150")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "--max-memory 150 MB" in flat(proc.stdout) and "Traceback" not in proc.stderr


def _signal_after_progress(args: list[str], sig: int) -> subprocess.CompletedProcess[str]:
    """Run a command, send `sig` once its first progress line is out; its output when it has ended."""
    p = subprocess.Popen([sys.executable, "-m", "pnyx", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=ROOT)
    try:
        assert p.stderr is not None
        first = p.stderr.readline()  # blocks until the search reports progress
        assert first.startswith("progress:"), first
        p.send_signal(sig)
        out, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return subprocess.CompletedProcess(p.args, p.returncode, out, first + err)


def test_ctrl_c_prints_the_partial_summary(specs: dict[str, str]) -> None:
    proc = _signal_after_progress(["check", specs["grow"], "--progress-every", "0.2"], signal.SIGINT)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert_partial_summary(proc.stdout, "the search was stopped by Ctrl-C (SIGINT)", 130)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_ctrl_c_stops_every_worker(specs: dict[str, str]) -> None:
    proc = _signal_after_progress(["check", specs["grow"], "--progress-every", "0.2", "--workers", "2"], signal.SIGINT)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert_partial_summary(proc.stdout, "Ctrl-C (SIGINT)", 130)
    time.sleep(0.5)
    assert _processes_running(specs["grow"]) == []


def test_sigterm_stops_a_search_with_its_summary(specs: dict[str, str]) -> None:
    proc = _signal_after_progress(["check", specs["grow"], "--progress-every", "0.2"], signal.SIGTERM)
    assert proc.returncode == 143, proc.stdout + proc.stderr
    assert_partial_summary(proc.stdout, "the search was stopped by SIGTERM", 143)


def test_ctrl_c_inside_a_step_that_never_returns(specs: dict[str, str]) -> None:
    p = subprocess.Popen([sys.executable, "-m", "pnyx", "check", specs["spin"], "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        time.sleep(3)  # set-up done (or not: either way Ctrl-C must end it) and inside the first step
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, out + err
    doc = json.loads(out)
    assert doc["verdict"] == "interrupted" and doc["ok"] is False
    assert doc["summary"]["stopped_by"] == "interrupt" and doc["summary"]["bounded_by"] == "Ctrl-C (SIGINT)"


def test_bmc_is_stopped_inside_z3(specs: dict[str, str]) -> None:
    pytest.importorskip("z3")
    proc = pnyx("bmc", str(ROOT / "spec" / "zab.pnyx"), "--depth", "40", "--max-seconds", "2", "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "bounded" and doc["summary"]["stopped_by"] == "time"
    assert doc["summary"]["bounded_by"] == "--max-seconds 2" and doc["depth_settled"] < 40 and "not a proof" in doc["note"]


def test_bad_memory_budgets_are_refused() -> None:
    for bad in ("0", "-5", "lots", "1e9"):
        proc = pnyx("check", str(ROOT / "spec" / "gossip.pnyx"), "--max-memory", bad)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert "--max-memory" in proc.stderr and "Traceback" not in proc.stderr


def test_help_lists_the_exit_statuses_of_stops() -> None:
    top = flat(pnyx("--help").stdout)
    assert "--max-memory bound" in top and "130 Ctrl-C (SIGINT)" in top and "143 SIGTERM" in top
    for command in ("check", "simulate", "bmc", "prove"):
        assert "--max-memory" in pnyx(command, "--help").stdout, command


# ---- the guard itself, in this process ---------------------------------------------------------


def test_the_guard_raises_inside_an_interruptible_loop() -> None:
    with pytest.raises(bounds.Stop) as stop, bounds.guarded(max_seconds=0.3) as guard:
        assert bounds.current() is guard
        while True:  # a step that never returns
            pass
    assert stop.value.kind == "time"
    assert bounds.current() is bounds.NULL and signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_the_guard_waits_for_a_search_to_notice_then_forces() -> None:
    noticed = None
    with bounds.guarded(max_seconds=0.2, interruptible=False) as guard:
        while noticed is None:  # a search between batches polls
            noticed = guard.poll()
    assert noticed == "time"
    with pytest.raises(bounds.Stop), bounds.guarded(max_seconds=0.2, interruptible=False):
        while True:  # a search that never polls: stopped once bounds.GRACE has passed
            pass


def test_outside_the_main_thread_there_is_no_guard() -> None:
    seen = []
    t = threading.Thread(target=lambda: seen.append(bounds.guarded(max_seconds=1).__enter__()))
    t.start()
    t.join()
    assert seen == [bounds.NULL] and bounds.NULL.pending is None


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_resident_memory_counts_the_workers() -> None:
    own = bounds.rss_bytes()
    assert own > 1_000_000
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        assert bounds.rss_bytes([child.pid]) > own + 1_000_000  # a Python interpreter's worth more
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
@pytest.mark.skipif(os.environ.get("PNYX_SLOW_TESTS") != "1", reason="starts Ray (20 s): set PNYX_SLOW_TESTS=1")
def test_ray_actors_stuck_in_a_step_are_stopped(specs: dict[str, str]) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        address = ray.get_runtime_context().gcs_address
        proc = pnyx("check", specs["spin"], "--engine", "ray", "--address", address, "--workers", "2",
                    "--max-seconds", "8")
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "--max-seconds 8 bound" in flat(proc.stdout)  # the partial summary, from the coordinator
        deadline = time.monotonic() + 20
        while _processes_running("PartitionActor") and time.monotonic() < deadline:
            time.sleep(0.2)  # ray.kill ends an actor's process a moment later
        assert _processes_running("PartitionActor") == []
    finally:
        ray.shutdown()


def test_a_stop_waits_outside_finalizers_and_the_import_machinery() -> None:
    from types import SimpleNamespace

    from pnyx.checker.bounds import _in_finalizer

    def frame(name: str, filename: str, back: object = None) -> SimpleNamespace:
        return SimpleNamespace(f_code=SimpleNamespace(co_name=name, co_filename=filename), f_back=back)

    search = frame("_search", "/x/checker/bfs.py")
    assert not _in_finalizer(search)
    assert _in_finalizer(frame("close", "/x/fpset.py", frame("__del__", "/x/fpset.py", search)))
    # a weak reference's callback run by an import (where Python prints an exception and drops it)
    assert _in_finalizer(frame("cb", "<frozen importlib._bootstrap>", search))
