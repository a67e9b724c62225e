"""The TLA+ export: golden files, parsing, and the state graph against Pnyx's own.

Golden files live in tests/golden/tla/; regenerate them after an intended change with
``PNYX_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_tla.py``.
Two independent checks of the state graph: tests/tla_eval.py (a small evaluator, the text
parsed with the `tla` package), and the official tools, SANY and TLC, from
../shared/tools/tla2tools.jar (or $TLA2TOOLS_JAR) on every bundled spec, ZAB mutants and
generated specs. In CI (CI=true) a missing jar fails the TLC tests; elsewhere it skips them.
"""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from conftest import ROOT, TESTS, run_cli
from gen_specs import sample_specs
from specs import checked

from pnyx.checker import bfs
from pnyx.checker.mutants import Mutant, load_mutants
from pnyx.checker.tla import ExportError, export, tlc
from pnyx.checker.tla.handlers import ExprWriter, HandlerWriter
from pnyx.model import ir, system
from pnyx.model.compiler import compile_checked
from pnyx.model.parser import parse, parse_file
from pnyx.model.system import EVENTS
from pnyx.model.typecheck import check

GOLDEN = TESTS / "golden" / "tla"
GOLDEN_SPECS = sorted(GOLDEN.glob("*.pnyx"))
BUNDLED = sorted((ROOT / "spec").rglob("*.pnyx")) + GOLDEN_SPECS


def exported(path: Path, **defines: object):  # type: ignore[no-untyped-def]
    return export(check(parse_file(path), defines), origin=path.relative_to(ROOT).as_posix())


def pnyx_states(path: Path, **defines: object) -> int:
    res = bfs.check(compile_checked(check(parse_file(path), defines)), bfs.Options(symmetry=False))
    assert res.violation is None and res.complete
    return res.stats.distinct


@pytest.mark.parametrize("spec", GOLDEN_SPECS, ids=lambda p: p.stem)
def test_golden(spec: Path) -> None:
    r = exported(spec)
    files = {f"{r.module}.tla": r.tla, f"{r.module}.cfg": r.cfg}
    if r.reach_cfg is not None:
        files[f"{r.module}_reachable.cfg"] = r.reach_cfg
    for name, text in files.items():
        golden = GOLDEN / name
        if os.environ.get("PNYX_UPDATE_GOLDEN"):
            golden.write_text(text, encoding="utf-8")
        assert golden.exists(), f"missing {golden}: run with PNYX_UPDATE_GOLDEN=1"
        assert text == golden.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("spec", BUNDLED, ids=lambda p: p.stem)
def test_bundled_models_parse(spec: Path) -> None:
    tla = pytest.importorskip("tla")
    r = exported(spec)
    tree = tla.parse(r.tla)
    names = {getattr(u, "name", None) for u in tree.units}
    cfg_names = re.findall(r"^(?:INIT|NEXT|INVARIANT) (\w+)", r.cfg + (r.reach_cfg or ""), re.M)
    assert set(cfg_names) <= names, "every operator a .cfg names is defined"


def test_parser_rejects_broken_text() -> None:
    """The parse test can fail: a module cut in the middle does not parse."""
    tla = pytest.importorskip("tla")
    text = exported(ROOT / "spec" / "gossip.pnyx").tla
    broken = text.replace("IN  IF", "IN  IF IF", 1)
    with pytest.raises(ValueError):
        tla.parse(broken)


# (spec, -D overrides, Pnyx's distinct states without symmetry): small enough for seconds
CASES = [
    ("spec/gossip.pnyx", {"N": 2}, 107),
    ("spec/gossip.pnyx", {"N": 3, "WRITES": 1}, 202),
    ("spec/gossip.pnyx", {"N": 2, "CRASHES": 1}, 836),
    ("spec/gossip.pnyx", {"N": 2, "WRITES": 1, "ANTI_ENTROPY": True}, 217),  # anti-entropy: Digest, Answer
    ("tests/golden/tla/relay.pnyx", {"LOG": 1, "MAXV": 1}, 1413),
    ("tests/golden/tla/flood.pnyx", {}, 46),
    ("tests/golden/tla/rebuild.pnyx", {}, 675),  # a restart with the disk lost: the Rebuild action
    # ZAB: `disconnect` when a follower gives up, and a timeout budget that timers spend
    ("spec/zab.pnyx", {"N": 2, "TXNS": 1, "CRASHES": 0, "MAX_EPOCH": 1}, 141),
]


@pytest.mark.parametrize(("spec", "defines", "states"), CASES, ids=lambda x: str(x))
def test_exported_state_graph_is_pnyx_s(spec: str, defines: dict, states: int) -> None:
    pytest.importorskip("tla")
    from tla_eval import Module

    path = ROOT / spec
    assert pnyx_states(path, **defines) == states
    r = exported(path, **defines)
    invariants = re.findall(r"^INVARIANT (\w+)", r.cfg, re.M)
    count, violated = Module(r.tla).explore(invariants)
    assert violated is None
    assert count == states


def test_reachable_properties_are_reached_as_violations() -> None:
    pytest.importorskip("tla")
    from tla_eval import Module

    r = exported(ROOT / "spec" / "gossip.pnyx", N=2)
    assert r.reach_cfg is not None
    negated = re.findall(r"^INVARIANT (\w+)", r.reach_cfg, re.M)
    assert negated == ["Unreached_AllHoldLatest"]
    _, violated = Module(r.tla).explore(negated)
    assert violated == "Unreached_AllHoldLatest"


def test_a_changed_semantics_changes_the_count() -> None:
    """The cross-check can fail: dropping the crash action's channel cut changes the state graph."""
    pytest.importorskip("tla")
    from tla_eval import Module

    r = exported(ROOT / "spec" / "gossip.pnyx", N=2, CRASHES=1)
    wrong = r.tla.replace("/\\ net' = Cut(net, i)", "/\\ net' = net")
    assert wrong != r.tla
    count, _ = Module(wrong).explore([])
    assert count != CONTROL_STATES


def test_assignment_leaving_its_type_violates_typeok() -> None:
    pytest.importorskip("tla")
    from tla_eval import Module

    src = """spec over
const N = 1
nodes N
state { volatile x: 0..2 = 0 }
on timer tick { x = x + 1 }
"""
    r = export(checked(src))
    count, violated = Module(r.tla).explore(["TypeOK"])
    assert violated == "TypeOK"
    assert count == 4  # 0, 1, 2 and the out-of-type 3, where Pnyx stops with an error


def test_cli_writes_module_and_configs(tmp_path: Path) -> None:
    res = run_cli("export", "--tla", "spec/gossip.pnyx", "-D", "N=2", "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gossip.cfg", "gossip.tla", "gossip_liveness.cfg",
                                                          "gossip_reachable.cfg"]
    text = (tmp_path / "gossip.tla").read_text()
    assert text.startswith("---- MODULE gossip ----")
    assert "N == 2" in text


@pytest.mark.parametrize(("args", "message"), [
    (["export", "spec/gossip.pnyx"], "choose a format"),
    (["export", "--tla", "no/such.pnyx"], "no such file"),
    (["export", "--tla", "spec/gossip.pnyx", "-D", "NOPE=1"], "unknown constant"),
])
def test_cli_bad_input_exits_2(args: list[str], message: str) -> None:
    res = run_cli(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("network", ["fifo", "unordered", "fifo capacity 1"])
def test_disconnect_exports_to_the_same_state_graph(network: str, tmp_path: Path) -> None:
    pytest.importorskip("tla")
    from test_connections_and_budgets import CLOSE
    from tla_eval import Module

    path = tmp_path / "close.pnyx"
    path.write_text(CLOSE.replace("DISCONNECT", "disconnect node(2)").replace("network fifo", f"network {network}"))
    states = pnyx_states(path)
    r = export(check(parse_file(path), {}), origin="close.pnyx")
    count, violated = Module(r.tla).explore([])
    assert violated is None
    assert count == states == 7


# ---- the export reads the core IR ---------------------------------------------------------------
DOC = (ROOT / "docs" / "language.md").read_text()


def doc_example(section: str) -> str:
    """The first spec shown under a heading of docs/language.md."""
    return re.findall(r"```\n(.*?)```", DOC[DOC.index(section):], flags=re.S)[0]


def test_every_ir_node_kind_has_a_writer() -> None:
    """Choices are written with the rest of their block (`HandlerWriter.choice`); a reply leaves no trace in the state."""
    assert ExprWriter.missing_kinds(ir.Expr) == []
    assert HandlerWriter.missing_kinds(ir.Stmt) == ["ChooseOne", "ChooseSubset", "Reply"]


def test_the_export_does_not_read_the_surface_syntax() -> None:
    for f in (ROOT / "checker" / "tla").glob("*.py"):
        text = f.read_text()
        assert "model import ast" not in text and "model.ast" not in text, f.name


def test_a_node_kind_without_a_writer_is_a_located_error(monkeypatch: pytest.MonkeyPatch) -> None:
    src = """spec cut
nodes 1
state { volatile s: seq[0..1, 2] = [] }
on timer t when len(s) < 2 { s = append(s[0:1], 1) }
"""
    assert "Slice(" in export(checked(src)).tla
    for writer in (ExprWriter, HandlerWriter):
        monkeypatch.delitem(writer._dispatch, ir.Slice)
    with pytest.raises(ExportError) as err:
        export(checked(src))
    assert "the TLA+ export cannot translate Slice" in str(err.value)
    assert err.value.span is not None and (err.value.span.line, err.value.span.col) == (4, 41)  # s[0:1]


def test_declared_types_keep_their_constants() -> None:
    src = """spec declared
const MAX = 2
nodes 2
budget { requests = MAX * 1 }
type Small = 0..MAX
state {
  volatile wide: 0..MAX + 1 = 0
  volatile folded: 1..max(MAX, 1) = 1
  volatile small: Small = 0
}
on request put(v: 0..MAX) { wide = v }
"""
    for defines, value in (({}, 2), ({"MAX": 1}, 1)):
        tla = export(check(parse(src, "declared.pnyx"), defines)).tla
        assert f"MAX == {value}  \\* line 2" in tla
        assert "Small == 0..MAX  \\* line 5" in tla
        assert "MaxRequests == (MAX * 1)  \\* budget: requests" in tla
        assert "/\\ \\A i \\in Node : wide[i] \\in 0..(MAX + 1)" in tla
        assert f"/\\ \\A i \\in Node : folded[i] \\in 1..{value}" in tla  # max() is no constant text: its value
        assert "/\\ \\A i \\in Node : small[i] \\in Small" in tla
        assert "/\\ \\E v \\in 0..MAX : \\E r \\in On_request_put(i, v)" in tla


def test_actions_follow_the_event_catalogue() -> None:
    """Timers, then requests, as the checker enumerates them, whatever the order of the handlers."""
    src = """spec order
nodes 2
budget { requests = 1; crashes = 1; losses = 1 }
state { volatile x: 0..1 = 0 }
message M()
on request go() { x = 1 }
on timer t { send M() to self }
on M() { x = 0 }
"""
    tla = export(checked(src)).tla
    kinds = re.findall(r"^    \\/ \\E \S+(?: \S+)* : (\w+)\(", tla[tla.index("Next =="):], re.M)
    assert kinds == ["Deliver", "Timer_t", "Request_go", "Crash", "Recover", "Lose"]
    order = [c.KIND for c in EVENTS]
    assert sorted(kinds, key=lambda k: order.index(k.split("_")[0].lower())) == kinds


def test_liveness_properties_are_temporal_formulas_left_out_of_the_cfg() -> None:
    src = """spec live
nodes 2
state { volatile level: 0..2 = 0 }
on timer t when level < 2 { level = level + 1 }
fair timer t
eventually Some: exists n in Node: n.level == 1
infinitely Often: exists n in Node: n.level == 2
leadsto Grows: (exists n in Node: n.level == 1) ~> (forall n in Node: n.level == 2)
"""
    r = export(checked(src))
    assert "Some == <>(\\E n \\in Node : (level[n] = 1))" in r.tla
    assert "Often == []<>(\\E n \\in Node : (level[n] = 2))" in r.tla
    assert "Grows == (\\E n \\in Node : (level[n] = 1)) ~> (\\A n \\in Node : (level[n] = 2))" in r.tla
    assert re.findall(r"^INVARIANT (\w+)", r.cfg, re.M) == ["TypeOK"] and r.reach_cfg is None


def test_a_crash_breaks_the_channels_the_system_s_rule_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Cut` is written from model/system.breaks_on_crash: another rule there changes both tools alike."""
    pytest.importorskip("tla")
    from tla_eval import Module

    path, defines = ROOT / "tests" / "golden" / "tla" / "relay.pnyx", {"LOG": 1, "MAXV": 1}
    monkeypatch.setattr(system, "breaks_on_crash", lambda fifo, src, dst, node: dst == node)
    states = pnyx_states(path, **defines)
    assert states != 1413  # the usual rule's count (CASES): the rule matters here
    r = exported(path, **defines)
    assert "IF d = c THEN <<>>" in r.tla
    assert Module(r.tla).explore([]) == (states, None)


@pytest.mark.parametrize("section", ["## Definitions", "## Procedures"])
def test_definitions_procedures_and_reset_export_to_pnyx_s_state_graph(section: str) -> None:
    pytest.importorskip("tla")
    from tla_eval import Module

    src = doc_example(section)
    ct = checked(src)
    res = bfs.check(compile_checked(ct), bfs.Options(symmetry=False))
    assert res.complete and res.violation is None
    r = export(ct)
    invariants = re.findall(r"^INVARIANT (\w+)", r.cfg, re.M)
    assert Module(r.tla).explore(invariants) == (res.stats.distinct, None)
    # controls: a definition written wrong, a reset left out
    if section == "## Definitions":
        wrong = r.tla.replace("(a[2] > b[2])", "(a[2] < b[2])")
        assert wrong != r.tla
        assert Module(wrong).explore(invariants)[1] == "Increasing"
    else:
        assert r.reach_cfg is not None and Module(r.tla).explore(["Unreached_Wrapped"])[1] == "Unreached_Wrapped"
        wrong = re.sub(r"\[(\w+) EXCEPT !\.count = Init_count\(\w+\), !\.seen = Init_seen\(\w+\)\]", r"\1", r.tla)
        assert wrong != r.tla
        assert Module(wrong).explore(["Unreached_Wrapped"])[1] is None


# ---- TLC: the official tools on every bundled spec, every ZAB mutant and generated specs ----------
# The jar is ../shared/tools/tla2tools.jar beside the repository ($TLA2TOOLS_JAR overrides it).
# In CI (CI=true) a missing jar or java fails these tests; elsewhere they are skipped.
JAR = tlc.jar_path(ROOT)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ZAB = ROOT / "spec" / "zab.pnyx"
MUTANTS = load_mutants(ROOT / "spec" / "zab_mutants")
RUN_SLOW = os.environ.get("PNYX_SLOW_TESTS") == "1"

# each bundled spec at constants TLC explores in seconds (the defaults where they are that small)
SMALL: dict[str, list[dict[str, object]]] = {
    "spec/gossip.pnyx": [{"N": 3, "WRITES": 1}, {"N": 2, "CRASHES": 1},
                         {"N": 2, "WRITES": 1, "ANTI_ENTROPY": True, "TIMEOUTS": 1}],
    "spec/zab.pnyx": [{"N": 2, "TXNS": 1, "CRASHES": 1, "MAX_EPOCH": 2, "TIMEOUTS": 1},
                      {"N": 3, "TXNS": 1, "CRASHES": 0, "MAX_EPOCH": 1, "TIMEOUTS": 0},
                      {"N": 2, "TXNS": 1, "CRASHES": 1, "REBUILDS": 1, "MAX_EPOCH": 2, "TIMEOUTS": 1}],
    "spec/zab_broadcast.pnyx": [{"TXNS": 1}],
    "spec/fle.pnyx": [{"MAX_EPOCH": 0}, {"N": 2, "RESTARTS": 1}, {"N": 2, "RESTARTS": 1, "RESENDS": 1, "LOSSES": 1}],
    "spec/gossip_rumor.pnyx": [{}, {"FEEDBACK": False, "COIN": True, "K": 2}, {"K": 2, "IN_A_ROW": False}],
    "spec/gossip_antientropy.pnyx": [{"N": 2, "WRITES": 2}, {"N": 2, "MODE": 2}],
    "spec/examples/two_phase_commit.pnyx": [{}],
    "spec/members.pnyx": [{"MAX_INC": 0, "CRASHES": 0}],
    "tests/golden/tla/relay.pnyx": [{"LOG": 1, "MAXV": 1}],
    "tests/golden/tla/flood.pnyx": [{}],
    "tests/golden/tla/rebuild.pnyx": [{}, {"N": 3, "TOP": 1}],
}
# The mutants the suite runs, with constant overrides where the catalogued constants take TLC
# more than a few seconds: smaller constants, found by search, at which Pnyx finds the same
# violation (same property, same trace length). The other mutants have no such constants
# under ~40,000 states (TLC: over ten seconds each); they, and every mutant at its catalogued
# constants, run in the slow test below and in benchmarks/bench_tla.py.
SUITE_MUTANTS: dict[str, dict[str, object]] = {
    "log_zxid_before_increment": {},  # catalogued: 880 states
    "compact_uncommitted": {},  # catalogued: 469 states
    "equal_epoch_counted": {},  # catalogued: 17,899 states
    "leader_ignores_own_epoch": {"TIMEOUTS": 1},  # 3,394 states (catalogued: 13,786)
    "leader_keeps_own_history": {"TIMEOUTS": 1, "CAP": 1},  # 10,582 (55,219)
    "ack_before_log": {"CRASHES": 0, "TIMEOUTS": 1, "CAP": 1},  # 11,891 (358,060): a follower that leaves, no crash
    "recovered_keeps_volatile": {"N": 2, "TIMEOUTS": 0, "MAX_EPOCH": 1, "CAP": 1},  # 302 (115,475)
}
GENERATED = 30  # generated specs, each with a distinct state count between 20 and 3,000
CONTROL_STATES = 836  # gossip N=2 CRASHES=1, exported with the crash's channel cut removed: TLC must count otherwise


def tlc_jar() -> Path:
    """The jar for the TLC tests: in CI a missing jar or java is a failure, elsewhere a skip."""
    if JAR.is_file() and tlc.java() is not None:
        return JAR
    why = f"TLC not available: no {JAR} (set {tlc.JAR_ENV}) or no java on PATH"
    if IN_CI:
        pytest.fail(why)
    pytest.skip(why)


def _name(spec: str, constants: dict[str, object]) -> str:
    return Path(spec).stem + "".join(f"_{k}{v}" for k, v in constants.items())


def bundled_models() -> list[tlc.Model]:
    return [tlc.Model(_name(spec, c), (ROOT / spec).read_text(), spec, c)
            for spec, sizes in SMALL.items() for c in sizes]


# the examples of docs/language.md that use `def`, `proc` and `reset`
DOC_SECTIONS = {"definitions": "## Definitions", "procedures": "## Procedures"}


def doc_models() -> list[tlc.Model]:
    return [tlc.Model(f"doc_{name}", doc_example(section), f"docs/language.md, {section[3:]}", {})
            for name, section in DOC_SECTIONS.items()]


def mutant_model(m: Mutant, constants: dict[str, object] | None = None) -> tlc.Model:
    c = dict(m.constants)
    c.update(constants or {})
    return tlc.Model(f"mutant_{m.name}", m.apply(ZAB.read_text()), f"spec/zab.pnyx [{m.name}]", c, m.property)


def generated_models(count: int) -> list[tlc.Model]:
    """`count` generated specs from a fixed seed, with distinct Pnyx state counts between 20 and 3,000."""
    def size(src: str) -> int | None:
        r = bfs.check(compile_checked(checked(src)), bfs.Options(symmetry=False, max_states=3000))
        return r.stats.distinct if r.complete and r.stats.distinct >= 20 else None

    return [tlc.Model(f"gen_{i}", src, f"generated spec {i}", {}) for i, src in enumerate(sample_specs(count, size))]


@dataclass
class TlcRun:
    rejected: dict[str, str]  # SANY's complaints, by model
    rows: dict[str, tlc.Row]
    control: tlc.TlcResult  # the changed gossip module
    broken_rejected: bool  # SANY rejected a recursive operator's argument out of place, and a syntax error


@pytest.fixture(scope="session")
def tlc_run(tmp_path_factory: pytest.TempPathFactory) -> TlcRun:
    """Every model of the suite, batched: TLC two JVMs at a time, one SANY call for all modules.

    TLC starts on the bundled specs and mutants (longest first) while this thread draws the
    generated specs; SANY parses every module in one JVM meanwhile.
    """
    jar = tlc_jar()
    work = tmp_path_factory.mktemp("tlc")
    mutants = [mutant_model(m, SUITE_MUTANTS[m.name]) for m in MUTANTS if m.name in SUITE_MUTANTS]
    prepared = sorted(tlc.prepare(mutants, work), key=lambda p: -p.pnyx.stats.distinct)
    prepared += tlc.prepare(bundled_models() + doc_models(), work)
    # two modules that must differ from Pnyx: a SANY error as the export once wrote it, and a changed step
    good = export(check(parse_file(ROOT / "spec" / "gossip.pnyx"), {"N": 2, "CRASHES": 1}), origin="gossip")
    broken = good.tla.replace("SortedSeq(Lt(_, _), S) ==", "SortedSeq(S, Lt(_, _)) ==")
    changed = good.tla.replace("/\\ net' = Cut(net, i)", "/\\ net' = net")
    assert broken != good.tla and changed != good.tla
    broken_path = tlc.write_export(replace(good, tla=broken), work, "control_broken")[0]
    changed_path = tlc.write_export(replace(good, tla=changed), work, "control_changed")[0]
    # a syntax error aborts SANY's whole call: the module after it must still be parsed
    syntax_path = tlc.write_export(replace(good, tla=good.tla.replace("IN  IF", "IN  IF IF", 1)), work, "control_syntax")[0]
    with ThreadPoolExecutor(max_workers=2) as pool:
        def start(module: Path) -> Future[tlc.TlcResult]:
            return pool.submit(tlc.run_tlc, jar, module, jvm=tlc.QUICK_JVM)

        runs = [start(p.module) for p in prepared]
        control = start(changed_path)
        generated = tlc.prepare(generated_models(GENERATED), work)
        runs += [start(p.module) for p in generated]
        prepared += generated
        rejected = tlc.sany(jar, [p.module for p in prepared] + [broken_path, syntax_path, changed_path])
        rows = {p.model.name: p.row(r.result()) for p, r in zip(prepared, runs)}
    names = {p.module: p.model.name for p in prepared}
    broken_rejected = rejected.pop(broken_path, None) is not None and rejected.pop(syntax_path, None) is not None
    return TlcRun({names.get(k, str(k)): v for k, v in rejected.items()}, rows, control.result(), broken_rejected)


def _check_row(run: TlcRun, name: str) -> tlc.Row:
    assert name not in run.rejected, f"SANY rejects the module of {name}:\n{run.rejected[name]}"
    row = run.rows[name]
    assert row.tlc.error is None, f"TLC reports an error on {name}:\n{row.tlc.output[-3000:]}"
    return row


def test_tlc_is_available() -> None:
    """In CI the TLC tests run: a missing jar fails here instead of skipping them."""
    assert tlc_jar().is_file()


def test_a_missing_jar_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "JAR", Path("/nonexistent/tla2tools.jar"))
    monkeypatch.setattr(sys.modules[__name__], "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="TLC not available"):
        tlc_jar()
    monkeypatch.setattr(sys.modules[__name__], "IN_CI", False)
    with pytest.raises(pytest.skip.Exception):
        tlc_jar()


def test_the_jar_is_found_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tlc.JAR_ENV, raising=False)
    assert tlc.jar_path(ROOT) == ROOT.parent / "shared" / "tools" / "tla2tools.jar"
    monkeypatch.setenv(tlc.JAR_ENV, "/opt/tla2tools.jar")
    assert tlc.jar_path(ROOT) == Path("/opt/tla2tools.jar")


def test_every_bundled_spec_is_in_the_tlc_suite() -> None:
    assert {p.relative_to(ROOT).as_posix() for p in BUNDLED} == set(SMALL)


def test_sany_and_tlc_can_fail(tlc_run: TlcRun) -> None:
    """The checks below can fail: SANY rejects broken modules, TLC counts a changed one differently."""
    assert tlc_run.broken_rejected
    assert not tlc_run.rejected, "every other module is accepted, those SANY reads after the syntax error too"
    assert tlc_run.control.completed
    assert tlc_run.control.distinct is not None and tlc_run.control.distinct != CONTROL_STATES
    assert tlc_run.rows[_name("spec/gossip.pnyx", {"N": 2, "CRASHES": 1})].pnyx_states == CONTROL_STATES


@pytest.mark.parametrize("name", [_name(s, c) for s, sizes in SMALL.items() for c in sizes])
def test_tlc_counts_pnyx_s_states_on_bundled_specs(tlc_run: TlcRun, name: str) -> None:
    row = _check_row(tlc_run, name)
    assert row.pnyx_violated is None and row.pnyx_complete
    assert row.tlc.completed and row.tlc.violated is None
    assert row.tlc.distinct == row.pnyx_states
    assert row.agree


@pytest.mark.parametrize("name", DOC_SECTIONS)
def test_tlc_counts_pnyx_s_states_on_the_docs_definitions_and_procedures(tlc_run: TlcRun, name: str) -> None:
    row = _check_row(tlc_run, f"doc_{name}")
    assert row.pnyx_violated is None and row.pnyx_complete
    assert row.tlc.completed and row.tlc.violated is None and row.tlc.distinct == row.pnyx_states
    assert row.agree


def test_the_suite_s_mutants_are_catalogued() -> None:
    assert set(SUITE_MUTANTS) <= {m.name for m in MUTANTS}


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.name in SUITE_MUTANTS], ids=lambda m: m.name)
def test_tlc_catches_each_mutant_with_pnyx_s_property(tlc_run: TlcRun, mutant: Mutant) -> None:
    row = _check_row(tlc_run, f"mutant_{mutant.name}")
    assert row.pnyx_violated == mutant.property, "Pnyx catches the mutant at the suite's constants"
    assert row.pnyx_length == mutant.length, "with a shortest trace as long as at the catalogued constants"
    assert row.tlc.violated == row.pnyx_violated
    assert row.tlc_length == row.pnyx_length, "both searches are breadth-first: shortest traces of one length"
    assert row.agree


@pytest.mark.parametrize("index", range(GENERATED), ids=lambda i: f"gen{i}")
def test_tlc_counts_pnyx_s_states_on_generated_specs(tlc_run: TlcRun, index: int) -> None:
    row = _check_row(tlc_run, f"gen_{index}")
    assert row.pnyx_violated is None and row.pnyx_complete and row.pnyx_states >= 20
    assert row.tlc.completed and row.tlc.distinct == row.pnyx_states
    assert row.agree


@pytest.mark.slow
@pytest.mark.skipif(not RUN_SLOW, reason="minutes of TLC: set PNYX_SLOW_TESTS=1")
@pytest.mark.parametrize("mutant", [m for m in MUTANTS if SUITE_MUTANTS.get(m.name) != {}], ids=lambda m: m.name)
def test_tlc_catches_each_mutant_at_its_catalogued_constants(mutant: Mutant, tmp_path: Path) -> None:
    rejected, rows = tlc.crosscheck([mutant_model(mutant)], tlc_jar(), tmp_path, jvm=tlc.DEFAULT_JVM, timeout=1800)
    assert not rejected, rejected
    (row,) = rows
    assert row.pnyx_violated == mutant.property and row.pnyx_length == mutant.length
    assert row.tlc.violated == mutant.property and row.tlc_length == mutant.length
