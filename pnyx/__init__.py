"""Pnyx's public API: load a spec, explore it, simulate it, prove and bound-check it with z3, export it to TLA+.

    import pnyx
    spec = pnyx.load("spec/gossip.pnyx", N=3)
    result = pnyx.check(spec)
    assert result.ok, result.violation

Everything here is what the `pnyx` command itself calls. The heavy packages (lark, z3, the
compiler) are imported on first use, so that importing `pnyx` stays cheap for the client
commands. `docs/api.md` documents each function with a worked example that a test runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pnyx.model.errors import ArgumentError, ModelError, PnyxError, SpecError

if TYPE_CHECKING:
    from pnyx.checker.bfs import Result, Violation
    from pnyx.checker.diff import Diff
    from pnyx.checker.liveness import LivenessResult
    from pnyx.checker.shrink import Shrunk
    from pnyx.checker.tla.module import TlaExport
    from pnyx.checker.z3.bmc import BmcResult
    from pnyx.checker.z3.prove import ProofResult
    from pnyx.model.compiler import CompiledSpec as Spec

__all__ = [
    "ArgumentError", "ModelError", "PnyxError", "SpecError",
    "bmc", "check", "check_liveness", "diff", "export_tla", "load", "load_source", "prove", "shrink", "simulate", "write_tla",
]


def load(path: str | Path, **constants: object) -> Spec:
    """Parse, type-check and compile a spec file; `constants` override its `const` defaults (like `-D`)."""
    from pnyx.model.compiler import compile_checked
    from pnyx.model.parser import parse_file
    from pnyx.model.typecheck import check as typecheck

    return compile_checked(typecheck(parse_file(path), constants))


def load_source(text: str, filename: str = "<spec>", **constants: object) -> Spec:
    """`load` for a spec held in a string; `filename` is what error messages call it."""
    from pnyx.model.compiler import compile_checked
    from pnyx.model.parser import parse
    from pnyx.model.typecheck import check as typecheck

    return compile_checked(typecheck(parse(text, filename), constants))


def check(spec: Spec, *, symmetry: bool = True, max_depth: int | None = None, max_states: int | None = None,
          max_seconds: float | None = None, por: str = "none") -> Result:
    """Breadth-first exploration of every reachable state: invariants, `reachable` goals, shortest traces.

    `result.ok` is true when every invariant held and every goal was reached; `result.bounded`
    says a bound cut the search short (then `ok` is no proof). `por` picks a partial-order
    reduction (docs/por.md): "sleep" keeps every state, "ample" explores fewer.
    """
    from pnyx.checker import bfs

    return bfs.check(spec, bfs.Options(max_depth=max_depth, max_states=max_states, max_seconds=max_seconds,
                                       symmetry=symmetry, por=por))


def check_liveness(spec: Spec, *, max_states: int | None = None, max_seconds: float | None = None) -> LivenessResult:
    """The spec's eventually / infinitely / leadsto properties under its fairness, on the full
    state graph (no symmetry reduction); a violation comes with a lasso (docs/liveness.md)."""
    from pnyx.checker import liveness

    return liveness.check(spec, liveness.LiveOptions(max_states=max_states, max_seconds=max_seconds))


def simulate(spec: Spec, *, runs: int = 100, depth: int = 100, seed: int = 0, max_seconds: float | None = None) -> Result:
    """Seeded random walks checking the properties: for bugs deeper than exploration reaches."""
    from pnyx.checker.simulate import SimOptions
    from pnyx.checker.simulate import simulate as walk

    return walk(spec, SimOptions(runs=runs, depth=depth, seed=seed, max_seconds=max_seconds))


def shrink(spec: Spec, violation: Violation, mode: str = "shortest") -> Shrunk:
    """A simpler counterexample for the same invariant: fewer steps, faults, context switches,
    nodes, values, in that order (mode "longer": faults first; "walk": for `simulate`'s traces);
    docs/shrink.md."""
    from pnyx.checker.shrink import shrink as simpler

    return simpler(spec, violation, mode)


def diff(old: Spec, new: Spec, *, max_states: int | None = None, max_depth: int | None = None) -> Diff:
    """Two versions of a spec compared on the variables and messages they share: the states
    only one reaches, and each property's verdicts (`new_failures`); docs/diff.md."""
    from pnyx.checker.diff import DEFAULT_MAX_STATES
    from pnyx.checker.diff import diff as compare

    return compare(old, new, max_states=max_states or DEFAULT_MAX_STATES, max_depth=max_depth)


def prove(spec: Spec, invariants: list[str], *, channel_bound: int = 3, timeout_ms: int | None = None) -> ProofResult:
    """Ask z3 whether the conjunction of `invariants` is inductive; a failure comes with a counterexample to induction."""
    from pnyx.checker.z3.prove import prove as z3_prove

    return z3_prove(spec, invariants, channel_bound=channel_bound, timeout_ms=timeout_ms)


def bmc(spec: Spec, depth: int, *, timeout_ms: int | None = None) -> BmcResult:
    """Bounded model checking with z3: is an invariant broken within `depth` steps?"""
    from pnyx.checker.z3.bmc import bmc as z3_bmc

    return z3_bmc(spec, depth, timeout_ms=timeout_ms)


def export_tla(spec: Spec, directory: str | Path | None = None) -> TlaExport:
    """The TLA+ module and TLC configurations of a spec at its constants; written to `directory` when given."""
    from pnyx.checker.tla import export

    r = export(spec.checked)
    if directory is not None:
        write_tla(r, directory)
    return r


def write_tla(r: TlaExport, directory: str | Path) -> list[Path]:
    """Write an export's module and configurations into `directory` (created if missing); the paths written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files = {f"{r.module}.tla": r.tla, f"{r.module}.cfg": r.cfg}
    if r.reach_cfg is not None:
        files[f"{r.module}_reachable.cfg"] = r.reach_cfg
    if r.live_cfg is not None:
        files[f"{r.module}_liveness.cfg"] = r.live_cfg
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]
