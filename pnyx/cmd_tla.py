"""`pnyx export --tla FILE [-D NAME=VALUE ...] [-o DIR]`: write a TLA+ module and TLC configurations.

Files written to DIR (default: the current directory), named after the spec:
``NAME.tla``, ``NAME.cfg`` (the invariants, for TLC) and, when the spec has
`reachable` properties, ``NAME_reachable.cfg`` (each one negated: TLC reports it
reached as a violation) and, when it has liveness properties, ``NAME_liveness.cfg``
(SPECIFICATION FairSpec: the spec under its fairness; docs/liveness.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pnyx.model.errors import ArgumentError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="translate a spec for another tool (TLA+, for TLC)",
                              description="Translate a spec, at its constants, for another tool. --tla writes a "
                                          "TLA+ module for TLC (tla2tools.jar), whose distinct states are those of "
                                          "`pnyx check --no-symmetry`; Apalache does not check it as written "
                                          "(docs/tla.md).")
    p.add_argument("file", metavar="FILE", help="a .pnyx spec")
    p.add_argument("--tla", action="store_true", help="write a TLA+ module and TLC .cfg files (the only format so far)")
    p.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    p.add_argument("-o", dest="outdir", metavar="DIR", default=".", help="directory to write into (default: .)")
    p.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from pnyx.checker.tla import export
    from pnyx.model.parser import parse_file
    from pnyx.model.typecheck import check

    from . import write_tla
    from .cli import parse_defines

    if not args.tla:
        raise ArgumentError("pnyx export: choose a format, for example --tla")
    ct = check(parse_file(args.file), parse_defines(args.defines))
    result = export(ct, origin=Path(args.file).as_posix())
    outdir = Path(args.outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ArgumentError(f"-o {args.outdir}: not a directory")
    try:
        written = write_tla(result, outdir)
    except OSError as exc:
        raise ArgumentError(f"-o {args.outdir}: cannot write: {exc}") from None
    for path in written:
        sys.stdout.write(f"wrote {path}\n")
    return 0
