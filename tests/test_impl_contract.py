"""The runtime's contract: impl/ modules import alone and without cycles (the host knows no
service), the service is chosen by flag or config and recorded, a spec lacking what its
service reads is refused at start naming what is missing, and service settings come from
config.toml."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pnyx.cli import main
from pnyx.impl.client import ClientError, call
from pnyx.impl.cluster import resolve_spec, start_cluster, stop_cluster
from pnyx.impl.config import Config, ConfigError, ZabConfig, load_config, parse_config, to_toml
from pnyx.impl.gossip_service import GossipService
from pnyx.impl.meta import ClusterMeta
from pnyx.impl.raw_service import RawService
from pnyx.impl.service import INT, Requirements
from pnyx.impl.services import SERVICES, infer_service
from pnyx.impl.zab_service import HISTORY, ZabService
from pnyx.model.compiler import load

ROOT = Path(__file__).resolve().parent.parent
IMPL = ROOT / "impl"
GOSSIP = ROOT / "spec" / "gossip.pnyx"
ZAB = ROOT / "spec" / "zab.pnyx"
MODULES = sorted(p.stem for p in IMPL.glob("*.py") if p.stem != "__init__")


def import_graph() -> dict[str, set[str]]:
    """impl module -> the impl modules it imports, anywhere in its body (a function-local import counts)."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        deps: set[str] = set()
        for node in ast.walk(ast.parse((IMPL / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    deps |= {node.module} if node.module else {a.name for a in node.names}
                elif node.level == 0 and node.module and node.module.startswith("pnyx.impl."):
                    deps.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[2] for a in node.names if a.name.startswith("pnyx.impl.")}
        graph[name] = {d.split(".")[0] for d in deps}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first = last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state and (c := visit(d)) is not None:
                return c
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)) is not None:
            return c
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for d in graph.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def test_the_cycle_finder_finds_a_cycle() -> None:
    """Negative control: without it a broken finder would pass the test below."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_impl_import_graph_has_no_cycle_and_the_host_knows_no_service() -> None:
    graph = import_graph()
    assert {"host", "service", "services", "zab_service", "gossip_service", "raw_service"} <= set(graph)
    assert find_cycle(graph) is None
    services = {m for m in MODULES if m.endswith("_service")} | {"services", "server"}
    assert not reachable(graph, "host") & services
    for s in ("zab_service", "gossip_service", "members_service", "raw_service"):
        assert not reachable(graph, s) & ({"host", "server", "services", "cluster"} | services - {s}), s


@pytest.mark.parametrize("module", MODULES)
def test_each_impl_module_imports_alone(module: str) -> None:
    r = subprocess.run([sys.executable, "-c", f"import pnyx.impl.{module}"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr


# ---- choosing a service -------------------------------------------------------------
def test_the_default_service_is_the_one_a_spec_is_named_after() -> None:
    assert infer_service(load(str(GOSSIP))) == "gossip"
    assert infer_service(load(str(ZAB))) == "zab"
    assert infer_service(load(str(ROOT / "spec" / "zab_broadcast.pnyx"))) == "raw"
    assert infer_service(load(str(ROOT / "spec" / "members.pnyx"))) == "members"
    assert set(SERVICES) == {"zab", "gossip", "members", "raw"}


def test_an_unknown_service_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "c"
    assert main(["cluster", "start", str(GOSSIP), "--dir", str(d), "--service", "paxos"]) == 2
    err = capsys.readouterr().err
    assert "unknown service 'paxos'" in err and "zab, gossip, members, raw" in err and "Traceback" not in err
    (tmp_path / "c.toml").write_text('service = "paxos"\n')
    assert main(["cluster", "start", str(GOSSIP), "--dir", str(d), "--config", str(tmp_path / "c.toml")]) == 2
    assert "unknown service 'paxos'" in capsys.readouterr().err
    assert not d.exists()


def test_a_spec_lacking_what_its_service_reads_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "c"
    assert main(["cluster", "start", str(GOSSIP), "--nodes", "2", "--dir", str(d), "--service", "zab"]) == 2
    err = capsys.readouterr().err
    assert ("error: spec gossip cannot run the zab service: it lacks variable history, variable commit, "
            "variable role, variable phase, variable leader, message UpToDate(any type, any type), "
            "request write(an opaque value) "
            "(the spec's is write(v: 1..2)).") in err
    assert "The spec has variables value, " in err and "; messages Push, Digest, Answer; requests write(v). Choose another" in err
    assert not d.exists()
    # gossip without its register `value`: the service inferred from the name refuses it too
    spec = tmp_path / "gossip.pnyx"
    spec.write_text(GOSSIP.read_text().replace("value", "held"))
    assert main(["cluster", "start", str(spec), "--nodes", "2", "--dir", str(d)]) == 2
    err = capsys.readouterr().err
    assert "cannot run the gossip service: it lacks variable value." in err and "variables held" in err
    assert not d.exists()


def test_a_requirement_of_the_wrong_kind_is_named() -> None:
    cs = load(str(GOSSIP))
    assert Requirements(variables=(("value", HISTORY),), requests=(("write", (INT, INT)), ("read", ()))).missing(cs) == [
        "variable value as a sequence of (zxid, opaque value) pairs (the spec's is 0..2)",
        "request write(an integer, an integer) (the spec's is write(v: 1..2))", "request read()"]
    assert Requirements(messages=(("Push", ()),)).missing(cs) == ["message Push() (the spec's is Push(value: 0..2))"]
    assert GossipService.needs.missing(cs) == [] and ZabService.needs.missing(load(str(ZAB))) == []
    assert RawService.needs.missing(cs) == []


def test_the_chosen_service_runs_and_is_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """gossip.pnyx as a raw service: its requests by name, no put; cluster.json and config.toml say raw."""
    d = tmp_path / "c"
    meta = start_cluster(str(GOSSIP), 2, d, timeout=60, service="raw")
    try:
        assert ClusterMeta.read(d).service == "raw" and json.loads((d / "cluster.json").read_text())["service"] == "raw"
        assert load_config(d / "config.toml").service == "raw"
        assert meta.defines == {"N": 2}  # the raw service raises no constant: WRITES keeps the spec's bound
        assert list(call(meta.clients[0], "request", "write", (1,), timeout=10)) == [1]  # the spec's `reply v`
        with pytest.raises(ClientError, match="nosuch"):
            call(meta.clients[0], "request", "nosuch", (), timeout=10)
        assert ("value", "1") in call(meta.clients[0], "state", timeout=10)
        with pytest.raises(ClientError, match="unknown operation 'put'"):
            call(meta.clients[0], "put", "k", "v", timeout=10)
        capsys.readouterr()
        assert main(["cluster", "status", str(d)]) == 0
        header = capsys.readouterr().out.splitlines()[0].split()
        assert header == ["node", "address", "state", "pid", "sent", "dropped"]  # the raw service's columns
    finally:
        stop_cluster(d)


# ---- service settings from the config -------------------------------------------------
def test_service_constants_come_from_the_config_and_d_overrides(tmp_path: Path) -> None:
    _, merged, service = resolve_spec(str(ZAB), 3, {})
    assert service == "zab" and merged == {**ZabConfig().constants, "N": 3}
    cfg = parse_config({"zab": {"constants": {"TXNS": 1000}}})
    _, merged, _ = resolve_spec(str(ZAB), 3, {"VALUES": 7}, cfg=cfg)
    assert merged["TXNS"] == 1000 and merged["VALUES"] == 7 and merged["MAX_EPOCH"] == 2**30
    _, merged, service = resolve_spec(str(ZAB), 3, {}, "raw", cfg)
    assert service == "raw" and merged == {"N": 3}


def test_service_sections_parse_round_trip_and_refuse_bad_values(tmp_path: Path) -> None:
    cfg = parse_config({"service": "zab", "zab": {"write_timeout": 3, "resubmit": 0.5},
                        "gossip": {"anti_entropy": 0, "exchange_timeout": 3, "constants": {"WRITES": 99}}})
    assert (cfg.service, cfg.zab.write_timeout, cfg.zab.resubmit, cfg.zab.retry) == ("zab", 3.0, 0.5, 0.02)
    assert cfg.gossip.anti_entropy == 0 and cfg.gossip.exchange_timeout == 3.0
    # the classic fanout, a [gossip] knob; anti-entropy off turns the spec's off
    assert cfg.constants("gossip") == {"WRITES": 99, "TIMEOUTS": 2**30, "FANOUT": 6, "ANTI_ENTROPY": False}
    assert (cfg.gossip.fanout, cfg.gossip.period) == (6, 1.0)
    assert parse_config({"gossip": {"fanout": 2, "constants": {"FANOUT": 3}}}).constants("gossip")["FANOUT"] == 3
    assert cfg.constants("zab")["TXNS"] == 2**40
    p = tmp_path / "c.toml"
    p.write_text(to_toml(cfg))
    again = load_config(p)
    assert (again.service, again.zab, again.gossip, again.raw) == (cfg.service, cfg.zab, cfg.gossip, cfg.raw)
    assert load_config(None) == Config()
    for raw, message in [({"zab": {"write_timeout": 0}}, r"zab.write_timeout: expected a number above 0"),
                         ({"zab": {"colour": 1}}, r"zab: unknown setting 'colour' \(known: write_timeout, resubmit"),
                         ({"gossip": {"fanout": 1.5}}, "fanout: expected a positive integer"),
                         ({"gossip": {"anti_entropy_jitter": 1}}, "expected a fraction below 1"),
                         ({"zab": {"constants": {"TXNS": "many"}}}, "table of integer constants"),
                         ({"zab": 3}, "zab: expected a table"), ({"service": 3}, "service: expected a service name"),
                         ({"anti_entropy": 0.5}, r"anti_entropy now sits in \[gossip\]")]:
        with pytest.raises(ConfigError, match=message):
            parse_config(raw)
