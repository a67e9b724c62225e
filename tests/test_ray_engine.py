"""The search on Ray actors (pnyx.checker.ray_engine) finds what one process finds, on a local Ray
cluster of 2 CPUs started once for this file: the comparisons of test_parallel, on Ray."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from test_parallel import (
    MUTANTS,
    SPECS,
    Faulty,
    assert_broken_model_caught,
    assert_counts_the_same,
    assert_failing_handler_reported,
    assert_mutant_caught,
)

from pnyx.checker import bfs
from pnyx.checker.model import SpecModel
from pnyx.checker.ray_engine import explore_ray, recipe
from pnyx.cli import main
from pnyx.model.compiler import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray of 2 CPUs for the whole file; its address, for the command line to join."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def on_ray(model: SpecModel, options: bfs.Options, workers: int) -> bfs.Result:
    return explore_ray(model, options, workers)


# 2 workers (the cluster's CPUs); not the 4-node gossip, a minute here
@pytest.mark.parametrize(("spec", "constants", "symmetry", "workers"), [c for c in SPECS if c[3] == 2 and c[1].get("N") != 4])
def test_bundled_specs_count_the_same(cluster: str, spec: str, constants: dict, symmetry: bool, workers: int) -> None:
    assert_counts_the_same(spec, constants, symmetry, workers, on_ray)


@pytest.mark.parametrize("name", MUTANTS[:2])
def test_mutants_are_caught_with_traces_as_short(cluster: str, name: str) -> None:
    assert_mutant_caught(name, on_ray)


def test_a_broken_model_is_caught(cluster: str) -> None:
    assert_broken_model_caught(on_ray)


def test_a_failing_handler_is_reported_with_its_trace(cluster: str) -> None:
    assert_failing_handler_reported(on_ray)


def test_actors_compile_the_spec_from_its_text() -> None:
    """What an actor receives is text and constants, never the compiled (unpicklable) functions."""
    model = SpecModel(load(str(ROOT / "spec" / "zab.pnyx"), {"N": 2}))
    kind, (source, filename, constants) = recipe(model)
    assert kind == "spec" and source == (ROOT / "spec" / "zab.pnyx").read_text()
    assert filename.endswith("zab.pnyx") and constants["N"] == 2 and constants["Q"] == 2


def test_a_worker_failure_is_raised_not_hung(cluster: str) -> None:
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[Faulty.__module__])  # the actors cannot import tests/
    with pytest.raises(RuntimeError, match="search worker .* failed(.|\n)*a bug in the model"):
        explore_ray(Faulty(), bfs.Options(), 2)  # type: ignore[arg-type]


def test_cli_joins_a_cluster(cluster: str) -> None:
    spec = str(ROOT / "spec" / "gossip.pnyx")
    r = run_cli("check", spec, "--json", "--engine", "ray", "--workers", "2", "--address", cluster)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["distinct_states"] == 5679
    bad = run_cli("check", spec, "--engine", "ray", "--workers", "3", "--address", cluster)
    assert bad.returncode == 2 and "fewer than the 3 workers" in bad.stderr and "Traceback" not in bad.stderr


def test_without_ray_the_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where it is not installed
    assert main(["check", str(ROOT / "spec" / "gossip.pnyx"), "--engine", "ray"]) == 2
    assert "pip install 'pnyx[ray]'" in capsys.readouterr().err


def test_address_needs_the_ray_engine(capsys: pytest.CaptureFixture) -> None:
    assert main(["check", str(ROOT / "spec" / "gossip.pnyx"), "--address", "127.0.0.1:6379"]) == 2
    assert "--engine ray" in capsys.readouterr().err


def test_a_bad_address_is_a_clear_error() -> None:
    pytest.importorskip("ray")
    r = run_cli("check", str(ROOT / "spec" / "gossip.pnyx"), "--engine", "ray", "--address", "no such:host:x")
    assert r.returncode == 2 and "cannot join the Ray cluster at no such:host:x" in r.stderr
    assert "Traceback" not in r.stderr
