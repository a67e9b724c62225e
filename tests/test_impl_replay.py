"""`pnyx replay`: a checker counterexample driven through the simulation reaches the same states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pnyx.cli import main
from pnyx.impl.replay import ReplayError, replay_file

ROOT = Path(__file__).resolve().parent.parent
GOSSIP = ROOT / "spec" / "gossip.pnyx"


def broken_gossip(tmp_path: Path, crashes: int = 0) -> Path:
    """Gossip that may push twice to a peer: NeverTwice fails (with crashes, a longer trace)."""
    text = GOSSIP.read_text().replace("{p in Node where p != self and p not in sent}", "{p in Node where p != self}")
    text = text.replace("const CRASHES = 0", f"const CRASHES = {crashes}")
    p = tmp_path / "broken_gossip.pnyx"
    p.write_text(text)
    return p


def check_json(spec: Path, out: Path, capsys: pytest.CaptureFixture[str], *defines: str) -> dict:
    args = ["check", str(spec), "--json", "--quiet"]
    for d in defines:
        args += ["-D", d]
    assert main(args) == 1
    text = capsys.readouterr().out
    out.write_text(text)
    return json.loads(text)


def test_replay_of_a_broken_gossip_reaches_the_same_states(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.json"
    data = check_json(broken_gossip(tmp_path), trace, capsys)
    assert data["violation"]["property"] == "NeverTwice"
    res = replay_file(trace)
    assert res.ok and res.violated == ["NeverTwice"]
    assert len(res.steps) == data["violation"]["length"] + 1
    assert all(not s.mismatches for s in res.steps)


def test_replay_cli_prints_each_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.json"
    check_json(broken_gossip(tmp_path), trace, capsys)
    assert main(["replay", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "step 1: client calls write" in out and "[same state]" in out and "violates NeverTwice" in out


def test_replay_with_messages_in_flight_and_deliveries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a violation that needs a delivery: Validity broken by a receiver inventing a value
    text = GOSSIP.read_text().replace("if v > value {\n    value = v\n    sent = {src}",
                                      "if v > value {\n    value = WRITES\n    sent = {src}")
    spec = tmp_path / "inventing.pnyx"
    spec.write_text(text)
    trace = tmp_path / "trace.json"
    data = check_json(spec, trace, capsys)
    assert data["violation"]["property"] == "Validity"
    kinds = [s["#meta"]["event"]["kind"] for s in data["violation"]["trace"]["states"][1:]]
    assert "deliver" in kinds
    assert replay_file(trace).ok


def test_a_tampered_trace_is_reported_as_diverging(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.json"
    data = check_json(broken_gossip(tmp_path), trace, capsys)
    last = data["violation"]["trace"]["states"][-1]
    last["repeated"]["#map"][0][1] = not last["repeated"]["#map"][0][1]
    trace.write_text(json.dumps(data))
    res = replay_file(trace)
    assert not res.ok and any("repeated" in m for m in res.steps[-1].mismatches)
    assert main(["replay", str(trace)]) == 1


def test_unreadable_traces_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReplayError, match="not a JSON trace"):
        replay_file(bad)
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"ok": True, "violation": None}))
    with pytest.raises(ReplayError, match="no counterexample"):
        replay_file(ok)
    assert main(["replay", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_replay_of_a_broken_zab_with_a_crash_and_fifo_channels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a restarted server that keeps its role: LocalPrimaryOrder fails after a crash and a recovery
    text = (ROOT / "spec" / "zab.pnyx").read_text()
    for var in ("role: Role = LOOKING", "phase: Phase = CONNECT", "leader: option[Node] = none"):
        assert f"  volatile {var}" in text
        text = text.replace(f"  volatile {var}", f"  persistent {var}")
    spec = tmp_path / "zab_keeps_role.pnyx"
    spec.write_text(text)
    trace = tmp_path / "trace.json"
    data = check_json(spec, trace, capsys, "TXNS=2")
    kinds = {s["#meta"]["event"]["kind"] for s in data["violation"]["trace"]["states"][1:]}
    assert {"crash", "recover", "deliver", "timer", "request"} <= kinds
    res = replay_file(trace)
    assert res.ok and data["violation"]["property"] in res.violated
