"""`pnyx prove` and `pnyx bmc`: the z3 back end on the command line.

Exit codes as for `pnyx check`: 0 proved (no violation within the depth), 1 a
counterexample to induction (a violation), 2 bad input, 3 stopped by --max-seconds or
--max-memory, 130 by Ctrl-C (bmc says which depth it had settled).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import ArgumentError
from pnyx.model.types import node_name


def register(sub: Any) -> None:
    from pnyx.cli import _positive, add_bound_flags

    p = sub.add_parser("prove", help="prove with z3 that invariants are inductive, or show a counterexample to induction")
    p.add_argument("file", metavar="FILE", help="a .pnyx spec")
    p.add_argument("--invariant", required=True, metavar="NAME", help="the invariant to prove")
    p.add_argument("--assume", metavar="NAME,...", default="", help="helper invariants proved together with it")
    p.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    p.add_argument("--channel-bound", type=_positive, default=3, metavar="K",
                   help="messages a fifo channel holds when the spec declares no capacity (default 3)")
    p.add_argument("--reach-states", type=_positive, default=200_000, metavar="N",
                   help="states the explicit checker may explore looking for a counterexample's pre-state")
    p.add_argument("--no-reach", action="store_true", help="do not search for the pre-state with the explicit checker")
    p.add_argument("--timeout", type=_positive, metavar="SECONDS", help="give up on one z3 query after this long")
    add_bound_flags(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_prove)

    b = sub.add_parser("bmc", help="bounded model checking of the invariants with z3")
    b.add_argument("file", metavar="FILE", help="a .pnyx spec")
    b.add_argument("--depth", type=int, required=True, metavar="K", help="the number of steps to unroll")
    b.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    b.add_argument("--timeout", type=_positive, metavar="SECONDS", help="give up on one z3 query after this long")
    b.add_argument("--progress", action="store_true", help="say on stderr as each depth is settled (with CPU seconds)")
    b.add_argument("--no-reduce", action="store_true",
                   help="search every interleaving (no symmetry breaking, no ordering of independent steps)")
    add_bound_flags(b)
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.set_defaults(handler=cmd_bmc)


def _names(args: argparse.Namespace) -> list[str]:
    names = [args.invariant] + [x.strip() for x in args.assume.split(",") if x.strip()]
    for n in names:
        if not n.isidentifier():
            raise ArgumentError(f"{n!r} is not an invariant name")
    return names


def _state_lines(cs: CompiledSpec, state: tuple) -> list[str]:
    """A whole global state, one variable per line (a CTI's pre-state is not the initial one)."""
    from pnyx.checker.model import SpecModel
    from pnyx.model.types import show

    out = []
    for v in cs.vars:
        out.append(f"{v.name}: " + ", ".join(f"{node_name(i)}={show(state[0][i][v.slot], v.type)}" for i in range(cs.n_nodes)))
    down = [node_name(i) for i in range(cs.n_nodes) if not state[1][i]]
    if down:
        out.append("down: " + ", ".join(down))
    flight = SpecModel(cs).in_flight(state)
    out.append("in flight: " + (", ".join(f"{cs.show_message(m)} {node_name(s)}->{node_name(d)}" for s, d, m in flight)
                                or "nothing"))
    names = tuple(cs.budget)
    used = [f"{k} {x}" for k, x in zip(names, state[3]) if x]
    if used:
        out.append("budget used: " + ", ".join(used))
    return out


def _bindings(cs: CompiledSpec, prop_name: str, values: dict[str, Any]) -> dict[str, str]:
    """Falsifying bindings shown with their types (a node as n2, a message record as a record)."""
    from pnyx.checker.report import show_binding

    prop = next((p for p in cs.properties if p.name == prop_name), None)
    return {k: show_binding(prop, k, x) for k, x in values.items()}


def _interrupt_z3() -> None:
    """Let a stop (a deadline, the memory budget, Ctrl-C) interrupt z3 inside a query: z3 runs outside
    the interpreter, where Python's signal handlers wait for it to return."""
    import z3

    from pnyx.checker import bounds

    z3.set_param("ctrl_c", False)  # z3's own SIGINT handler, set during a query, would hide Ctrl-C from the guard
    bounds.current().hooks.append(z3.main_ctx().interrupt)


def cmd_prove(args: argparse.Namespace) -> int:
    from pnyx.checker.trace import changes, describe, sends_of
    from pnyx.checker.z3.prove import explicit_reach, prove
    from pnyx.cli import load_spec

    cs = load_spec(args.file, args.defines)
    _interrupt_z3()
    res = prove(cs, _names(args), args.channel_bound, args.timeout * 1000 if args.timeout else None)
    reach = None
    cti = res.cti
    if cti is not None and cti.pre is not None and not args.no_reach:
        reach = explicit_reach(cs, cti.pre, max_states=args.reach_states)
    if args.json:
        out: dict[str, Any] = {
            "spec": cs.name, "file": cs.filename, "constants": cs.checked.consts, "invariants": res.invariants,
            "inductive": res.ok, "seconds": round(res.seconds, 3), "events": res.branches, "queries": res.queries,
            "channel_bound": res.channel_bound, "cti": None,
        }
        if cti is not None:
            out["cti"] = {
                "kind": cti.kind, "property": cti.property,
                "bindings": _bindings(cs, cti.property, cti.bindings),
                "event": describe(cs, cti.event) if cti.event else None,
                "pre": _state_lines(cs, cti.pre) if cti.pre else None,
                "post": _state_lines(cs, cti.post),
                "explicit_evaluation_agrees": cti.explicit_agrees,
                "pre_state_reachable": None if reach is None else {
                    "found": reach.found, "exact": reach.exact, "network": reach.network, "depth": reach.depth,
                    "explored": reach.explored, "complete": reach.complete},
            }
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0 if res.ok else 1
    con = Console(highlight=False)
    what = " and ".join(res.invariants)
    bound = f"; fifo channels bounded at {res.channel_bound} messages" if res.channel_bound else ""
    if res.ok:
        con.print(f"[bold green]Proved:[/] {escape(what)} {'is' if len(res.invariants) == 1 else 'are'} inductive "
                  f"({cs.n_nodes} nodes, {res.branches} events, {res.queries} queries, {res.seconds:.2f} s{bound})")
        return 0
    assert cti is not None
    if cti.kind == "init":
        con.print(f"[bold red]Not an invariant:[/] {escape(cti.property)} fails in the initial state")
        for line in _state_lines(cs, cti.post):
            con.print("    " + escape(line))
        return 1
    head = "Not inductive" if cti.kind == "step" else "A step fails"
    con.print(f"[bold red]{head}:[/] counterexample to induction of {escape(what)}{bound}")
    con.print()
    con.print("[bold]Pre-state[/] (satisfies every invariant of the conjunction):")
    assert cti.pre is not None and cti.event is not None
    for line in _state_lines(cs, cti.pre):
        con.print("    " + escape(line))
    con.print(f"[bold]Step:[/] {escape(describe(cs, cti.event))}" + (" -> fails" if cti.kind == "error" else ""))
    if cti.kind == "step":
        for line in changes(cs, cti.pre, cti.post) + sends_of(cs, cti.event):
            con.print("    " + escape(line))
        con.print()
        binds = ", ".join(f"{k} = {v}" for k, v in _bindings(cs, cti.property, cti.bindings).items())
        line = next(p.line for p in cs.properties if p.name == cti.property)
        con.print(f"[bold red]Violated:[/] invariant {escape(cti.property)} ({cs.filename}:{line})"
                  + (f" with {binds}" if binds else ""))
        if not cti.explicit_agrees:
            con.print("[yellow]Note:[/] the explicit evaluator says the property holds in this post-state (please report)")
    else:
        con.print(f"[bold red]Failed:[/] {escape(cti.property)}")
    if reach is not None:
        if reach.found and reach.exact:
            con.print(f"[bold red]Reachable:[/] the explicit checker reaches this pre-state in {reach.depth} steps: a real bug")
        elif reach.network:
            con.print(f"[yellow]Reachable but for the budgets:[/] the explicit checker reaches these node states and "
                      f"messages in {reach.depth} steps, with other budgets used: most likely a real bug")
        elif reach.found and reach.complete:
            con.print(f"[yellow]Unreachable:[/] its node states are reachable ({reach.depth} steps), but the explicit "
                      f"checker explored all {reach.explored:,} reachable states without meeting them with these messages "
                      "in flight: strengthen the invariant to exclude it")
        elif reach.found:
            con.print(f"[yellow]Partly reachable:[/] a state with these node states is reachable in {reach.depth} steps "
                      "(with other messages in flight or budgets)")
        elif reach.complete:
            con.print(f"[yellow]Unreachable:[/] the explicit checker explored all {reach.explored:,} reachable states "
                      "without meeting this pre-state: strengthen the invariant to exclude it")
        else:
            con.print(f"[yellow]Not reached:[/] the explicit checker met no such state in {reach.explored:,} states "
                      "(it stopped at its bounds)")
    return 1


def _bmc_stopped(args: argparse.Namespace, cs: CompiledSpec | None, kind: str, settled: int) -> int:
    """The partial result of a bounded model check stopped by a bound or a signal (`cs` None: while
    loading the spec): the depth settled."""
    from pnyx.checker import bounds

    what = bounds.describe(kind, args.max_seconds, args.max_memory)
    status = bounds.exit_status(kind)
    scope = f"no violation within {settled} steps" if settled >= 0 else "no depth settled"
    note = f"stopped by {what} before depth {args.depth}: {scope}; not a proof beyond"
    if args.json:
        seconds = time.monotonic() - bounds.current().started
        out = {"spec": cs.name if cs else None, "file": cs.filename if cs else args.file,
               "constants": cs.checked.consts if cs else None, "depth": args.depth, "ok": False,
               "verdict": "bounded" if status == 3 else "interrupted", "depth_settled": settled, "note": note,
               "summary": {"stopped_by": kind, "bounded_by": what, "seconds": round(seconds, 3)}, "violation": None}
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        Console(highlight=False).print(f"[bold yellow]Stopped:[/] {escape(note)} (exit status {status})")
    return status


def cmd_bmc(args: argparse.Namespace) -> int:
    from pnyx.checker import bounds
    from pnyx.checker.model import SpecModel
    from pnyx.checker.trace import Trace, format_trace, to_itf_json
    from pnyx.checker.z3.bmc import bmc
    from pnyx.cli import load_spec

    if args.depth < 0:
        raise ArgumentError(f"--depth must be at least 0, got {args.depth}")
    settled = [-1]  # the deepest depth settled with no violation
    cs: CompiledSpec | None = None

    def progress(d: int, cpu: float) -> None:
        settled[0] = d
        if args.progress:
            print(f"depth {d}: no violation ({cpu:.1f} s CPU)", file=sys.stderr, flush=True)

    try:
        cs = load_spec(args.file, args.defines)
        _interrupt_z3()
        res = bmc(cs, args.depth, args.timeout * 1000 if args.timeout else None, symmetry=not args.no_reduce,
                  order=not args.no_reduce, progress=progress)
    except (bounds.Stop, Exception) as exc:  # z3 interrupted says it gave up, or ctypes wraps the Stop: the stop is the cause
        kind = bounds.current().poll() or (exc.kind if isinstance(exc, bounds.Stop) else None)
        if kind is None:
            raise
        return _bmc_stopped(args, cs, kind, settled[0])
    assert cs is not None
    trace = None
    if not res.ok:
        trace = Trace(SpecModel(cs), res.steps or [], res.states, res.events, res.failed_event)
    if args.json:
        out: dict[str, Any] = {"spec": cs.name, "file": cs.filename, "constants": cs.checked.consts, "depth": args.depth,
                               "ok": res.ok, "seconds": round(res.seconds, 3), "violation": None,
                               "depth_cpu_seconds": [round(x, 3) for x in res.depth_cpu],
                               "solver_cpu_seconds": round(res.solve_cpu, 3),
                               "reductions": {"symmetry": res.symmetry, "independent_steps_ordered": res.order}}
        if trace is not None:
            out["violation"] = {
                "kind": res.kind, "property": res.name, "length": len(res.events),
                "bindings": _bindings(cs, res.name, res.bindings),
                "replays_on_explicit_model": res.steps is not None, "trace": to_itf_json(trace, res.name),
            }
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0 if res.ok else 1
    con = Console(highlight=False)
    if res.ok:
        con.print(f"[bold green]No violation[/] of any invariant within {args.depth} steps ({res.seconds:.2f} s)")
        if res.symmetry or res.order:
            used = "; ".join(x for x, on in (("symmetric nodes first act in id order", res.symmetry),
                                             ("independent steps are taken in node order", res.order)) if on)
            con.print(f"Reductions: {used} (every trace has an equivalent one of the same length searched; "
                      "--no-reduce turns them off)")
        return 0
    assert trace is not None
    head = "Invariant violated" if res.kind == "invariant" else "Error while running a handler"
    con.print(f"[bold red]{head}:[/] {escape(res.name)} after {len(res.events)} steps (shortest; {res.seconds:.2f} s)")
    con.print()
    for line in format_trace(trace):
        con.print(f"[bold]{escape(line)}[/]" if line.startswith(("Step", "State")) else escape(line))
    con.print()
    if res.kind == "invariant":
        binds = ", ".join(f"{k} = {v}" for k, v in _bindings(cs, res.name, res.bindings).items())
        con.print(f"[bold red]Violated:[/] invariant {escape(res.name)}" + (f" with {binds}" if binds else ""))
    if res.steps is None:
        con.print("[yellow]Note:[/] the explicit model does not replay this trace (please report)")
    return 1
