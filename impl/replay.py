"""Replay a checker's counterexample (ITF JSON) on the deterministic simulation.

Each ITF state after the first records its event as data (`#meta.event`, written by
checker.trace): who received what from whom through which handler, which timer, which
client call, which crash, and the value of every `choose`. The simulation performs the same
events with the same choices, and after each step its node states, up flags and messages in
flight are compared with the trace's. Agreement at every step shows that the implementation
runs the very transitions the checker explored; at the end the spec's invariants are
evaluated on the simulation's live states.

A trace file is checked against the spec before anything runs: every state, variable,
message and event must have the shape and the types the spec gives them, else the replay
stops with an error that names the state, the variable and what was expected (exit 2). A
well-formed step that the simulation cannot take (a message not deliverable, a disabled
timer, a handler that fails) is a divergence at that step (exit 1), like a different state.

impl/ never imports checker/: the trace file is the only thing they share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnyx.model.compiler import CompiledSpec, HandlerEntry, compile_checked
from pnyx.model.errors import ModelError, PnyxError
from pnyx.model.parser import parse_file
from pnyx.model.system import EVENT_KINDS, HANDLER_KIND
from pnyx.model.typecheck import check
from pnyx.model.types import BOOL, ITFError, NodeType, Type, from_itf, json_kind, node_name, show

from .node import HandlerError
from .sim import Packet, Simulation


class ReplayError(PnyxError):
    """A trace that cannot be read, or that does not fit the spec."""


class Divergence(ModelError):
    """A well-formed step that the simulation cannot take (a ModelError, so that raised by a
    chooser inside a handler it keeps its message through the node's HandlerError)."""


MAX_SHOWN_OPTIONS = 8


class ReplayChooser:
    """Resolves each `choose` with the value the trace recorded for it."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any]] = []
        self.types: tuple[tuple[str, Type], ...] = ()  # each site's variable and type, to show values

    def _next(self, site: int) -> Any:
        if not self.script:
            raise Divergence(f"the handler makes a choice (site {site}) that the trace does not record")
        s, v = self.script.pop(0)
        if s != site:
            raise Divergence(f"the trace records a choice at site {s}, the handler chooses at site {site}")
        return v

    def _show(self, v: Any, site: int, elem: bool = False) -> str:
        if site >= len(self.types):
            return repr(v)
        t = self.types[site][1]
        if elem:
            t = getattr(t, "elem", t)
        return show(v, t)

    def _options(self, options: Sequence[Any], site: int, elem: bool) -> str:
        shown = ", ".join(self._show(options[k], site, elem) for k in range(min(len(options), MAX_SHOWN_OPTIONS)))
        return "{" + shown + (f", ... {len(options):,} in all" if len(options) > MAX_SHOWN_OPTIONS else "") + "}"

    def pick(self, options: Sequence[Any], site: int = 0) -> Any:
        v = self._next(site)
        if v not in options:
            raise Divergence(f"the recorded choice {self._show(v, site)} is not among the options "
                             f"{self._options(options, site, False)}")
        return v

    def subset(self, options: Sequence[Any], size: int, site: int = 0) -> tuple:
        v = self._next(site)
        if not all(x in options for x in v) or len(v) != max(0, min(size, len(options))):
            raise Divergence(f"the recorded subset {self._show(v, site)} is not a size-{size} subset of "
                             f"{self._options(options, site, True)}")
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
    diverged_at: int | None = None  # the step the simulation could not take, if any

    @property
    def ok(self) -> bool:
        same = self.diverged_at is None and all(not s.mismatches for s in self.steps)
        return same and (self.expected is None or self.expected in self.violated)


MAX_TRACE_BYTES = 256 * 2**20


def _load_json(path: str | Path) -> Any:
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_TRACE_BYTES + 1)  # bounded: /dev/zero is not read forever
        if len(raw) > MAX_TRACE_BYTES:
            raise ReplayError(f"{path}: larger than {MAX_TRACE_BYTES // 2**20} MiB, too large for a trace")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ReplayError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReplayError(f"{path}: is a directory, expected a JSON trace") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name, or not UTF-8
        raise ReplayError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{path}: not a JSON trace: {exc}") from None
    except RecursionError:
        raise ReplayError(f"{path}: not a JSON trace: nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ReplayError(f"{path}: not a JSON trace: {exc}") from None


def read_trace(path: str | Path) -> tuple[dict[str, Any], str | None, dict[str, Any], str | None]:
    """(ITF trace, spec file, constants, violated property) from `pnyx check --json` output or a bare ITF file."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ReplayError(f"{path}: expected a JSON object (the output of `pnyx check --json`), got {json_kind(data)}")
    if "states" in data:
        meta = data.get("#meta", {})
        source = meta.get("source") if isinstance(meta, dict) else None
        return data, source if isinstance(source, str) else None, {}, None
    v = data.get("violation")
    if not isinstance(v, dict) or not isinstance(v.get("trace"), dict):
        raise ReplayError(f"{path}: holds no counterexample (the check it records found no violation)")
    source = data.get("file")
    if source is not None and not isinstance(source, str):
        raise ReplayError(f"{path}: \"file\" should name the spec file, got {json_kind(source)}")
    consts = data.get("constants") or {}
    if not isinstance(consts, dict):
        raise ReplayError(f"{path}: \"constants\" should be an object of NAME: value, got {json_kind(consts)}")
    for name, value in consts.items():
        if type(value) not in (bool, int) or (type(value) is int and not -(2**63) <= value < 2**63):
            raise ReplayError(f"{path}: constant {name[:40]!r} is {json_kind(value)}, expected a 64-bit integer or true/false")
    prop = v.get("property")
    # an error in a handler is not recorded as a step of the trace: only an invariant can be checked at the end
    expected = prop if isinstance(prop, str) and v.get("kind", "invariant") == "invariant" else None
    return v["trace"], source, dict(consts), expected


# ---- validation: the trace against the spec's types ---------------------------------------
@dataclass
class _State:
    """One trace state, decoded: variables per node, up flags, messages in flight."""

    vars: list[tuple[int, int, Any]]  # (slot, node, value)
    up: list[tuple[int, bool]]
    net: list[tuple[int, int, tuple]]  # (src, dst, message)
    action: str


@dataclass
class _Event:
    kind: str
    node: int
    handler: HandlerEntry | None
    src: int = -1
    message: tuple = ()
    args: tuple = ()
    choices: list[tuple[int, Any]] = field(default_factory=list)


class _Validator:
    """Decodes a trace, raising ReplayError at the first value that does not fit the spec."""

    def __init__(self, cs: CompiledSpec) -> None:
        self.cs = cs
        self.node_t = NodeType(cs.n_nodes)

    def value(self, j: Any, t: Type, where: str) -> Any:
        try:
            return from_itf(j, t)
        except ITFError as exc:
            raise ReplayError(f"{where}{exc.path}: {exc.reason}") from None

    def per_node(self, j: Any, t: Type, where: str) -> list[Any]:
        """A variable's ITF shape: {"#map": [[node, value], ...]} with every node once."""
        pairs = j.get("#map") if isinstance(j, dict) and len(j) == 1 else None
        if not isinstance(pairs, list):
            raise ReplayError(f'{where}: expected {{"#map": [[node, value], ...]}} with every node once, got {json_kind(j)}')
        for k, p in enumerate(pairs):
            if not (isinstance(p, list) and len(p) == 2):
                raise ReplayError(f"{where}, entry {k}: expected a [node, value] pair, got {json_kind(p)}")
        got: dict[int, Any] = {}
        for name, val in pairs:
            i = self.value(name, self.node_t, f"{where}, node")
            if i in got:
                raise ReplayError(f"{where}: {node_name(i)} is given twice")
            got[i] = self.value(val, t, f"{where}, {node_name(i)}")
        missing = [node_name(i) for i in range(self.cs.n_nodes) if i not in got]
        if missing:
            raise ReplayError(f"{where}: no value for " + ", ".join(missing))
        return [got[i] for i in range(self.cs.n_nodes)]

    def obj(self, j: Any, where: str, what: str = "an object") -> dict[str, Any]:
        if not isinstance(j, dict):
            raise ReplayError(f"{where}: expected {what}, got {json_kind(j)}")
        return j

    def message(self, j: Any, where: str) -> tuple:
        j = self.obj(j, where, 'a message {"tag": NAME, "value": {field: value, ...}}')
        tag, value = j.get("tag"), j.get("value")
        info = next((m for m in self.cs.messages if m.name == tag), None)
        if info is None:
            names = ", ".join(m.name for m in self.cs.messages) or "none"
            raise ReplayError(f"{where}: {json_kind(tag)} is not a message of the spec (messages: {names})")
        if not isinstance(value, dict) or set(value) != {f for f, _ in info.fields}:
            fields = ", ".join(f"{f}: {t}" for f, t in info.fields)
            raise ReplayError(f"{where}: {info.name} has fields ({fields}); the trace gives {json_kind(value)}")
        return (info.id,) + tuple(self.value(value[f], t, f"{where} {info.name}.{f}") for f, t in info.fields)

    def state(self, k: int, st: Any) -> _State:
        where = f"state {k}"
        st = self.obj(st, where)
        out = _State([], [], [], "")
        for v in self.cs.vars:
            if v.name not in st:
                raise ReplayError(f"{where}: no variable {v.name!r} (the spec's variables: "
                                  + ", ".join(x.name for x in self.cs.vars) + ")")
            per_node = self.per_node(st[v.name], v.type, f"{where}, variable {v.name}")
            out.vars.extend((v.slot, i, x) for i, x in enumerate(per_node))
        if "up" in st:
            out.up = list(enumerate(self.per_node(st["up"], BOOL, f"{where}, up")))
        net = st.get("network", [])
        if not isinstance(net, list):
            raise ReplayError(f"{where}, network: expected a list of messages in flight, got {json_kind(net)}")
        for n, m in enumerate(net):
            w = f"{where}, network[{n}]"
            m = self.obj(m, w, 'an object {"src": NODE, "dst": NODE, "msg": MESSAGE}')
            src = self.value(m.get("src"), self.node_t, f"{w}.src")
            dst = self.value(m.get("dst"), self.node_t, f"{w}.dst")
            out.net.append((src, dst, self.message(m.get("msg"), f"{w}.msg")))
        meta = st.get("#meta", {})
        action = meta.get("action", "") if isinstance(meta, dict) else ""
        out.action = action if isinstance(action, str) else ""
        return out

    def event(self, k: int, st: dict[str, Any]) -> _Event:
        where = f"state {k}, #meta.event"
        meta = st.get("#meta")
        ev = meta.get("event") if isinstance(meta, dict) else None
        if not isinstance(ev, dict):
            raise ReplayError(f"state {k} does not record its event as data; re-run `pnyx check --json` to get one")
        kind = ev.get("kind")
        if kind not in EVENT_KINDS:
            raise ReplayError(f"{where}.kind: expected one of {', '.join(EVENT_KINDS)}, got {json_kind(kind)}")
        out = _Event(kind, self.value(ev.get("node"), self.node_t, f"{where}.node"), None)
        if kind in ("deliver", "lose", "duplicate"):
            out.src = self.value(ev.get("src"), self.node_t, f"{where}.src")
            out.message = self.message(ev.get("message"), f"{where}.message")
        if kind in HANDLER_KIND:
            hi = ev.get("handler", -1 if kind in ("recover", "rebuild") else None)
            hs = self.cs.handlers
            if not (type(hi) is int and (-1 <= hi < len(hs))):
                raise ReplayError(f"{where}.handler: expected a handler number -1..{len(hs) - 1}, got {json_kind(hi)}")
            h = hs[hi] if hi >= 0 else None
            if h is not None and (h.kind != HANDLER_KIND[kind] or (kind == "deliver" and h.message_id != out.message[0])):
                raise ReplayError(f"{where}.handler: handler {hi} (line {h.line}) is a {h.kind} handler"
                                  + (f" for {h.name}" if h.kind == "message" else "") + f", not one for this {kind}")
            if h is None and kind in ("timer", "request"):
                raise ReplayError(f"{where}.handler: a {kind} names its handler, got -1")
            out.handler = h
            choices = ev.get("choices", [])
            if not isinstance(choices, list):
                raise ReplayError(f"{where}.choices: expected a list, got {json_kind(choices)}")
            for n, c in enumerate(choices):
                w = f"{where}.choices[{n}]"
                c = self.obj(c, w, 'an object {"site": N, "value": VALUE}')
                site = c.get("site")
                sites = h.choice_sites if h is not None else ()
                if not (type(site) is int and 0 <= site < len(sites)):
                    raise ReplayError(f"{w}.site: the handler has {len(sites)} choice site(s), got {json_kind(site)}")
                out.choices.append((site, self.value(c.get("value"), sites[site][1], f"{w}.value")))
            if kind == "request":
                assert h is not None
                args = ev.get("args", [])
                if not isinstance(args, list) or len(args) != len(h.params):
                    raise ReplayError(f"{where}.args: {h.name} takes {len(h.params)} argument(s), got {json_kind(args)}")
                out.args = tuple(self.value(a, t, f"{where}.args[{n}]") for n, (a, (_, t)) in enumerate(zip(args, h.params)))
        return out


class Replayer:
    """Drives a `Simulation` through an ITF trace."""

    def __init__(self, cs: CompiledSpec, trace: dict[str, Any]) -> None:
        self.cs = cs
        self.trace = trace
        self.choosers = [ReplayChooser() for _ in range(cs.n_nodes)]
        self.sim = Simulation(cs, seed=0, check_invariants=False, choosers=list(self.choosers))

    def decode(self) -> tuple[list[_State], list[_Event]]:
        """Every state and event of the trace, checked against the spec before anything runs."""
        states = self.trace.get("states")
        if not isinstance(states, list) or not states:
            raise ReplayError("the trace has no states (\"states\" should be a non-empty list)")
        v = _Validator(self.cs)
        decoded = [v.state(k, st) for k, st in enumerate(states)]
        events = [v.event(k, states[k]) for k in range(1, len(states))]
        return decoded, events

    def compare(self, st: _State) -> list[str]:
        """Every difference between the simulation's state and a trace state."""
        cs, sim = self.cs, self.sim
        out = []
        for slot, i, want in st.vars:
            got = sim.nodes[i].state[slot]
            if want != got:
                v = cs.vars[slot]
                out.append(f"{node_name(i)}.{v.name}: trace has {show(want, v.type)}, simulation has {show(got, v.type)}")
        for i, want_up in st.up:
            if want_up != sim.nodes[i].up:
                word = {True: "up", False: "down"}
                out.append(f"{node_name(i)}: trace has it {word[want_up]}, simulation has it {word[sim.nodes[i].up]}")
        want_net = sorted(st.net)
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
        raise Divergence(f"{self.cs.show_message(msg)} from {node_name(src)} to {node_name(dst)} is not "
                         f"{'deliverable' if deliverable else 'in flight'} in the simulation")

    def apply(self, ev: _Event) -> None:
        """Take one step of the trace; Divergence when the simulation cannot."""
        sim, node, h = self.sim, ev.node, ev.handler
        self.choosers[node].script = list(ev.choices)
        self.choosers[node].types = h.choice_sites if h is not None else ()
        try:
            if ev.kind == "deliver":
                step = sim.deliver(self._find(node, ev.src, ev.message, True), h)
                if (step is None) != (h is None):
                    raise Divergence(f"handler {h.index if h else -1} {'is disabled' if step is None else 'runs'} "
                                     "in the simulation, unlike in the trace")
            elif ev.kind == "timer":
                assert h is not None
                if sim.fire(node, h) is None:
                    raise Divergence(f"timer {h.name} at {node_name(node)} is not enabled in the simulation")
            elif ev.kind == "request":
                assert h is not None
                if sim.request(node, h.name, ev.args, h) is None:
                    raise Divergence(f"request {h.name}{ev.args} at {node_name(node)} is refused in the simulation")
            elif ev.kind == "crash":
                if not sim.nodes[node].up:
                    raise Divergence(f"{node_name(node)} crashes in the trace, but it is down in the simulation")
                sim.crash(node)
            elif ev.kind == "recover":
                if sim.nodes[node].up:
                    raise Divergence(f"{node_name(node)} recovers in the trace, but it is up in the simulation")
                sim.restart(node)
            elif ev.kind == "rebuild":
                if sim.nodes[node].up:
                    raise Divergence(f"{node_name(node)} restarts with its disk lost in the trace, but it is up "
                                     "in the simulation")
                sim.rebuild(node)
            elif ev.kind == "lose":
                sim.lose(self._find(node, ev.src, ev.message, False))
            else:
                sim.duplicate(self._find(node, ev.src, ev.message, False))
        except HandlerError as exc:  # the handler failed in the simulation: a recorded choice not offered...
            raise Divergence(str(exc.error)) from None
        if self.choosers[node].script:
            raise Divergence(f"the trace records choices the handler did not make: {self.choosers[node].script}")

    def _holds(self, p: Any) -> bool:
        """Whether a property holds in the simulation's state; one that cannot be evaluated does not."""
        try:
            return bool(self.sim.holds(p))
        except Exception:  # noqa: BLE001 - an index out of range in the property: the spec's error
            return False

    def run(self, expected: str | None = None) -> ReplayResult:
        states, events = self.decode()
        reports = [StepReport(0, "init", self.compare(states[0]))]
        diverged = None
        for k, (st, ev) in enumerate(zip(states[1:], events), start=1):
            try:
                self.apply(ev)
            except Divergence as exc:
                reports.append(StepReport(k, st.action, [f"the simulation cannot take this step: {exc}"]))
                diverged = k
                break
            reports.append(StepReport(k, st.action, self.compare(st)))
        violated = [p.name for p in self.cs.properties if p.kind == "invariant" and not self._holds(p)]
        return ReplayResult(self.cs.name, reports, violated, expected, diverged)


def replay_file(path: str | Path, spec: str | None = None, defines: dict[str, Any] | None = None) -> ReplayResult:
    """Replay the counterexample in `path` (from `pnyx check --json`) on the simulation."""
    trace, source, consts, expected = read_trace(path)
    spec = spec or source
    if not spec:
        raise ReplayError(f"{path}: the trace does not name its spec; pass --spec FILE")
    if not Path(spec).is_file():
        raise ReplayError(f"{spec}: the trace's spec file is not there; pass --spec FILE")
    parsed = parse_file(spec)
    known = [c.name for c in parsed.consts]
    unknown = sorted(set(consts) - set(known))
    if unknown:
        raise ReplayError(f"{path}: the trace sets constants that {spec} does not declare: " + ", ".join(unknown[:5])
                          + f" (its constants: {', '.join(known) or 'none'})")
    merged = dict(consts)
    merged.update(defines or {})
    cs = compile_checked(check(parsed, merged))
    return Replayer(cs, trace).run(expected)
