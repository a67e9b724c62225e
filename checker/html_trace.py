"""A counterexample as one self-contained HTML page: a message-sequence diagram, the step list,
each step's state with what changed, the messages in flight, the violated property.

The page is built from the `Trace` the other writers take (checker/trace.py): the events are
described, the changes listed and the messages shown by the same functions as the text trace,
so the page never says something the text trace does not. Stylesheet and script are inlined
from checker/assets/ (no network: the page works from a file, offline, in a CI artifact).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pnyx.model.compiler import CompiledSpec
from pnyx.model.system import Crash, Deliver, Duplicate, Lose, Rebuild, Recover, as_event
from pnyx.model.types import node_name, show

from .bfs import Violation
from .liveness import Lasso, Verdict
from .liveness_report import NEVER, shape, stutter_note, verdict_line
from .model import SpecModel, State
from .report import show_binding, violation_line
from .trace import Trace, changes, describe, sends_of

# Diagram geometry, in SVG user units.
LANE_WIDTH, ROW_HEIGHT, TOP, LEFT = 130, 40, 46, 48


@dataclass
class Arrow:
    """A message on the diagram: sent at step `sent`, ending at step `ended` (None: still in flight)."""

    src: int
    dst: int
    label: str
    sent: int
    ended: int | None = None
    fate: str = "pending"  # delivered | dropped (no handler) | lost (network or crash) | pending
    duplicate: bool = False  # a copy the network made
    msg: tuple = ()  # the message itself, to match it with the event that takes it


@dataclass
class Counterexample:
    """What the page shows: the trace, the violated property, and for a lasso its cycle."""

    trace: Trace
    title: str
    violated: str  # the violated property in one line, as the text report ends
    bindings: dict[str, str] = field(default_factory=dict)
    lasso: Lasso | None = None
    notes: list[str] = field(default_factory=list)  # what happens after the last step (a stutter)
    trigger: int | None = None  # leadsto: the state where the left side holds and the right never does after


def from_violation(cs: CompiledSpec, v: Violation) -> Counterexample:
    """A safety counterexample (an invariant violated, a handler failing) as `pnyx check` reports it."""
    prop = next((p for p in cs.properties if p.name == v.name), None)
    bindings = {k: show_binding(prop, k, x) for k, x in v.bindings.items()}
    return Counterexample(v.trace, v.message, violation_line(cs, v), bindings)


def from_verdict(cs: CompiledSpec, v: Verdict) -> Counterexample:
    """A liveness lasso: the prefix, then the cycle that repeats forever (or a stutter)."""
    assert v.lasso is not None
    notes = []
    if v.lasso.stutter:
        notes.append(f"then stutters forever: {stutter_note(cs, v.lasso)}")
    return Counterexample(v.lasso.trace, f"{v.kind} {v.name}: {NEVER[v.kind]} ({shape(v.lasso)})",
                          verdict_line(cs, v), {}, v.lasso, notes, v.lasso.trigger if v.kind == "leadsto" else None)


# ---- the diagram's arrows ---------------------------------------------------------------------
def arrows(trace: Trace) -> list[Arrow]:
    """Every message of the trace from the step that sent it to the step that took it out of the
    network. Sends come from the events (`sends`); a delivery or a loss ends the oldest matching
    message; whatever else leaves the network at a step (a crash's channels) is lost there."""
    model, cs = trace.model, trace.model.cs
    out: list[Arrow] = []
    pending = [Arrow(s, d, cs.show_message(m), 0, msg=m) for s, d, m in model.in_flight(trace.states[0])]

    def end(src: int, dst: int, msg: tuple, k: int, fate: str) -> None:
        for a in pending:
            if (a.src, a.dst, a.msg) == (src, dst, msg):
                a.ended, a.fate = k, fate
                pending.remove(a)
                out.append(a)
                return

    for k, event in enumerate(trace.events, start=1):
        ev = as_event(event)
        if isinstance(ev, Deliver):
            end(ev.src, ev.dst, ev.msg, k, "delivered" if ev.handler >= 0 else "dropped")
        elif isinstance(ev, Lose):
            end(ev.src, ev.dst, ev.msg, k, "lost")
        elif isinstance(ev, Duplicate):
            pending.append(Arrow(ev.src, ev.dst, cs.show_message(ev.msg), k, duplicate=True, msg=ev.msg))
        for dst, msg in getattr(ev, "sends", ()):
            if msg is not None:
                pending.append(Arrow(ev.at, dst, cs.show_message(msg), k, msg=msg))
        # the network itself says what is still in flight: the rest left it at this step
        room = Counter(model.in_flight(trace.states[k]))
        for a in list(pending):
            if room[(a.src, a.dst, a.msg)] > 0:
                room[(a.src, a.dst, a.msg)] -= 1
            else:
                a.ended, a.fate = k, "lost"
                pending.remove(a)
                out.append(a)
    return out + pending


# ---- the page -----------------------------------------------------------------------------------
def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _asset(name: str) -> str:
    return resources.files("pnyx.checker").joinpath("assets", name).read_text(encoding="utf-8")


def _cycle_steps(c: Counterexample) -> range:
    if c.lasso is None or c.lasso.stutter:
        return range(0)
    return range(c.lasso.loop + 1, len(c.trace.events) + 1)


def _x(node: int) -> int:
    return LEFT + LANE_WIDTH // 2 + node * LANE_WIDTH


def _y(step: int) -> int:
    return TOP + step * ROW_HEIGHT


def diagram(c: Counterexample) -> str:
    """The message-sequence diagram as inline SVG: one lane per node, one row per step."""
    trace, cs = c.trace, c.trace.model.cs
    n, steps = cs.n_nodes, len(trace.events)
    failed = 1 if trace.failed_event is not None else 0
    width, height = LEFT + n * LANE_WIDTH + 8, _y(steps + failed) + ROW_HEIGHT
    parts = [f'<svg id="diagram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="message sequence diagram">',
             "<defs>" + "".join(
                 f'<marker id="head-{fate}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
                 f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="head-{fate}"/></marker>'
                 for fate in ("delivered", "dropped", "lost", "pending", "duplicate")) + "</defs>"]
    cycle = _cycle_steps(c)
    if cycle:
        y0, y1 = _y(cycle.start) - ROW_HEIGHT // 2, _y(cycle.stop - 1) + ROW_HEIGHT // 2
        parts.append(f'<rect class="cycle-band" x="2" y="{y0}" width="{width - 4}" height="{y1 - y0}"/>'
                     f'<text class="cycle-label" x="6" y="{y0 + 12}">cycle</text>')
    for k in range(steps + 1 + failed):
        parts.append(f'<rect class="row" data-step="{k}" x="0" y="{_y(k) - ROW_HEIGHT // 2}" width="{width}" '
                     f'height="{ROW_HEIGHT}"/><text class="rownum" x="{LEFT - 10}" y="{_y(k) + 4}">{k}</text>')
    for i in range(n):  # lanes: solid while the node is up, dashed while it is down
        parts.append(f'<text class="lane-name" x="{_x(i)}" y="18">{_e(node_name(i))}</text>')
        for k in range(steps + failed + 1):  # the last segment holds what is still in flight
            up = trace.states[min(k, steps)][1][i]
            parts.append(f'<line class="lane{"" if up else " down"}" x1="{_x(i)}" y1="{_y(k)}" x2="{_x(i)}" '
                         f'y2="{_y(k + 1)}"/>')
    for a in arrows(trace):
        head = "duplicate" if a.duplicate else a.fate
        end = a.ended if a.ended is not None else steps + failed + 0.8
        x1, y1, x2 = _x(a.src), _y(a.sent), _x(a.dst)
        y2 = int(TOP + end * ROW_HEIGHT)
        if a.fate in ("lost", "pending") or a.dst == a.src:  # stop short of the lane: it never arrived
            x2 = x1 + int((x2 - x1) * 0.8) if a.dst != a.src else x1 + 30
        title = f"{a.label}: {node_name(a.src)} to {node_name(a.dst)}, sent at step {a.sent}" + (
            f", {a.fate} at step {a.ended}" if a.ended is not None else ", still in flight")
        parts.append(f'<g class="msg {a.fate}{" duplicate" if a.duplicate else ""}" data-sent="{a.sent}" '
                     f'data-ended="{"" if a.ended is None else a.ended}"><title>{_e(title)}</title>'
                     f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" marker-end="url(#head-{head})"/>')
        if a.fate in ("lost", "dropped"):
            parts.append(f'<text class="fault-mark" x="{x2}" y="{y2 + 4}">\u2715</text>')
        mx, my = x1 + (x2 - x1) * 2 // 5, y1 + (y2 - y1) * 2 // 5
        parts.append(f'<text class="msg-label" x="{mx}" y="{my - 3}">{_e(_short(a.label))}</text></g>')
    events = list(trace.events) + ([trace.failed_event] if trace.failed_event is not None else [])
    for k, event in enumerate(events, start=1):
        ev = as_event(event)
        cls = {Crash: "crash", Recover: "recover", Rebuild: "recover", Lose: "fault", Duplicate: "fault"}.get(type(ev), "event")
        if k > steps:
            cls = "failed"
        at = ev.at
        parts.append(f'<circle class="dot {cls}" data-step="{k}" cx="{_x(at)}" cy="{_y(k)}" r="6">'
                     f'<title>{k}. {_e(describe(cs, ev))}</title></circle>')
        if cls in ("crash", "recover", "failed"):
            label = {"crash": "crash", "recover": ev.kind, "failed": "fails"}[cls]
            parts.append(f'<text class="fault-label {cls}" x="{_x(at) + 9}" y="{_y(k) + 4}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def state_rows(cs: CompiledSpec, state: State, before: State | None = None) -> list[dict[str, Any]]:
    """Every node's variables (and whether it is up) as shown values, row by row; `was` holds the
    value before the step where it changed, else None. The page and the explorer both show these."""
    rows = [{"name": "up", "values": ["up" if u else "down" for u in state[1]],
             "was": [None if before is None or before[1][i] == u else ("up" if before[1][i] else "down")
                     for i, u in enumerate(state[1])]}]
    for v in cs.vars:
        values = [state[0][i][v.slot] for i in range(cs.n_nodes)]
        olds = [None if before is None else before[0][i][v.slot] for i in range(cs.n_nodes)]
        rows.append({"name": v.name, "values": [show(x, v.type) for x in values],
                     "was": [None if before is None or o == x else show(o, v.type) for x, o in zip(values, olds)]})
    return rows


def in_flight_rows(model: SpecModel, state: State) -> list[dict[str, str]]:
    """The messages in the network, in the model's fixed order, as shown text."""
    return [{"src": node_name(s), "dst": node_name(d), "message": model.cs.show_message(m)}
            for s, d, m in model.in_flight(state)]


def _state_table(c: Counterexample, k: int) -> str:
    """Every node's variables after step k, the ones the step changed marked (with the old value)."""
    trace, cs = c.trace, c.trace.model.cs
    head = "".join(f"<th>{_e(node_name(i))}</th>" for i in range(cs.n_nodes))
    out = [f'<table class="state"><thead><tr><th>variable</th>{head}</tr></thead><tbody>']
    for row in state_rows(cs, trace.states[k], trace.states[k - 1] if k > 0 else None):
        cells = "".join(f"<td>{_e(x)}</td>" if old is None else
                        f'<td class="changed" title="was {_e(old)}">{_e(x)}<span class="was">was {_e(old)}</span></td>'
                        for x, old in zip(row["values"], row["was"]))
        out.append(f"<tr><th>{_e(row['name'])}</th>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _network(c: Counterexample, k: int) -> str:
    msgs = in_flight_rows(c.trace.model, c.trace.states[k])
    if not msgs:
        return '<p class="empty">no message in flight</p>'
    items = "".join(f"<li>{_e(m['src'])} \u2192 {_e(m['dst'])}: {_e(m['message'])}</li>" for m in msgs)
    return f'<ul class="network">{items}</ul>'


def _step_text(c: Counterexample, k: int) -> str:
    cs = c.trace.model.cs
    if k == 0:
        return "initial state"
    if k > len(c.trace.events):
        assert c.trace.failed_event is not None
        return describe(cs, c.trace.failed_event) + " -> fails"
    return describe(cs, c.trace.events[k - 1])


def _details(c: Counterexample, k: int) -> str:
    """The panel of step k: the event, what changed, what was sent, the state, the network."""
    trace, cs = c.trace, c.trace.model.cs
    parts = [f'<section class="step-detail" data-step="{k}" hidden><h2>{"State 0" if k == 0 else f"Step {k}"}: '
             f"{_e(_step_text(c, k))}</h2>"]
    if k > len(trace.events):  # the failing step has no state after it
        parts.append(f'<p class="violated">{_e(c.violated)}</p></section>')
        return "".join(parts)
    if k > 0:
        lines = changes(cs, trace.states[k - 1], trace.states[k]) + sends_of(cs, trace.events[k - 1])
        parts.append('<ul class="changes">' + "".join(f"<li>{_e(x)}</li>" for x in lines) + "</ul>" if lines else
                     '<p class="empty">nothing changed</p>')
    parts.append("<h3>State</h3>" + _state_table(c, k) + "<h3>Messages in flight</h3>" + _network(c, k) + "</section>")
    return "".join(parts)


def _step_list(c: Counterexample) -> str:
    trace = c.trace
    cycle = _cycle_steps(c)
    items = []
    for k in range(len(trace.events) + 1 + (trace.failed_event is not None)):
        cls = ["step"] + (["cycle"] if k in cycle else []) + (["failed"] if k > len(trace.events) else [])
        mark = ""
        if cycle and k == cycle.start:
            mark = (f'<div class="mark cycle-mark">cycle: steps {cycle.start} to {cycle.stop - 1} repeat forever '
                    f"(step {cycle.stop - 1} returns to state {c.lasso.loop if c.lasso else 0})</div>")
        items.append(f'{mark}<li class="{" ".join(cls)}" data-step="{k}" tabindex="-1"><span class="num">{k}</span> '
                     f"{_e(_step_text(c, k))}</li>")
        if c.trigger == k:
            where = "initially" if k == 0 else f"after step {k}"
            items.append(f'<div class="mark trigger-mark">{where}: the left side holds; the right side never does '
                         "from here on</div>")
    notes = "".join(f'<div class="mark stutter-mark">{_e(x)}</div>' for x in c.notes)
    return f'<ol id="steps">{"".join(items)}</ol>{notes}'


def _bindings(c: Counterexample) -> str:
    if not c.bindings:
        return ""
    shown = ", ".join(f"<code>{_e(k)} = {_e(v)}</code>" for k, v in c.bindings.items())
    return f'<p class="bindings">falsifying bindings: {shown}</p>'


LEGEND = ('<p class="legend">arrows: <span class="l-delivered">delivered</span>, <span class="l-lost">lost or dropped '
          '(\u2715)</span>, <span class="l-pending">still in flight</span>, <span class="l-dup">a network duplicate</span>; '
          'a dashed red lane: the node is down; <span class="l-cycle">shaded: the cycle that repeats forever</span></p>')


def render(c: Counterexample) -> str:
    """The page, as one string of HTML with its stylesheet, script and data inline."""
    cs = c.trace.model.cs
    n = len(c.trace.events) + (c.trace.failed_event is not None)
    meta = {"steps": n, "last_state": len(c.trace.events), "cycle": list(_cycle_steps(c)),
            "lasso": None if c.lasso is None else {"loop": c.lasso.loop, "stutter": c.lasso.stutter,
                                                   "trigger": c.lasso.trigger}}
    data = json.dumps(meta).replace("</", "<\\/")
    details = "".join(_details(c, k) for k in range(n + 1))
    consts = ", ".join(f"{k}={v}" for k, v in cs.checked.consts.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Counterexample: {_e(c.title)}</title>
<style>{_asset("trace.css")}</style></head>
<body>
<header><h1>Counterexample: {_e(c.title)}</h1>
<p class="meta">{_e(cs.filename)}{f" ({_e(consts)})" if consts else ""} &middot; {len(c.trace.events)} steps
&middot; keys: &darr;/j next, &uarr;/k previous, Home first, End last</p>
<p class="violated" id="violated">{_e(c.violated)}</p>{_bindings(c)}</header>
<main>
<div class="col diagram-col">{diagram(c)}{LEGEND}</div>
<div class="col steps-col">{_step_list(c)}</div>
<div class="col detail-col">{details}</div>
</main>
<script id="trace-meta" type="application/json">{data}</script>
<script>{_asset("trace.js")}</script>
</body></html>
"""


def write(path: str, c: Counterexample) -> None:
    """Write the page; an OSError is the caller's to report."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render(c))


__all__ = ["Arrow", "Counterexample", "arrows", "diagram", "from_verdict", "from_violation", "in_flight_rows", "render",
           "state_rows", "write"]
