"""`type Value = opaque(K)`: data-independent values. The doc's example runs as shown, its
broken variant is caught alike with 2 and 3 values (and missed with 1, which is why the
default is 2), the reference interpreter agrees on every state, every way of looking inside a
value is refused at its location, and the runtime carries real payloads through handlers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from reference import NaiveExplorer
from specs import checked, compiled, explore

from pnyx.impl.node import NodeRuntime
from pnyx.impl.sim import InvariantViolation, Simulation
from pnyx.impl.storage import MemoryStorage
from pnyx.model import ir
from pnyx.model.errors import SpecError
from pnyx.model.types import OpaqueType, show

DOC = (ROOT / "docs" / "language.md").read_text()
SPEC, OUTPUT = re.findall(r"```\n(.*?)```", DOC[DOC.index("## Opaque values"):], flags=re.S)[:2]
# the backup of the doc that skips a Put repeating its last entry: it loses a second equal write
SKIPS_REPEATS = SPEC.replace("on Put(v) {\n  log = append(log, v)\n}",
                             "on Put(v) {\n  if len(log) == 0 or last(log) != v { log = append(log, v) }\n}")


def test_the_docs_example_prints_what_the_doc_shows(tmp_path: Path) -> None:
    (tmp_path / "backup.pnyx").write_text(SPEC)
    proc = run_cli("check", "backup.pnyx", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in OUTPUT.strip().splitlines():
        assert line in proc.stdout, proc.stdout


@pytest.mark.parametrize("values", [2, 3])
def test_two_and_three_values_give_one_verdict(values: int) -> None:
    assert SKIPS_REPEATS != SPEC
    assert explore(SPEC, VALUES=values).violation is None
    bad = explore(SKIPS_REPEATS, VALUES=values).violation
    assert bad is not None and bad.name == "Prefix" and len(bad.trace.events) == 6


def test_one_value_cannot_show_a_bug_that_needs_two() -> None:
    # the known blind spot the default of 2 avoids: with one value every write repeats the last
    assert explore(SKIPS_REPEATS, VALUES=1).violation is None


def test_the_default_is_two_values() -> None:
    default = checked(SPEC.replace("opaque(VALUES)", "opaque"))
    assert default.types["Value"] == OpaqueType(1, 2, "Value")
    assert explore(SPEC.replace("opaque(VALUES)", "opaque")).stats.distinct == explore(SPEC).stats.distinct == 49


@pytest.mark.parametrize("values", [1, 2, 3])
@pytest.mark.parametrize("spec", [SPEC, SKIPS_REPEATS], ids=["backup", "skips-repeats"])
def test_the_reference_agrees_on_every_state(spec: str, values: int) -> None:
    spec = spec[: spec.index("invariant Prefix")]  # the checker stops at a violation, the reference never
    expected = NaiveExplorer(checked(spec, VALUES=values)).explore()
    assert explore(spec, VALUES=values).stats.distinct == len(expected)


def test_a_trace_shows_values_as_v1_v2(tmp_path: Path) -> None:
    replying = SKIPS_REPEATS.replace("  send Put(v) to node(2)\n", "  send Put(v) to node(2)\n  reply v\n")
    assert replying != SKIPS_REPEATS
    (tmp_path / "skips.pnyx").write_text(replying)
    proc = run_cli("check", "skips.pnyx", "--quiet", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "client calls write(v=v2) at n1 -> replies v2" in proc.stdout
    assert "n1.log: [v1, v1] -> [v1, v1, v2]" in proc.stdout and "n2.log: [v1] -> [v1, v2]" in proc.stdout
    assert show("payload", OpaqueType(1, 2, "Value")) == "'payload'"  # a runtime value as itself


def test_back_ends_see_the_range_one_to_k() -> None:
    core = checked(SPEC).core
    (decl,) = [d for d in core.type_decls if d.name == "Value"]
    assert isinstance(decl.declared, ir.DeclRange)
    assert isinstance(decl.declared.lo, ir.Literal) and decl.declared.lo.value == 1
    assert isinstance(decl.declared.hi, ir.ConstRef) and decl.declared.hi.name == "VALUES"
    assert (decl.declared.type.lo, decl.declared.type.hi) == (1, 2)


ALLOWED = """spec Allowed
nodes 2
budget { requests = 2 }
type Value = opaque(3)
type Entry = record { v: Value, n: 0..2 }
message Put(e: Entry, all: set[Value])
def same(a: Value, b: Value): bool = a == b
state {
  volatile seen: set[Value] = {}
  volatile log: seq[Entry, 2] = []
  volatile last: option[Value] = none
  volatile by: map[Node, option[Value]]
}
on request put(v: Value) when len(log) < 2 {
  seen = seen | {v}
  log = append(log, Entry(v: v, n: len(log)))
  last = some(v)
  by[self] = some(v)
  choose w in seen
  if same(w, v) and w != v { last = none }
  send Put(Entry(v: w, n: 0), seen) to {p in Node where p != self}
}
on Put(e, all) {
  if e.v in all and (forall x in all: x in all) { seen = seen | all }
}
invariant Seen: forall n in Node: forall e in n.log: e.v in n.seen
"""


def test_copying_storing_sending_and_comparing_are_allowed() -> None:
    result = explore(ALLOWED)
    assert result.violation is None and result.stats.distinct > 1


SMALL = """spec S
nodes 2
budget { requests = 1 }
type Value = opaque
message Put(v: Value)
state {
  volatile x: int = 0
  volatile log: seq[Value, 2] = []
  volatile vs: set[Value] = {}
}
on request put(v: Value) {
  STMT
}
"""

# (statement, where, message): each a way of looking inside a value, refused where it is written
BAD = [
    ("x = v + 1", "12:7", "`+` needs integers, got Value and int"),
    ("x = -v", "12:8", "the operand of `-` must be int, got Value"),
    ("if v < v { }", "12:6", "`<` compares integers or tuples of them, got Value and Value"),
    ("let m = max(v, v)", "12:11", "max needs two ordered values of one type"),
    ("let m = min(vs)", "12:11", "min needs ordered elements, got Value"),
    ("if v in 1..2 { }", "12:6", "Value cannot be a member of set[int]"),
    ("choose w in Value", "12:15", "Value is an opaque type: its values cannot be listed"),
    ("let b = forall w in Value: w == v", "12:23", "Value is an opaque type: its values cannot be listed"),
    ("log = append(log, 1)", "12:21", "the appended element must be Value, got"),
    ("if v == 1 { }", "12:6", "cannot compare Value with int"),
    ("x = v", "12:7", "the value assigned to x must be int, got Value"),
    ("let y = log[v]", "12:15", "a sequence index must be int, got Value"),
    ("for w in vs { log = append(log, w) }", "12:12", "a loop over a set of Value visits opaque values in an order"),
]


@pytest.mark.parametrize(("stmt", "where", "message"), BAD, ids=[b[0] for b in BAD])
def test_looking_inside_a_value_is_refused_where_it_is_written(stmt: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        checked(SMALL.replace("STMT", stmt))
    text = str(info.value)
    assert message in text and f"test.pnyx:{where}" in text, text
    if "Value" in message.split(":")[0] and "opaque type" not in message and "loop" not in message:
        assert "is opaque: its values are only stored, sent and compared" in text, text


BAD_DECLARATIONS = [
    ("volatile x: int = 0", "volatile first: Value", "7:3",
     "state variable first needs a value of the opaque type Value to start with"),
    ("volatile x: int = 0", "volatile m: map[Value, bool]", "7:19", "Value cannot be a map key"),
    ("volatile x: int = 0", "volatile m: map[tuple[Value, bool], bool]", "7:19", "cannot be a map key"),
    ("volatile x: int = 0", "volatile m: map[Node, Value]", "7:3", "needs a value of the opaque type Value"),
    ("message Put(v: Value)", "message Put(v: opaque)", "5:16", "an opaque type is declared by name"),
    ("type Value = opaque", "type Value = opaque(0)", "4:21", "needs at least one value"),
    ("type Value = opaque", "type Value = opaque(true)", "4:21", "must be an integer constant"),
]


@pytest.mark.parametrize(("old", "new", "where", "message"), BAD_DECLARATIONS, ids=[b[1] for b in BAD_DECLARATIONS])
def test_a_bad_declaration_is_refused_where_it_is_written(old: str, new: str, where: str, message: str) -> None:
    src = SMALL.replace("STMT", "log = append(log, v)").replace(old, new)
    assert src != SMALL
    with pytest.raises(SpecError) as info:
        checked(src)
    text = str(info.value)
    assert message in text and f"test.pnyx:{where}" in text, text


def test_opaque_is_refused_in_a_cli_run_with_its_location(tmp_path: Path) -> None:
    (tmp_path / "bad.pnyx").write_text(SMALL.replace("STMT", "x = v * 2"))
    proc = run_cli("check", "bad.pnyx", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout
    assert "bad.pnyx:12:7" in proc.stderr + proc.stdout


# ---- the runtime: real payloads ----------------------------------------------------------
def test_a_simulation_carries_client_payloads_through_handlers() -> None:
    cs = compiled(SPEC, WRITES=3)
    sim = Simulation(cs, seed=5)
    payloads = ["alpha", b"\x00beta", ("k", 7)]
    for p in payloads:
        sim.request(0, "write", (p,))
    assert sim.run(1.0, stop=lambda s: len(s.var(1, "log")) == 3)
    assert sim.var(0, "log") == sim.var(1, "log") == tuple(payloads)
    assert "Put" in sim.stats.by_message


def test_payloads_survive_a_restart_from_storage() -> None:
    cs = compiled(SPEC)
    storage = MemoryStorage()

    class Drop:
        def send(self, src: int, dst: int, msg: tuple) -> None:
            pass

    rt = NodeRuntime(cs, 0, storage, Drop())
    rt.start()
    assert rt.request("write", ('{"key": "k", "data": [1, 2]}',)) is not None
    again = NodeRuntime(cs, 0, storage, Drop())
    again.start()
    assert again.get("log") == ('{"key": "k", "data": [1, 2]}',)


def test_a_payload_the_wire_cannot_carry_is_refused() -> None:
    sim = Simulation(compiled(SPEC), seed=1)
    with pytest.raises(TypeError, match="argument v of request write: a Value payload is a string"):
        sim.request(0, "write", (["a", "list"],))


def test_the_runtime_checks_invariants_on_payloads() -> None:
    # n2 skips a Put that repeats its last entry: with payloads the same bug shows
    sim = Simulation(compiled(SKIPS_REPEATS, WRITES=3), seed=2)
    with pytest.raises(InvariantViolation, match="Prefix"):
        for p in ("x", "x", "y"):
            sim.request(0, "write", (p,))
            sim.run(sim.now + 1.0)


def test_the_zab_service_needs_an_opaque_value() -> None:
    # it writes (id, operation) pairs: a spec whose Value is a range would range-check them
    from pnyx.impl.zab_service import ZabService

    zab = (ROOT / "spec" / "zab.pnyx").read_text()
    assert "type Value = opaque(VALUES)" in zab
    assert ZabService.needs.missing(compiled(zab)) == []
    missing = ZabService.needs.missing(compiled(zab.replace("type Value = opaque(VALUES)", "type Value = 1..VALUES")))
    assert "request write(an opaque value) (the spec's is write(v: 1..1))" in missing
    assert any(m.startswith("variable history as a sequence of (zxid, opaque value) pairs") for m in missing)


@pytest.mark.parametrize("values", [1, 2])
def test_the_tla_export_explores_the_same_states(values: int) -> None:
    # the export sees Value as 1..VALUES; its state graph, evaluated independently, is Pnyx's
    pytest.importorskip("tla")
    from tla_eval import Module

    from pnyx.checker import bfs
    from pnyx.checker.tla import export

    for spec, holds in ((SPEC, True), (SKIPS_REPEATS, values == 1)):
        r = export(checked(spec, VALUES=values), origin="backup.pnyx")
        assert "1..VALUES" in r.tla
        invariants = re.findall(r"^INVARIANT (\w+)", r.cfg, re.M)
        count, violated = Module(r.tla).explore(invariants)
        if holds:
            ours = bfs.check(compiled(spec, VALUES=values), bfs.Options(symmetry=False))
            assert violated is None and ours.violation is None and count == ours.stats.distinct
        else:
            assert violated is not None and "Prefix" in str(violated)


def test_bmc_finds_the_bug_with_two_values_only() -> None:
    # the z3 back end reads Value as 1..VALUES too: same verdicts and trace length as the checker
    from pnyx.checker.z3.bmc import bmc

    assert bmc(compiled(SPEC), 6).ok
    assert bmc(compiled(SKIPS_REPEATS, VALUES=1), 6).ok
    found = bmc(compiled(SKIPS_REPEATS), 6)
    assert not found.ok and found.name == "Prefix" and len(found.events) == 6


def test_a_cluster_carries_payloads_between_processes(tmp_path: Path) -> None:
    """The doc's backup as two node processes (the raw service): a client's strings and bytes
    reach n2's log over real sockets, through both nodes' compiled handlers and storage."""
    from conftest import eventually

    from pnyx.impl.client import ClientError, call
    from pnyx.impl.cluster import start_cluster, stop_cluster

    (tmp_path / "backup.pnyx").write_text(SPEC)
    d = tmp_path / "c"
    meta = start_cluster(str(tmp_path / "backup.pnyx"), 2, d, timeout=60, service="raw")
    try:
        call(meta.clients[0], "request", "write", ("hello",), timeout=10)
        call(meta.clients[0], "request", "write", ((b"\x00k", 7),), timeout=10)
        with pytest.raises(ClientError, match="a Value payload is a string"):
            call(meta.clients[0], "request", "write", ([1, 2],), timeout=10)
        want = ("log", "['hello', (b'\\x00k', 7)]")
        assert eventually(lambda: want in call(meta.clients[1], "state", timeout=10))
        assert want in call(meta.clients[0], "state", timeout=10)
    finally:
        stop_cluster(d)
