"""What a spec can use, checked where it is written: -D values, node counts, sizes and counts,
enumerated domains, nesting depth, and one namespace for constants, types, enum members,
messages and state variables. Each mistake is a located error (exit 2), never a crash."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import ROOT
from specs import checked, compiled

from pnyx.checker import bfs
from pnyx.cli import main
from pnyx.model import parser as parser_module
from pnyx.model.compiler import compile_checked
from pnyx.model.errors import SpecError
from pnyx.model.parser import parse
from pnyx.model.runtime import RandomChooser
from pnyx.model.typecheck import check

GOSSIP = str(ROOT / "spec" / "gossip.pnyx")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# ---- -D values ----------------------------------------------------------------------------


@pytest.mark.parametrize(("define", "needle"), [
    ("N=1_000", "got '1_000' (an integer is decimal digits"),
    ("N=+3", "got '+3'"),
    ("N=٣", "got '٣'"),
    ("N=3.0", "got '3.0'"),
    ("N=99999999999999999999", "expected an integer from -9223372036854775808 to 9223372036854775807"),
])
def test_define_values_are_plain_decimal_integers(capsys: pytest.CaptureFixture[str], define: str, needle: str) -> None:
    code, err = run(capsys, "compile", GOSSIP, "-D", define)
    assert code == 2 and needle in err, err


@pytest.mark.parametrize("n", ["0", "-1", "101", "1000000000", "9223372036854775807"])
def test_node_count_within_bounds(capsys: pytest.CaptureFixture[str], n: str) -> None:
    code, err = run(capsys, "check", GOSSIP, "-D", f"N={n}", "--max-states", "10", "--quiet")
    assert code == 2
    assert f"gossip.pnyx:23:7: the number of nodes must be from 1 to 100, got {n}" in err
    assert f"hint: with -D N={n}" in err


def test_fifty_nodes_are_explored(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(capsys, "check", GOSSIP, "-D", "N=50", "--max-states", "200", "--quiet")
    assert code in (0, 3)  # 3: the bound stopped the search (another part of the CLI)


def test_negative_subset_size(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "check", GOSSIP, "-D", "FANOUT=-1", "--quiet")
    assert code == 2
    assert "gossip.pnyx:76:77: a subset size is a count, at least 0; got -1" in err and "-D FANOUT=-1" in err


def test_negative_budget_and_empty_range_name_the_override(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "check", GOSSIP, "-D", "LOSSES=-3", "--quiet")
    assert code == 2 and "a budget is a count, at least 0; got -3" in err and "with -D LOSSES=-3" in err
    code, err = run(capsys, "check", GOSSIP, "-D", "WRITES=-1", "--quiet")
    assert code == 2 and "gossip.pnyx:33:16: empty range 0..-1" in err and "with -D WRITES=-1" in err


def test_request_arguments_too_many_for_the_checker(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "check", GOSSIP, "-D", "WRITES=99999999999", "--quiet")
    assert code == 2
    assert "gossip.pnyx:51:18: the checker tries every argument of request write(v: 1..99999999999)" in err
    cs = compiled(Path(GOSSIP).read_text(), WRITES=2**62)  # a cluster's instance compiles: it never enumerates
    assert cs.requests[0].arg_error is not None


BASE = """spec s
const K = 3
nodes 2
state { volatile x: int = 0 }
"""


@pytest.mark.parametrize(("text", "where", "needle"), [
    ("state { volatile q: seq[int, K - 5] }", (5, 30), "a sequence bound is a length, at least 0; got -2"),
    ("state { volatile m: map[0..K * 1000000, bool] }", (5, 25), "a map holds a value for every key"),
    ("type Big = 0..K * 1000000\non timer t when exists b in Big: b == x { x = 1 }", (6, 29),
     "Big stands here for the set of its values, more than 100,000"),
    ("on timer t { choose y in {node(K)} }", (5, 32), "node(3) does not exist: nodes are 1..2"),
    ("const BIG = 9223372036854775807 + K", (5, 1), "outside the 64-bit integers"),
    ("on timer t { x = 99999999999999999999 }", (5, 18), "number too large: integers in a spec are 64-bit"),
])
def test_sizes_and_counts_are_checked_where_written(text: str, where: tuple[int, int], needle: str) -> None:
    with pytest.raises(SpecError) as info:
        checked(BASE + text + "\n")
    assert needle in info.value.message
    assert (info.value.span.line, info.value.span.col) == where


def test_integers_beyond_the_hash_modulus_use_the_stable_fingerprint() -> None:
    # CPython hashes 0 and 2**61 - 1 alike: such states must not be told apart by hash alone
    spec = "spec h\nnodes 1\nstate {{ volatile y: 0..{} }}\n"
    assert not compiled(spec.format(2**61 - 1)).hash_is_exact_enough
    assert compiled(spec.format(2**61 - 2)).hash_is_exact_enough


# ---- nesting ------------------------------------------------------------------------------

DEEP = {
    "sum": ("on timer t { x = " + " + ".join(["1"] * 20000) + " }", "expression nested too deeply", 18),
    "negation": ("on timer t { x = " + "-" * 20000 + "1 }", "expression nested too deeply", None),
    "not": ("invariant I: " + "not " * 20000 + "true", "expression nested too deeply", None),
    "blocks": ("on timer t { " + "if true { " * 3000 + "x = 1" + " }" * 3000 + " }", "blocks nested too deeply", None),
    "calls": ("on timer t { x = " + "max(" * 5000 + "1" + ", 1)" * 5000 + " }", "expression nested too deeply", None),
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_nesting_is_a_located_error(name: str) -> None:
    text, needle, col = DEEP[name]
    with pytest.raises(SpecError) as info:
        checked(BASE + text + "\n")
    assert needle in info.value.message and info.value.span.line == 5
    if col is not None:
        assert info.value.span.col == col
    assert len(str(info.value).splitlines()[1]) < 200  # a window of the line, not 100 KB of it


def test_deep_nesting_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "deep.pnyx"
    p.write_text(BASE + DEEP["sum"][0] + "\n")
    code, err = run(capsys, "check", str(p))
    assert code == 2 and f"{p}:5:18: expression nested too deeply: more than 100 levels" in err


def test_nesting_just_below_the_limit_compiles() -> None:
    k = 45
    cond = "if x > 0 then " * k + "1" + " else 1" * k
    blocks = "if x == 0 { x = 1 } " + "else if x == 1 { x = 2 } " * 90
    compiled(BASE + f"on timer a {{ x = {cond} }}\non timer b {{ {blocks} }}\n")


def test_loops_and_leading_foralls_nested_too_deeply() -> None:
    loops = "".join(f"for i{k} in 0..1 {{ " for k in range(17)) + "x = 1" + " }" * 17
    with pytest.raises(SpecError, match="loops nested too deeply: more than 16") as info:
        checked(BASE + f"on timer t {{ {loops} }}\n")
    assert info.value.span.line == 5
    foralls = "forall " + ", ".join(f"a{k}" for k in range(17)) + " in Node: true"
    with pytest.raises(SpecError, match="too many variables in the leading foralls"):
        checked(BASE + f"invariant I: {foralls}\n")


def test_python_limits_beyond_the_parser_are_still_located(monkeypatch: pytest.MonkeyPatch) -> None:
    # with the parser's limit lifted, an else-if chain of 150 exceeds Python's 100 indentation levels
    monkeypatch.setattr(parser_module, "MAX_NESTING", 1000)
    blocks = "if x == 0 { x = 1 } " + "else if x == 1 { x = 2 } " * 150
    ct = check(parse(BASE + f"on timer b {{ {blocks} }}\n", "deep.pnyx"))
    with pytest.raises(SpecError, match="too deeply nested or too large to compile") as info:
        compile_checked(ct)
    assert info.value.span is not None and info.value.span.line == 5


# ---- one namespace ------------------------------------------------------------------------

NAMES = """spec n
const N = 2
nodes N
"""


@pytest.mark.parametrize(("text", "where", "needle"), [
    ("type Val = 0..1\nmessage Val(v: Val)\ninvariant I: forall p in Val: p.v == 0",
     (5, 1), "message 'Val' has the name of the type 'Val' declared at line 4"),
    ("type T = 0..1\nconst T = 3", (5, 1), "constant 'T' has the name of the type 'T' declared at line 4"),
    ("message N(v: bool)", (4, 1), "message 'N' has the name of the constant 'N' declared at line 2"),
    ("type R = enum { N, M }", (4, 10), "enum member 'N' has the name of the constant 'N' declared at line 2"),
    ("state { volatile r: enum { Q, N } }", (4, 21), "enum member 'N' has the name of the constant 'N'"),
    ("type R = enum { A, B }\ntype S = enum { C, A }", (5, 10), "enum member 'A' is declared twice (first at line 4)"),
    ("message x(v: bool)\nstate { volatile x: bool }", (5, 9), "state variable 'x' has the name of the message 'x'"),
    ("type Node = 0..2", (4, 1), "Node is the built-in type of node ids"),
    ("type len = record { a: bool }", (4, 1), "type 'len' has the name of a built-in function"),
    ("message P()\nmessage P()", (5, 1), "message 'P' is declared twice (first at line 4)"),
    ("type T = 0..2\nstate { volatile x: bool }\non timer t { for T in 0..1 { x = true } }", (6, 14),
     "'T' would hide the type of that name"),
])
def test_one_namespace(text: str, where: tuple[int, int], needle: str) -> None:
    with pytest.raises(SpecError) as info:
        checked(NAMES + text + "\n")
    assert needle in info.value.message
    assert (info.value.span.line, info.value.span.col) == where


def test_a_bounded_search_of_fifty_symmetric_nodes_is_cheap() -> None:
    cs = compiled(Path(GOSSIP).read_text(), N=50)
    res = bfs.check(cs, bfs.Options(max_states=500))
    assert res.stats.distinct >= 500 and res.violation is None


# ---- what one step may enumerate ------------------------------------------------------------


def test_a_node_chooses_from_a_huge_range_without_listing_it() -> None:
    # the runtime picks at random; the checker would try each option (and refuses, below)
    cs = compiled(BASE + "on timer t { choose y in 1..K * 1000000000000\n choose z subset of 1..K * 1000000000000 size 2\n"
                         " x = y + len(z) }\n")
    h = cs.timers[0]
    st2, _, _ = h.fn(0, cs.init_node(0), RandomChooser(random.Random(1)))
    assert 1 < st2[0] <= 3 * 10**12 + 2


@pytest.mark.parametrize(("stmt", "needle"), [
    ("choose y in 0..K * 1000000", "choose among 3,000,001 options, more than the 100,000 the checker tries"),
    ("choose y subset of 0..K * 1000000 size 2", "size 2 out of 3,000,001 options: 4,500,001,500,000 subsets"),
    ("choose y subset of {p in Node where true} size 1", None),
])
def test_choices_beyond_what_the_checker_tries_are_step_errors(stmt: str, needle: str | None) -> None:
    res = bfs.check(compiled(BASE + f"on timer t when x == 0 {{ {stmt}\n x = 1 }}\n"), bfs.Options(max_states=100))
    if needle is None:
        assert res.violation is None
    else:
        assert res.violation is not None and res.violation.kind == "error" and needle in res.violation.message


# ---- properties that cannot be evaluated ------------------------------------------------------

PROPERTY_FAILS = BASE + """state { volatile log: seq[int, 3] = [] }
on timer t when len(log) < 2 { log = append(log, 1) }
invariant Second: forall n in Node: len(n.log) == 0 or n.log[1] == 1
"""


def test_a_property_that_fails_to_evaluate_is_reported_with_its_trace(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    res = bfs.check(compiled(PROPERTY_FAILS))
    v = res.violation
    assert v is not None and v.kind == "error" and v.name == "Second" and len(v.trace) == 1
    assert "invariant Second cannot be evaluated: index 1 is out of range for a sequence of length 1" in v.message
    p = tmp_path / "fails.pnyx"
    p.write_text(PROPERTY_FAILS)
    for command in ("check", "simulate"):
        code = main([command, str(p)])
        out = capsys.readouterr().out
        assert code == 1
        assert "Error while evaluating property Second" in out and "running a handler" not in out


# ---- files ----------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_not_read_forever(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "check", "/dev/zero")
    assert code == 2 and "larger than 16 MiB, too large for a spec" in err
    code, err = run(capsys, "compile", "bad\x00name.pnyx")
    assert code == 2 and "cannot read" in err


def test_a_file_name_with_a_newline_stays_a_comment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a\nraise SystemExit(5)\n.pnyx"
    p.write_text("spec x\nnodes 1\nstate { volatile v: bool }\n")
    code, _ = run(capsys, "check", str(p), "--quiet")
    assert code == 0
