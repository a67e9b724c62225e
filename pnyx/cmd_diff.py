"""`pnyx diff OLD NEW [-D NAME=VALUE ...] [--max-states N] [--max-depth N] [--show K] [--json]`.

What a protocol change changed (checker/diff.py): the states, projected onto the variables and
messages both versions share, that one version reaches and the other does not, with the
shortest trace to the first few; and each property's verdict in both versions. Exit status 1
when NEW violates a property OLD satisfied (or one OLD does not declare), or a handler of NEW
fails where OLD's never did: a review in CI fails on a new violation. 0 otherwise; 2 on bad
input (a missing file, a spec error, versions with nothing in common).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pnyx.model.errors import ArgumentError

EPILOG = """exit status: 0 no new violation; 1 NEW violates a property that OLD satisfied (or does not
declare), leaves a reachable property unreached that OLD reached, or fails in a handler where OLD
does not; 2 bad input (a missing file, a spec error, no shared variables, different numbers of nodes)"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("diff", help="compare two versions of a spec: the states and verdicts that changed",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                              description="Explore both versions (no symmetry reduction), project their states onto "
                                          "the variables and messages both declare alike, and report what one reaches "
                                          "and the other does not, and each property's verdict in both; docs/diff.md.")
    p.add_argument("old", metavar="OLD", help="the spec before the change")
    p.add_argument("new", metavar="NEW", help="the spec after the change")
    p.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE",
                   help="override a constant in each version that declares it (repeatable)")
    from .cli import _positive

    p.add_argument("--max-states", type=_positive, metavar="N",
                   help="stop each search after N distinct states (then only the depths both completed are compared)")
    p.add_argument("--max-depth", type=_positive, metavar="N", help="explore each version to this depth only")
    p.add_argument("--show", type=int, default=3, metavar="K", help="traces shown for each direction (default 3)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (traces in ITF)")
    p.set_defaults(handler=cmd_diff)


def _load_both(old: str, new: str, defines: list[str] | None) -> tuple[Any, Any]:
    """Both versions compiled, each with the -D constants it declares (a constant neither declares is an error)."""
    from pnyx.model.compiler import compile_checked
    from pnyx.model.parser import parse_file
    from pnyx.model.typecheck import check as typecheck

    from .cli import parse_defines

    values = parse_defines(defines)
    specs = [parse_file(old), parse_file(new)]
    names = [{c.name for c in s.consts} for s in specs]
    unknown = sorted(k for k in values if not any(k in n for n in names))
    if unknown:
        raise ArgumentError(f"-D names a constant neither version declares: {', '.join(unknown)}")
    return tuple(compile_checked(typecheck(s, {k: v for k, v in values.items() if k in n}))  # type: ignore[return-value]
                 for s, n in zip(specs, names))


def cmd_diff(args: argparse.Namespace) -> int:
    from pnyx.checker.diff import DEFAULT_MAX_STATES, diff, diff_json

    if args.show < 0:
        raise ArgumentError(f"--show {args.show}: expected 0 or more traces")
    old, new = _load_both(args.old, args.new, args.defines)
    d = diff(old, new, max_states=args.max_states or DEFAULT_MAX_STATES, max_depth=args.max_depth)
    if args.json:
        json.dump(diff_json(d, args.show), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print(d, args.show)
    return 1 if d.new_failures else 0


def _print(d: Any, show: int) -> None:
    from rich.console import Console
    from rich.markup import escape

    from pnyx.checker.diff import contrast, node_values, novel_values
    from pnyx.checker.trace import format_trace

    out = Console(highlight=False, soft_wrap=True)
    for tag, ex in (("OLD", d.old), ("NEW", d.new)):
        scope = "complete" if ex.complete else f"stopped by a bound; every state to depth {ex.done_depth}"
        out.print(f"{tag}: {escape(ex.cs.filename)}: {len(ex.parent):,} distinct states, "
                  f"{len(ex.first):,} projected ({scope})")
    sh = d.shared
    out.print(f"Compared on: variables {', '.join(sh.variables)}; up; messages {', '.join(sh.messages) or 'none'}")
    for tag, names in (("OLD", sh.only_old), ("NEW", sh.only_new)):
        if names:
            out.print(f"Only in {tag} (not compared): {', '.join(names)}")
    if d.compared_depth is not None:
        out.print(f"[yellow]Bounded:[/] states compared up to depth {d.compared_depth}, the depth both searches completed")
    for tag, items, ex, other in (("NEW", d.only_new, d.new, d.old), ("OLD", d.only_old, d.old, d.new)):
        out.print()
        out.print(f"[bold]States only {tag} reaches:[/] {len(items):,}")
        values = node_values(other) if items and show else set()
        other_tag = "NEW" if tag == "OLD" else "OLD"
        for k, (proj, sid) in enumerate(items[:show], start=1):
            novel = novel_values(sh, ex.cs, proj, values)
            out.print(f"  {k}. after {ex.depth[sid]} steps" + (f": {escape(', '.join(novel))} (never in {other_tag})"
                                                               if novel else ""))
            trace = ex.trace(sid)
            c = contrast(sh, trace, other, other_tag)
            if c.blocked is not None:
                out.print(f"     {other_tag} cannot take step {c.steps + 1}: {escape(c.blocked)}")
            elif c.differences:
                out.print(f"     the same steps in {other_tag} differ: {escape('; '.join(c.differences))}")
            for line in format_trace(trace):
                out.print("     " + escape(line))
    out.print()
    out.print("[bold]Properties:[/]")
    width = max((len(v.name) for v in d.verdicts), default=0)
    for v in d.verdicts:
        mark = "  [bold red]<- new failure[/]" if v.new_failure else ("  [yellow]<- changed[/]" if v.changed else "")
        out.print(f"  {v.kind:9} {v.name:{width}}  OLD {v.old or 'absent':14} NEW {v.new or 'absent':14}{mark}")
    if d.handler_fails_anew:
        out.print(f"[bold red]A handler of NEW fails:[/] {escape(d.new.failed[1])}")
    fresh = sorted((v for v in d.verdicts if v.new_failure and v.new_trace is not None), key=lambda v: len(v.new_trace))
    if fresh:  # the shortest new violation in full; the others' traces are in --json
        v = fresh[0]
        out.print()
        out.print(f"[bold red]New violation:[/] invariant {v.name} in NEW ({len(v.new_trace)} steps, shortest)"
                  + (f"; also {', '.join(f'{w.name} ({len(w.new_trace)} steps)' for w in fresh[1:])}, traces in --json"
                     if len(fresh) > 1 else ""))
        for line in format_trace(v.new_trace):
            out.print("  " + escape(line))
    out.print()
    if d.new_failures:
        out.print(f"[bold red]NEW fails where OLD did not:[/] {', '.join(d.new_failures)}")
    elif d.identical:
        out.print("[green]No difference[/] on the shared variables and messages, and the same verdicts")
    else:
        out.print("[green]No new failure[/]")
