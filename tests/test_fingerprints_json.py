"""Fingerprints are the same in every process; `--json` gives a summary and an ITF trace."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_cli

# Every reachable state of gossip (N=2), canonical under symmetry, with its fingerprint
# as the checker computes it: Python's hash of the state tuple.
FINGERPRINTS = """
import sys
from pnyx.checker.model import SpecModel
from pnyx.checker.symmetry import canonicalizer
from pnyx.model.compiler import load
cs = load("spec/gossip.pnyx", {"N": 2, "LOSSES": 1, "CRASHES": 1})
m, canon = SpecModel(cs), canonicalizer(cs)
seen, todo = set(), m.init_states()
while todo:
    s = todo.pop()
    if s in seen:
        continue
    seen.add(s)
    todo.extend(s2 for _, s2 in m.successors(s))
print(repr(sorted((repr(canon(s)), hash(canon(s))) for s in seen)))
"""


def _fingerprints(seed: str) -> list[tuple[str, int]]:
    proc = subprocess.run([sys.executable, "-c", FINGERPRINTS], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return eval(proc.stdout)  # noqa: S307 - our own repr of ints and tuples


def test_fingerprints_are_the_same_across_processes() -> None:
    a, b = _fingerprints("1"), _fingerprints("12345")
    assert len(a) > 100
    assert a == b
    assert len({fp for _, fp in a}) == len({s for s, _ in a})  # no collisions among these states


def test_json_summary_of_a_passing_check() -> None:
    proc = run_cli("check", "spec/gossip.pnyx", "-D", "N=2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True and out["violation"] is None
    assert out["constants"]["N"] == 2
    s = out["summary"]
    assert s["complete"] is True and s["distinct_states"] > 0 and s["transitions"] >= s["distinct_states"] - 1
    assert set(out["invariants"]) == {"Validity", "PushValid", "DigestValid", "AnswerValid", "NeverTwice", "NeverBack"}
    assert all(out["invariants"].values())
    assert out["reachable"] == {"AllHoldLatest": True}


def test_json_itf_trace_of_a_violation(tmp_path: Path) -> None:
    src = (ROOT / "spec" / "gossip.pnyx").read_text()
    broken = src.replace("  sent = sent | peers\n", "")  # a node may now push the same news twice to a peer
    assert broken != src
    f = tmp_path / "gossip_broken.pnyx"
    f.write_text(broken.replace("invariant NeverTwice", "invariant Unused: true\ninvariant NeverTwice"))
    proc = run_cli("check", str(f), "-D", "N=2", "-D", "WRITES=1", "--json", "--no-symmetry")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    v = out["violation"]
    assert v["kind"] == "invariant" and v["property"] == "NeverTwice"
    # a client writes at n1, n1 pushes to n2, n1 pushes to n2 again: 3 steps
    assert v["length"] == 3
    itf = v["trace"]
    assert itf["#meta"]["format"] == "ITF"
    assert len(itf["states"]) == v["length"] + 1
    assert [s["#meta"]["index"] for s in itf["states"]] == list(range(4))
    assert itf["states"][0]["#meta"]["action"] == "init"
    assert set(itf["vars"]) >= {"value", "sent", "written", "pushed", "repeated", "up", "network"}
    last = itf["states"][-1]
    assert last["repeated"] == {"#map": [["n1", True], ["n2", False]]}
    assert last["value"]["#map"][0] == ["n1", {"#bigint": "1"}]
    assert out["invariants"]["NeverTwice"] is False and out["invariants"]["Unused"] is True
