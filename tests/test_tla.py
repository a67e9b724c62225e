"""The TLA+ export: golden files, parsing, and the state graph against Pnyx's own.

Golden files live in tests/golden/tla/; regenerate them after an intended change with
``PNYX_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_tla.py``.
No TLA+ tool is needed: the text is parsed with the `tla` package and explored with
tests/tla_eval.py. A TLC run is added when `TLA2TOOLS_JAR` names a tla2tools.jar.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, TESTS, run_cli
from specs import checked

from checker import bfs
from checker.tla import export
from model.compiler import compile_checked
from model.parser import parse_file
from model.typecheck import check

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
    ("spec/gossip.pnyx", {"N": 2}, 105),
    ("spec/gossip.pnyx", {"N": 3, "WRITES": 1}, 193),
    ("spec/gossip.pnyx", {"N": 2, "CRASHES": 1}, 756),
    ("tests/golden/tla/relay.pnyx", {"LOG": 1, "MAXV": 1}, 1413),
    ("tests/golden/tla/flood.pnyx", {}, 46),
    # ZAB: `disconnect` when a follower gives up, and a timeout budget that timers spend
    ("spec/zab.pnyx", {"N": 2, "TXNS": 1, "CRASHES": 0, "MAX_EPOCH": 1}, 117),
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
    assert count != 756


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gossip.cfg", "gossip.tla", "gossip_reachable.cfg"]
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


def _tlc_jar() -> str | None:
    jar = os.environ.get("TLA2TOOLS_JAR")
    return jar if jar and Path(jar).is_file() and shutil.which("java") else None


@pytest.mark.skipif(_tlc_jar() is None, reason="TLC not available: set TLA2TOOLS_JAR to a tla2tools.jar")
@pytest.mark.parametrize(("spec", "defines", "states"), CASES, ids=lambda x: str(x))
def test_tlc_counts_pnyx_s_states(spec: str, defines: dict, states: int, tmp_path: Path) -> None:
    r = exported(ROOT / spec, **defines)
    (tmp_path / f"{r.module}.tla").write_text(r.tla)
    (tmp_path / f"{r.module}.cfg").write_text(r.cfg)
    out = subprocess.run(["java", "-XX:+UseParallelGC", "-cp", str(_tlc_jar()), "tlc2.TLC", "-workers", "1",
                          "-config", f"{r.module}.cfg", f"{r.module}.tla"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    found = re.search(r"([\d,]+) distinct states found", out.stdout)
    assert found is not None, out.stdout[-2000:]
    assert int(found.group(1).replace(",", "")) == states


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
