"""What a protocol change changed: the states two versions of a spec reach, compared on what they share.

Both versions are explored breadth-first (no symmetry reduction, so that states compare as they
are, and past violations, so that every property gets a verdict). Each state is projected onto
what both versions declare alike: the node variables with the same name and type (integer
ranges may differ: a wider counter is still the same counter), whether each node is up, and
the messages in flight whose type has the same name and fields in both. The report lists the
projected states one version reaches and the other does not, each with the shortest trace to
it in the version that reaches it, and each property's verdict in both versions.

When a bound (`max_states`, `max_depth`) stops either search, only the projected states up to
the depth both searches completed are compared, so that a state is not called new merely
because the other search stopped before its depth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import PnyxError
from pnyx.model.types import BoolType, node_name, show

from .model import SpecModel, State, StepError
from .trace import Trace, replay, to_itf_json

DEFAULT_MAX_STATES = 2_000_000
EXAMPLES = 3  # traces shown for each direction


class DiffError(PnyxError):
    """Two specs that cannot be compared (no shared variables, different numbers of nodes)."""


def _type_key(t: object) -> str:
    """A type as compared across versions: integer ranges left out."""
    return re.sub(r"IntType\(lo=-?\d+, hi=-?\d+\)", "IntType", repr(t))


@dataclass(frozen=True)
class Shared:
    """What two versions declare alike: the variables and message types a projection keeps."""

    variables: tuple[str, ...]
    messages: tuple[str, ...]
    only_old: tuple[str, ...]  # variables and messages (Name()) compared in neither
    only_new: tuple[str, ...]

    @staticmethod
    def of(old: CompiledSpec, new: CompiledSpec) -> Shared:
        if old.n_nodes != new.n_nodes:
            raise DiffError(f"the versions have {old.n_nodes} and {new.n_nodes} nodes: states compare only "
                            "with as many nodes (set the constant with -D)")
        ov = {v.name: _type_key(v.type) for v in old.vars}
        nv = {v.name: _type_key(v.type) for v in new.vars}
        om = {m.name: _type_key(m.fields) for m in old.messages}
        nm = {m.name: _type_key(m.fields) for m in new.messages}
        variables = tuple(x for x in ov if nv.get(x) == ov[x])
        messages = tuple(x for x in om if nm.get(x) == om[x])
        if not variables:
            raise DiffError(f"{old.filename} and {new.filename} share no variable of the same name and type: "
                            "nothing to compare")
        only_old = tuple([x for x in ov if x not in variables] + [f"{x}()" for x in om if x not in messages])
        only_new = tuple([x for x in nv if x not in variables] + [f"{x}()" for x in nm if x not in messages])
        return Shared(variables, messages, only_old, only_new)

    def projector(self, model: SpecModel) -> Callable[[State], tuple]:
        """The function from a state of this version to its projection."""
        cs = model.cs
        slots = tuple(next(v.slot for v in cs.vars if v.name == x) for x in self.variables)
        names = {m.name: i for i, m in enumerate(cs.messages)}
        keep = {names[x]: x for x in self.messages}
        in_flight = model.in_flight

        def project(state: State) -> tuple:
            nodes = tuple(tuple(st[k] for k in slots) for st in state[0])
            net = tuple((src, dst, keep[m[0]], *m[1:]) for src, dst, m in in_flight(state) if m[0] in keep)
            return nodes, state[1], net

        return project


@dataclass
class Exploration:
    """One version's reachable states: parent pointers, depths, projections, property verdicts."""

    cs: CompiledSpec
    model: SpecModel
    parent: list[int] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    first: dict[tuple, int] = field(default_factory=dict)  # projection -> the first state (least depth) with it
    violated: dict[str, int] = field(default_factory=dict)  # invariant -> the first state violating it
    reached: dict[str, int] = field(default_factory=dict)  # reachable property -> the first state satisfying it
    failed: tuple[int, str] | None = None  # the first state where a handler fails, and why
    complete: bool = True
    done_depth: int = 0  # every state up to this depth was explored

    def path(self, sid: int) -> list[int]:
        out = []
        while self.parent[sid] >= 0:
            out.append(self.step[sid])
            sid = self.parent[sid]
        return out[::-1]

    def trace(self, sid: int) -> Trace:
        return replay(self.model, self.path(sid))


def explore(cs: CompiledSpec, project: Callable[[State], tuple] | None = None, *, model: SpecModel | None = None,
            max_states: int = DEFAULT_MAX_STATES, max_depth: int | None = None) -> Exploration:
    """Every reachable state of `cs` (up to the bounds), breadth-first, its properties evaluated in each."""
    model = model or SpecModel(cs)
    ex = Exploration(cs, model)
    props = model.properties()
    invariants = [p for p in props if p.kind == "invariant"]
    pending = [p for p in props if p.kind == "reachable"]
    fp = model.fingerprint
    seen: set[int] = set()
    level: list[State] = []

    def add(s: State, parent: int, step: int, d: int) -> None:
        sid = len(ex.parent)
        ex.parent.append(parent)
        ex.step.append(step)
        ex.depth.append(d)
        level.append(s)
        if project is not None:
            ex.first.setdefault(project(s), sid)
        for p in invariants:
            if p.name not in ex.violated and not _holds(p, s):
                ex.violated[p.name] = sid
        for p in list(pending):
            if _holds(p, s):
                ex.reached[p.name] = sid
                pending.remove(p)

    for s in model.init_states():
        if fp(s) not in seen:
            seen.add(fp(s))
            add(s, -1, -1, 0)
    base, d = 0, 0
    while level:
        if max_depth is not None and d >= max_depth:
            ex.complete = False
            break
        frontier, level = level, []
        for k, s in enumerate(frontier):
            try:
                succ = model.successors(s)
            except StepError as err:
                if ex.failed is None:
                    ex.failed = (base + k, err.error.message)
                continue
            for i, (_, s2) in enumerate(succ):
                f2 = fp(s2)
                if f2 not in seen:
                    seen.add(f2)
                    add(s2, base + k, i, d + 1)
            if len(ex.parent) >= max_states:
                ex.complete = False
                ex.done_depth = d  # the states of this level are in, not all of the next
                return ex
        base += len(frontier)
        d += 1
    ex.done_depth = d
    return ex


def _holds(p: Any, s: State) -> bool:
    """The property's value in s; one that cannot be evaluated there is false: an invariant
    violated, a reachable property not satisfied (the checker reports it as an error)."""
    try:
        return bool(p.holds(s))
    except Exception:  # noqa: BLE001 - the spec's error in evaluating its own property
        return False


@dataclass
class Verdict:
    name: str
    kind: str  # invariant | reachable
    old: str | None  # holds | violated | reached | not reached | None: not declared in this version
    new: str | None
    old_trace: Trace | None = None
    new_trace: Trace | None = None

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def new_failure(self) -> bool:
        """NEW fails a property that OLD satisfied (or did not declare)."""
        bad = {"violated", "not reached"}
        return self.new in bad and self.old not in bad


@dataclass
class Diff:
    old: Exploration
    new: Exploration
    shared: Shared
    compared_depth: int | None  # None: both searches complete, every state compared
    only_new: list[tuple[tuple, int]]  # (projection, state number in NEW), least depth first
    only_old: list[tuple[tuple, int]]
    verdicts: list[Verdict]

    @property
    def new_failures(self) -> list[str]:
        return [v.name for v in self.verdicts if v.new_failure] + (["a failing handler"] if self.handler_fails_anew else [])

    @property
    def handler_fails_anew(self) -> bool:
        return self.new.failed is not None and self.old.failed is None

    @property
    def identical(self) -> bool:
        return not self.only_new and not self.only_old and not any(v.changed for v in self.verdicts)


def diff(old: CompiledSpec, new: CompiledSpec, *, max_states: int = DEFAULT_MAX_STATES,
         max_depth: int | None = None) -> Diff:
    """Explore both versions and compare them on what they share."""
    shared = Shared.of(old, new)
    om, nm = SpecModel(old), SpecModel(new)
    eo = explore(old, shared.projector(om), model=om, max_states=max_states, max_depth=max_depth)
    en = explore(new, shared.projector(nm), model=nm, max_states=max_states, max_depth=max_depth)
    limit = None if eo.complete and en.complete else min(eo.done_depth, en.done_depth)

    def only(a: Exploration, b: Exploration) -> list[tuple[tuple, int]]:
        out = [(p, sid) for p, sid in a.first.items() if p not in b.first and (limit is None or a.depth[sid] <= limit)]
        return sorted(out, key=lambda x: x[1])

    verdicts = []
    for p in _properties(old, new):
        name, kind = p
        v = Verdict(name, kind, _verdict(eo, old, name, kind), _verdict(en, new, name, kind))
        if kind == "invariant":
            v.old_trace = eo.trace(eo.violated[name]) if name in eo.violated else None
            v.new_trace = en.trace(en.violated[name]) if name in en.violated else None
        verdicts.append(v)
    return Diff(eo, en, shared, limit, only(en, eo), only(eo, en), verdicts)


def _properties(old: CompiledSpec, new: CompiledSpec) -> list[tuple[str, str]]:
    """The invariants and reachable properties of either version, old's order first."""
    out: dict[str, str] = {}
    for cs in (old, new):
        for p in cs.properties:
            if p.kind in ("invariant", "reachable"):
                out.setdefault(p.name, p.kind)
    return list(out.items())


def _verdict(ex: Exploration, cs: CompiledSpec, name: str, kind: str) -> str | None:
    if not any(p.name == name and p.kind == kind for p in cs.properties):
        return None
    if kind == "invariant":
        return "violated" if name in ex.violated else "holds"
    if name in ex.reached:
        return "reached"
    return "not reached" if ex.complete else "not reached (bounded)"


# ---- showing a projected state ---------------------------------------------------------------
def projected_values(shared: Shared, cs: CompiledSpec, proj: tuple) -> dict[str, Any]:
    """A projected state as variable -> node -> value (as a person reads it), with up and the network."""
    types = {v.name: v.type for v in cs.vars}
    nodes, up, net = proj
    out: dict[str, Any] = {x: {node_name(i): show(nodes[i][k], types[x]) for i in range(len(nodes))}
                           for k, x in enumerate(shared.variables)}
    out["up"] = {node_name(i): show(u, BoolType()) for i, u in enumerate(up)}
    fields = {m.name: m.fields for m in cs.messages}
    out["network"] = [f"{node_name(src)} -> {node_name(dst)}: {name}("
                      + ", ".join(f"{f}={show(x, t)}" for (f, t), x in zip(fields[name], rest)) + ")"
                      for src, dst, name, *rest in net]
    return out


def node_values(ex: Exploration) -> set[tuple[int, int, object]]:
    """Every (node, shared variable, value) some projected state of a version holds."""
    return {(i, k, x) for q in ex.first for i, st in enumerate(q[0]) for k, x in enumerate(st)}


def novel_values(shared: Shared, cs: CompiledSpec, proj: tuple, other: set[tuple[int, int, object]]) -> list[str]:
    """The node values of a projected state that no state of the other version gives that node
    (`n1.x = 2`; `other` from `node_values`): often what makes the state new at a glance."""
    nodes = proj[0]
    types = {v.name: v.type for v in cs.vars}
    return [f"{node_name(i)}.{x} = {show(nodes[i][k], types[x])}"
            for k, x in enumerate(shared.variables) for i in range(len(nodes)) if (i, k, nodes[i][k]) not in other]


@dataclass
class Contrast:
    """The trace to a state one version reaches, taken step by step in the other version."""

    steps: int  # steps of the trace the other version could take (events described alike)
    blocked: str | None  # the first step the other version could not take, as described
    differences: list[str]  # after all steps: `node.var = value (other: value)` where the projections differ


def contrast(shared: Shared, trace: Trace, other: Exploration, tag: str = "other") -> Contrast:
    """Take the trace's events in the other version, each as the enabled event described alike
    (`n2 receives Push(value=1) from n1`: handlers and message ids may be numbered differently),
    and compare where they lead: usually what makes the state one version's own."""
    from .trace import describe

    here, there = trace.model.cs, other.cs
    state = other.model.init_states()[0]
    for k, ev in enumerate(trace.events):
        want = describe(here, ev)
        try:
            succ = other.model.successors(state)
        except StepError:
            return Contrast(k, want + " (a handler fails)", [])
        nxt = next((s2 for e2, s2 in succ if describe(there, e2) == want), None)
        if nxt is None:
            return Contrast(k, want, [])
        state = nxt
    mine = shared.projector(trace.model)(trace.states[-1])
    theirs = shared.projector(other.model)(state)
    types = {v.name: v.type for v in here.vars}
    out = [f"{node_name(i)}.{x} = {show(mine[0][i][k], types[x])} ({tag}: {show(theirs[0][i][k], types[x])})"
           for k, x in enumerate(shared.variables) for i in range(len(mine[0])) if mine[0][i][k] != theirs[0][i][k]]
    out += [f"{node_name(i)} is {'up' if u else 'down'} ({tag}: {'up' if v else 'down'})"
            for i, (u, v) in enumerate(zip(mine[1], theirs[1])) if u != v]
    if mine[2] != theirs[2]:
        out.append(f"the messages in flight differ ({len(mine[2])} here, {len(theirs[2])} in {tag})")
    return Contrast(len(trace.events), None, out)


def diff_json(d: Diff, examples: int = EXAMPLES) -> dict[str, Any]:
    """The report as data: both searches, what they share, the states only one reaches (with
    traces in ITF for the first few), each property's verdicts, and the new failures."""

    def side(ex: Exploration) -> dict[str, Any]:
        return {"file": ex.cs.filename, "constants": ex.cs.checked.consts, "distinct_states": len(ex.parent),
                "projected_states": len(ex.first), "complete": ex.complete, "explored_depth": ex.done_depth,
                "failing_handler": ex.failed[1] if ex.failed is not None else None}

    def states(items: list[tuple[tuple, int]], ex: Exploration, other: Exploration) -> dict[str, Any]:
        out = []
        for p, sid in items[:examples]:
            trace = ex.trace(sid)
            c = contrast(d.shared, trace, other)
            out.append({"depth": ex.depth[sid], "state": projected_values(d.shared, ex.cs, p),
                        "trace": to_itf_json(trace, "the shortest trace to a state the other version does not reach"),
                        "in_other": {"steps_taken": c.steps, "blocked_at": c.blocked, "differences": c.differences}})
        return {"count": len(items), "examples": out}

    return {
        "old": side(d.old), "new": side(d.new),
        "shared": {"variables": list(d.shared.variables), "messages": list(d.shared.messages),
                   "only_old": list(d.shared.only_old), "only_new": list(d.shared.only_new)},
        "compared_up_to_depth": d.compared_depth,
        "only_in_new": states(d.only_new, d.new, d.old),
        "only_in_old": states(d.only_old, d.old, d.new),
        "properties": [{"name": v.name, "kind": v.kind, "old": v.old, "new": v.new, "changed": v.changed,
                        "new_failure": v.new_failure,
                        "new_trace": to_itf_json(v.new_trace, f"invariant {v.name} is violated") if v.new_failure
                        and v.new_trace is not None else None} for v in d.verdicts],
        "new_failures": d.new_failures,
        "identical": d.identical,
    }


__all__ = ["Contrast", "Diff", "DiffError", "Exploration", "Shared", "Verdict", "contrast", "diff", "diff_json", "explore"]
