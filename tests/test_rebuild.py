"""A node that restarts with its disk lost: the `rebuilds` budget, `on rebuild`, the Rebuild event.

The checker's event resets every persistent and volatile variable to its initial value, keeps
the ghost ones, and runs `on rebuild`; a spec that gives no `rebuilds` budget keeps its state
layout and its counts. The TLA+ export's `Rebuild(i)` action is counted against TLC in
tests/test_tla.py (tests/golden/tla/rebuild.pnyx).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from reference import NaiveExplorer
from specs import checked, compiled, explore

from pnyx.checker.model import SpecModel
from pnyx.model.errors import SpecError
from pnyx.model.system import Crash, Rebuild, Recover

GOLDEN = ROOT / "tests" / "golden" / "tla" / "rebuild.pnyx"

# A node's epoch is on its disk and its history is a ghost: a crash keeps both in step; a lost
# disk puts the epoch back to 0 while the history stays, so `EpochIsHistory` breaks.
LOSSY = """spec lossy
nodes 2
network fifo
budget { crashes = 1  rebuilds = REBUILDS }
const REBUILDS = 1
message Note(k: 0..2)
state {
  persistent epoch: 0..2 = 0
  volatile seen: 0..2 = 0
  ghost history: seq[0..2, 5] = []
  persistent rebuilt: bool = false
}
on timer bump when epoch < 2 {
  epoch = epoch + 1
  history = append(history, epoch)
  send Note(epoch) to {p in Node where p != self}
}
on Note(k) { seen = k }
on recover { seen = epoch }
on rebuild { rebuilt = true }
invariant EpochIsHistory: forall n in Node: len(n.history) == n.epoch
"""


def test_rebuild_resets_persistent_keeps_ghost_and_runs_its_handler() -> None:
    m = SpecModel(compiled(LOSSY))
    s = m.init_states()[0]
    _, s = next((e, x) for e, x in m.successors(s) if e[:2] == ("timer", 0))
    _, s = next((e, x) for e, x in m.successors(s) if e == Crash(0))
    assert s[0][0] == (1, 0, (1,), False)
    after = {type(e): x for e, x in m.successors(s) if e[:2] in (("recover", 0), ("rebuild", 0))}
    assert after[Recover][0][0] == (1, 1, (1,), False)  # `on recover` ran on the saved state
    assert after[Rebuild][0][0] == (0, 0, (1,), True)  # disk lost, ghost kept, `on rebuild` ran
    assert after[Rebuild][1] == (True, True)
    assert after[Rebuild][3] == (0, 1, 0, 0, 1)  # the rebuilds counter follows the built-in ones
    assert not any(isinstance(e, Rebuild) for e, _ in m.successors(after[Rebuild]))  # budget spent


def test_the_checker_catches_a_protocol_that_does_not_survive_a_lost_disk() -> None:
    assert explore(LOSSY, REBUILDS=0).ok, "crashes alone keep the epoch and the history in step"
    r = explore(LOSSY)
    assert not r.ok


def test_rebuild_counts_agree_with_the_reference_explorer() -> None:
    src = LOSSY.replace("len(n.history) == n.epoch", "n.epoch <= len(n.history)")
    for rebuilds in (0, 1, 2):
        r = explore(src, REBUILDS=rebuilds)
        assert r.ok and r.complete
        assert r.stats.distinct == len(NaiveExplorer(checked(src, REBUILDS=rebuilds)).explore())
    assert explore(src, REBUILDS=1).stats.distinct > explore(src, REBUILDS=0).stats.distinct


def test_a_spec_without_the_budget_keeps_its_state_layout() -> None:
    src = LOSSY.replace("  rebuilds = REBUILDS", "")
    m = SpecModel(compiled(src))
    assert m.init_states()[0][3] == (0, 0, 0, 0)
    assert explore(src).stats.distinct == explore(LOSSY.replace("len(n.history) == n.epoch", "true"),
                                                  REBUILDS=0).stats.distinct


def test_cli_trace_names_the_lost_disk(tmp_path: Path) -> None:
    f = tmp_path / "lossy.pnyx"
    f.write_text(LOSSY)
    r = run_cli("check", str(f))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "n1 restarts with its disk lost" in r.stdout or "n2 restarts with its disk lost" in r.stdout
    assert "Violated: invariant EpochIsHistory" in r.stdout


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s + "on rebuild { seen = 0 }\n", "at most one `on rebuild` handler"),
    (lambda s: s.replace("on timer bump", "on timer bump spends rebuilds"), "built-in budget"),
    (lambda s: s.replace("rebuilds = REBUILDS", "rebuilds = -1"), "at least 0"),
])
def test_bad_rebuild_declarations_are_located_errors(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as exc:
        compiled(edit(LOSSY))
    assert message in str(exc.value)


def test_z3_refuses_a_rebuilds_budget_with_a_located_error(tmp_path: Path) -> None:
    pytest.importorskip("z3")
    f = tmp_path / "lossy.pnyx"
    f.write_text(LOSSY)
    r = run_cli("bmc", str(f), "--depth", "2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "restarts with the disk lost" in r.stdout + r.stderr
    assert "lossy.pnyx:4:23" in r.stderr
    f.write_text(LOSSY.replace("rebuilds = REBUILDS", ""))  # `on rebuild` alone never runs: accepted
    assert run_cli("bmc", str(f), "--depth", "2").returncode in (0, 1)


def test_golden_rebuild_model_reaches_a_rebuilt_node() -> None:
    r = run_cli("check", str(GOLDEN), "--no-symmetry")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Reached: Rebuilt" in r.stdout and "675 distinct states" in r.stdout


# ---- the runtime: `cluster restart --rebuild` and the simulation run the same handler ----------
def test_a_node_started_empty_on_purpose_runs_on_rebuild_and_saves_it(tmp_path: Path) -> None:
    from test_impl_sim import Recorder

    from pnyx.impl.node import NodeRuntime
    from pnyx.impl.storage import FileStorage, MemoryStorage

    cs = compiled(LOSSY)
    rt = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()), rebuilt=True)
    step = rt.start()
    assert step is not None and rt.get("rebuilt") is True and rt.get("epoch") == 0  # `on rebuild` ran
    again = NodeRuntime(cs, 0, FileStorage(tmp_path / "data", fsync=False), Recorder(MemoryStorage()))
    again.start()  # a restart on its own files: `on recover`, the flag as saved
    assert again.get("rebuilt") is True and again.get("seen") == 0
    fresh = NodeRuntime(cs, 1, FileStorage(tmp_path / "fresh", fsync=False), Recorder(MemoryStorage()))
    assert fresh.start() is None and fresh.get("rebuilt") is False  # a first start runs no handler


def test_replay_of_a_lost_disk_trace_reaches_the_same_states(tmp_path: Path) -> None:
    import json

    from pnyx.impl.replay import replay_file

    spec = tmp_path / "lossy.pnyx"
    spec.write_text(LOSSY)
    r = run_cli("check", str(spec), "--json", "--quiet")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    kinds = [s["#meta"]["event"]["kind"] for s in data["violation"]["trace"]["states"][1:]]
    assert "rebuild" in kinds
    trace = tmp_path / "trace.json"
    trace.write_text(r.stdout)
    res = replay_file(trace)
    assert res.ok and res.violated == ["EpochIsHistory"]
