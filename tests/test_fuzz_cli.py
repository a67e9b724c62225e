"""Fuzzing the command line in-process: mutated bundled specs, bad flag values, mutated traces.

Whatever the input, `pnyx` ends with a status in {0, 1, 2, 3} and no exception escapes
(a traceback); a status of 2 comes with a message. Every search is bounded (--max-states,
--runs, --max-seconds), examples are derived, not random (derandomize, no database), so the
suite stays fast and repeatable on a small machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pnyx.checker import bfs
from pnyx.checker.report import result_json
from pnyx.cli import main
from pnyx.model.compiler import load

SPECS = sorted([*(ROOT / "spec").glob("*.pnyx"), *(ROOT / "spec" / "examples").glob("*.pnyx")])
TEXTS = {p.name: p.read_text() for p in SPECS}
TOKEN = re.compile(r"\s+|//[^\n]*|[A-Za-z_][A-Za-z_0-9]*|[0-9]+|\.\.|==|!=|<=|>=|=>|\+\+|.", re.S)
NUMBERS = ["0", "1", "2", "7", "-1", "-99", "1000000000", "9223372036854775807", "99999999999999999999", "1" * 300]
WORDS = ["if", "for", "send", "choose", "forall", "not", "Node", "self", "none", "{", "}", "(", ")", "[", "]", ",",
         ":", "..", "=", "+", "-", "in", "size", "state", "message", "type", "const", "on", "let", "subset"]
BOUNDS = ["--max-states", "40", "--max-seconds", "5"]
FUZZ = settings(max_examples=60, derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def run_cli(argv: list[str]) -> tuple[int, str]:
    """`pnyx ARGV` in this process: its status and stderr. Any exception is a failed test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2 with a message
            code = exc.code if isinstance(exc.code, int) else 2
    text = err.getvalue()
    assert code in (0, 1, 2, 3), (argv, code, text)
    assert "Traceback" not in text, text
    if code == 2:
        assert text.strip(), f"exit 2 without a message: {argv}"
    return code, text


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(TEXTS)))
    toks = [m.group(0) for m in TOKEN.finditer(TEXTS[name])]
    real = [i for i, t in enumerate(toks) if not t.isspace() and not t.startswith("//")]
    numbers = [i for i in real if toks[i].isdigit()]
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        i = draw(st.sampled_from(real))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "number", "insert", "nest", "nest"]))
        if op == "delete":
            toks[i] = ""
        elif op == "duplicate":
            toks[i] = f"{toks[i]} {toks[i]}"
        elif op == "swap":
            j = draw(st.sampled_from(real))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "number":
            toks[draw(st.sampled_from(numbers))] = draw(st.sampled_from(NUMBERS))
        elif op == "insert":
            toks[i] = f"{toks[i]} {draw(st.sampled_from(WORDS))} "
        else:
            k = draw(st.sampled_from([3, 120, 5000]))
            form = draw(st.sampled_from(["(" * k + "{})" + ")" * (k - 1), "-" * k + "{}", "not " * k + "{}",
                                         " + ".join(["{}"] * k)]))
            toks[i] = form.replace("{}", toks[i])
    return "".join(toks)


GOSSIP_TEXT = TEXTS["gossip.pnyx"]
DEEP_SUM = GOSSIP_TEXT.replace("value = v\n", "value = " + " + ".join(["v"] * 20000) + "\n", 1)
DEEP_BLOCKS = GOSSIP_TEXT.replace("reply v", "if true { " * 3000 + "reply v" + " }" * 3000, 1)
NAME_CLASH = GOSSIP_TEXT.replace("message Push(value: WriteId)", "message Push(value: WriteId)\nmessage WriteId()", 1)


@FUZZ
@given(text=mutated_spec(), command=st.sampled_from(["check", "simulate", "compile"]))
@example(text=DEEP_SUM, command="check")
@example(text=DEEP_BLOCKS, command="compile")
@example(text=NAME_CLASH, command="check")
@example(text=GOSSIP_TEXT.replace("const N = 3", "const N = 99999999999999999999"), command="check")
@example(text=GOSSIP_TEXT.replace("const FANOUT = 1", "const FANOUT = -1"), command="simulate")
def test_mutated_specs(tmp_path_factory: pytest.TempPathFactory, text: str, command: str) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz_spec.pnyx"
    path.write_text(text)
    extra = {"check": ["--quiet", *BOUNDS], "simulate": ["--runs", "2", "--depth", "15", "--max-seconds", "5"],
             "compile": []}[command]
    run_cli([command, str(path), *extra])


CONSTANTS = {name: re.findall(r"^const (\w+)", text, re.M) + ["M", "3"] for name, text in TEXTS.items()}
VALUES = st.one_of(
    st.integers(0, 4).map(str),  # small enough to explore, and far beyond anything a spec can use:
    st.integers(-(2**70), -1).map(str),
    st.integers(2**31, 2**70).map(str),
    st.sampled_from(["0", "-0", "1_000", "+3", "٣", "3.0", "1e9", "", "true", "FALSE", "nan", " 2", "2 ", "0x10",
                     "-9223372036854775809", "9223372036854775808", "1" * 5000]),
    st.text(max_size=6),
)
NUMERIC = st.one_of(st.integers(-5, 10**20).map(str), st.sampled_from(["0", "-1", "nan", "inf", "1e308", "1.5", "", "x"]))


@FUZZ
@given(spec=st.sampled_from(["gossip.pnyx", "zab.pnyx", "two_phase_commit.pnyx"]), data=st.data(),
       option=st.sampled_from(["--max-depth", "--max-states", "--max-seconds", "--runs", "--depth", "--seed", None]),
       value=NUMERIC)
@example(spec="gossip.pnyx", data=None, option=None, value="")
def test_flags(spec: str, data: st.DataObject | None, option: str | None, value: str) -> None:
    path = next(p for p in SPECS if p.name == spec)
    if data is None:  # the defects the first fuzz found: each one alone
        for define in ("N=50", "N=99999999999999999999", "N=1000000000", "N=1_000", "FANOUT=-1", "WRITES=99999999999"):
            run_cli(["check", str(path), "-D", define, "--quiet", *BOUNDS])
        return
    defines = data.draw(st.lists(st.tuples(st.sampled_from(CONSTANTS[spec]), VALUES), max_size=2))
    argv = ["check" if option not in ("--runs", "--depth", "--seed") else "simulate", str(path)]
    for name, v in defines:
        argv += ["-D", f"{name}={v}"]
    if option is not None:
        argv += [option, value]
    argv += ["--quiet", *BOUNDS] if argv[0] == "check" else ["--runs", "2", "--depth", "5", "--max-seconds", "5"]
    run_cli(argv)


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A gossip counterexample (a push twice to one peer) in `pnyx check --json` form, and its spec."""
    d = tmp_path_factory.mktemp("fuzz_trace")
    spec = d / "broken.pnyx"
    spec.write_text(TEXTS["gossip.pnyx"].replace("{p in Node where p != self and p not in sent}",
                                                 "{p in Node where p != self}").replace("CRASHES = 0", "CRASHES = 1"))
    cs = load(str(spec), {"WRITES": 1})
    res = bfs.check(cs)
    assert res.violation is not None
    return d / "trace.json", json.dumps(result_json(cs, res))


def _paths(j: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(j, dict):
        for k, v in j.items():
            out += _paths(v, (*path, k))
    elif isinstance(j, list):
        for i, v in enumerate(j):
            out += _paths(v, (*path, i))
    return out


JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=5)
                    | st.sampled_from(["n1", "n4", "n0", "Push", "#bigint", "None", "Some"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["#map", "#set", "#tup", "#bigint", "tag", "value", "kind", "node"]), inner, max_size=2),
                    max_leaves=6)


@FUZZ
@given(data=st.data())
def test_mutated_traces(trace_file: tuple[Path, str], data: st.DataObject) -> None:
    path, text = trace_file
    mode = data.draw(st.sampled_from(["replace", "delete", "duplicate", "truncate", "nest"]))
    if mode == "truncate":
        out = text[: data.draw(st.integers(0, len(text) - 1))]
    elif mode == "nest":
        k = data.draw(st.sampled_from([50, 100_000]))
        out = text.replace('"states"', '"x": ' + "[" * k + "]" * k + ', "states"', 1)
    else:
        j = json.loads(text)
        where = data.draw(st.sampled_from(_paths(j)[1:]))
        parent = j
        for key in where[:-1]:
            parent = parent[key]
        last = where[-1]
        if mode == "replace":
            parent[last] = data.draw(JSON)
        elif mode == "delete":
            del parent[last]
        elif isinstance(parent, list):
            parent.insert(last, json.loads(json.dumps(parent[last])))
        else:
            parent[f"{last}_"] = parent[last]
        out = json.dumps(j)
    path.write_text(out)
    code, _ = run_cli(["replay", str(path)])
    assert code in (0, 1, 2)
