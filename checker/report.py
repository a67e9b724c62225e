"""How a check's result is shown: a summary, traces for people, JSON for tools."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape

from pnyx.model.compiler import CompiledSpec, PropertyEntry
from pnyx.model.types import show

from . import bounds
from .bfs import Result, Violation
from .trace import format_trace, to_itf_json


def show_binding(prop: PropertyEntry | None, name: str, value: object) -> str:
    """A falsifying binding as a person reads it (n2, a zxid, a message...)."""
    t = dict(prop.binding_types).get(name) if prop is not None else None
    return show(value, t) if t is not None else str(value)


# What stopped a search early (Result.stopped_by) -> the flag that set the bound.
BOUND_FLAGS = {"depth": "--max-depth", "states": "--max-states", "time": "--max-seconds", "memory": "--max-memory"}
SIGNALS = ("interrupt", "terminate")  # stopped by a signal (Ctrl-C, SIGTERM), not a bound

# Exit statuses shared by `pnyx check` and `pnyx simulate`.
EXIT_OK, EXIT_VIOLATION, EXIT_BOUNDED = 0, 1, 3


def bounded_by(result: Result) -> str | None:
    """The flag and limit that cut the search short (`--max-depth 12`), or None if none did."""
    if not result.bounded:
        return None
    if result.stopped_by in SIGNALS:
        return bounds.describe(result.stopped_by or "")
    flag = BOUND_FLAGS[result.stopped_by or ""]
    unit = " MB" if result.stopped_by == "memory" else ""
    return flag if result.stop_limit is None else f"{flag} {result.stop_limit:g}{unit}"


def bound_note(result: Result) -> str | None:
    """One sentence saying that a bounded search proves nothing beyond what it explored."""
    bound = bounded_by(result)
    if bound is None:
        return None
    if not result.shortest:
        return f"the random walks {_cut(result, bound, 'were')} before all of them ran"
    return f"the search {_cut(result, bound)} before exploring every reachable state: the result is not a proof"


def _cut(result: Result, bound: str, be: str = "was") -> str:
    """`stopped at the --max-seconds 5 bound`, or `was stopped by Ctrl-C (SIGINT)`."""
    return f"{be} stopped by {bound}" if result.stopped_by in SIGNALS else f"stopped at the {bound} bound"


def verdict(result: Result) -> str:
    """violated | interrupted | bounded | not_reached | ok: what a run found, as the exit status tells it."""
    if result.violation is not None:
        return "violated"
    if result.stopped_by in SIGNALS:
        return "interrupted"
    if result.bounded:
        return "bounded"
    if result.shortest and not result.ok:
        return "not_reached"
    return "ok"


def exit_status(result: Result) -> int:
    """0 ok, 1 a violation (or, in a complete search, a reachable property never reached), 3 bounded,
    130 interrupted by Ctrl-C (143 by SIGTERM)."""
    if verdict(result) == "interrupted":
        return bounds.exit_status(result.stopped_by or "interrupt")
    return {"violated": EXIT_VIOLATION, "not_reached": EXIT_VIOLATION, "bounded": EXIT_BOUNDED}.get(verdict(result), EXIT_OK)


def summary(result: Result) -> dict[str, Any]:
    st = result.stats
    return {
        "distinct_states": st.distinct,
        "transitions": st.transitions,
        "diameter": st.depth,
        "seconds": round(st.seconds, 3),
        "states_per_second": round(st.states_per_second, 1),
        "peak_memory_bytes": st.peak_rss_bytes,
        "fingerprint_set_bytes": st.fingerprint_bytes,
        "fingerprint_collision_probability": float(f"{st.collision_probability:.2g}") if result.shortest else None,
        "complete": result.complete,
        "stopped_by": result.stopped_by,
        "bounded_by": bounded_by(result),
        "symmetry_reduction": result.symmetry,
        "partial_order_reduction": result.por,
        "transitions_pruned": st.pruned,
        "dropped_unhandled": st.dropped,
        "search_cpu_seconds": None if st.cpu_seconds is None else round(st.cpu_seconds, 3),
        "critical_cpu_seconds": None if st.critical_cpu_seconds is None else round(st.critical_cpu_seconds, 3),
        "worker_cpu_per_level": None if st.worker_cpu is None else [[round(c, 4) for c in level] for level in st.worker_cpu],
    }


def violation_line(cs: CompiledSpec, v: Violation) -> str:
    """The violated property, where it is declared and the bindings that falsify it, in one line."""
    if v.kind != "invariant":
        return f"Failed: {v.message}"
    prop = next(p for p in cs.properties if p.name == v.name)
    binds = ", ".join(f"{k} = {show_binding(prop, k, x)}" for k, x in v.bindings.items())
    return f"Violated: invariant {v.name} ({cs.filename}:{prop.line})" + (f" with {binds}" if binds else "")


def result_json(cs: CompiledSpec, result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {
        "spec": cs.name,
        "file": cs.filename,
        "constants": cs.checked.consts,
        "ok": verdict(result) == "ok",  # true exactly when the exit status is 0: a bounded search is not ok
        "verdict": verdict(result),
        "complete": result.complete,
        "note": bound_note(result),
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
        if v.kind == "invariant":
            head = "Invariant violated"
        elif v.trace.failed_event is None:  # no step failed: the property itself could not be evaluated
            head = f"Error while evaluating property {v.name}"
        else:
            head = "Error while running a handler"
        kind = v.trace.extra.get("label") or ("shortest" if result.shortest else "a random walk, not the shortest")
        out.print(f"[bold red]{head}:[/] {escape(v.message)}  ({len(v.trace)} steps, {kind})")
        out.print()
        for line in format_trace(v.trace):
            style = "bold" if line.startswith(("Step", "State")) else ""
            out.print(f"[{style}]{escape(line)}[/]" if style else escape(line))
        out.print()
        head, _, rest = violation_line(cs, v).partition(": ")
        out.print(f"[bold red]{head}:[/] {escape(rest)}")
    bound = bounded_by(result)
    for name, t in result.reached.items():
        if t is None and v is not None:
            continue  # the search stopped at the violation
        if t is None:
            if result.complete:
                out.print(f"[bold red]Never reached:[/] {name} — no reachable state satisfies it")
            elif not result.shortest:
                out.print(f"[yellow]Not reached:[/] {name} — no state of the random walks satisfies it")
            else:
                out.print(f"[yellow]Not reached:[/] {name} — no state explored satisfies it "
                          f"(the search {_cut(result, bound or '')}; it may lie beyond)")
        else:
            out.print(f"[green]Reached:[/] {name} (after {len(t)} steps)")
    if v is None:
        if result.complete:
            scope = "every reachable state"
        elif not result.shortest:
            scope = f"every state of the random walks ({result.stats.transitions:,} steps)"
        else:
            by = bound if result.stopped_by in SIGNALS else f"the {bound} bound"
            scope = f"every state explored (stopped by {by})"
        for name in result.invariants:
            out.print(f"[green]Holds:[/] invariant {name} in {scope}")
    st = result.stats
    out.print(
        f"{st.distinct:,} distinct states, {st.transitions:,} transitions, diameter {st.depth}, "
        f"{st.seconds:.2f} s, {st.states_per_second:,.0f} states/s, peak memory {st.peak_rss_bytes / 2**20:.0f} MiB"
        + (", symmetry reduction on" if result.symmetry else "")
        + (f", partial-order reduction {result.por} ({st.pruned:,} transitions not taken)" if result.por != "none" else "")
        + (f", fingerprint collision probability {st.collision_probability:.1e}" if result.shortest else "")
    )
    if st.dropped:
        kinds = ", ".join(f"{name} {k:,}" for name, k in st.dropped.items())
        out.print(f"Unhandled messages dropped (transitions): {kinds}")
    note = bound_note(result) if v is None else None
    if note is not None:
        head = "Interrupted" if result.stopped_by in SIGNALS else "Bounded"
        out.print(f"[bold yellow]{head}:[/] {escape(note)} (exit status {exit_status(result)})")
