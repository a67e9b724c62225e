"""Replay a checker's counterexample (ITF JSON) on the deterministic simulation.

Each ITF state after the first records its event as data (`#meta.event`, written by
checker.trace): who received what from whom through which handler, which timer, which
client call, which crash, and the value of every `choose`. The simulation performs the same
events with the same choices, and after each step its node states, up flags and messages in
flight are compared with the trace's. Agreement at every step shows that the implementation
runs the very transitions the checker explored; at the end the spec's invariants are
evaluated on the simulation's live states.

impl/ never imports checker/: the trace file is the only thing they share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.compiler import CompiledSpec, load
from model.errors import PnyxError
from model.types import NodeType, from_itf, node_name, show

from .sim import Packet, Simulation


class ReplayError(PnyxError):
    """A trace that cannot be read, or that the simulation cannot follow."""


class ReplayChooser:
    """Resolves each `choose` with the value the trace recorded for it."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any]] = []

    def _next(self, site: int) -> Any:
        if not self.script:
            raise ReplayError(f"the handler makes a choice (site {site}) that the trace does not record")
        s, v = self.script.pop(0)
        if s != site:
            raise ReplayError(f"the trace records a choice at site {s}, the handler chooses at site {site}")
        return v

    def pick(self, options: Sequence[Any], site: int = 0) -> Any:
        v = self._next(site)
        if v not in options:
            raise ReplayError(f"the recorded choice {v!r} is not among the options {tuple(options)!r}")
        return v

    def subset(self, options: Sequence[Any], size: int, site: int = 0) -> tuple:
        v = self._next(site)
        if not set(v) <= set(options) or len(v) != max(0, min(size, len(options))):
            raise ReplayError(f"the recorded subset {v!r} is not a size-{size} subset of {tuple(options)!r}")
        return tuple(v)


@dataclass
class StepReport:
    index: int
    action: str
    mismatches: list[str] = field(default_factory=list)


@dataclass
class ReplayResult:
    spec: str
    steps: list[StepReport]
    violated: list[str]  # invariants false in the simulation's final state
    expected: str | None  # the property the trace's file says is violated

    @property
    def ok(self) -> bool:
        same = all(not s.mismatches for s in self.steps)
        return same and (self.expected is None or self.expected in self.violated)


def read_trace(path: str | Path) -> tuple[dict[str, Any], str | None, dict[str, Any], str | None]:
    """(ITF trace, spec file, constants, violated property) from `pnyx check --json` output or a bare ITF file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReplayError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReplayError(f"{path}: not a JSON trace: {exc}") from None
    if not isinstance(data, dict):
        raise ReplayError(f"{path}: expected a JSON object")
    if "states" in data:
        meta = data.get("#meta", {})
        return data, meta.get("source"), {}, None
    v = data.get("violation")
    if not isinstance(v, dict) or not isinstance(v.get("trace"), dict):
        raise ReplayError(f"{path}: holds no counterexample (the check it records found no violation)")
    return v["trace"], data.get("file"), dict(data.get("constants") or {}), v.get("property")


def _node(cs: CompiledSpec, name: Any) -> int:
    if not (isinstance(name, str) and name.startswith("n") and name[1:].isdigit() and 1 <= int(name[1:]) <= cs.n_nodes):
        raise ReplayError(f"the trace names a node {name!r} that this spec (with {cs.n_nodes} nodes) lacks")
    return int(name[1:]) - 1


def _message(cs: CompiledSpec, j: Any) -> tuple:
    if not isinstance(j, dict) or "tag" not in j:
        raise ReplayError(f"malformed message in the trace: {j!r}")
    for m in cs.messages:
        if m.name == j["tag"]:
            return (m.id,) + tuple(from_itf(j["value"][f], t) for f, t in m.fields)
    raise ReplayError(f"the trace sends a message {j['tag']!r} that the spec does not declare")


class Replayer:
    """Drives a `Simulation` through an ITF trace."""

    def __init__(self, cs: CompiledSpec, trace: dict[str, Any]) -> None:
        self.cs = cs
        self.trace = trace
        self.choosers = [ReplayChooser() for _ in range(cs.n_nodes)]
        self.sim = Simulation(cs, seed=0, check_invariants=False, choosers=list(self.choosers))

    def compare(self, itf_state: dict[str, Any]) -> list[str]:
        """Every difference between the simulation's state and a trace state."""
        cs, sim = self.cs, self.sim
        out = []
        for v in cs.vars:
            entry = itf_state.get(v.name)
            if entry is None:
                out.append(f"the trace lacks variable {v.name}")
                continue
            for name, val in entry["#map"]:
                i = _node(cs, name)
                want = from_itf(val, v.type)
                got = sim.nodes[i].state[v.slot]
                if want != got:
                    out.append(f"{name}.{v.name}: trace has {show(want, v.type)}, simulation has {show(got, v.type)}")
        for name, val in itf_state.get("up", {}).get("#map", []):
            i = _node(cs, name)
            if bool(val) != sim.nodes[i].up:
                word = {True: "up", False: "down"}
                out.append(f"{name}: trace has it {word[bool(val)]}, simulation has it {word[sim.nodes[i].up]}")
        node_t = NodeType(cs.n_nodes)
        want_net = sorted((from_itf(m["src"], node_t), from_itf(m["dst"], node_t), _message(cs, m["msg"]))
                          for m in itf_state.get("network", []))
        got_net = sorted((p.src, p.dst, p.msg) for p in sim.net)
        if want_net != got_net:
            fmt = lambda xs: ", ".join(f"{cs.show_message(m)} {node_name(s)}->{node_name(d)}" for s, d, m in xs) or "nothing"  # noqa: E731
            out.append(f"in flight: trace has {fmt(want_net)}; simulation has {fmt(got_net)}")
        return out

    def _find(self, dst: int, src: int, msg: tuple, deliverable: bool) -> Packet:
        pool = self.sim.inflight() if deliverable else self.sim.net
        for p in pool:
            if p.src == src and p.dst == dst and p.msg == msg:
                return p
        raise ReplayError(f"{self.cs.show_message(msg)} from {node_name(src)} to {node_name(dst)} is not "
                          f"{'deliverable' if deliverable else 'in flight'} in the simulation")

    def apply(self, ev: dict[str, Any]) -> None:
        cs, sim = self.cs, self.sim
        kind = ev.get("kind")
        node = _node(cs, ev.get("node"))
        hi = ev.get("handler", -1)
        handler = cs.handlers[hi] if isinstance(hi, int) and 0 <= hi < len(cs.handlers) else None
        if handler is not None:
            script = []
            for c in ev.get("choices", []):
                site = c["site"]
                if not 0 <= site < len(handler.choice_sites):
                    raise ReplayError(f"choice site {site} does not exist in the handler at line {handler.line}")
                script.append((site, from_itf(c["value"], handler.choice_sites[site][1])))
            self.choosers[node].script = script
        if kind == "deliver":
            p = self._find(node, _node(cs, ev["src"]), _message(cs, ev["message"]), True)
            step = sim.deliver(p, handler)
            if (step is None) != (handler is None):
                raise ReplayError(f"handler {hi} {'is disabled' if step is None else 'runs'} in the simulation, "
                                  f"unlike in the trace")
        elif kind == "timer":
            if handler is None or sim.fire(node, handler) is None:
                raise ReplayError(f"timer {ev.get('timer')} at {node_name(node)} is not enabled in the simulation")
        elif kind == "request":
            if handler is None:
                raise ReplayError(f"unknown request handler {hi}")
            args = tuple(from_itf(a, t) for a, (_, t) in zip(ev.get("args", []), handler.params))
            if sim.request(node, handler.name, args, handler) is None:
                raise ReplayError(f"request {handler.name}{args} at {node_name(node)} is refused in the simulation")
        elif kind == "crash":
            sim.crash(node)
        elif kind == "recover":
            sim.restart(node)
        elif kind == "lose":
            sim.lose(self._find(node, _node(cs, ev["src"]), _message(cs, ev["message"]), False))
        elif kind == "duplicate":
            sim.duplicate(self._find(node, _node(cs, ev["src"]), _message(cs, ev["message"]), False))
        else:
            raise ReplayError(f"unknown event kind {kind!r}")
        if self.choosers[node].script:
            raise ReplayError(f"the trace records choices the handler did not make: {self.choosers[node].script}")

    def run(self, expected: str | None = None) -> ReplayResult:
        states = self.trace.get("states")
        if not isinstance(states, list) or not states:
            raise ReplayError("the trace has no states")
        reports = [StepReport(0, "init", self.compare(states[0]))]
        for k, st in enumerate(states[1:], start=1):
            meta = st.get("#meta", {})
            ev = meta.get("event")
            if not isinstance(ev, dict):
                raise ReplayError(f"state {k} does not record its event as data; re-run `pnyx check --json` to get one")
            try:
                self.apply(ev)
            except (KeyError, TypeError, ValueError) as exc:
                raise ReplayError(f"step {k}: malformed event {ev!r}: {exc}") from None
            reports.append(StepReport(k, str(meta.get("action", "")), self.compare(st)))
        violated = [p.name for p in self.cs.properties if p.kind != "reachable" and not self.sim.holds(p)]
        return ReplayResult(self.cs.name, reports, violated, expected)


def replay_file(path: str | Path, spec: str | None = None, defines: dict[str, Any] | None = None) -> ReplayResult:
    """Replay the counterexample in `path` (from `pnyx check --json`) on the simulation."""
    trace, source, consts, expected = read_trace(path)
    spec = spec or source
    if not spec:
        raise ReplayError(f"{path}: the trace does not name its spec; pass --spec FILE")
    if not Path(spec).is_file():
        raise ReplayError(f"{spec}: the trace's spec file is not there; pass --spec FILE")
    merged = dict(consts)
    merged.update(defines or {})
    cs = load(spec, merged)
    return Replayer(cs, trace).run(expected)
