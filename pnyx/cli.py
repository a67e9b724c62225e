"""The `pnyx` command: a thin layer over model/ and checker/.

Exit codes: 0 every invariant holds and every `reachable` property was reached;
1 a violation, or a reachable property never reached; 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from model.compiler import CompiledSpec, compile_checked
from model.errors import ArgumentError, PnyxError
from model.parser import parse_file
from model.typecheck import check as typecheck


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
        try:
            out[name] = int(raw)
        except ValueError:
            raise ArgumentError(f"-D {item}: expected an integer or true/false, got {raw!r}") from None
    return out


def load_spec(path: str, defines: Sequence[str] | None) -> CompiledSpec:
    return compile_checked(typecheck(parse_file(path), parse_defines(defines)))


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {v}")
    return v


# Commands that live in their own modules. Each module defines
# `register(subparsers) -> None`, adding parsers whose defaults carry `handler=fn`,
# where `fn(args) -> int` returns the exit status.
EXTENSION_MODULES = ("pnyx.cmd_z3", "pnyx.cmd_tla", "pnyx.cmd_impl")


def _extensions() -> list[Any]:
    mods = []
    for name in EXTENSION_MODULES:
        if importlib.util.find_spec(name) is None:
            continue  # not built yet
        mods.append(importlib.import_module(name))
    return mods


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pnyx", description="Model-check distributed protocols written as small state machines.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("check", help="explore every interleaving within bounds and check the properties")
    c.add_argument("file", metavar="FILE", help="a .pnyx spec")
    c.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    c.add_argument("--max-depth", type=_positive, metavar="N", help="stop exploring below this depth")
    c.add_argument("--max-states", type=_positive, metavar="N", help="stop after this many distinct states")
    c.add_argument("--max-seconds", type=_seconds, metavar="S", help="stop after this many seconds")
    c.add_argument("--no-symmetry", action="store_true", help="do not merge states that differ only by node names")
    c.add_argument("--json", action="store_true", help="print the summary and any trace (ITF) as JSON")
    c.add_argument("--quiet", action="store_true", help="no live progress display")
    c.add_argument("--mermaid", metavar="FILE", help="also write the counterexample as a Mermaid sequence diagram")

    r = sub.add_parser("simulate", help="random walks through the state graph, for bugs deeper than BFS reaches")
    r.add_argument("file", metavar="FILE", help="a .pnyx spec")
    r.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    r.add_argument("--runs", type=_positive, default=100, metavar="N", help="random walks (default 100)")
    r.add_argument("--depth", type=_positive, default=100, metavar="N", help="steps per walk at most (default 100)")
    r.add_argument("--seed", type=int, default=0, metavar="S", help="random seed: the same seed, the same walks")
    r.add_argument("--max-seconds", type=_seconds, metavar="S", help="stop after this many seconds")
    r.add_argument("--json", action="store_true", help="print the summary and any trace (ITF) as JSON")

    k = sub.add_parser("compile", help="type-check a spec; optionally print the generated Python")
    k.add_argument("file", metavar="FILE", help="a .pnyx spec")
    k.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    k.add_argument("--emit-python", action="store_true", help="print the generated transition functions")
    for mod in _extensions():
        mod.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    err = Console(stderr=True, highlight=False)
    try:
        if args.command == "compile":
            return cmd_compile(args)
        if args.command == "check":
            return cmd_check(args, err)
        if args.command == "simulate":
            return cmd_simulate(args)
        return int(args.handler(args))
    except PnyxError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return 2  # pragma: no cover


def cmd_compile(args: argparse.Namespace) -> int:
    cs = load_spec(args.file, args.defines)
    if args.emit_python:
        sys.stdout.write(cs.source)
    else:
        print(f"{args.file}: ok ({len(cs.handlers)} handlers, {len(cs.properties)} properties, {cs.n_nodes} nodes)")
    return 0


def _progress_table(stats: Any) -> Table:
    t = Table(show_header=True, header_style="bold", box=None)
    for col in ("distinct states", "states/s", "queue", "depth", "transitions", "seconds"):
        t.add_column(col, justify="right")
    t.add_row(f"{stats.distinct:,}", f"{stats.states_per_second:,.0f}", f"{stats.queue:,}", str(stats.depth),
              f"{stats.transitions:,}", f"{stats.seconds:.1f}")
    return t


def cmd_check(args: argparse.Namespace, err: Console) -> int:
    from checker.bfs import Options
    from checker.bfs import check as bfs_check
    from checker.report import print_result, result_json

    cs = load_spec(args.file, args.defines)
    opts = Options(max_depth=args.max_depth, max_states=args.max_states, max_seconds=args.max_seconds,
                   symmetry=not args.no_symmetry)
    out = Console(highlight=False, soft_wrap=True)
    live_enabled = not args.quiet and err.is_terminal and not args.json
    if live_enabled:
        with Live(_progress_table(_Zero()), console=err, refresh_per_second=4, transient=True) as live:
            opts.progress = lambda st: live.update(_progress_table(st))
            result = bfs_check(cs, opts)
    else:
        if not args.quiet and not args.json:
            opts.progress_every = 10.0
            opts.progress = lambda st: err.print(
                f"progress: {st.distinct:,} states, {st.states_per_second:,.0f} states/s, queue {st.queue:,}, depth {st.depth}")
        result = bfs_check(cs, opts)
    if args.mermaid and result.violation is not None:
        from checker.trace import to_mermaid

        try:
            with open(args.mermaid, "w", encoding="utf-8") as fh:
                fh.write(to_mermaid(result.violation.trace, result.violation.message))
        except OSError as exc:
            raise ArgumentError(f"--mermaid {args.mermaid}: cannot write: {exc.strerror}") from None
    if args.json:
        json.dump(result_json(cs, result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_result(out, cs, result, args)
    return 0 if result.ok else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    from checker.report import print_result, result_json
    from checker.simulate import SimOptions, simulate

    cs = load_spec(args.file, args.defines)
    result = simulate(cs, SimOptions(runs=args.runs, depth=args.depth, seed=args.seed, max_seconds=args.max_seconds))
    if args.json:
        json.dump(result_json(cs, result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_result(Console(highlight=False, soft_wrap=True), cs, result)
    return 0 if result.violation is None else 1


class _Zero:
    distinct = transitions = queue = depth = 0
    seconds = states_per_second = 0.0


def run() -> None:
    sys.exit(main())
