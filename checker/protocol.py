"""The narrow interface an explorer needs from a model (Stateright's `Model` trait, in Python).

A compiled spec (checker/model.py's SpecModel) is one implementation; a test can hand-write
another. The explorer never looks inside a state: it hashes it, asks for its successors, and
evaluates the properties on it, re-evaluating only those whose reads the step changed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from pnyx.model.errors import ModelError


class Property(Protocol):
    """A named predicate on states: an `invariant` holds in every reachable state; a `reachable`
    one must hold in some reachable state (a vacuity check)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...  # invariant | reachable

    @property
    def reads(self) -> frozenset[Hashable] | None: ...  # the parts of a state it reads (see Model.changed); None: all

    def holds(self, state: Any) -> bool: ...

    def explain(self, state: Any) -> dict[str, Any] | None: ...  # the bindings that falsify it, if any

    def error(self, exc: Exception) -> ModelError: ...  # why evaluating it raised `exc`, for the report


class Model(Protocol):
    """What breadth-first search needs. Successors come in a fixed order, so that a path is the
    list of their indices; `successors` raises `StepError` (checker/model.py) when a step fails."""

    @property
    def name(self) -> str: ...

    @property
    def symmetric(self) -> bool: ...  # `representative` may map two states to one

    def init_states(self) -> list[Any]: ...

    def successors(self, state: Any) -> list[tuple[Any, Any]]: ...  # [(event, next state), ...]

    def properties(self) -> Sequence[Property]: ...

    def changed(self, before: Any, after: Any) -> set[Hashable]: ...  # the reads a step from before to after changed

    def fingerprint(self, state: Any) -> int: ...  # equal states, equal fingerprints, in every process

    def representative(self) -> Callable[[Any], Any]: ...  # a state -> its canonical form under symmetry
