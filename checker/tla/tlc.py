"""Run the official TLA+ tools on exported modules: SANY to parse, TLC to explore.

The tests and `benchmarks/bench_tla.py` use this to hold the export to its promise
(TLC's distinct states are those of `pnyx check --no-symmetry`, and TLC finds the
invariant violations Pnyx finds). SANY checks many modules in one JVM; TLC explores
one model per JVM (about a second of start-up each), so `run_tlc_many` runs a few
at once. TLC writes a `states/` folder: every run gets its own metadata directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pnyx.checker import bfs
from pnyx.model.compiler import compile_checked
from pnyx.model.parser import parse
from pnyx.model.typecheck import Checked
from pnyx.model.typecheck import check as typecheck

from .module import TlaExport, export

JAR_ENV = "TLA2TOOLS_JAR"
# JIT flags that suit models of a few thousand states: C1 only starts faster (about 0.4 s a run)
QUICK_JVM = ("-XX:+UseParallelGC", "-XX:TieredStopAtLevel=1")
DEFAULT_JVM = ("-XX:+UseParallelGC",)


def jar_path(root: Path) -> Path:
    """Where tla2tools.jar is: $TLA2TOOLS_JAR, else ``../shared/tools/tla2tools.jar`` beside the repository."""
    env = os.environ.get(JAR_ENV)
    return Path(env) if env else root.parent / "shared" / "tools" / "tla2tools.jar"


def java() -> str | None:
    """The `java` executable, or None when there is none on PATH."""
    return shutil.which("java")


def write_export(r: TlaExport, directory: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write the module and its invariant configuration; `stem` renames the module (unique names in one folder)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = stem or r.module
    tla = r.tla if name == r.module else r.tla.replace(f"---- MODULE {r.module} ----", f"---- MODULE {name} ----", 1)
    mod, cfg = directory / f"{name}.tla", directory / f"{name}.cfg"
    mod.write_text(tla, encoding="utf-8")
    cfg.write_text(r.cfg, encoding="utf-8")
    return mod, cfg


# ---- SANY ------------------------------------------------------------------
_SANY_HEADER = "****** SANY2"
_SANY_ERRORS = re.compile(r"\*\*\* Errors|Semantic errors|Fatal errors|Parse Error|Lexical error|Could not|"
                          r"Unknown operator|\*\*\*\*\* ERROR|Error:", re.I)


def sany(jar: Path, modules: Sequence[Path], timeout: float = 300) -> dict[Path, str]:
    """Parse and check every module in one JVM; the modules SANY rejects, with its messages (empty: all pass).

    SANY's exit status is 0 even on a semantic error, so its output is read instead:
    one section per file, each starting with SANY's banner. A syntax error aborts the
    whole call, so the modules after it are parsed again in another.
    """
    failed: dict[Path, str] = {}
    pending = [m.resolve() for m in modules]
    given = dict(zip(pending, modules))
    while pending:
        with tempfile.TemporaryDirectory(prefix="sany-") as tmp:  # its own copies of the standard modules (see run_tlc)
            out = subprocess.run([java() or "java", f"-Djava.io.tmpdir={tmp}", "-cp", str(jar), "tla2sany.SANY",
                                  *[str(m) for m in pending]],
                                 cwd=pending[0].parent, capture_output=True, text=True, timeout=timeout)
        text = out.stdout + out.stderr
        sections: dict[str, str] = {}
        for sec in text.split(_SANY_HEADER)[1:]:
            first = re.search(r"^Parsing file (.*)$", sec, re.M)
            if first is not None:
                sections[first.group(1).strip()] = sec
        unread = [m for m in pending if str(m) not in sections]
        for m in pending:
            sec = sections.get(str(m))
            if sec is not None and (_SANY_ERRORS.search(sec) or f"Semantic processing of module {m.stem}" not in sec):
                failed[given[m]] = sec.strip()
        if len(unread) == len(pending):  # SANY read none of them: report them all
            for m in unread:
                failed[given[m]] = "SANY did not read this module:\n" + text[-2000:]
            break
        pending = unread
    return failed


# ---- TLC -------------------------------------------------------------------
@dataclass(frozen=True)
class TlcResult:
    """What one TLC run reported. `violated` is the invariant TLC found violated, if any."""

    module: Path
    distinct: int | None
    generated: int | None
    violated: str | None
    completed: bool  # "Model checking completed. No error has been found."
    error: str | None  # any other error TLC reported (evaluation error, deadlock, parse error)
    seconds: float
    output: str


_DISTINCT = re.compile(r"([\d,]+) states generated, ([\d,]+) distinct states found")
_VIOLATED = re.compile(r"^Error: Invariant (\w+) is violated", re.M)
_ERROR = re.compile(r"^Error: (?!The behavior up to this point is:).*$", re.M)


def parse_tlc(module: Path, output: str, seconds: float) -> TlcResult:
    """Read TLC's report: counts from its last summary line, the first violated invariant, other errors."""
    counts = _DISTINCT.findall(output)
    generated, distinct = (int(counts[-1][0].replace(",", "")), int(counts[-1][1].replace(",", ""))) if counts else (None, None)
    v = _VIOLATED.search(output)
    errors = [e for e in _ERROR.findall(output) if not _VIOLATED.match(e)]
    return TlcResult(module, distinct, generated, v.group(1) if v else None,
                     "Model checking completed. No error has been found." in output,
                     "\n".join(errors) or None, seconds, output)


def run_tlc(jar: Path, module: Path, cfg: Path | None = None, *, jvm: Sequence[str] = DEFAULT_JVM,
            workers: int = 1, extra: Sequence[str] = (), timeout: float = 600) -> TlcResult:
    """Explore one model with TLC (in the module's folder; its states/ in a temporary one)."""
    cfg = cfg or module.with_suffix(".cfg")
    with tempfile.TemporaryDirectory(prefix="tlc-") as meta:
        # TLC copies the standard modules (Integers.tla, ...) out of the jar into java.io.tmpdir
        # and reads them back: runs side by side sharing /tmp read each other's half-written copies
        cmd = [java() or "java", *jvm, f"-Djava.io.tmpdir={meta}", "-cp", str(jar), "tlc2.TLC", module.name,
               "-config", cfg.name, "-workers", str(workers), "-metadir", str(Path(meta) / "states"), *extra]
        t0 = time.perf_counter()
        try:
            out = subprocess.run(cmd, cwd=module.parent, capture_output=True, text=True, timeout=timeout)
            text = out.stdout + out.stderr
        except subprocess.TimeoutExpired as exc:
            text = (exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or "") + \
                f"\nError: TLC stopped after {timeout} s\n"
        return parse_tlc(module, text, time.perf_counter() - t0)


def run_tlc_many(jar: Path, modules: Iterable[Path], *, parallel: int = 2, **kwargs: object) -> list[TlcResult]:
    """`run_tlc` on each module, `parallel` JVMs at a time (each with one worker), results in order."""
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(lambda m: run_tlc(jar, m, **kwargs), modules))  # type: ignore[arg-type]


def trace_length(output: str) -> int | None:
    """Steps of TLC's counterexample (its states less the initial one), or None without one."""
    states = [int(n) for n in re.findall(r"^State (\d+):", output, re.M)]
    return max(states) - 1 if states else None


# ---- Pnyx and TLC on the same models ----------------------------------------
@dataclass(frozen=True)
class Model:
    """One model for both tools: a spec's source at some constants.

    `expect` names the invariant a mutant must be caught violating (None: every invariant holds).
    """

    name: str  # unique among the models of one run; also the module's file name
    source: str
    origin: str
    constants: dict[str, object]
    expect: str | None = None

    def checked(self) -> Checked:
        return typecheck(parse(self.source, self.origin), dict(self.constants))


@dataclass(frozen=True)
class Row:
    """Pnyx's result (bfs, no symmetry) and TLC's on one model."""

    model: Model
    pnyx_states: int
    pnyx_complete: bool
    pnyx_violated: str | None
    pnyx_length: int | None
    pnyx_seconds: float
    tlc: TlcResult

    @property
    def tlc_length(self) -> int | None:
        return trace_length(self.tlc.output)

    @property
    def agree(self) -> bool:
        """Same distinct states when every invariant holds; else the same invariant violated, at the same depth."""
        t = self.tlc
        if self.pnyx_violated is None:
            return self.pnyx_complete and t.completed and t.violated is None and t.distinct == self.pnyx_states
        return t.violated == self.pnyx_violated and self.tlc_length == self.pnyx_length

    @property
    def expected(self) -> bool:
        """Pnyx found what the model promises: the mutant's invariant, or no violation."""
        return self.pnyx_violated == self.model.expect


def module_name(name: str) -> str:
    """A model's name as a TLA+ module and file name."""
    out = re.sub(r"\W", "_", name)
    return out if out[:1].isalpha() else "M_" + out


@dataclass(frozen=True)
class Prepared:
    """A model checked by Pnyx and exported: what TLC's result is compared with."""

    model: Model
    pnyx: bfs.Result
    pnyx_seconds: float
    module: Path

    def row(self, tlc: TlcResult) -> Row:
        v = self.pnyx.violation
        return Row(self.model, self.pnyx.stats.distinct, self.pnyx.complete, v.name if v is not None else None,
                   len(v.trace) if v is not None else None, self.pnyx_seconds, tlc)


def prepare(models: Sequence[Model], workdir: Path, pnyx_seconds: float | None = None) -> list[Prepared]:
    """Check each model with Pnyx (bfs, no symmetry) and write its module and .cfg into `workdir`."""
    out = []
    for m in models:
        ct = m.checked()
        t0 = time.perf_counter()
        r = bfs.check(compile_checked(ct), bfs.Options(symmetry=False, max_seconds=pnyx_seconds))
        secs = time.perf_counter() - t0
        out.append(Prepared(m, r, secs, write_export(export(ct, origin=m.origin), workdir, module_name(m.name))[0]))
    return out


def crosscheck(models: Sequence[Model], jar: Path, workdir: Path, *, parallel: int = 2,
               jvm: Sequence[str] = QUICK_JVM, timeout: float = 600,
               pnyx_seconds: float | None = None) -> tuple[dict[str, str], list[Row]]:
    """Check every model with Pnyx, export it, parse all modules with SANY in one JVM, explore each with TLC.

    Returns SANY's complaints by model name (empty when it accepts every module) and one
    row per model (none when SANY rejected a module: TLC would only repeat the complaint).
    """
    prepared = prepare(models, workdir, pnyx_seconds)
    rejected = sany(jar, [p.module for p in prepared])
    if rejected:
        return {p.model.name: rejected[p.module] for p in prepared if p.module in rejected}, []
    results = run_tlc_many(jar, [p.module for p in prepared], parallel=parallel, jvm=jvm, timeout=timeout)
    return {}, [p.row(t) for p, t in zip(prepared, results)]
