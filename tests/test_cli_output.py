"""What the command line says and how it ends: bounded searches, unreached goals, Mermaid files,
output into a closed pipe or a full disk, numeric flags, and which modules a client command loads."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

COUNTER = """spec counter
nodes 2
state { volatile x: 0..3 = 0 }
on timer inc when x < 3 { x = x + 1 }
"""
GOSSIP = str(ROOT / "spec" / "gossip.pnyx")


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    f = tmp_path / "counter.pnyx"
    f.write_text(COUNTER + "invariant Bound: forall n in Node: n.x <= 3\nreachable Full: forall n in Node: n.x == 3\n")
    return f


@pytest.fixture
def violated(tmp_path: Path) -> Path:
    f = tmp_path / "low.pnyx"
    f.write_text(COUNTER + "invariant Low: forall n in Node: n.x < 2\n")
    return f


def _flat(text: str) -> str:
    return " ".join(text.split())  # the console may wrap long lines


# ---- unreached goals and bounded searches ---------------------------------------------------


def test_never_reached_says_no_state_satisfies_it(tmp_path: Path) -> None:
    f = tmp_path / "over.pnyx"
    f.write_text(COUNTER + "reachable Over: exists n in Node: n.x == 4\n")
    proc = run_cli("check", str(f), "--quiet")
    assert proc.returncode == 1
    out = _flat(proc.stdout)
    assert "Never reached: Over — no reachable state satisfies it" in out
    assert "holds in any reachable state" not in out


@pytest.mark.parametrize(("flag", "value", "bound"), [
    ("--max-depth", "2", "--max-depth 2"),
    ("--max-states", "3", "--max-states 3"),
])
def test_a_bounded_search_says_so_and_exits_3(counter: Path, flag: str, value: str, bound: str) -> None:
    proc = run_cli("check", str(counter), "--quiet", flag, value)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = _flat(proc.stdout)
    assert f"Holds: invariant Bound in every state explored (stopped by the {bound} bound)" in out
    assert f"Not reached: Full — no state explored satisfies it (the search stopped at the {bound} bound" in out
    assert f"Bounded: the search stopped at the {bound} bound before exploring every reachable state: " \
           "the result is not a proof (exit status 3)" in out

    proc = run_cli("check", str(counter), "--json", flag, value)
    assert proc.returncode == 3
    data = json.loads(proc.stdout)
    assert data["verdict"] == "bounded" and data["complete"] is False and data["ok"] is False
    assert data["summary"]["bounded_by"] == bound and data["summary"]["complete"] is False
    assert "not a proof" in data["note"]


def test_simulate_cut_short_by_time_exits_3() -> None:
    # --max-seconds counts the set-up too (loading the spec: a fraction of a second)
    proc = run_cli("simulate", GOSSIP, "--runs", "100000000", "--max-seconds", "3")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Bounded: the random walks stopped at the --max-seconds 3 bound before all of them ran" in _flat(proc.stdout)
    proc = run_cli("simulate", GOSSIP, "--runs", "2", "--max-seconds", "100", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["verdict"] == "ok"


def test_a_complete_search_is_not_bounded(counter: Path) -> None:
    proc = run_cli("check", str(counter), "--json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["verdict"] == "ok" and data["complete"] is True and data["note"] is None and data["ok"] is True
    assert data["summary"]["bounded_by"] is None
    proc = run_cli("check", str(counter), "--quiet", "--max-depth", "100")  # a bound never met
    assert proc.returncode == 0 and "Bounded" not in proc.stdout


def test_a_violation_within_a_bound_is_still_a_violation(violated: Path) -> None:
    proc = run_cli("check", str(violated), "--quiet", "--max-states", "1000")
    assert proc.returncode == 1 and "Bounded" not in proc.stdout


def test_help_documents_the_exit_statuses() -> None:
    top = _flat(run_cli("--help").stdout)
    assert "3 a --max-depth, --max-states, --max-seconds or --max-memory bound" in top and "141" in top
    assert "130 Ctrl-C (SIGINT)" in top
    check = _flat(run_cli("check", "--help").stdout)
    assert "3 a --max-depth, --max-states, --max-seconds or --max-memory bound stopped the search" in check
    assert "130 Ctrl-C (SIGINT)" in check
    readme = _flat((ROOT / "README.md").read_text())
    assert "exits 3" in readme and "141" in readme


# ---- Mermaid --------------------------------------------------------------------------------


def test_mermaid_is_a_fenced_block_ending_with_the_violated_property(violated: Path, tmp_path: Path) -> None:
    md = tmp_path / "trace.md"
    proc = run_cli("check", str(violated), "--quiet", "--mermaid", str(md))
    assert proc.returncode == 1
    text = md.read_text()
    assert text.startswith("# Counterexample: invariant Low is violated\n")
    assert "\n```mermaid\nsequenceDiagram\n" in text and text.endswith("```\n")
    body = text.split("```mermaid\n", 1)[1]
    assert f"Note over n1,n2: Violated: invariant Low ({violated}:5) with n = n1\n```" in body

    raw = tmp_path / "trace.mmd"  # a bare diagram for mermaid-cli
    assert run_cli("check", str(violated), "--quiet", "--mermaid", str(raw)).returncode == 1
    diagram = raw.read_text()
    assert diagram.startswith("sequenceDiagram\n") and "```" not in diagram
    assert "Violated: invariant Low" in diagram


def test_mermaid_without_a_counterexample_says_so(counter: Path, tmp_path: Path) -> None:
    md = tmp_path / "none.md"
    proc = run_cli("check", str(counter), "--quiet", "--mermaid", str(md))
    assert proc.returncode == 0 and not md.exists()
    assert "no counterexample" in proc.stderr


# ---- output that cannot be written ------------------------------------------------------------

WRITING_COMMANDS = {
    "check": ["check", GOSSIP, "--quiet"],
    "check-json": ["check", GOSSIP, "--json"],
    "simulate": ["simulate", GOSSIP, "--runs", "2", "--depth", "5"],
    "compile": ["compile", GOSSIP, "--emit-python"],
    "bmc": ["bmc", GOSSIP, "--depth", "1", "--json"],
    "prove": ["prove", str(ROOT / "spec" / "zab_broadcast.pnyx"), "--invariant", "Agreement", "--no-reach"],
    "export": ["export", "--tla", GOSSIP, "-o", "{tmp}"],
    "diff": ["diff", GOSSIP, GOSSIP, "-D", "N=2", "-D", "WRITES=1"],
    "help": ["--help"],
}


def _run_into(stdout: int, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pnyx", *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("name", sorted(WRITING_COMMANDS))
def test_a_closed_pipe_ends_the_command_quietly(name: str, tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in WRITING_COMMANDS[name]]
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first byte, as with `| head -c 0`
    try:
        proc = _run_into(w, args)
    finally:
        os.close(w)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""  # no traceback, no "Exception ignored"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("name", sorted(WRITING_COMMANDS))
def test_a_full_disk_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in WRITING_COMMANDS[name]]
    with open("/dev/full", "w") as full:
        proc = _run_into(full.fileno(), args)
    assert proc.returncode == 2
    assert proc.stderr == "error: cannot write the output: No space left on device\n"


def test_no_standard_output_at_all_is_a_write_error() -> None:
    # `pnyx ... >&-`: descriptor 1 closed, so Python has no sys.stdout
    proc = subprocess.run(["sh", "-c", 'exec "$0" -m pnyx compile "$1" >&-', sys.executable, GOSSIP],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == "error: cannot write the output: Bad file descriptor\n"


# ---- numeric flags and the cluster directory ----------------------------------------------------


BAD_SECONDS = ["-1", "0", "nan", "inf", "-inf", "1e308", "1e400", "soon", ""]


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_bad_seconds_are_refused_by_the_one_helper(value: str) -> None:
    from pnyx.cli import _seconds

    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a positive number of seconds \(at most 1,000,000\)"):
        _seconds(value)
    assert _seconds("0.25") == 0.25 and _seconds("1e6") == 1e6


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_kv_timeout_refused_clearly(value: str) -> None:
    proc = run_cli("kv", "--server", "127.0.0.1:1", f"--timeout={value}", "get", "/a")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "argument --timeout: expected a positive number of seconds (at most 1,000,000)" in proc.stderr


@pytest.mark.parametrize("command", [["gossip", "--server", "127.0.0.1:1", "--timeout=nan", "keys"],
                                     ["check", GOSSIP, "--max-seconds=inf"],
                                     ["simulate", GOSSIP, "--max-seconds=-1"],
                                     ["cluster", "status", "/nonexistent", "--timeout=1e308"]])
def test_every_seconds_flag_goes_through_the_helper(command: list[str]) -> None:
    proc = run_cli(*command)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "expected a positive number of seconds (at most 1,000,000)" in proc.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["kv", "--server", "127.0.0.1:1", "set", "/a", "x", "--version", "-2"], "expected a version (an integer; -1: any)"),
    (["kv", "--server", "127.0.0.1:1", "delete", "/a", "--version", "x"], "expected a version (an integer; -1: any)"),
    (["cluster", "start", GOSSIP, "--dir", "/nonexistent/c", "--nodes", "0"], "expected a number of nodes from 1 to 100"),
    (["cluster", "start", GOSSIP, "--dir", "/nonexistent/c", "--nodes", "5000"], "expected a number of nodes from 1 to 100"),
    (["check", GOSSIP, "--max-states", "-3"], "expected a positive integer"),
    (["simulate", GOSSIP, "--runs", "1e3"], "expected a positive integer"),
    (["simulate", GOSSIP, "--seed", "1e3"], "expected an integer, got '1e3'"),
])
def test_bad_numbers_are_refused_clearly(args: list[str], needle: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert needle in proc.stderr


def test_cluster_dir_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("not a directory")
    proc = run_cli("cluster", "start", GOSSIP, "--dir", str(f))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == f"error: {f}: exists and is not a directory; a cluster needs a directory of its own (a new path)\n"
    proc = run_cli("cluster", "start", GOSSIP, "--dir", str(f / "below"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot create the cluster directory" in proc.stderr


# ---- what a command imports ---------------------------------------------------------------------

HEAVY = ("pnyx.model.compiler", "pnyx.model.parser", "pnyx.model.typecheck", "pnyx.model.ast", "lark", "z3", "rich",
         "pnyx.checker", "asyncio")


@pytest.mark.parametrize("command", [["kv", "--server", "127.0.0.1:1", "--timeout", "0.5", "get", "/a"],
                                     ["gossip", "--server", "127.0.0.1:1", "--timeout", "0.5", "keys"]])
def test_a_client_command_imports_only_the_client(command: list[str]) -> None:
    # -X importtime lists every module the process imports, on stderr
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pnyx", *command], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 1 and "server unavailable" in proc.stderr  # nothing listens on port 1
    loaded = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "pnyx.impl.client" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY)
    assert heavy == [], heavy


def test_every_command_is_listed_with_its_module() -> None:
    from pnyx.cli import BUILTIN_COMMANDS, COMMAND_MODULES, build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted([*BUILTIN_COMMANDS, *COMMAND_MODULES])
    for command, module in COMMAND_MODULES.items():
        sub = next(a for a in build_parser(command)._actions if a.dest == "command")
        assert command in sub.choices, (command, module)
