"""Spec mutants: a deliberately broken copy of a spec, described as text edits.

A mutant file (TOML) names the bug, the property the checker must find violated, the
shortest trace length, the constants at which the bug shows, and one or more edits
``{find, replace}`` applied to the spec's source. Each `find` must occur exactly once,
so a mutant that no longer matches its spec fails loudly instead of testing nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pnyx.model.compiler import CompiledSpec, compile_checked
from pnyx.model.errors import PnyxError
from pnyx.model.parser import parse
from pnyx.model.typecheck import check as typecheck

from .bfs import Options, Result, check


class MutantError(PnyxError):
    """A mutant file that is malformed or does not apply to its spec."""


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    property: str  # the property whose violation catches it
    length: int  # steps of the shortest counterexample
    constants: dict[str, object] = field(default_factory=dict)
    edits: tuple[tuple[str, str], ...] = ()
    path: str = ""

    def apply(self, source: str) -> str:
        """The spec's source with this mutant's edits applied."""
        for find, replace in self.edits:
            n = source.count(find)
            if n != 1:
                raise MutantError(f"{self.path}: the text to replace occurs {n} times in the spec, expected once:\n{find}")
            source = source.replace(find, replace)
        return source


def load_mutant(path: str | Path) -> Mutant:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MutantError(f"{p}: {exc}") from None
    try:
        edits = tuple((e["find"], e["replace"]) for e in data["edit"])
        m = Mutant(p.stem, str(data["bug"]).strip(), str(data["property"]), int(data["length"]),
                   dict(data.get("constants", {})), edits, str(p))
    except (KeyError, TypeError, ValueError) as exc:
        raise MutantError(f"{p}: a mutant needs bug, property, length and [[edit]] find/replace ({exc})") from None
    if not edits:
        raise MutantError(f"{p}: a mutant needs at least one [[edit]]")
    return m


def load_mutants(folder: str | Path) -> list[Mutant]:
    """Every `*.toml` mutant of a folder, by name."""
    return [load_mutant(p) for p in sorted(Path(folder).glob("*.toml"))]


def compile_mutant(spec_path: str | Path, mutant: Mutant, overrides: dict[str, object] | None = None) -> CompiledSpec:
    """Parse, check and compile the mutated spec with the mutant's constants (then `overrides`)."""
    source = mutant.apply(Path(spec_path).read_text())
    consts = dict(mutant.constants)
    consts.update(overrides or {})
    return compile_checked(typecheck(parse(source, f"{spec_path} [{mutant.name}]"), consts))


def run_mutant(spec_path: str | Path, mutant: Mutant, options: Options | None = None) -> tuple[CompiledSpec, Result]:
    cs = compile_mutant(spec_path, mutant)
    return cs, check(cs, options)
