"""The search on several processes (pnyx.checker.parallel) finds what one process finds: the
same distinct states, transitions and diameter, traces of the same length, the same verdicts."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli
from specs import compiled

from pnyx.checker import bfs, partition
from pnyx.checker.model import SpecModel
from pnyx.checker.mutants import compile_mutant, load_mutants
from pnyx.checker.parallel import available, explore_parallel
from pnyx.model.compiler import load

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not available(), reason="worker processes are forked")


def summary(r: bfs.Result) -> tuple:
    """What must not depend on the number of processes."""
    v = r.violation
    return (r.stats.distinct, r.stats.transitions, r.stats.depth, r.complete, r.stopped_by,
            list(r.stats.dropped.items()) if r.complete else None,
            None if v is None else (v.kind, v.name, len(v.trace), v.trace.failed_event is not None),
            {k: None if t is None else len(t) for k, t in r.reached.items()})


Engine = Callable[[SpecModel, bfs.Options, int], bfs.Result]  # a search on several workers


def both(cs: object, workers: int = 2, many: Engine = explore_parallel, **options: object) -> tuple[bfs.Result, bfs.Result]:
    """One process's search and `many`'s with `workers` workers."""
    one = bfs.explore(SpecModel(cs), bfs.Options(**options))  # type: ignore[arg-type]
    return one, many(SpecModel(cs), bfs.Options(**options), workers)  # type: ignore[arg-type]


# (spec, constants, symmetry, workers): the comparisons made on every engine
SPECS = [
    ("spec/gossip.pnyx", {}, False, 2),
    ("spec/gossip.pnyx", {}, True, 3),
    ("spec/gossip.pnyx", {}, False, 5),  # beyond LOCAL_OWNERS_MAX: owners by fingerprint
    ("spec/gossip.pnyx", {"N": 4, "WRITES": 1, "CRASHES": 1}, True, 2),
    ("spec/examples/two_phase_commit.pnyx", {}, False, 2),
    ("spec/zab.pnyx", {"N": 2, "TXNS": 2, "MAX_EPOCH": 2, "CRASHES": 1}, False, 2),
    ("spec/zab_broadcast.pnyx", {}, True, 2),
]


@pytest.mark.parametrize(("spec", "constants", "symmetry", "workers"), SPECS)
def test_bundled_specs_count_the_same(spec: str, constants: dict, symmetry: bool, workers: int) -> None:
    assert_counts_the_same(spec, constants, symmetry, workers, explore_parallel)


def assert_counts_the_same(spec: str, constants: dict, symmetry: bool, workers: int, many: Engine) -> None:
    one, several = both(load(str(ROOT / spec), constants), workers, many, symmetry=symmetry)
    assert one.complete and summary(several) == summary(one)


def test_owners_by_node_0_up_to_a_few_workers() -> None:
    model = SpecModel(load(str(ROOT / "spec/gossip.pnyx"), {}))
    s = model.init_states()[0]
    assert partition.owner_key(model, 2) is not None and partition.owner_key(model, 2)(s) is s[0][0]  # type: ignore[misc]
    assert partition.owner_key(model, partition.LOCAL_OWNERS_MAX + 1) is None
    # a successor that leaves node 0 alone is in its parent's bucket, so has its parent's owner
    _, s2 = next((e, x) for e, x in model.successors(s) if x[0][0] is s[0][0])
    fp = model.fingerprint
    key = partition.owner_key(model, 2)
    assert partition.bucket_of(key, fp, s2, fp(s2)) == partition.bucket_of(key, fp, s, fp(s))
    owners = partition.first_owners(2)
    bucket = partition.bucket_of(key, fp, s, fp(s))
    assert partition.owner(key, owners, bucket, fp(s), 2) == bucket % 2
    owners[bucket] = 1 - owners[bucket]  # a bucket moved: its states go with it
    assert partition.owner(key, owners, bucket, fp(s), 2) == 1 - bucket % 2
    assert partition.owner(None, owners, 0, 7, 2) == 1  # owning by fingerprint


def test_buckets_move_to_even_out_the_next_level() -> None:
    owners = partition.first_owners(2)  # bucket b owned by b % 2
    visited = [0] * partition.BUCKETS
    # worker 0 holds 60 states of bucket 0 and 40 of bucket 2 (both its own); worker 1 holds 4 of bucket 2 and 10 of bucket 3
    held = [{0: 60, 2: 40}, {2: 4, 3: 10}]
    plan = partition.plan_buckets(held, owners, visited)
    assert plan.buckets == [(2, 1)]  # 44 states move with bucket 2: 60 and 54, where moving bucket 0 (60) would overshoot
    assert sorted(plan.pairs) == [(0, 1, 40)]  # worker 0 sends bucket 2's states (and its fingerprints) to worker 1
    # of two buckets that even out as well, the one with fewer visited fingerprints moves
    visited[2] = 10_000
    plan = partition.plan_buckets([{0: 50, 2: 50}, {}], owners, visited)
    assert plan.buckets == [(0, 1)]
    # already even (within 2%): nothing moves, and a state held by another than its owner still goes to it
    assert partition.plan_buckets([{0: 50, 3: 3}, {1: 50}], owners, visited) == partition.Plan([(0, 1, 3)], [])


def test_buckets_move_by_predicted_work() -> None:
    owners = partition.first_owners(2)
    visited = [0] * partition.BUCKETS
    # 100 states each, but worker 0's cost twice as much per state (capped at COST_SPREAD over the mean)
    plan = partition.plan_buckets([{0: 60, 2: 40}, {1: 60, 3: 40}], owners, visited, [2e-5, 1e-5])
    assert plan.buckets == [(2, 1)]  # worker 0 keeps 60 states, worker 1 takes 140
    # a worker that measured nothing counts as the mean; equal costs change nothing
    assert partition.plan_buckets([{0: 50}, {1: 50}], owners, visited, [0.0, 1e-5]) == partition.NO_PLAN
    assert partition.plan_buckets([{0: 50}, {1: 50}], owners, visited, [1e-5, 1e-5]) == partition.NO_PLAN


def test_zab_states_are_owned_by_node_0s_persistent_variables() -> None:
    zab = SpecModel(load(str(ROOT / "spec/zab.pnyx"), {}))
    s = zab.init_states()[0]
    persistent = [v.slot for v in zab.cs.vars if v.storage == "persistent"]
    assert zab.owner_key(s) == tuple(s[0][0][i] for i in persistent)
    # a step of node 0 that leaves its disk alone keeps the key (LOOKING -> FOLLOWING changes only volatile variables)
    moved = [x for _, x in zab.successors(s) if x[0][0] is not s[0][0]]
    assert moved and any(zab.owner_key(x) == zab.owner_key(s) for x in moved)
    # gossip's persistent `value` takes 3 values: too few to share out, so node 0's whole state decides
    gossip = SpecModel(load(str(ROOT / "spec/gossip.pnyx"), {}))
    g = gossip.init_states()[0]
    assert gossip.owner_key(g) is g[0][0]


def test_states_move_to_even_out_the_next_level_owning_by_fingerprint() -> None:
    assert partition.plan_states([102, 0]).pairs == [(0, 1, 51)]
    assert partition.plan_states([5, 5]) == partition.NO_PLAN


MUTANTS = ["log_zxid_before_increment", "leader_ignores_own_epoch", "equal_epoch_counted", "recovered_keeps_volatile"]


@pytest.mark.parametrize("name", MUTANTS)
def test_mutants_are_caught_with_traces_as_short(name: str) -> None:
    assert_mutant_caught(name, explore_parallel)


def assert_mutant_caught(name: str, engine: Engine) -> None:
    (m,) = [m for m in load_mutants(ROOT / "spec" / "zab_mutants") if m.name == name]
    one, many = both(compile_mutant(ROOT / "spec" / "zab.pnyx", m, dict(m.constants)), 2, engine, symmetry=True)
    v = many.violation
    assert v is not None and v.kind == "invariant" and v.name == m.property
    assert summary(many)[2:] == summary(one)[2:]  # counts stop mid-level in one process, at the level's end here
    assert many.violation.trace.states[-1] is not None and not many.ok
    model = SpecModel(compile_mutant(ROOT / "spec" / "zab.pnyx", m, dict(m.constants)))
    (prop,) = [p for p in model.properties() if p.name == v.name]
    assert not prop.holds(v.trace.states[-1])  # the trace, rebuilt across workers, ends where the invariant fails


COUNTER = """spec counter
nodes 3
state { volatile x: 0..3 = 0 }
on timer inc when x < 3 { x = x + 1 }
"""


def test_a_broken_model_is_caught() -> None:
    assert_broken_model_caught(explore_parallel)


def assert_broken_model_caught(engine: Engine) -> None:
    cs = compiled(COUNTER + "invariant Low: forall n in Node: n.x < 2\nreachable Full: forall n in Node: n.x == 3\n")
    one, many = both(cs, 2, engine, symmetry=False)
    assert many.violation is not None and many.violation.name == "Low" and len(many.violation.trace) == 2
    assert summary(many)[2:] == summary(one)[2:]
    ok = both(compiled(COUNTER + "reachable Full: forall n in Node: n.x == 3\n"), 2, engine, symmetry=False)
    assert summary(ok[1]) == summary(ok[0]) and len(ok[1].reached["Full"]) == 9


def test_a_failing_handler_is_reported_with_its_trace() -> None:
    assert_failing_handler_reported(explore_parallel)


def assert_failing_handler_reported(engine: Engine) -> None:
    cs = compiled(COUNTER.replace("when x < 3 ", ""))  # x leaves 0..3 on a node's fourth firing
    one, many = both(cs, 2, engine, symmetry=False)
    v = many.violation
    assert v is not None and v.kind == "error" and v.trace.failed_event is not None
    assert len(v.trace) == len(one.violation.trace) == 3 and v.message == one.violation.message


def test_bounds_stop_the_search() -> None:
    cs = load(str(ROOT / "spec" / "gossip.pnyx"), {})
    one, many = both(cs, 2, symmetry=False, max_depth=5)
    assert summary(many) == summary(one) and many.stopped_by == "depth"
    many = explore_parallel(SpecModel(cs), bfs.Options(symmetry=False, max_states=1000), 2)
    assert many.stopped_by == "states" and 1000 <= many.stats.distinct < 33892


def test_cli_workers() -> None:
    runs = [run_cli("check", str(ROOT / "spec" / "gossip.pnyx"), "--json", "--workers", w) for w in ("1", "2")]
    for r in runs:
        assert r.returncode == 0, r.stderr
    one, two = (json.loads(r.stdout)["summary"] for r in runs)
    assert two["distinct_states"] == one["distinct_states"] == 5679
    bad = run_cli("check", str(ROOT / "spec" / "gossip.pnyx"), "--workers", "-1")
    assert bad.returncode == 2 and "number of processes" in bad.stderr
    # each worker's CPU seconds per level: one row per level (the diameter's levels, and the
    # level expanded to find nothing new), one column per worker; the critical path is the busiest
    # worker's per level, so between the total's half and the total
    levels = two["worker_cpu_per_level"]
    assert len(levels) == two["diameter"] + 1 and all(len(level) == 2 for level in levels)
    assert two["critical_cpu_seconds"] == pytest.approx(sum(map(max, levels)), abs=0.01)
    assert two["search_cpu_seconds"] / 2 - 0.01 <= two["critical_cpu_seconds"] <= two["search_cpu_seconds"] + 0.01
    assert one["worker_cpu_per_level"] is None and one["critical_cpu_seconds"] == one["search_cpu_seconds"] > 0


def test_received_states_share_the_memos_node_states() -> None:
    model = SpecModel(load(str(ROOT / "spec/gossip.pnyx"), {}))
    s = model.init_states()[0]
    model.successors(s)  # the memo now holds every node's state in s
    copy = pickle.loads(pickle.dumps(s))
    assert copy[0][0] is not s[0][0]
    shared = model.share(copy)
    assert shared == s and all(a is b for a, b in zip(shared[0], s[0]))
    other = model.share(((("unseen",),) + copy[0][1:], *copy[1:]))  # a node state the memo lacks stays as it is
    assert other[0][0] == ("unseen",) and other[0][1] is s[0][1]


class Faulty:
    """A model with a bug of its own (not a spec's failing handler): successors raise at (2, 0)."""

    name, symmetric = "faulty", False

    def init_states(self) -> list[tuple[int, int]]:
        return [(0, 0)]

    def successors(self, s: tuple[int, int]) -> list[tuple[str, tuple[int, int]]]:
        if s == (2, 0):
            raise ValueError("a bug in the model")
        return [("a", (s[0] + 1, s[1])), ("b", (s[0], s[1] + 1))] if max(s) < 5 else []

    def properties(self) -> list:
        return []

    def changed(self, before: object, after: object) -> set:
        return set()

    def fingerprint(self, s: tuple[int, int]) -> int:
        return hash(s)

    def representative(self) -> object:
        return lambda s: s


def test_a_worker_failure_is_raised_not_hung() -> None:
    with pytest.raises(ValueError, match="a bug in the model"):
        bfs.explore(Faulty())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="search worker .* failed(.|\n)*a bug in the model"):
        explore_parallel(Faulty(), bfs.Options(), 2)  # type: ignore[arg-type]
