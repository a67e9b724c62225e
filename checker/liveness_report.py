"""How a liveness check is shown: lassos for people (the cycle marked), ITF with `loop`, Mermaid
with a `loop` block, and JSON for tools."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from pnyx.model.compiler import CompiledSpec
from pnyx.model.system import fairness_class

from .liveness import Lasso, LivenessResult, Verdict
from .report import BOUND_FLAGS, EXIT_BOUNDED, EXIT_OK, EXIT_VIOLATION
from .trace import describe, format_trace, to_itf_json, to_mermaid

# What a counterexample to each kind shows.
NEVER = {"eventually": "a fair behaviour that never reaches it",
         "infinitely": "a fair behaviour where it stops holding for good",
         "leadsto": "a fair behaviour where the left side holds and the right side never does after"}
MEANING = {"eventually": "every fair behaviour reaches it", "infinitely": "it holds again and again on every fair behaviour",
           "leadsto": "on every fair behaviour, the left side is followed by the right side"}


def verdict(result: LivenessResult) -> str:
    """violated | bounded | error | ok."""
    if result.step_error is not None or result.violated:
        return "violated"
    if not result.complete:
        return "bounded"
    if any(v.holds is None for v in result.verdicts):
        return "error"
    return "ok"


def exit_status(result: LivenessResult) -> int:
    return {"violated": EXIT_VIOLATION, "error": EXIT_VIOLATION, "bounded": EXIT_BOUNDED}.get(verdict(result), EXIT_OK)


def shape(lasso: Lasso) -> str:
    """`3-step prefix, 4-step cycle` or `3 steps, then stutters forever`."""
    if lasso.stutter:
        return f"{lasso.prefix} steps, then stutters forever"
    return f"{lasso.prefix}-step prefix, {lasso.cycle}-step cycle"


def stutter_note(cs: CompiledSpec, lasso: Lasso) -> str:
    """Why the behaviour may stop in its last state: no fair event is enabled there."""
    last = lasso.trace.states[-1]
    events = [(ev, s) for ev, s in lasso.trace.model.successors(last) if s != last]  # a self loop is a stutter
    if not events:
        return "nothing that changes the state is enabled there (a terminal state)"
    classes = list(dict.fromkeys(fairness_class(ev) for ev, _ in events))
    shown = "; ".join(describe(cs, next(ev for ev, _ in events if fairness_class(ev) == c)) for c in classes[:3])
    more = f" and {len(classes) - 3} more" if len(classes) > 3 else ""
    return f"no fair event is enabled there; only unfair ones: {shown}{more}"


def format_lasso(cs: CompiledSpec, v: Verdict) -> list[str]:
    """The lasso as plain lines: the trace, the trigger and the cycle marked."""
    lasso = v.lasso
    assert lasso is not None
    lines = format_trace(lasso.trace)
    marks: dict[int, list[str]] = {}
    if v.kind == "leadsto":
        where = "initially" if lasso.trigger == 0 else f"after step {lasso.trigger}"
        marks.setdefault(lasso.trigger + 1, []).append(
            f"-- {where}: the left side holds; the right side never does from here on --")
    n = len(lasso.trace.events)
    if not lasso.stutter:
        where = "the initial state" if lasso.loop == 0 else f"the state after step {lasso.loop}"
        marks.setdefault(lasso.loop + 1, []).append(
            f"-- cycle: steps {lasso.loop + 1} to {n} repeat forever (step {n} returns to {where}) --")
    out = []
    for line in lines:
        if line.startswith("Step "):
            k = int(line[5:].split(":", 1)[0])
            out += marks.pop(k, [])
        out.append(line)
    for extra in marks.values():
        out += extra
    if lasso.stutter:
        where = "the initial state" if n == 0 else f"the state after step {n}"
        out.append(f"-- then stutters in {where} forever: {stutter_note(cs, lasso)} --")
    return out


def lasso_itf(lasso: Lasso, description: str = "") -> dict[str, Any]:
    """The lasso in the Informal Trace Format: `loop` is the index of the state that follows the
    last one. A cycle's closing state (equal to state `loop`) is left out, as ITF wants; its event
    is kept in the last state's `#meta.loop_event`, and `#meta.steps` still lists every step."""
    itf = to_itf_json(lasso.trace, description)
    if not lasso.stutter:
        closing = itf["states"].pop()
        itf["states"][-1]["#meta"]["loop_event"] = closing["#meta"].get("event")
    itf["loop"] = lasso.loop
    itf["#meta"]["lasso"] = {"prefix": lasso.prefix, "cycle": lasso.cycle, "stutter": lasso.stutter,
                             "trigger": lasso.trigger}
    return itf


def lasso_mermaid(lasso: Lasso, title: str = "", violated: str = "") -> str:
    """The lasso as a Mermaid sequence diagram, the cycle's steps inside a `loop` block."""
    text = to_mermaid(lasso.trace, title, violated)
    if lasso.stutter:
        note = f"    Note over {_span(lasso)}: then nothing fair happens: the behaviour stutters forever"
        lines = text.rstrip("\n").split("\n")
        at = len(lines) - (1 if violated else 0)
        return "\n".join(lines[:at] + [note] + lines[at:]) + "\n"
    lines = text.rstrip("\n").split("\n")
    start = next(i for i, x in enumerate(lines) if f": {lasso.loop + 1}. " in x)
    end = len(lines) - (1 if violated else 0)
    return "\n".join(lines[:start] + ["    loop repeats forever"] + lines[start:end] + ["    end"] + lines[end:]) + "\n"


def _span(lasso: Lasso) -> str:
    from pnyx.model.types import node_name

    n = lasso.trace.model.cs.n_nodes
    return node_name(0) if n == 1 else f"{node_name(0)},{node_name(n - 1)}"


def verdict_line(cs: CompiledSpec, v: Verdict) -> str:
    """The violated property, where it is declared, and the lasso's shape, in one line."""
    assert v.lasso is not None
    return f"Violated: {v.kind} {v.name} ({cs.filename}:{v.line}): {NEVER[v.kind]} ({shape(v.lasso)})"


def summary(result: LivenessResult) -> dict[str, Any]:
    st = result.stats
    return {
        "distinct_states": st.distinct,
        "transitions": st.transitions,
        "diameter": st.depth,
        "cpu_seconds": round(st.seconds, 3),
        "analysis_cpu_seconds": round(result.analysis_seconds, 3),
        "peak_memory_bytes": st.peak_rss_bytes,
        "event_classes": result.classes,
        "fair_event_classes": result.fair_classes,
        "complete": result.complete,
        "stopped_by": result.stopped_by,
        "symmetry_reduction": False,
    }


def liveness_json(cs: CompiledSpec, result: LivenessResult) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for v in result.verdicts:
        entry: dict[str, Any] = {"kind": v.kind, "line": v.line, "holds": v.holds}
        if v.error:
            entry["error"] = v.error
        if v.lasso is not None:
            entry["lasso"] = {"prefix": v.lasso.prefix, "cycle": v.lasso.cycle, "stutter": v.lasso.stutter,
                              "trigger": v.lasso.trigger, "length": len(v.lasso.trace),
                              "trace": lasso_itf(v.lasso, verdict_line(cs, v))}
        props[v.name] = entry
    err = result.step_error
    return {
        "verdict": verdict(result),
        "fairness": result.fairness,
        "summary": summary(result),
        "properties": props,
        "error": None if err is None else {"message": err.message, "length": len(err.trace),
                                           "trace": to_itf_json(err.trace, err.message)},
    }


def print_liveness(out: Console, cs: CompiledSpec, result: LivenessResult) -> None:
    fair = "; ".join(result.fairness) if result.fairness else "none declared: no event is fair"
    out.print(f"[bold]Liveness[/] under fairness: {escape(fair)}")
    err = result.step_error
    if err is not None:
        out.print(f"[bold red]Error while running a handler:[/] {escape(err.message)}  ({len(err.trace)} steps)")
        for line in format_trace(err.trace):
            out.print(escape(line))
    for v in result.verdicts:
        if v.holds:
            out.print(f"[green]Holds:[/] {v.kind} {v.name}: {MEANING[v.kind]}")
        elif v.lasso is not None:
            out.print()
            out.print(f"[bold red]Liveness violated:[/] {v.kind} {v.name}: {NEVER[v.kind]}  ({shape(v.lasso)})")
            out.print()
            for line in format_lasso(cs, v):
                style = "bold" if line.startswith(("Step", "State", "--")) else ""
                out.print(f"[{style}]{escape(line)}[/]" if style else escape(line))
            out.print()
            head, _, rest = verdict_line(cs, v).partition(": ")
            out.print(f"[bold red]{head}:[/] {escape(rest)}")
        elif v.error:
            out.print(f"[bold red]Error while evaluating property {v.name}:[/] {escape(v.error)}")
        else:
            flag = BOUND_FLAGS.get(result.stopped_by or "", "")
            limit = f" {result.stop_limit:g}" if result.stop_limit is not None else ""
            out.print(f"[yellow]Not decided:[/] {v.kind} {v.name} — the exploration stopped at the {flag}{limit} "
                      "bound; liveness needs every reachable state")
    st = result.stats
    out.print(f"Liveness: {st.distinct:,} distinct states, {st.transitions:,} transitions, {st.seconds:.2f} CPU s "
              f"(analysis {result.analysis_seconds:.2f} s), peak memory {st.peak_rss_bytes / 2**20:.0f} MiB, "
              f"{result.fair_classes:,} fair event classes of {result.classes:,}; symmetry reduction off "
              "(liveness is checked on the full state graph)")
