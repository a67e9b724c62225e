"""The pytest plugin (entry point `pytest11`): model checks as tests, and a spec run for real in a test.

- `pytest --pnyx-specs` (or `pnyx_specs = true` in the ini file) collects `.pnyx` files: one
  item `check` per spec, and `liveness` for a spec with eventually / infinitely / leadsto
  properties. Opt-in, so that a project's specs (a mutant catalogue) are not collected by accident.
- the marker `@pytest.mark.pnyx_check(path, **constants)` makes a test a model check: the check
  runs before the test's body, which only runs if the spec holds.
- the fixtures `pnyx_check` (check a spec, get the result), `pnyx_spec` (the compiled spec),
  `pnyx_sim` (a deterministic simulation) and `pnyx_cluster` (real nodes on loopback, stopped
  whatever happens).
A violation fails the test with the counterexample as `pnyx check` prints it, not a traceback.
Hypothesis strategies for fault schedules are in `pnyx.impl.faults` (`fault_schedules`,
`run_fault_machine`), beside the simulation they drive: this module needs pytest, they do not.
Nothing heavy is imported until a spec is checked: pytest loads this module in every run.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pnyx.model.errors import PnyxError

if TYPE_CHECKING:
    from pnyx.checker.bfs import Result, Violation
    from pnyx.checker.liveness import LivenessResult
    from pnyx.impl.meta import ClusterMeta
    from pnyx.impl.sim import Simulation
    from pnyx.model.compiler import CompiledSpec

# Keyword arguments of a check that are options, not constants of the spec.
CHECK_OPTIONS = ("symmetry", "max_depth", "max_states", "max_seconds", "por", "liveness")
# ... and of a simulation.
SIM_OPTIONS = ("seed", "config", "loss", "delay", "check_invariants")


class PnyxBoundedWarning(UserWarning):
    """A check passed only because a bound stopped it: it is not a proof."""


# ---- options and hooks --------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pnyx", "Pnyx model checking")
    group.addoption("--pnyx-specs", action="store_true", default=None,
                    help="collect .pnyx files as tests (one model check each)")
    group.addoption("--pnyx-define", action="append", default=[], metavar="NAME=VALUE",
                    help="override a constant of every collected spec (repeatable)")
    group.addoption("--pnyx-max-states", type=_positive_int, default=None, metavar="N",
                    help="stop each collected spec's search after N distinct states (a pass is then no proof)")
    group.addoption("--pnyx-liveness", action="store_true", default=None,
                    help="also check collected specs' eventually / infinitely / leadsto properties")
    parser.addini("pnyx_specs", "collect .pnyx files as tests", type="bool", default=False)
    parser.addini("pnyx_defines", "NAME=VALUE constants for every collected spec", type="linelist", default=[])
    parser.addini("pnyx_liveness", "also check collected specs' liveness properties", type="bool", default=False)


def _positive_int(text: str) -> int:
    import argparse

    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer, for example 100000")
    return int(text)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pnyx_check(path, **constants_and_options): the test is a model check of "
                                       "the spec at path (relative to the rootdir); its body runs only if the spec holds")
    config.stash[_SPECS] = {}


def _flag(config: pytest.Config, option: str, ini: str) -> bool:
    value = config.getoption(option)
    return bool(config.getini(ini)) if value is None else bool(value)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".pnyx" and _flag(parent.config, "pnyx_specs", "pnyx_specs"):
        return SpecFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """A test marked `pnyx_check` fails with the trace before its body runs."""
    if item.get_closest_marker("pnyx_check") is not None:
        _marked_check(item).assert_holds()


# ---- loading specs ----------------------------------------------------------------
_SPECS = pytest.StashKey[dict[tuple[str, str], "CompiledSpec"]]()


def resolve(config: pytest.Config, path: str | Path) -> Path:
    """A spec path as given: absolute, or relative to the rootdir (where pytest.ini or pyproject.toml is)."""
    p = Path(path)
    return p if p.is_absolute() else config.rootpath / p


def load_spec(config: pytest.Config, path: str | Path, constants: dict[str, Any]) -> CompiledSpec:
    """The compiled spec, once per session for each file and constants; a bad spec fails the test with
    `file:line:col: message`, no traceback."""
    full = resolve(config, path)
    key = (str(full), repr(sorted(constants.items())))  # repr: a constant's value need not be hashable
    cache = config.stash[_SPECS]
    if key not in cache:
        if not full.is_file():
            pytest.fail(f"{path}: no such spec file (a relative path is read from the rootdir {config.rootpath})",
                        pytrace=False)
        import pnyx

        try:  # as `pnyx check` names it: relative to the current directory when below it
            shown = full.relative_to(Path.cwd()) if full.is_relative_to(Path.cwd()) else full
            cache[key] = pnyx.load(shown, **constants)
        except PnyxError as exc:
            fail_with(exc)
    return cache[key]


def fail_with(exc: PnyxError) -> NoReturn:
    """Fail the test with a user error's message alone (`file:line:col: message`), no traceback."""
    raise pytest.fail.Exception(str(exc), pytrace=False) from None


def split_options(kwargs: dict[str, Any], options: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options, constants): the keyword arguments a call knows as options, the rest as the spec's constants."""
    return ({k: v for k, v in kwargs.items() if k in options}, {k: v for k, v in kwargs.items() if k not in options})


# ---- checking -------------------------------------------------------------------------
@dataclass
class Checked:
    """A spec's check: the result (its attributes read through: `ok`, `violation`, `stats`...),
    the liveness result if asked for, and the report `pnyx check` prints. `result` is None for
    a liveness check alone (a collected spec's `liveness` item)."""

    spec: CompiledSpec
    result: Result | None
    liveness: LivenessResult | None = None
    _text: str | None = field(default=None, repr=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result, name)

    def report(self) -> str:
        """The text `pnyx check` prints for this result (with `--liveness` when liveness was checked)."""
        if self._text is None:
            from rich.console import Console

            from pnyx.checker.report import print_result

            buf = io.StringIO()
            out = Console(file=buf, highlight=False, soft_wrap=True, no_color=True, width=120)
            if self.result is not None:
                print_result(out, self.spec, self.result)
            if self.liveness is not None:
                from pnyx.checker.liveness_report import print_liveness

                if self.result is not None:
                    out.print()
                print_liveness(out, self.spec, self.liveness)
            self._text = buf.getvalue()
        return self._text

    def verdicts(self) -> tuple[str | None, str | None]:
        """The safety verdict (ok, violated, not_reached, bounded) and the liveness one (ok, violated,
        error, bounded), each None when not checked."""
        from pnyx.checker import liveness_report, report

        return (None if self.result is None else report.verdict(self.result),
                None if self.liveness is None else liveness_report.verdict(self.liveness))

    def to_json(self) -> dict[str, Any]:
        """What `pnyx check --json` prints (with the liveness part when it was checked)."""
        from pnyx.checker.report import result_json

        doc = result_json(self.spec, self.result) if self.result is not None else {"spec": self.spec.name}
        if self.liveness is not None:
            from pnyx.checker.liveness_report import liveness_json

            doc["liveness"] = liveness_json(self.spec, self.liveness)
        return doc

    def assert_holds(self, complete: bool = False) -> Checked:
        """Fail the test with the report unless every property held (and, with `complete`, the search
        was not cut short by a bound). A bounded pass warns that it is no proof."""
        safety, live = self.verdicts()
        failed = safety in ("violated", "not_reached") or live in ("violated", "error")
        bounded = "bounded" in (safety, live)
        if failed or (complete and bounded):
            head = f"{self.spec.filename}: " + ("the search was cut short by a bound" if not failed else "does not hold")
            pytest.fail(f"{head}\n\n{self.report()}", pytrace=False)
        if bounded:
            warnings.warn(PnyxBoundedWarning(f"{self.spec.filename}: no violation within the bound; the check is no proof"),
                          stacklevel=2)
        return self

    def assert_violates(self, name: str | None = None) -> Violation:
        """The violation the check found (of property `name` if given); fail the test with the report otherwise."""
        v = None if self.result is None else self.result.violation
        if v is None or (name is not None and v.name != name):
            want = f"a violation of {name}" if name else "a violation"
            found = f"one of {v.name}" if v is not None else "none"
            pytest.fail(f"{self.spec.filename}: expected {want}, found {found}\n\n{self.report()}", pytrace=False)
        return v


def run_check(spec: CompiledSpec, *, safety: bool = True, liveness: bool = False, **options: Any) -> Checked:
    """`pnyx.check` (unless not `safety`) and `pnyx.check_liveness` (when `liveness`) on a compiled
    spec; bad options fail the test with their message."""
    import pnyx

    try:
        result = pnyx.check(spec, **options) if safety else None
        live = None
        if liveness:
            live = pnyx.check_liveness(spec, max_states=options.get("max_states"), max_seconds=options.get("max_seconds"))
    except PnyxError as exc:
        fail_with(exc)
    return Checked(spec, result, live)


def check_path(node: pytest.Item, path: str | Path, kwargs: dict[str, Any]) -> Checked:
    """Load and check the spec at `path` for a test; its JSON result becomes a property of the test (JUnit XML)."""
    options, constants = split_options(kwargs, CHECK_OPTIONS)  # a constant the spec lacks: the type checker says so
    checked = run_check(load_spec(node.config, path, constants), **options)
    node.user_properties.append(("pnyx", json.dumps(checked.to_json(), default=str)))
    return checked


_MARKED = pytest.StashKey["Checked"]()


def _marked_check(item: pytest.Item) -> Checked:
    if _MARKED not in item.stash:
        marker = item.get_closest_marker("pnyx_check")
        if marker is None or len(marker.args) != 1:
            pytest.fail("@pytest.mark.pnyx_check takes one spec path, then constants and options as keywords: "
                        "@pytest.mark.pnyx_check('spec/gossip.pnyx', N=3, max_states=10000)", pytrace=False)
        item.stash[_MARKED] = check_path(item, marker.args[0], dict(marker.kwargs))
    return item.stash[_MARKED]


# ---- collected .pnyx files -------------------------------------------------------------------
def liveness_properties(spec: CompiledSpec) -> int:
    """How many eventually / infinitely / leadsto properties the spec declares."""
    from pnyx.model.ir import LIVENESS

    return sum(p.kind in LIVENESS for p in spec.properties)


class SpecFile(pytest.File):
    """A .pnyx file: an item for its safety check, and one for its liveness properties if it has some."""

    def collect(self) -> Iterator[pytest.Item]:
        yield SpecItem.from_parent(self, name="check")
        try:
            spec = load_spec(self.config, self.path, self.constants())
        except pytest.fail.Exception:
            return  # the check item reports the error
        if liveness_properties(spec):
            yield SpecItem.from_parent(self, name="liveness")

    def constants(self) -> dict[str, Any]:
        from pnyx.cli import parse_defines

        try:
            return parse_defines([*self.config.getini("pnyx_defines"), *self.config.getoption("pnyx_define")])
        except PnyxError as exc:
            fail_with(exc)


class SpecItem(pytest.Item):
    """`pnyx check FILE` (`check`) or its liveness part (`liveness`), as a test."""

    parent: SpecFile

    def runtest(self) -> None:
        spec = load_spec(self.config, self.path, self.parent.constants())
        bound = self.config.getoption("pnyx_max_states")
        if self.name == "check":
            checked = run_check(spec, max_states=bound)
        elif not _flag(self.config, "pnyx_liveness", "pnyx_liveness"):
            n = liveness_properties(spec)
            pytest.skip(f"{n} liveness propert{'y' if n == 1 else 'ies'} not checked (--pnyx-liveness checks them)")
        else:
            checked = run_check(spec, safety=False, liveness=True, max_states=bound)  # the `check` item reports safety
        self.user_properties.append(("pnyx", json.dumps(checked.to_json(), default=str)))
        checked.assert_holds()

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"pnyx check {self.path.name}" + (" --liveness" if self.name == "liveness" else "")


# ---- fixtures ------------------------------------------------------------------------------
@pytest.fixture
def pnyx_check(request: pytest.FixtureRequest) -> Callable[..., Checked]:
    """`pnyx_check(path, N=3, max_states=10_000)`: check a spec; `.assert_holds()` fails the test with the trace.

    Keywords named like `pnyx.check`'s options (symmetry, max_depth, max_states, max_seconds,
    por) and `liveness=True` are options; every other keyword is a constant of the spec."""

    def check(path: str | Path, **kwargs: Any) -> Checked:
        return check_path(request.node, path, kwargs)

    return check


@pytest.fixture
def pnyx_result(request: pytest.FixtureRequest) -> Checked:
    """The check of the spec named by the test's `pnyx_check` marker (run once per test)."""
    return _marked_check(request.node)


@pytest.fixture(scope="session")
def pnyx_spec(pytestconfig: pytest.Config) -> Callable[..., CompiledSpec]:
    """`pnyx_spec(path, N=3)`: the compiled spec (`pnyx.load`), compiled once per session for each
    file and constants; for `fault_machine`, `run_fault_machine` or `Simulation` directly."""

    def get(path: str | Path, **constants: Any) -> CompiledSpec:
        return load_spec(pytestconfig, path, constants)

    return get


@pytest.fixture(scope="session")
def pnyx_sim(pytestconfig: pytest.Config) -> Callable[..., Simulation]:
    """`pnyx_sim(path, seed=1, N=3)`: a deterministic simulation of the spec (impl/sim.py).

    Keywords seed, config, loss, delay and check_invariants go to the simulation, the others
    are constants. Session-scoped (a simulation holds no outside resource), so a hypothesis
    test may call it once per example."""
    from pnyx.impl.sim import Simulation

    def make(path: str | Path, **kwargs: Any) -> Simulation:
        options, constants = split_options(kwargs, SIM_OPTIONS)
        return Simulation(load_spec(pytestconfig, path, constants), **options)

    return make


@dataclass
class RunningCluster:
    """A cluster of node processes started for a test: its directory, addresses, and what a test does to it."""

    dir: Path
    meta: ClusterMeta

    @property
    def clients(self) -> list[tuple[str, int]]:
        """Each node's client address (host, port), node 0 first."""
        return self.meta.clients

    def call(self, node: int, op: str, *args: Any, timeout: float = 10.0) -> Any:
        """One client request to node `node` (0-based), as `pnyx kv` / `pnyx gossip` send it."""
        from pnyx.impl.client import call

        return call(self.meta.clients[node], op, *args, timeout=timeout)

    def kill(self, node: int) -> bool:
        """Crash node `node` (SIGKILL); True if it was running."""
        from pnyx.impl.cluster import kill_node

        return kill_node(self.dir, node)

    def restart(self, node: int, timeout: float = 60.0) -> None:
        """Start node `node` again (it recovers from its data) and wait until it answers."""
        from pnyx.impl.cluster import start_node, wait_ready

        wait_ready(self.dir, [node], {node: start_node(self.dir, node)}, timeout)

    def pids(self) -> list[int | None]:
        """Each node's pid while it runs, None for a node that is down."""
        from pnyx.impl.cluster import node_pid

        return [node_pid(self.dir, i) for i in range(self.meta.nodes)]

    def stop(self) -> None:
        """Stop every node (the fixture also does this when the test ends, however it ends)."""
        from pnyx.impl.cluster import stop_cluster

        if (self.dir / "cluster.json").exists():
            stop_cluster(self.dir)


@pytest.fixture
def pnyx_cluster(tmp_path_factory: pytest.TempPathFactory,
                 pytestconfig: pytest.Config) -> Iterator[Callable[..., RunningCluster]]:
    """`pnyx_cluster(path, nodes=3, service=None, config=None, **constants)`: real nodes of the spec on
    loopback (what `pnyx cluster start` runs), each an OS process; every cluster the test started is
    stopped when it ends, pass or fail."""
    from pnyx.impl.cluster import start_cluster

    dirs: list[Path] = []

    def start(path: str | Path, nodes: int | None = None, *, service: str | None = None, config: Any = None,
              timeout: float = 60.0, **constants: Any) -> RunningCluster:
        d = tmp_path_factory.mktemp("pnyx-cluster") / "c"
        dirs.append(d)  # before the start: nodes already spawned are stopped even if the start fails midway
        try:
            meta = start_cluster(str(resolve(pytestconfig, path)), nodes, d, constants, config, timeout=timeout,
                                 service=service)
        except PnyxError as exc:
            fail_with(exc)
        return RunningCluster(d, meta)

    try:
        yield start
    finally:
        from pnyx.impl.cluster import stop_cluster

        for d in dirs:
            if (d / "cluster.json").exists():
                stop_cluster(d)
