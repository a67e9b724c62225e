"""User mistakes: located at the right line and column, rendered with the line and a caret,
and turned by the CLI into exit status 2 without a Python traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli
from specs import checked

from pnyx.model.errors import PnyxError, SpecError

BASE = """spec e
const N = 2
nodes N
message Ping(k: 0..3)
state {
  volatile x: 0..3 = 0
}
"""
# (the line appended as line 8, column of the caret, caret width, words of the message)
CASES = {
    "syntax error": ("on timer t { x = = 1 }", 18, 1, "unexpected '='"),
    "bad character": ("on timer t { x = 1 $ }", 20, 1, "unexpected character '$'"),
    "unknown name": ("on timer t { x = y + 1 }", 18, 1, "unknown name 'y'"),
    "wrong type in assignment": ("on timer t { x = true }", 18, 4, "must be 0..3, got bool"),
    "send with wrong arity": ("on timer t { send Ping(1, 2) to self }", 14, 23, "Ping has 1 field, 2 given"),
    "pattern with wrong arity": ("on Ping(a, b) { x = a }", 1, 23, "the pattern binds 2"),
    "unknown message": ("on Pong(a) { x = a }", 1, 20, "unknown message 'Pong'"),
    "guard not bool": ("on timer t when x { x = 1 }", 17, 1, "a guard must be bool"),
    "self in a property": ("invariant I: self == self", 14, 4, "`self` is only defined inside handlers"),
    "bare variable in a property": ("invariant I: x == 0", 14, 1, "write n.x for a node n"),
    "unknown type": ("type T = set[Foo]", 14, 3, "unknown type 'Foo'"),
    "reply outside a request": ("on timer t { reply 1 }", 14, 7, "`reply` is only allowed in a request handler"),
    "comparing different types": ("on timer t when x == {1} { x = 1 }", 17, 8, "cannot compare 0..3 with set[int]"),
    "shadowed local": ("on Ping(k) { if true { let k = 1 } }", 24, 9, "'k' is already bound in an enclosing scope"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_is_located(name: str) -> None:
    line, col, width, words = CASES[name]
    with pytest.raises(SpecError) as info:
        checked(BASE + line + "\n")
    err = info.value
    assert (err.span.line, err.span.col) == (8, col)
    text = str(err).splitlines()
    assert text[0] == f"test.pnyx:8:{col}: {err.message}"
    assert words in err.message
    assert text[1] == "  " + line  # the offending source line
    assert text[2] == "  " + " " * (col - 1) + "^" * width  # the caret under the culprit


def test_unexpected_end_of_file_points_after_the_last_character() -> None:
    with pytest.raises(SpecError) as info:
        checked(BASE + "on timer t { x = 1\n")
    assert (info.value.span.line, info.value.span.col) == (8, 19)
    assert "unexpected end of file" in info.value.message
    assert "'}'" in info.value.hint


SYMMETRIC_ORDER = """spec s
nodes 3 symmetric
state { volatile leader: Node = self }
on timer t {
  for p in Node {
    if p < leader { leader = p }
  }
}
"""


def test_symmetric_nodes_compared_by_order_are_rejected() -> None:
    with pytest.raises(SpecError) as info:
        checked(SYMMETRIC_ORDER)
    assert (info.value.span.line, info.value.span.col) == (6, 8)
    assert "nodes are declared symmetric" in info.value.message
    assert "remove `symmetric`" in info.value.hint
    checked(SYMMETRIC_ORDER.replace(" symmetric", ""))  # without the declaration, fine


def test_min_over_nodes_breaks_symmetry() -> None:
    src = SYMMETRIC_ORDER.replace("for p in Node {\n    if p < leader { leader = p }\n  }", "leader = min(Node)")
    with pytest.raises(SpecError, match="min picks a node by id order"):
        checked(src)


def test_unknown_constant_override() -> None:
    with pytest.raises(SpecError, match=r"-D names an unknown constant: M \(constants: N\)"):
        checked(BASE, M=3)


def test_override_of_the_wrong_kind() -> None:
    with pytest.raises(SpecError) as info:
        checked(BASE, N=True)
    assert "N expects an integer" in info.value.message
    assert (info.value.span.line, info.value.span.col) == (2, 1)


# ---- through the command line ---------------------------------------------------------


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    p = tmp_path / "bad.pnyx"
    p.write_text(BASE + "on timer t { x = y + 1 }\n")
    return p


@pytest.fixture
def good_spec(tmp_path: Path) -> Path:
    p = tmp_path / "good.pnyx"
    p.write_text(BASE + "on timer t when x < 3 { x = x + 1 }\n")
    return p


def _assert_clean_failure(proc, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr


def test_cli_type_error(bad_spec: Path) -> None:
    proc = run_cli("check", str(bad_spec))
    _assert_clean_failure(proc, f"{bad_spec}:8:18: unknown name 'y'", "on timer t { x = y + 1 }", "                 ^")


def test_cli_compile_reports_the_same_error(bad_spec: Path) -> None:
    _assert_clean_failure(run_cli("compile", str(bad_spec)), f"{bad_spec}:8:18: unknown name 'y'")


@pytest.mark.parametrize(("define", "needle"), [
    ("N=two", "expected an integer or true/false, got 'two'"),
    ("N", "expected NAME=VALUE"),
    ("3=4", "is not a constant name"),
    ("M=3", "-D names an unknown constant: M"),
    ("N=true", "N expects an integer"),
])
def test_cli_bad_define(good_spec: Path, define: str, needle: str) -> None:
    _assert_clean_failure(run_cli("check", str(good_spec), "-D", define), needle)


def test_cli_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pnyx"
    _assert_clean_failure(run_cli("check", str(missing)), f"{missing}: no such file")


def test_cli_directory_instead_of_file(tmp_path: Path) -> None:
    _assert_clean_failure(run_cli("check", str(tmp_path)), "is a directory")


def test_cli_bad_bound(good_spec: Path) -> None:
    proc = run_cli("check", str(good_spec), "--max-depth", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "expected a positive integer" in proc.stderr


def test_cli_accepts_the_fixed_spec(good_spec: Path) -> None:
    proc = run_cli("check", str(good_spec), "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "16 distinct states, 24 transitions, diameter 6" in proc.stdout  # 4 values at each of 2 nodes


def test_pnyx_error_is_the_root() -> None:
    assert issubclass(SpecError, PnyxError)
