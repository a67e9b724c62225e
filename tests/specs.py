"""Build specs from source text for tests: parse, type-check, compile, check."""

from __future__ import annotations

from pnyx.checker import bfs
from pnyx.model.compiler import CompiledSpec, compile_checked
from pnyx.model.parser import parse
from pnyx.model.typecheck import Checked, check


def checked(source: str, **overrides: object) -> Checked:
    return check(parse(source, "test.pnyx"), overrides)


def compiled(source: str, **overrides: object) -> CompiledSpec:
    return compile_checked(checked(source, **overrides))


def explore(source: str, symmetry: bool = False, **overrides: object) -> bfs.Result:
    """Run the BFS checker on a spec given as text."""
    return bfs.check(compiled(source, **overrides), bfs.Options(symmetry=symmetry))
