"""`pnyx show` and `pnyx explore`: studying counterexamples and state graphs in a browser.

`show` renders a trace saved by `pnyx check --json` (or a bare ITF file) as the page `pnyx
check --html` writes: it compiles the trace's spec with the trace's constants, replays the
recorded steps (`#meta.steps`) through the checker and checks that the states it reaches are
the file's, so the page is drawn from the same `Trace` as every other writer.
"""

from __future__ import annotations

import argparse
import signal
from typing import Any

from pnyx.model.errors import ArgumentError


def register(sub: Any) -> None:
    from pnyx.cli import _seconds

    s = sub.add_parser("show", help="render a counterexample saved by `pnyx check --json` as an HTML page")
    s.add_argument("trace", metavar="TRACE.json", help="the output of `pnyx check --json` (or a bare ITF trace)")
    s.add_argument("--html", metavar="OUT", required=True, help="the page to write")
    s.add_argument("--spec", metavar="FILE", help="the spec (default: the file the trace names)")
    s.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    s.add_argument("--property", metavar="NAME", help="with several liveness counterexamples: the one to show")
    s.set_defaults(handler=cmd_show)

    e = sub.add_parser("explore", help="walk a spec's state graph in a browser, one chosen event at a time")
    e.add_argument("file", metavar="FILE", help="a .pnyx spec")
    e.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    e.add_argument("--port", type=_port, default=8765, metavar="P",
                   help="the port on 127.0.0.1 to serve on (default 8765; 0: any free one)")
    e.add_argument("--max-seconds", type=_seconds, default=120.0, metavar="S",
                   help="the time bound of a jump's breadth-first search (default 120)")
    e.set_defaults(handler=cmd_explore)


def _port(text: str) -> int:
    from pnyx.cli import _bounded_int

    return _bounded_int(text, 0, 65535, "a port number")


# ---- show ---------------------------------------------------------------------------------------
def _saved(path: str, prop: str | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the ITF trace, what it is a counterexample of, the document) from a saved file."""
    from pnyx.impl.replay import _load_json
    from pnyx.model.types import json_kind

    doc = _load_json(path)
    if not isinstance(doc, dict):
        raise ArgumentError(f"{path}: expected a JSON object (the output of `pnyx check --json`), got {json_kind(doc)}")
    if "states" in doc:  # a bare ITF trace
        return doc, {"kind": "itf"}, {}
    v = doc.get("violation")
    if isinstance(v, dict) and isinstance(v.get("trace"), dict) and (prop is None or prop == v.get("property")):
        return v["trace"], {"kind": v.get("kind"), "property": v.get("property"), "message": v.get("message")}, doc
    live = doc.get("liveness")
    props = live.get("properties") if isinstance(live, dict) else None
    for name, entry in (props.items() if isinstance(props, dict) else ()):
        if isinstance(entry, dict) and isinstance(entry.get("lasso"), dict) and prop in (None, name):
            lasso = entry["lasso"]
            if isinstance(lasso.get("trace"), dict):
                return lasso["trace"], {"kind": "lasso", "property": name, "live_kind": entry.get("kind"),
                                        "line": entry.get("line"), "lasso": lasso}, doc
    which = f" for property {prop}" if prop else ""
    raise ArgumentError(f"{path}: holds no counterexample{which} (the check it records found no violation)")


def _steps(path: str, itf: dict[str, Any]) -> list[int]:
    meta = itf.get("#meta")
    steps = meta.get("steps") if isinstance(meta, dict) else None
    if not isinstance(steps, list) or not all(type(i) is int and i >= 0 for i in steps):
        raise ArgumentError(f"{path}: the trace does not list its steps (#meta.steps); re-run `pnyx check --json`")
    return steps


def load_counterexample(path: str, spec: str | None, defines: list[str] | None, prop: str | None) -> Any:
    """The counterexample saved in `path`, replayed on its spec, ready for the page."""
    from pathlib import Path

    from pnyx.checker import html_trace
    from pnyx.checker.bfs import Violation
    from pnyx.checker.liveness import Lasso, Verdict
    from pnyx.checker.liveness_report import NEVER
    from pnyx.checker.model import SpecModel, StepError
    from pnyx.checker.trace import replay, to_itf_json
    from pnyx.cli import parse_defines
    from pnyx.model.compiler import compile_checked
    from pnyx.model.parser import parse_file
    from pnyx.model.typecheck import check as typecheck

    itf, what, doc = _saved(path, prop)
    meta = itf.get("#meta") if isinstance(itf.get("#meta"), dict) else {}
    spec = spec or doc.get("file") or meta.get("source")
    if not isinstance(spec, str) or not spec:
        raise ArgumentError(f"{path}: the trace does not name its spec; pass --spec FILE")
    if not Path(spec).is_file():
        raise ArgumentError(f"{spec}: the trace's spec file is not there; pass --spec FILE")
    consts = doc.get("constants") if isinstance(doc.get("constants"), dict) else {}
    consts = {k: v for k, v in consts.items() if type(v) is bool or (type(v) is int and -(2**63) <= v < 2**63)}
    consts.update(parse_defines(defines))
    cs = compile_checked(typecheck(parse_file(spec), consts))
    model = SpecModel(cs)
    steps = _steps(path, itf)
    try:
        trace = replay(model, steps)
    except (IndexError, StepError):
        raise ArgumentError(f"{path}: its steps do not fit {spec} with these constants "
                            "(was the spec changed since the trace was written?)") from None
    saved = itf.get("states") if isinstance(itf.get("states"), list) else []
    ours = to_itf_json(trace)["states"]
    def values(st: Any) -> dict[str, Any] | None:
        return {x: y for x, y in st.items() if x != "#meta"} if isinstance(st, dict) else None

    for k, (a, b) in enumerate(zip(saved, ours)):
        if values(a) != values(b):
            raise ArgumentError(f"{path}: state {k} of the trace is not the state {spec} reaches by its steps "
                                "(was the spec changed since the trace was written?)")
    if what["kind"] == "lasso":
        shape, loop, kind = what["lasso"], itf.get("loop"), what["live_kind"]
        trigger, stutter = shape.get("trigger", 0), shape.get("stutter")
        if kind not in NEVER or type(stutter) is not bool or not all(
                type(x) is int and 0 <= x <= len(steps) for x in (loop, trigger)):
            raise ArgumentError(f"{path}: the lasso of {str(what['property'])[:60]!r} is malformed "
                                "(kind, loop, stutter or trigger); re-run `pnyx check --liveness --json`")
        line = what["line"] if type(what["line"]) is int else 0
        lasso = Lasso(trace, loop, stutter, trigger)
        return html_trace.from_verdict(cs, Verdict(str(what["property"]), kind, line, False, lasso))
    if what["kind"] == "invariant":
        p = next((x for x in model.properties() if x.name == what["property"]), None)
        if p is None:
            raise ArgumentError(f"{path}: {spec} declares no invariant {what['property']!r}")
        bindings = p.explain(trace.states[-1]) or {}
        return html_trace.from_violation(cs, Violation("invariant", p.name, str(what["message"]), bindings, trace))
    if what["kind"] == "error":
        return html_trace.from_violation(cs, Violation("error", str(what["property"]), str(what["message"]), {}, trace))
    description = str(meta.get("description") or "a trace")
    return html_trace.Counterexample(trace, description, description)


def cmd_show(args: argparse.Namespace) -> int:
    from pnyx.checker import html_trace
    from pnyx.impl.replay import ReplayError

    try:
        page = load_counterexample(args.trace, args.spec, args.defines, args.property)
    except ReplayError as exc:  # the file could not be read as JSON
        raise ArgumentError(str(exc)) from None
    try:
        html_trace.write(args.html, page)
    except OSError as exc:
        raise ArgumentError(f"--html {args.html}: cannot write: {exc.strerror}") from None
    print(f"wrote {args.html}: {len(page.trace)} steps, {page.violated}")
    return 0


# ---- explore ------------------------------------------------------------------------------------
def cmd_explore(args: argparse.Namespace) -> int:
    from pnyx.checker.explore_server import serve
    from pnyx.checker.explorer import Explorer
    from pnyx.cli import load_spec

    explorer = Explorer(load_spec(args.file, args.defines))
    # Ctrl-C ends the server even when started where SIGINT is ignored (a shell's background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def ready(url: str) -> None:
        print(f"exploring {args.file} at {url} (Ctrl-C ends it)", flush=True)

    try:
        serve(explorer, args.port, args.max_seconds, ready)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        raise ArgumentError(f"--port {args.port}: cannot serve on 127.0.0.1: {exc.strerror}") from None
    return 0
