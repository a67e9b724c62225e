"""The `pnyx` command: a thin layer over model/, checker/ and impl/.

Exit codes: 0 every invariant holds and every `reachable` property was reached;
1 a violation, or (in a complete search) a reachable property never reached;
2 bad input, or the output could not be written (a full disk);
3 a bound (--max-depth, --max-states, --max-seconds, --max-memory) stopped the search before it
explored every reachable state, with no violation found: the result is not a proof;
130 Ctrl-C (SIGINT) stopped it, 143 SIGTERM: a search prints what it explored first;
141 standard output is a pipe whose reader has gone (`pnyx ... | head -1`): the command
ends quietly, with the status a shell reports for a process ended by SIGPIPE (128 + 13).

Only the modules a command needs are imported: `pnyx kv` and `pnyx gossip` load the client
alone, not the compiler, so that they start at once.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from pnyx.model.errors import ArgumentError, PnyxError

if TYPE_CHECKING:
    from rich.table import Table

    from pnyx.checker.bfs import Result
    from pnyx.model.compiler import CompiledSpec

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell shows for `yes | head -1`


def parse_defines(items: Sequence[str] | None) -> dict[str, object]:
    """`-D NAME=VALUE` pairs; values are integers or true/false."""
    out: dict[str, object] = {}
    for item in items or ():
        if "=" not in item:
            raise ArgumentError(f"-D {item}: expected NAME=VALUE, for example -D N=3")
        name, _, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not name.isidentifier():
            raise ArgumentError(f"-D {item}: {name!r} is not a constant name")
        if raw.lower() in ("true", "false"):
            out[name] = raw.lower() == "true"
            continue
        # plain decimal digits only: int() would also take 1_000, +3, ' 3' and non-ASCII digits
        if not (raw.isascii() and raw.removeprefix("-").isdigit()):
            raise ArgumentError(f"-D {item}: expected an integer or true/false, got {raw!r} "
                                "(an integer is decimal digits, optionally after -)")
        if len(raw.removeprefix("-")) > 19:
            raise ArgumentError(f"-D {item}: expected an integer from {-(2**63)} to {2**63 - 1}")
        out[name] = int(raw)
    return out


def load_spec(path: str, defines: Sequence[str] | None) -> CompiledSpec:
    """Parse, type-check and compile a spec (imported here: client commands never need the compiler)."""
    from pnyx.model.compiler import compile_checked
    from pnyx.model.parser import parse_file
    from pnyx.model.typecheck import check as typecheck

    return compile_checked(typecheck(parse_file(path), parse_defines(defines)))


# ---- numeric flags: every one goes through these, so none lets -1, nan or inf through --------
MAX_SECONDS = 1_000_000.0  # about 11.6 days; larger values overflow socket and timer APIs


def _bounded_int(text: str, low: int, high: int | None, what: str) -> int:
    """An integer in low..high, or an argparse error that says what is expected."""
    expected = f"expected {what}" + (f" from {low} to {high:,}" if high is not None else "")
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
    if v < low or (high is not None and v > high):
        raise argparse.ArgumentTypeError(f"{expected}, got {text}")
    return v


def _positive(text: str) -> int:
    """A count or a bound: 1, 2, 3..."""
    return _bounded_int(text, 1, None, "a positive integer")


def _workers(text: str) -> int:
    from pnyx.checker.parallel import default_workers

    n = _bounded_int(text, 0, 256, "a number of processes")
    return n or default_workers()


MAX_MEGABYTES = 2**30  # a petabyte: beyond any machine


def _megabytes(text: str) -> int:
    """A memory budget in MB (2**20 bytes)."""
    return _bounded_int(text, 1, MAX_MEGABYTES, "a positive number of MB")


def add_bound_flags(p: argparse.ArgumentParser, seconds: bool = True) -> None:
    """--max-seconds and --max-memory, honoured inside one long step and during set-up (pnyx.checker.bounds)."""
    if seconds:
        p.add_argument("--max-seconds", type=_seconds, metavar="S",
                       help="stop after this many seconds, set-up included, even inside one long step")
    p.add_argument("--max-memory", type=_megabytes, metavar="MB",
                   help="stop cleanly, with what was explored, before the process (and its workers) use more "
                        "than this much resident memory")


def _integer(text: str) -> int:
    """Any integer (a seed)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _seconds(text: str) -> float:
    """A duration: a finite number of seconds above 0, at most MAX_SECONDS (no nan, inf or 1e308)."""
    expected = f"expected a positive number of seconds (at most {MAX_SECONDS:,.0f})"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
    if not math.isfinite(v) or not 0 < v <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{expected}, got {text}")
    return v


# Commands defined in other modules, and the module of each. Each module defines
# `register(subparsers) -> None`, adding parsers whose defaults carry `handler=fn`,
# where `fn(args) -> int` returns the exit status. Only the module of the command being
# run is imported (all of them for `pnyx --help` or an unknown command).
COMMAND_MODULES: dict[str, str] = {
    "prove": "pnyx.cmd_z3", "bmc": "pnyx.cmd_z3",
    "export": "pnyx.cmd_tla",
    "cluster": "pnyx.cmd_impl", "kv": "pnyx.cmd_impl", "gossip": "pnyx.cmd_impl", "replay": "pnyx.cmd_impl",
    "show": "pnyx.cmd_trace", "explore": "pnyx.cmd_trace",
    "diff": "pnyx.cmd_diff",
}
BUILTIN_COMMANDS = ("check", "simulate", "compile")


def _extensions(command: str | None = None) -> list[Any]:
    if command in BUILTIN_COMMANDS:
        names: list[str] = []
    elif command in COMMAND_MODULES:
        names = [COMMAND_MODULES[command]]
    else:
        names = list(dict.fromkeys(COMMAND_MODULES.values()))
    mods = []
    for name in names:
        if importlib.util.find_spec(name) is None:
            continue  # not built yet
        mods.append(importlib.import_module(name))
    return mods


EPILOG = """exit status: 0 success (every invariant holds, every reachable property reached);
  1 a violation, an unreached reachable property, a refused or failed request;
  2 bad input, or output that cannot be written (a full disk);
  3 a --max-depth, --max-states, --max-seconds or --max-memory bound stopped the search with no
    violation found: not a proof (what was explored is summarized);
  130 Ctrl-C (SIGINT) stopped it, 143 SIGTERM (check, simulate, bmc: with the partial summary);
  141 standard output closed early (| head): the command ends quietly"""

CHECK_EPILOG = """exit status: 0 every invariant holds in every reachable state and every reachable property
was reached; 1 a violation, a failing handler, or (after a complete search) a reachable property
never reached; 2 bad input; 3 a --max-depth, --max-states, --max-seconds or --max-memory bound
stopped the search before it explored every reachable state, with no violation found: not a proof;
130 Ctrl-C (SIGINT), 143 SIGTERM stopped it (the partial summary is printed first)"""

SIMULATE_EPILOG = """exit status: 0 no violation in any walk; 1 a violation or a failing handler; 2 bad input;
3 --max-seconds or --max-memory stopped the walks before all of them ran, with no violation found;
130 Ctrl-C (SIGINT), 143 SIGTERM stopped them (the partial summary is printed first)"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `command`, only that command's module is imported."""
    p = argparse.ArgumentParser(prog="pnyx", description="Model-check distributed protocols written as small state machines.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("check", help="explore every interleaving within bounds and check the properties",
                       epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("file", metavar="FILE", help="a .pnyx spec")
    c.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    c.add_argument("--max-depth", type=_positive, metavar="N", help="stop exploring below this depth")
    c.add_argument("--max-states", type=_positive, metavar="N", help="stop after this many distinct states")
    add_bound_flags(c)
    c.add_argument("--no-symmetry", action="store_true", help="do not merge states that differ only by node names")
    c.add_argument("--liveness", action="store_true",
                   help="also check the eventually / infinitely / leadsto properties under the spec's fairness, on the "
                        "full state graph (no symmetry reduction); see docs/liveness.md")
    c.add_argument("--workers", type=_workers, metavar="N",
                   help="search with N processes (default 1; 0: one per core), or N Ray actors with --engine ray "
                        "(default: one per CPU of the cluster); the same states and trace lengths")
    c.add_argument("--engine", choices=("processes", "ray"), default="processes",
                   help="where the workers run: forked processes on this machine (default), or Ray actors on the "
                        "machines of a Ray cluster (pip install 'pnyx[ray]'); see docs/scale.md")
    c.add_argument("--address", metavar="ADDR",
                   help="with --engine ray: the Ray cluster to join (as `ray start` prints it; default: start a local one)")
    c.add_argument("--por", default="none", metavar="MODE",
                   help="partial-order reduction: none (default), sleep (sleep sets: every state, the same verdicts and "
                        "trace lengths, fewer transitions), ample (fewer states, the same verdicts; traces not "
                        "always shortest); see docs/por.md")
    c.add_argument("--fpset", choices=("memory", "compact", "disk"), default="memory",
                   help="where the visited states' fingerprints are kept: memory (a Python set, the fastest), compact "
                        "(a numpy table, about 16-32 bytes per state) or disk (that table up to --fpset-memory, then a "
                        "sorted file; the waiting states and the trace pointers go to files too); see docs/fpset.md")
    c.add_argument("--fpset-memory", type=_positive, default=256, metavar="MB",
                   help="with --fpset disk: memory for the fingerprint table before it spills to disk (default 256)")
    c.add_argument("--json", action="store_true", help="print the summary and any trace (ITF) as JSON")
    c.add_argument("--quiet", action="store_true", help="no live progress display")
    c.add_argument("--progress-every", type=_seconds, default=10.0, metavar="S",
                   help="when stderr is not a terminal: a progress line every S seconds (default 10)")
    c.add_argument("--mermaid", metavar="FILE",
                   help="also write the counterexample as a Mermaid sequence diagram (Markdown with a ```mermaid block; "
                        "the bare diagram if FILE ends in .mmd)")
    c.add_argument("--html", metavar="FILE",
                   help="also write the counterexample as one self-contained HTML page: a message-sequence diagram, "
                        "the steps, each state with its changes, keyboard navigation (docs/explore.md)")
    c.add_argument("--shrink", nargs="?", const="shortest", choices=("shortest", "longer"), metavar="MODE",
                   help="replace the counterexample by a simpler one: among the shortest, the fewest faults, then context "
                        "switches, nodes, values (MODE shortest, the default); MODE longer: the fewest faults first, "
                        "even if longer; see docs/shrink.md")
    c.set_defaults(handler=cmd_check)

    r = sub.add_parser("simulate", help="random walks through the state graph, for bugs deeper than BFS reaches",
                       epilog=SIMULATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", metavar="FILE", help="a .pnyx spec")
    r.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    r.add_argument("--runs", type=_positive, default=100, metavar="N", help="random walks (default 100)")
    r.add_argument("--depth", type=_positive, default=100, metavar="N", help="steps per walk at most (default 100)")
    r.add_argument("--seed", type=_integer, default=0, metavar="S", help="random seed: the same seed, the same walks")
    add_bound_flags(r)
    r.add_argument("--json", action="store_true", help="print the summary and any trace (ITF) as JSON")
    r.add_argument("--html", metavar="FILE", help="also write the counterexample as one self-contained HTML page")
    r.add_argument("--shrink", action="store_const", const="walk",
                   help="shrink a walk's counterexample: delete, replace and swap steps while the violation stays, then "
                        "search up to its length for the fewest steps, faults, context switches; see docs/shrink.md")
    r.set_defaults(handler=cmd_simulate)

    k = sub.add_parser("compile", help="type-check a spec; optionally print the generated Python")
    k.add_argument("file", metavar="FILE", help="a .pnyx spec")
    k.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    k.add_argument("--emit-python", action="store_true", help="print the generated transition functions")
    k.set_defaults(handler=cmd_compile)
    for mod in _extensions(command):
        mod.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (2 with a one-line message for any mistake in the input)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list and not args_list[0].startswith("-") else None
    args = build_parser(command).parse_args(args_list)
    if not hasattr(args, "max_memory"):  # a command without bounds (cluster, kv...)
        try:
            return int(args.handler(args))
        except PnyxError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            return 130
    from pnyx.checker import bounds

    guard = bounds.NULL
    try:
        with bounds.guarded(getattr(args, "max_seconds", None), args.max_memory) as guard:
            return int(args.handler(args))
    except PnyxError as exc:
        if guard.pending is not None:  # z3 interrupted says it gave up: the stop is the cause
            return stopped_early(args, guard.pending, guard)
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except Exception:
        if guard.pending is not None:  # a Stop that library code wrapped (ctypes turns it into its ArgumentError)
            return stopped_early(args, guard.pending, guard)
        raise
    except bounds.Stop as stop:  # before the command had a summary to show (set-up, or a step that never returned)
        guard.poll()
        return stopped_early(args, stop.kind, guard)


def stopped_early(args: argparse.Namespace, kind: str, guard: Any) -> int:
    """Say that a command stopped before it had anything to summarize; its exit status."""
    import json
    import time

    from pnyx.checker import bounds

    seconds = time.monotonic() - guard.started
    what = bounds.describe(kind, getattr(args, "max_seconds", None), args.max_memory)
    status = bounds.exit_status(kind)
    note = (f"stopped by {what} after {seconds:.1f} s, in set-up or inside one long step, before any result: "
            "nothing was proved")
    if getattr(args, "json", False):
        doc = {"file": getattr(args, "file", None), "ok": False,
               "verdict": "bounded" if status == 3 else "interrupted", "complete": False, "note": note,
               "summary": {"distinct_states": 0, "seconds": round(seconds, 3), "stopped_by": kind, "bounded_by": what}}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(f"Stopped: {note} (exit status {status})\n")
    return status


def cmd_compile(args: argparse.Namespace) -> int:
    cs = load_spec(args.file, args.defines)
    if args.emit_python:
        sys.stdout.write(cs.source)
    else:
        print(f"{args.file}: ok ({len(cs.handlers)} handlers, {len(cs.properties)} properties, {cs.n_nodes} nodes)")
    return 0


def _progress_table(stats: Any) -> Table:
    from rich.table import Table

    t = Table(show_header=True, header_style="bold", box=None)
    for col in ("distinct states", "states/s", "queue", "depth", "transitions", "seconds"):
        t.add_column(col, justify="right")
    t.add_row(f"{stats.distinct:,}", f"{stats.states_per_second:,.0f}", f"{stats.queue:,}", str(stats.depth),
              f"{stats.transitions:,}", f"{stats.seconds:.1f}")
    return t


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.live import Live

    from pnyx.checker.bfs import Options
    from pnyx.checker.bfs import check as bfs_check
    from pnyx.checker.report import exit_status, print_result, result_json

    cs = load_spec(args.file, args.defines)
    if args.liveness and args.max_depth is not None:
        raise ArgumentError("--max-depth does not apply to --liveness: liveness needs every reachable state "
                            "(bound it with --max-states or --max-seconds)")
    if args.address is not None and args.engine != "ray":
        raise ArgumentError("--address names a Ray cluster: it applies to --engine ray")
    if args.engine == "ray":
        from pnyx.checker.ray_engine import INSTALL_HINT, available

        if not available():
            raise ArgumentError(INSTALL_HINT)
    workers = args.workers if args.workers is not None else 1 if args.engine == "processes" else 0
    from pnyx.checker.por import validate as validate_por

    if args.por != "none" and args.engine == "ray":
        raise ArgumentError(f"--por {args.por} runs in one process: it does not apply to --engine ray")
    validate_por(args.por, workers)
    if args.liveness and args.por != "none":
        sys.stderr.write(f"note: --por {args.por} reduces the safety search only; --liveness explores the full state graph\n")
    if args.fpset != "memory" and (workers != 1 or args.engine == "ray" or args.por != "none"):
        raise ArgumentError(f"--fpset {args.fpset} applies to the one-process search without --por: "
                            "use it with --workers 1, --engine processes and --por none")
    # stopped by SIGTERM, a --fpset disk search still removes its files (pnyx.checker.bounds stops it in order)
    opts = Options(max_depth=args.max_depth, max_states=args.max_states, max_seconds=args.max_seconds,
                   symmetry=not args.no_symmetry, workers=workers, engine=args.engine, address=args.address, por=args.por,
                   fpset=args.fpset, fpset_budget=args.fpset_memory * 2**20)
    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False, soft_wrap=True)
    live_enabled = not args.quiet and err.is_terminal and not args.json
    if live_enabled:
        with Live(_progress_table(_Zero()), console=err, refresh_per_second=4, transient=True) as live:
            opts.progress = lambda st: live.update(_progress_table(st))
            result = bfs_check(cs, opts)
    else:
        if not args.quiet and not args.json:
            opts.progress_every = args.progress_every
            opts.progress = lambda st: err.print(
                f"progress: {st.distinct:,} states, {st.states_per_second:,.0f} states/s, queue {st.queue:,}, depth {st.depth}")
        result = bfs_check(cs, opts)
    live, live_stop = _check_liveness(cs, args, result) if args.liveness else (None, None)
    shrunk = _shrink(cs, result, args.shrink)
    if args.mermaid:
        _write_mermaid(args.mermaid, cs, result, live)
    if args.html:
        _write_html(args.html, cs, result, live)
    if args.json:
        doc = result_json(cs, result)
        if live is not None:
            from pnyx.checker.liveness_report import liveness_json

            doc["liveness"] = liveness_json(cs, live)
        if shrunk is not None:
            doc["shrink"] = shrunk.as_dict()
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_result(out, cs, result, args)
        _print_shrunk(out, shrunk)
        if live is not None:
            from pnyx.checker.liveness_report import print_liveness

            out.print()
            print_liveness(out, cs, live)
        elif any(p.kind in _LIVENESS for p in cs.properties):
            n = sum(p.kind in _LIVENESS for p in cs.properties)
            why = "the search was stopped before them" if args.liveness else "pnyx check --liveness checks them"
            out.print(f"Not checked: {n} liveness propert{'y' if n == 1 else 'ies'} ({why})")
    status = exit_status(result)
    if live_stop is not None:
        from pnyx.checker import bounds

        status = bounds.exit_status(live_stop) if status != 1 else status
    if live is not None:
        from pnyx.checker.liveness_report import exit_status as live_status

        status = _worst(status, live_status(live))
    return status


_LIVENESS = ("eventually", "infinitely", "leadsto")


def _worst(a: int, b: int) -> int:
    """The exit status of two checks together: a violation over a bound over success."""
    return max((a, b), key=lambda x: {1: 2, 3: 1}.get(x, 0))


def _check_liveness(cs: CompiledSpec, args: argparse.Namespace, safety: Result) -> tuple[Any, str | None]:
    """The liveness check, unless a deadline, the memory budget or a signal already stopped the safety search;
    with what stopped it, if anything did (then no result, and a note)."""
    from pnyx.checker import bounds
    from pnyx.checker.liveness import LiveOptions
    from pnyx.checker.liveness import check as live_check

    if safety.stopped_by in ("time", "memory", "interrupt", "terminate"):
        sys.stderr.write("note: --liveness was not checked: the search was stopped before it\n")
        return None, None

    if not any(p.kind in _LIVENESS for p in cs.properties):
        sys.stderr.write(f"note: {args.file} has no eventually, infinitely or leadsto property: nothing for --liveness\n")
    opts = LiveOptions(max_states=args.max_states, max_seconds=args.max_seconds)
    if not args.quiet and not args.json:
        opts.progress = lambda st: sys.stderr.write(
            f"liveness: {st.distinct:,} states, {st.transitions:,} transitions, queue {st.queue:,}, "
            f"{st.seconds:.0f} CPU s\n")
    try:
        return live_check(cs, opts), None
    except bounds.Stop as stop:
        bounds.current().poll()
        what = bounds.describe(stop.kind, args.max_seconds, args.max_memory)
        sys.stderr.write(f"note: the --liveness check was stopped by {what} before its end: liveness not checked\n")
        return None, stop.kind


def _write_mermaid(path: str, cs: CompiledSpec, result: Result, live: Any = None) -> None:
    """The counterexample as a diagram that ends with the violated property and its bindings
    (a safety violation first; else the first liveness lasso, its cycle in a `loop` block)."""
    from pnyx.checker.report import violation_line
    from pnyx.checker.trace import to_mermaid, to_mermaid_markdown

    v = result.violation
    lasso = next((x for x in live.verdicts if x.lasso is not None), None) if live is not None and v is None else None
    if v is None and lasso is None:
        sys.stderr.write(f"note: no counterexample, so --mermaid {path} was not written\n")
        return
    bare = path.endswith((".mmd", ".mermaid"))
    if lasso is not None:
        from pnyx.checker.liveness_report import NEVER, lasso_mermaid, verdict_line

        title, line = f"{lasso.kind} {lasso.name}: {NEVER[lasso.kind]}", verdict_line(cs, lasso)
        diagram = lasso_mermaid(lasso.lasso, title, line)
        text = diagram if bare else f"# Counterexample: {title}\n\n{line}\n\n```mermaid\n{diagram}```\n"
    else:
        assert v is not None
        render = to_mermaid if bare else to_mermaid_markdown
        text = render(v.trace, v.message, violation_line(cs, v))
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise ArgumentError(f"--mermaid {path}: cannot write: {exc.strerror}") from None


def _write_html(path: str, cs: CompiledSpec, result: Result, live: Any = None) -> None:
    """The counterexample as an HTML page (a safety violation first; else the first liveness lasso)."""
    from pnyx.checker import html_trace

    v = result.violation
    lasso = next((x for x in live.verdicts if x.lasso is not None), None) if live is not None and v is None else None
    if v is None and lasso is None:
        sys.stderr.write(f"note: no counterexample, so --html {path} was not written\n")
        return
    page = html_trace.from_violation(cs, v) if v is not None else html_trace.from_verdict(cs, lasso)
    try:
        html_trace.write(path, page)
    except OSError as exc:
        raise ArgumentError(f"--html {path}: cannot write: {exc.strerror}") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from pnyx.checker.report import exit_status, print_result, result_json
    from pnyx.checker.simulate import SimOptions, simulate

    cs = load_spec(args.file, args.defines)
    result = simulate(cs, SimOptions(runs=args.runs, depth=args.depth, seed=args.seed, max_seconds=args.max_seconds))
    shrunk = _shrink(cs, result, args.shrink)
    if args.html:
        _write_html(args.html, cs, result)
    if args.json:
        doc = result_json(cs, result)
        if shrunk is not None:
            doc["shrink"] = shrunk.as_dict()
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        out = Console(highlight=False, soft_wrap=True)
        print_result(out, cs, result)
        _print_shrunk(out, shrunk)
    return exit_status(result)


def _shrink(cs: CompiledSpec, result: Result, mode: str | None) -> Any:
    """With --shrink: the result's invariant violation replaced by a simpler one (checker/shrink.py); what changed."""
    if mode is None or result.violation is None:
        return None
    if result.violation.kind != "invariant":
        sys.stderr.write("note: --shrink shrinks invariant violations; this trace (an error) is kept as found\n")
        return None
    from pnyx.checker.shrink import shrink

    shrunk = shrink(cs, result.violation, mode)
    result.violation = shrunk.violation
    shrunk.violation.trace.extra["label"] = {"shortest": "shortest, shrunk", "longer": "the fewest faults, shrunk",
                                             "walk": "a random walk, shrunk"}[mode]
    return shrunk


def _print_shrunk(out: Any, shrunk: Any) -> None:
    """One line: the counterexample's shape before and after shrinking."""
    if shrunk is None:
        return
    def shape(s: Any) -> str:
        return (f"{s.steps} steps, {s.faults} faults, {s.switches} context switches, {s.nodes} nodes, "
                f"values {s.values}")
    note = "" if shrunk.complete else " (the search stopped at its state budget: the best found before it)"
    out.print(f"Shrunk ({shrunk.mode}): {shape(shrunk.before)} -> {shape(shrunk.after)}{note}")


class _Zero:
    distinct = transitions = queue = depth = 0
    seconds = states_per_second = 0.0


class OutputError(Exception):
    """Standard output could not be written: a closed pipe, a full disk.

    Not an OSError, so that no command's own `except OSError` (around the files it writes)
    mistakes it for a problem with its files.
    """

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.strerror or str(cause))
        self.cause = cause


class _GuardedOutput:
    """sys.stdout, with its write failures raised as OutputError so that `run` can tell them apart.

    With file descriptor 1 closed (`pnyx ... >&-`) Python has no sys.stdout: writing then
    fails as the system would, with EBADF.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if self._stream is None:
            raise OutputError(OSError(errno.EBADF, os.strerror(errno.EBADF)))
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise OutputError(exc) from exc

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            raise OutputError(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _discard_output() -> None:
    """Point file descriptor 1 at /dev/null, so that the interpreter's last flush cannot fail again."""
    if sys.__stdout__ is None:
        return  # no descriptor 1, nothing left to flush
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run() -> None:
    """The `pnyx` entry point: the one place where failures to write the output are handled, for every command.

    A reader that went away (`| head -1`) ends the command quietly with status 141; any other
    write error (`> /dev/full`) is one line on stderr and status 2. No traceback either way.
    """
    sys.stdout = _GuardedOutput(sys.stdout)  # type: ignore[assignment]
    try:
        try:
            status: object = main()
        except SystemExit as exc:  # argparse's --help and usage errors
            status = exc.code
        sys.stdout.flush()
    except OutputError as exc:
        _discard_output()
        if isinstance(exc.cause, BrokenPipeError):
            status = EXIT_BROKEN_PIPE
        else:
            sys.stderr.write(f"error: cannot write the output: {exc}\n")
            status = EXIT_BAD_INPUT
    sys.exit(status)
