"""Counterexample paths: replay from step indices, describe events, print, export as ITF."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, assert_never

from pnyx.model.compiler import CompiledSpec
from pnyx.model.system import HANDLER_KIND, Crash, Deliver, Duplicate, Lose, Rebuild, Recover, Request, Timer, as_event
from pnyx.model.types import BoolType, NodeType, node_name, show, to_itf

from .model import Event, SpecModel, State


@dataclass
class Trace:
    """The states from the initial one, and the event that led to each later one."""

    model: SpecModel
    steps: list[int]
    states: list[State]
    events: list[Event]
    failed_event: Event | None = None  # an event that raised an error in the last state
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events)


def replay(model: SpecModel, steps: list[int]) -> Trace:
    """Rebuild a path by taking successor number `i` at each step."""
    state = model.init_states()[0]
    states, events = [state], []
    for i in steps:
        ev, state = model.successors(state)[i]
        states.append(state)
        events.append(ev)
    return Trace(model, list(steps), states, events)


def _choices(cs: CompiledSpec, handler_index: int, choices: tuple) -> str:
    if not choices:
        return ""
    sites = cs.handlers[handler_index].choice_sites
    parts = [f"{sites[site][0]} = {show(v, sites[site][1])}" for site, v in choices]
    return " choosing " + ", ".join(parts)


def describe(cs: CompiledSpec, event: tuple) -> str:
    """One line a person reads: who received what from whom, which timer, which crash."""
    ev = as_event(event)
    match ev:
        case Deliver():
            text = f"{node_name(ev.dst)} receives {cs.show_message(ev.msg)} from {node_name(ev.src)}"
            if ev.handler < 0:
                return text + " (no handler enabled: dropped)"
            return text + _choices(cs, ev.handler, ev.choices)
        case Timer():
            return f"{node_name(ev.node)} fires timer {cs.handlers[ev.handler].name}" + _choices(cs, ev.handler, ev.choices)
        case Request():
            h = cs.handlers[ev.handler]
            args = ", ".join(f"{p}={show(v, t)}" for (p, t), v in zip(h.params, ev.args))
            text = f"client calls {h.name}({args}) at {node_name(ev.node)}" + _choices(cs, ev.handler, ev.choices)
            shown = [str(r) if h.reply_type is None else show(r, h.reply_type) for r in ev.replies]
            return text + (" -> replies " + ", ".join(shown) if shown else "")
        case Crash():
            return f"{node_name(ev.node)} crashes (volatile state and its channels lost)"
        case Recover():
            hi = cs.recover.index if cs.recover is not None else -1
            return f"{node_name(ev.node)} recovers" + (_choices(cs, hi, ev.choices) if hi >= 0 else "")
        case Rebuild():
            hi = cs.rebuild.index if cs.rebuild is not None else -1
            text = f"{node_name(ev.node)} restarts with its disk lost (persistent state lost too)"
            return text + (_choices(cs, hi, ev.choices) if hi >= 0 else "")
        case Lose():
            return f"the network loses {cs.show_message(ev.msg)} from {node_name(ev.src)} to {node_name(ev.dst)}"
        case Duplicate():
            return f"the network duplicates {cs.show_message(ev.msg)} from {node_name(ev.src)} to {node_name(ev.dst)}"
        case _:
            assert_never(ev)


def sends_of(cs: CompiledSpec, event: tuple) -> list[str]:
    sends = getattr(as_event(event), "sends", ())  # only the kinds that run a handler send
    return [f"disconnects from {node_name(d)}" if m is None else f"sends {cs.show_message(m)} to {node_name(d)}"
            for d, m in sends]


def changes(cs: CompiledSpec, before: State, after: State) -> list[str]:
    """`node.var: old -> new` for every variable that changed, and up/down changes."""
    out = []
    for i in range(cs.n_nodes):
        if before[1][i] != after[1][i]:
            out.append(f"{node_name(i)}: {'up' if after[1][i] else 'down'}")
        a, b = before[0][i], after[0][i]
        if a == b:
            continue
        for v in cs.vars:
            if a[v.slot] != b[v.slot]:
                out.append(f"{node_name(i)}.{v.name}: {show(a[v.slot], v.type)} -> {show(b[v.slot], v.type)}")
    return out


def initial_lines(cs: CompiledSpec, state: State) -> list[str]:
    """The initial state, grouped by variable when every node starts alike."""
    out = []
    for v in cs.vars:
        vals = [state[0][i][v.slot] for i in range(cs.n_nodes)]
        if all(x == vals[0] for x in vals):
            out.append(f"every node: {v.name} = {show(vals[0], v.type)}")
        else:
            out.append(f"{v.name}: " + ", ".join(f"{node_name(i)}={show(x, v.type)}" for i, x in enumerate(vals)))
    return out


def format_trace(trace: Trace) -> list[str]:
    """The steps of a trace as plain lines (the CLI adds colour)."""
    cs = trace.model.cs
    lines = ["State 0 (initial):"] + ["    " + x for x in initial_lines(cs, trace.states[0])]
    for k, ev in enumerate(trace.events, start=1):
        lines.append(f"Step {k}: {describe(cs, ev)}")
        for x in changes(cs, trace.states[k - 1], trace.states[k]) + sends_of(cs, ev):
            lines.append("    " + x)
    if trace.failed_event is not None:
        lines.append(f"Step {len(trace.events) + 1}: {describe(cs, trace.failed_event)} -> fails")
    return lines


def _mermaid_text(text: str) -> str:
    """Text safe inside a Mermaid statement: `;` ends a statement and `#` starts an entity code."""
    return text.translate({ord("#"): "#35;", ord(";"): "#59;"})


def to_mermaid(trace: Trace, title: str = "", violated: str = "") -> str:
    """The trace as a Mermaid sequence diagram: deliveries as arrows, other events as notes.

    `violated` (the violated property and its falsifying bindings) ends the diagram as a note
    across every node, so that the picture says what went wrong, not only what happened.
    """
    cs = trace.model.cs
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_mermaid_text(title)}")
    lines += [f"    participant {node_name(i)}" for i in range(cs.n_nodes)]
    events = list(trace.events) + ([trace.failed_event] if trace.failed_event is not None else [])
    for k, event in enumerate(events, start=1):
        ev = as_event(event)
        if isinstance(ev, Deliver):
            arrow = "-x" if ev.handler < 0 else "->>"
            lines.append(f"    {node_name(ev.src)}{arrow}{node_name(ev.dst)}: {k}. {cs.show_message(ev.msg)}")
        else:
            lines.append(f"    Note over {node_name(ev.at)}: {k}. {describe(cs, ev)}")
        if k <= len(trace.events):
            for change in changes(cs, trace.states[k - 1], trace.states[k]):
                who = change.split(".", 1)[0].split(":", 1)[0]
                lines.append(f"    Note right of {who}: {change.replace(';', ',')}")
    if violated:
        span = node_name(0) if cs.n_nodes == 1 else f"{node_name(0)},{node_name(cs.n_nodes - 1)}"
        lines.append(f"    Note over {span}: {_mermaid_text(violated)}")
    return "\n".join(lines) + "\n"


def to_mermaid_markdown(trace: Trace, title: str = "", violated: str = "") -> str:
    """The diagram in a fenced ```mermaid block under a heading, as Markdown viewers render it."""
    head = f"# Counterexample: {title}\n\n" if title else ""
    tail = f"{violated}\n\n" if violated else ""
    return f"{head}{tail}```mermaid\n{to_mermaid(trace, title, violated)}```\n"


# ---- Informal Trace Format ---------------------------------------------------
def _itf_state(model: SpecModel, state: State, index: int, action: str) -> dict[str, Any]:
    cs = model.cs
    node_t = NodeType(cs.n_nodes)
    out: dict[str, Any] = {"#meta": {"index": index, "action": action}}
    for v in cs.vars:
        out[v.name] = {"#map": [[node_name(i), to_itf(state[0][i][v.slot], v.type)] for i in range(cs.n_nodes)]}
    out["up"] = {"#map": [[node_name(i), to_itf(state[1][i], BoolType())] for i in range(cs.n_nodes)]}
    msgs = []
    for src, dst, m in model.in_flight(state):
        msgs.append({"src": to_itf(src, node_t), "dst": to_itf(dst, node_t), "msg": _message_json(cs, m)})
    out["network"] = msgs
    out["budget_used"] = {k: {"#bigint": str(x)} for k, x in zip(cs.budget, state[3])}
    return out


def _message_json(cs: CompiledSpec, m: tuple) -> dict[str, Any]:
    info = cs.messages[m[0]]
    return {"tag": info.name, "value": {f: to_itf(x, t) for (f, t), x in zip(info.fields, m[1:])}}


def event_json(cs: CompiledSpec, event: tuple) -> dict[str, Any]:
    """An event as data, so that a trace can be replayed elsewhere (impl.replay) without the checker.

    Handlers are named by index into `cs.handlers` (-1: no handler enabled, the message was dropped);
    each `choose` is given as its site number within the handler and the value taken.
    """
    ev = as_event(event)
    out: dict[str, Any] = {"kind": ev.kind}
    choices: tuple = ()
    hi = -1
    match ev:
        case Deliver() | Lose() | Duplicate():
            out["node"], out["src"], out["message"] = node_name(ev.dst), node_name(ev.src), _message_json(cs, ev.msg)
            if isinstance(ev, Deliver):
                hi, choices = ev.handler, ev.choices
        case Timer():
            out["node"] = node_name(ev.node)
            hi, choices = ev.handler, ev.choices
            out["timer"] = cs.handlers[hi].name
        case Request():
            out["node"] = node_name(ev.node)
            hi, choices = ev.handler, ev.choices
            h = cs.handlers[hi]
            out["request"] = h.name
            out["args"] = [to_itf(v, t) for (_, t), v in zip(h.params, ev.args)]
        case Recover():
            out["node"] = node_name(ev.node)
            hi, choices = (cs.recover.index if cs.recover is not None else -1), ev.choices
        case Rebuild():
            out["node"] = node_name(ev.node)
            hi, choices = (cs.rebuild.index if cs.rebuild is not None else -1), ev.choices
        case Crash():
            out["node"] = node_name(ev.node)
        case _:
            assert_never(ev)
    if ev.kind in HANDLER_KIND:
        out["handler"] = hi
        sites = cs.handlers[hi].choice_sites if hi >= 0 else ()
        out["choices"] = [{"site": site, "var": sites[site][0], "value": to_itf(v, sites[site][1])} for site, v in choices]
    return out


def to_itf_json(trace: Trace, description: str = "") -> dict[str, Any]:
    """The trace in the Informal Trace Format: one object per state, variables as node maps."""
    cs = trace.model.cs
    states = [_itf_state(trace.model, trace.states[0], 0, "init")]
    for k, ev in enumerate(trace.events, start=1):
        st = _itf_state(trace.model, trace.states[k], k, describe(cs, ev))
        st["#meta"]["event"] = event_json(cs, ev)
        states.append(st)
    return {
        "#meta": {"format": "ITF", "source": cs.filename, "description": description, "steps": trace.steps},
        "vars": [v.name for v in cs.vars] + ["up", "network", "budget_used"],
        "states": states,
    }


__all__ = ["Trace", "replay", "describe", "changes", "format_trace", "to_itf_json", "to_mermaid", "to_mermaid_markdown"]
