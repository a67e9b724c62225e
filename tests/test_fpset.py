"""The fingerprint sets (pnyx.checker.fpset) and the disk-backed frontier and pointers
(pnyx.checker.spill): every kind finds what the Python set finds, the same states in the same
order, the same traces, the same verdicts; the disk kind while spilling everything it can."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from conftest import run_cli
from specs import compiled
from test_parallel import COUNTER, MUTANTS, summary

from pnyx.checker import bfs, spill
from pnyx.checker.fpset import KINDS, make_fingerprint_set
from pnyx.checker.model import SpecModel
from pnyx.checker.mutants import compile_mutant, load_mutants
from pnyx.model.compiler import load

ROOT = Path(__file__).resolve().parent.parent
TINY = 64 * 8  # bytes: a disk set's table of 64 slots, spilled to its file every few dozen states


@pytest.fixture
def tiny_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spilled frontiers and pointers written out every few states, so that files are read back."""
    monkeypatch.setattr(spill, "SLICE", 7)
    monkeypatch.setattr(spill, "POINTER_SLICE", 5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_set_keeps_the_first_of_each_new_key(kind: str) -> None:
    rng = random.Random(7)
    keys = [rng.getrandbits(64) - 2**63 for _ in range(3000)] + [0, 1, -1, -2**63, 2**63 - 1]
    fps = make_fingerprint_set(kind, TINY)
    seen: set[int] = set()
    try:
        for _ in range(120):
            batch = [rng.choice(keys) for _ in range(rng.randint(0, 300))]
            expected = [i for i, k in enumerate(batch) if k not in seen and not seen.add(k)]  # type: ignore[func-returns-value]
            assert fps.add_new(batch) == expected
            assert len(fps) == len(seen)
            assert all(fps.known(k) <= (k in seen) for k in batch)  # known: never a key not added
            fps.next_level()
        if kind == "disk":
            assert fps.generation > 5 and len(fps.disk) > 0  # type: ignore[attr-defined]
    finally:
        fps.close()


def results(cs: object, **options: object) -> list[bfs.Result]:
    """The search with each kind of set (the disk one spilling at once)."""
    return [bfs.explore(SpecModel(cs), bfs.Options(fpset=k, fpset_budget=TINY, **options))  # type: ignore[arg-type]
            for k in KINDS]


def traces(r: bfs.Result) -> tuple:
    """Every state of every trace the search reports."""
    v = r.violation
    return (None if v is None else (v.message, v.bindings, v.trace.states),
            {k: None if t is None else t.states for k, t in r.reached.items()})


def assert_alike(rs: list[bfs.Result]) -> None:
    memory = rs[0]
    for r in rs[1:]:
        assert summary(r) == summary(memory) and traces(r) == traces(memory)
        assert r.stats.queue == memory.stats.queue and r.stats.dropped == memory.stats.dropped


@pytest.mark.usefixtures("tiny_slices")
@pytest.mark.parametrize(("spec", "constants", "symmetry", "bounds"), [
    ("spec/gossip.pnyx", {}, False, {}),
    ("spec/gossip.pnyx", {}, True, {}),
    ("spec/gossip.pnyx", {}, True, {"max_states": 777}),
    ("spec/gossip.pnyx", {}, False, {"max_states": 1}),
    ("spec/gossip.pnyx", {}, False, {"max_depth": 4}),
    ("spec/examples/two_phase_commit.pnyx", {}, False, {}),
    ("spec/zab.pnyx", {"N": 2, "TXNS": 2, "MAX_EPOCH": 2, "CRASHES": 1}, True, {}),
    ("spec/zab_broadcast.pnyx", {}, False, {"max_states": 5000}),
])
def test_bundled_specs_count_the_same(spec: str, constants: dict, symmetry: bool, bounds: dict) -> None:
    rs = results(load(str(ROOT / spec), constants), symmetry=symmetry, **bounds)
    assert_alike(rs)
    assert rs[0].complete == (not bounds)


@pytest.mark.usefixtures("tiny_slices")
@pytest.mark.parametrize("name", MUTANTS)
def test_mutants_are_caught_with_the_same_trace(name: str) -> None:
    (m,) = [m for m in load_mutants(ROOT / "spec" / "zab_mutants") if m.name == name]
    rs = results(compile_mutant(ROOT / "spec" / "zab.pnyx", m, dict(m.constants)), symmetry=True)
    assert_alike(rs)
    assert all(r.violation is not None and r.violation.name == m.property for r in rs)


@pytest.mark.usefixtures("tiny_slices")
def test_a_broken_model_is_caught() -> None:
    rs = results(compiled(COUNTER + "invariant Low: forall n in Node: n.x < 2\n"), symmetry=False)
    assert_alike(rs)
    assert all(r.violation is not None and r.violation.name == "Low" and len(r.violation.trace) == 2 for r in rs)
    rs = results(compiled(COUNTER.replace("when x < 3 ", "")), symmetry=False)  # x leaves 0..3: a failing handler
    assert_alike(rs)
    assert all(r.violation is not None and r.violation.kind == "error" and len(r.violation.trace) == 3 for r in rs)


def test_a_stopped_disk_search_removes_its_files(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "pnyx", "check", str(ROOT / "spec" / "zab.pnyx"), "-D", "N=5",
                             "--fpset", "disk", "--quiet"], cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp_path)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob("pnyx-bfs-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert any(tmp_path.glob("pnyx-bfs-*")), "the search made no folder for its files"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    assert not any(tmp_path.glob("pnyx-*")), list(tmp_path.iterdir())


def test_cli_fpset() -> None:
    gossip = str(ROOT / "spec" / "gossip.pnyx")
    runs = {k: run_cli("check", gossip, "--json", "--fpset", k, "--fpset-memory", "1") for k in KINDS}
    docs = {}
    for k, r in runs.items():
        assert r.returncode == 0, r.stderr
        docs[k] = json.loads(r.stdout)["summary"]
    assert {d["distinct_states"] for d in docs.values()} == {5679}
    assert 0 < docs["compact"]["fingerprint_set_bytes"] < docs["memory"]["fingerprint_set_bytes"]
    bad = run_cli("check", gossip, "--fpset", "compact", "--workers", "2")
    assert bad.returncode == 2 and "--workers 1" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("check", gossip, "--fpset", "tape")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
