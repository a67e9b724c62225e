"""How a check's result is shown: a summary, traces for people, JSON for tools."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape

from model.compiler import CompiledSpec, PropertyEntry
from model.types import show

from .bfs import Result
from .trace import format_trace, to_itf_json


def show_binding(prop: PropertyEntry | None, name: str, value: object) -> str:
    """A falsifying binding as a person reads it (n2, a zxid, a message...)."""
    t = dict(prop.binding_types).get(name) if prop is not None else None
    return show(value, t) if t is not None else str(value)


def summary(result: Result) -> dict[str, Any]:
    st = result.stats
    return {
        "distinct_states": st.distinct,
        "transitions": st.transitions,
        "diameter": st.depth,
        "seconds": round(st.seconds, 3),
        "states_per_second": round(st.states_per_second, 1),
        "peak_memory_bytes": st.peak_rss_bytes,
        "complete": result.complete,
        "stopped_by": result.stopped_by,
        "symmetry_reduction": result.symmetry,
    }


def result_json(cs: CompiledSpec, result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {
        "spec": cs.name,
        "file": cs.filename,
        "constants": cs.checked.consts,
        "ok": result.ok,
        "summary": summary(result),
        "invariants": {name: (result.violation is None or result.violation.name != name) for name in result.invariants},
        "reachable": {name: t is not None for name, t in result.reached.items()},
        "violation": None,
    }
    v = result.violation
    if v is not None:
        prop = next((p for p in cs.properties if p.name == v.name), None)
        out["violation"] = {
            "kind": v.kind,
            "property": v.name,
            "message": v.message,
            "bindings": {k: show_binding(prop, k, x) for k, x in v.bindings.items()},
            "length": len(v.trace),
            "trace": to_itf_json(v.trace, v.message),
        }
    return out


def print_result(out: Console, cs: CompiledSpec, result: Result, args: argparse.Namespace | None = None) -> None:
    v = result.violation
    if v is not None:
        head = "Invariant violated" if v.kind == "invariant" else "Error while running a handler"
        kind = "shortest" if result.shortest else "a random walk, not the shortest"
        out.print(f"[bold red]{head}:[/] {escape(v.message)}  ({len(v.trace)} steps, {kind})")
        out.print()
        for line in format_trace(v.trace):
            style = "bold" if line.startswith(("Step", "State")) else ""
            out.print(f"[{style}]{escape(line)}[/]" if style else escape(line))
        out.print()
        if v.kind == "invariant":
            prop = next(p for p in cs.properties if p.name == v.name)
            binds = ", ".join(f"{k} = {show_binding(prop, k, x)}" for k, x in v.bindings.items())
            line = prop.line
            out.print(f"[bold red]Violated:[/] invariant {v.name} ({cs.filename}:{line})" + (f" with {binds}" if binds else ""))
        else:
            out.print(f"[bold red]Failed:[/] {escape(v.message)}")
    for name, t in result.reached.items():
        if t is None and v is not None:
            continue  # the search stopped at the violation
        if t is None:
            how = "within the bounds" if not result.complete else "in any reachable state"
            out.print(f"[bold red]Never reached:[/] reachable {name} holds {how}")
        else:
            out.print(f"[green]Reached:[/] {name} (after {len(t)} steps)")
    if v is None:
        if result.complete:
            scope = "every reachable state"
        elif not result.shortest:
            scope = f"every state of the random walks ({result.stats.transitions:,} steps)"
        else:
            scope = f"every state explored (stopped by the {result.stopped_by} bound)"
        for name in result.invariants:
            out.print(f"[green]Holds:[/] invariant {name} in {scope}")
    st = result.stats
    out.print(
        f"{st.distinct:,} distinct states, {st.transitions:,} transitions, diameter {st.depth}, "
        f"{st.seconds:.2f} s, {st.states_per_second:,.0f} states/s, peak memory {st.peak_rss_bytes / 2**20:.0f} MiB"
        + (", symmetry reduction on" if result.symmetry else "")
    )
