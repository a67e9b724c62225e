"""`pnyx replay` on traces that are malformed, truncated, nested deep or typed wrong: an error
naming the state, the variable and what was expected (exit 2); a well-formed step the
simulation cannot take: a divergence at that step (exit 1). Never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pnyx.checker import bfs
from pnyx.checker.report import result_json
from pnyx.cli import main
from pnyx.impl.replay import ReplayError, replay_file
from pnyx.model.compiler import load
from pnyx.model.types import IntType, ITFError, MapType, NodeType, OptionType, RecordType, SeqType, SetType, from_itf

ROOT = Path(__file__).resolve().parent.parent
GOSSIP = ROOT / "spec" / "gossip.pnyx"


@pytest.fixture(scope="module")
def trace_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A counterexample (as `pnyx check --json` writes it) of a gossip that may push twice to a peer."""
    d = tmp_path_factory.mktemp("replay")
    text = GOSSIP.read_text().replace("{p in Node where p != self and p not in sent}", "{p in Node where p != self}")
    spec = d / "broken.pnyx"
    spec.write_text(text)
    cs = load(str(spec), {"WRITES": 1})
    res = bfs.check(cs)
    assert res.violation is not None and res.violation.name == "NeverTwice"
    return json.loads(json.dumps(result_json(cs, res)))


@pytest.fixture
def data(trace_data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(trace_data)


def replay(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["replay", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def write(tmp_path: Path, content: Any) -> Path:
    p = tmp_path / "t.json"
    p.write_text(content if isinstance(content, str) else json.dumps(content))
    return p


def test_the_unmodified_trace_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any]) -> None:
    code, out, _ = replay(capsys, write(tmp_path, data))
    assert code == 0 and "violates NeverTwice" in out


def test_truncated_and_deeply_nested_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any]) -> None:
    text = json.dumps(data)
    code, _, err = replay(capsys, write(tmp_path, text[: len(text) // 2]))
    assert code == 2 and "not a JSON trace" in err
    code, _, err = replay(capsys, write(tmp_path, "[" * 100_000 + "]" * 100_000))
    assert code == 2 and "not a JSON trace: nested too deeply" in err
    deep = text.replace('"states"', '"x": ' + "[" * 100_000 + "]" * 100_000 + ', "states"', 1)
    code, _, err = replay(capsys, write(tmp_path, deep))
    assert code == 2 and "nested too deeply" in err


def _states(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["violation"]["trace"]["states"]


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda s: s[1].__setitem__("value", {"#map": [["n1", {"#bigint": "abc"}], ["n2", 0], ["n3", 0]]}),
     "state 1, variable value, n1: expected an integer in 0..1"),
    (lambda s: s[1].__setitem__("value", {"#map": [["n1", 7], ["n2", 0], ["n3", 0]]}),
     "state 1, variable value, n1: expected an integer in 0..1, got 7"),
    (lambda s: s[2].__setitem__("sent", {"#map": [["n1", [1]], ["n2", {"#set": []}], ["n3", {"#set": []}]]}),
     'state 2, variable sent, n1: expected {"#set": [...]}, got [the number 1]'),
    (lambda s: s[0].__setitem__("value", {"#map": [["n1", 0], ["n2", 0]]}), "state 0, variable value: no value for n3"),
    (lambda s: s[0].__setitem__("value", {"#map": [["n1", 0], ["n1", 0], ["n3", 0]]}), "n1 is given twice"),
    (lambda s: s[0].__setitem__("value", {"#map": [["n7", 0], ["n2", 0], ["n3", 0]]}), "expected a node name n1..n3"),
    (lambda s: s[0].pop("written"), "state 0: no variable 'written'"),
    (lambda s: s[0].__setitem__("up", {"#map": [["n1", "yes"], ["n2", True], ["n3", True]]}),
     "state 0, up, n1: expected true or false, got the string 'yes'"),
    (lambda s: s[1]["#meta"].__setitem__("event", "timer"), "state 1 does not record its event as data"),
    (lambda s: s[1]["#meta"]["event"].__setitem__("kind", "teleport"), "state 1, #meta.event.kind: expected one of"),
    (lambda s: s[1]["#meta"]["event"].__setitem__("handler", 99), "#meta.event.handler: expected a handler number"),
    (lambda s: s[1]["#meta"]["event"].__setitem__("handler", True), "#meta.event.handler: expected a handler number"),
    (lambda s: s[1]["#meta"]["event"].__setitem__("args", [{"#bigint": "1"}, 2]), "write takes 1 argument(s)"),
    (lambda s: s[1]["#meta"]["event"].__setitem__("node", ["n1"]), "state 1, #meta.event.node: expected a node name"),
    (lambda s: s.__setitem__(1, []), "state 1: expected an object, got a list of 0"),
])
def test_wrong_types_name_state_variable_and_expectation(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         data: dict[str, Any], mutate: Any, needle: str) -> None:
    mutate(_states(data))
    code, _, err = replay(capsys, write(tmp_path, data))
    assert code == 2 and needle in err, err


def test_wrong_constants_and_file_in_the_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any]) -> None:
    bad = copy.deepcopy(data)
    bad["constants"]["N"] = "three"
    code, _, err = replay(capsys, write(tmp_path, bad))
    assert code == 2 and "constant 'N' is the string 'three', expected a 64-bit integer or true/false" in err
    bad = copy.deepcopy(data)
    bad["constants"]["NOPE"] = 1
    code, _, err = replay(capsys, write(tmp_path, bad))
    assert code == 2 and "the trace sets constants that" in err and "NOPE" in err
    bad = copy.deepcopy(data)
    bad["file"] = 12
    code, _, err = replay(capsys, write(tmp_path, bad))
    assert code == 2 and '"file" should name the spec file' in err
    code, _, err = replay(capsys, tmp_path / "a\x00b.json")
    assert code == 2 and "cannot read" in err


def test_an_impossible_step_is_a_divergence_at_that_step(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         data: dict[str, Any]) -> None:
    states = _states(data)
    assert [s["#meta"]["event"]["kind"] for s in states[1:3]] == ["request", "timer"]
    del states[1]  # without the client's write, n1 has nothing to gossip: its timer is not enabled
    code, out, err = replay(capsys, write(tmp_path, data))
    assert code == 1, err
    assert "step 1: n1 fires timer gossip" in out
    assert "the simulation cannot take this step: timer gossip at n1 is not enabled in the simulation" in out
    assert "the simulation diverged from the trace at step 1" in out


def test_a_recorded_choice_not_offered_is_a_divergence(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      data: dict[str, Any]) -> None:
    states = _states(data)
    states[2]["#meta"]["event"]["choices"][0]["value"] = {"#set": ["n1"]}  # n1 never pushes to itself
    code, out, _ = replay(capsys, write(tmp_path, data))
    assert code == 1 and "the simulation diverged from the trace at step 2" in out
    assert "is not a size-1 subset of" in out


def test_a_crash_of_a_node_already_down_is_a_divergence(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       data: dict[str, Any]) -> None:
    states = _states(data)
    extra = copy.deepcopy(states[-1])
    extra["#meta"]["event"] = {"kind": "recover", "node": "n1", "handler": -1, "choices": []}
    states.append(extra)
    code, out, _ = replay(capsys, write(tmp_path, data))
    assert code == 1 and "n1 recovers in the trace, but it is up in the simulation" in out


def test_from_itf_checks_every_value_against_its_type() -> None:
    rec = RecordType("R", (("a", IntType(0, 2)), ("b", OptionType(NodeType(3)))))
    assert from_itf({"a": {"#bigint": "2"}, "b": {"tag": "Some", "value": "n3"}}, rec) == (2, (2,))
    cases = [
        ({"a": 1}, rec, "", "expected a R object with fields a, b"),
        ({"a": 1, "b": {"tag": "Some", "value": "n4"}}, rec, ".b.value", "expected a node name n1..n3"),
        ([1, 2, 3], SeqType(IntType(0, 9), 2), "", "expected a list of at most 2"),
        ({"#set": [True]}, SetType(IntType(0, 1)), "{0}", "expected an integer in 0..1"),
        ({"#map": [["n1", 0]]}, MapType(NodeType(2), IntType(0, 1)), "", "no value for key n2"),
        ({"#map": [["n1"]]}, MapType(NodeType(2), IntType(0, 1)), "#entry0", "expected a [key, value] pair"),
        ({"#bigint": "1" * 5000}, IntType(None, None), "", "expected an integer"),
        (True, IntType(0, 1), "", "got true"),
    ]
    for j, t, path, needle in cases:
        with pytest.raises(ITFError) as info:
            from_itf(j, t)
        assert info.value.path == path and needle in info.value.reason, (j, str(info.value))


def test_replay_file_raises_replay_errors(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="expected a JSON object"):
        replay_file(write(tmp_path, "[1, 2]"))
