"""Breadth-first search on a Ray cluster: `pnyx.checker.partition`'s search with one Ray actor
per partition, on any machine of the cluster.

A compiled spec holds generated functions that cannot be pickled, and the machines running
the actors may not have the spec's file: each actor receives the spec's source text and
constants and compiles it itself (a model written in Python is sent as Ray pickles it; its
class must then be importable on the workers). Between phases, what a worker sends the others
is one Ray object per receiver (an actor method with several returns); the coordinator hands
those references on to the receivers' next calls. Ray keeps an object of 100 KiB or more in the
object store of the machine that made it, and the receiver's machine fetches it from there;
smaller ones travel inside the calls, through the coordinator. The coordinator waits only for
the answers (counts, state numbers) of `expand` and `keep`: Ray runs one caller's calls to an
actor in order, each once its arguments exist, so `claim` and `give` need no barrier of their own.

Ray is an optional extra (``pip install pnyx[ray]``); see docs/scale.md.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from pnyx.model.compiler import compile_checked
from pnyx.model.errors import PnyxError
from pnyx.model.parser import parse
from pnyx.model.typecheck import check as typecheck

from . import bounds
from .bfs import Options, Result
from .model import SpecModel
from .parallel import default_workers
from .partition import Partition, Plan, search
from .protocol import Model

INSTALL_HINT = "the Ray engine needs Ray: pip install 'pnyx[ray]'"


class RayEngineError(PnyxError):
    """Ray missing, or a cluster that cannot hold the workers asked for."""


def available() -> bool:
    """Whether Ray can be imported here."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def recipe(model: Model) -> tuple[str, Any]:
    """What an actor needs to build the model itself: a spec's source text, file name and
    constants (compiled there), or else the model object."""
    if isinstance(model, SpecModel):
        checked = model.cs.checked
        return "spec", (checked.spec.source, checked.spec.filename, dict(checked.consts))
    return "model", model


def build(made_from: tuple[str, Any]) -> Model:
    """The model a `recipe` describes."""
    kind, data = made_from
    if kind == "model":
        return data
    source, filename, constants = data
    return SpecModel(compile_checked(typecheck(parse(source, filename), constants)))


class PartitionActor:
    """One partition of the search (partition.Partition) as a Ray actor. The methods whose
    output goes to other workers return an answer first, then one value per worker."""

    def __init__(self, made_from: tuple[str, Any], symmetry: bool, w: int, n: int) -> None:
        gc.disable()  # see bfs.explore
        self.part = Partition(build(made_from), symmetry, w, n)

    def seed(self, states: list) -> tuple:
        return self.part.seed(states)

    def expand(self, seconds: float | None, *gifts: bytes) -> tuple:
        self.part.take(list(gifts))
        answer, sent = self.part.expand(seconds)
        return (answer, *sent)

    def claim(self, *received: bytes) -> tuple:
        return (("claimed",), *self.part.claim(list(received)))

    def keep(self, *marks: bytes) -> tuple:
        return self.part.keep(list(marks))

    def give(self, plan: Plan) -> tuple:
        return (("given",), *self.part.give(plan))

    def parent(self, local: int) -> tuple[int, int]:
        return self.part.parent_of(local)

    def end(self) -> tuple:
        return self.part.end()


def explore_ray(model: Model, options: Options | None = None, workers: int = 0, address: str | None = None) -> Result:
    """`bfs.explore` with `workers` Ray actors (0: one per CPU of the cluster). Connects to the
    cluster at `address` (as `ray.init` understands it), or to the Ray already initialized in
    this process, or else starts a local one for the search and stops it afterwards."""
    if not available():
        raise RayEngineError(INSTALL_HINT)
    import ray

    opts = options or Options()
    started = False
    if not ray.is_initialized():
        quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if address:
                ray.init(address=address, **quiet)
            else:
                ray.init(num_cpus=max(workers, default_workers()), include_dashboard=False, **quiet)
        except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
            where = f"join the Ray cluster at {address}" if address else "start a local Ray"
            raise RayEngineError(f"cannot {where}: {exc}") from None
        except BaseException:  # stopped while starting (Ctrl-C, --max-seconds): no Ray process left behind
            bounds.current().poll()  # stopping: not to be stopped again in the middle of the shutdown
            ray.shutdown()
            raise
        started = True
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        n = workers if workers > 0 else max(cpus, 1)
        if cpus < n:
            raise RayEngineError(f"the Ray cluster has {cpus} CPUs, fewer than the {n} workers asked for "
                                 "(each worker holds one CPU; lower --workers or add machines)")
        actor = ray.remote(num_cpus=1, max_restarts=0, scheduling_strategy="SPREAD")(PartitionActor)
        made_from = recipe(model)
        start = time.perf_counter()
        actors = [actor.remote(made_from, opts.symmetry, w, n) for w in range(n)]
        try:
            return search(model, opts, _Actors(actors), start)
        finally:
            bounds.current().poll()  # a stop asked for now is this very ending: the clean-up is not interrupted
            for a in actors:
                ray.kill(a)
    finally:
        if started:
            bounds.current().poll()
            ray.shutdown()


class _Actors:
    """The transport (partition.Transport) over Ray actors: each phase's outputs, one object
    reference per receiver, become the receivers' arguments in the next phase."""

    def __init__(self, actors: list) -> None:
        self.actors, self.n = actors, len(actors)
        self.sent: list[list] = []  # [sender][receiver]: fingerprints (expand -> claim), marks (claim -> keep)
        self.gifts: list[list] = []  # [giver][taker]: states given (give -> the next expand)

    def ask(self, msg: tuple) -> list[Any]:
        n, op = self.n, msg[0]
        if op == "seed":
            return self._get([a.seed.remote(msg[1][w]) for w, a in enumerate(self.actors)])
        if op == "expand":
            _, _, plan, seconds = msg
            outs = [a.expand.options(num_returns=n + 1).remote(
                seconds, *[self.gifts[giver][w] for giver, taker, _ in plan.pairs if taker == w])
                for w, a in enumerate(self.actors)]
            self.sent, self.gifts = [o[1:] for o in outs], []
            return self._get([o[0] for o in outs])
        if op == "claim":
            outs = [a.claim.options(num_returns=n + 1).remote(*[self.sent[v][w] for v in range(n)])
                    for w, a in enumerate(self.actors)]
            self.sent = [o[1:] for o in outs]
            return [("claimed",)] * n  # a failure shows in `keep`, which reads these
        if op == "keep":
            refs = [a.keep.remote(*[self.sent[v][w] for v in range(n)]) for w, a in enumerate(self.actors)]
            self.sent = []
            return self._get(refs)
        if op == "give":
            self.gifts = [a.give.options(num_returns=n + 1).remote(msg[2])[1:] for a in self.actors]
            return [("given",)] * n  # a failure shows in the next `expand`, which reads these
        if op == "end":
            return self._get([a.end.remote() for a in self.actors])
        raise ValueError(f"unknown command {op!r}")

    def abort(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a)

    def parent(self, worker: int, local: int) -> tuple[int, int]:
        (answer,) = self._get([self.actors[worker].parent.remote(local)], worker)
        return answer

    def _get(self, refs: list, first: int = 0) -> list[Any]:
        """The answers, in worker order; a worker's failure raised with its traceback."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        answers = []
        for w, ref in enumerate(refs, first):
            _wait(ref)
            try:
                answers.append(ray.get(ref))
            except RayTaskError as exc:
                raise RuntimeError(f"search worker {w} failed:\n{exc}") from None
            except RayActorError as exc:
                raise RuntimeError(f"search worker {w} died or could not start:\n{exc}") from None
        return answers


def _wait(ref: Any) -> None:
    """Wait for an answer a tick at a time, raising `bounds.Stop` here once a stop is asked for. A
    blocking ray.get would hold the main thread in Ray's C++ code, and Ray runs Python's signal
    handlers there only to turn what they raise into a SystemError: meanwhile they only take note."""
    import ray

    guard = bounds.current()
    was, guard.interruptible = guard.interruptible, False
    try:
        while not ray.wait([ref], timeout=bounds.TICK)[0]:
            kind = guard.poll()
            if kind is not None:
                raise bounds.Stop(kind)
    finally:
        guard.interruptible = was
