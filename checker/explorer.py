"""Walking a spec's state graph by hand, one chosen event at a time (the explorer's logic).

A position is a path: the successor indices taken from the initial state, as a trace stores
them (checker/trace.py `replay`). Nothing is kept between requests: every view replays its
path, so back is dropping the last index and a link to a state is its path. The enabled events
are the model's successors, the very list BFS expands; "jump to a violation" runs that BFS
with only the chosen invariant and loads the shortest path it finds.
"""

from __future__ import annotations

from typing import Any

from pnyx.model.compiler import CompiledSpec
from pnyx.model.errors import PnyxError
from pnyx.model.system import as_event
from pnyx.model.types import node_name

from .bfs import Options, explore
from .html_trace import Counterexample, in_flight_rows, render, state_rows
from .model import SpecModel, SpecProperty, State, StepError
from .report import show_binding, violation_line
from .trace import Trace, changes, describe, replay, sends_of

MAX_PATH = 100_000  # steps in one path: a longer one is a mistake, not a walk


class ExploreError(PnyxError):
    """A path that does not fit the spec, or an invariant it does not declare."""


class _OneInvariant(SpecModel):
    """The spec's model with one invariant left: BFS stops only at a state violating it."""

    def __init__(self, cs: CompiledSpec, name: str) -> None:
        super().__init__(cs)
        self._only = name

    def properties(self) -> list[SpecProperty]:
        return [p for p in super().properties() if p.name == self._only]


class Explorer:
    """One spec's state graph, walked by paths: what the explorer's endpoints answer."""

    def __init__(self, cs: CompiledSpec) -> None:
        self.cs = cs
        self.model = SpecModel(cs)
        self.invariants = [p.name for p in cs.properties if p.kind == "invariant"]

    def spec(self) -> dict[str, Any]:
        """What the page shows once: the spec, its nodes and its invariants."""
        cs = self.cs
        return {"spec": cs.name, "file": cs.filename, "constants": cs.checked.consts,
                "nodes": [node_name(i) for i in range(cs.n_nodes)], "invariants": self.invariants}

    def trace(self, path: list[int]) -> Trace:
        """The path replayed from the initial state, or an ExploreError saying why it does not fit."""
        if len(path) > MAX_PATH:
            raise ExploreError(f"a path of {len(path):,} steps: at most {MAX_PATH:,}")
        if any(i < 0 for i in path):
            raise ExploreError("a path lists event numbers from 0 up")
        try:
            trace = replay(self.model, path)
        except IndexError:
            raise ExploreError(f"the path {'.'.join(map(str, path))[:200]} names an event that is not enabled "
                               "in the state it is taken from") from None
        except StepError as exc:
            raise ExploreError(f"the path takes an event that fails: {exc.error}") from None
        return trace

    def view(self, path: list[int]) -> dict[str, Any]:
        """The state at the end of `path`: its variables (what the last step changed marked), the
        messages in flight, the steps taken, the events enabled, and the invariants it violates."""
        trace = self.trace(path)
        state = trace.states[-1]
        cs = self.cs
        before = trace.states[-2] if path else None
        succ = self._successors(state)
        out: dict[str, Any] = {
            "path": path,
            "history": [describe(cs, ev) for ev in trace.events],
            "changes": (changes(cs, trace.states[-2], state) + sends_of(cs, trace.events[-1])) if path else [],
            "state": state_rows(cs, state, before),
            "network": in_flight_rows(self.model, state),
            "enabled": [],
            "error": None,
            "violated": self._violated(state),
        }
        if isinstance(succ, StepError):
            out["error"] = f"{describe(cs, succ.event)} fails: {succ.error}"
        else:
            out["enabled"] = [{"index": i, "text": describe(cs, ev), "kind": as_event(ev).kind,
                               "node": node_name(as_event(ev).at), "self_loop": s2 == state}
                              for i, (ev, s2) in enumerate(succ)]
        return out

    def _successors(self, state: State) -> list | StepError:
        try:
            return self.model.successors(state)
        except StepError as exc:
            return exc

    def _violated(self, state: State) -> list[dict[str, Any]]:
        """The invariants false in `state`, each with its falsifying bindings shown."""
        out = []
        for p in self.model.properties():
            if p.kind != "invariant":
                continue
            try:
                if p.holds(state):
                    continue
                binds = p.explain(state) or {}
                out.append({"name": p.name, "bindings": {k: show_binding(p.entry, k, x) for k, x in binds.items()}})
            except Exception as exc:  # noqa: BLE001 - the spec's error (an index out of range), shown as such
                out.append({"name": p.name, "error": str(p.error(exc))})
        return out

    def page(self, path: list[int]) -> str:
        """The path as the counterexample page (checker/html_trace.py): the walk so far, to keep or share."""
        trace = self.trace(path)
        broken = self._violated(trace.states[-1])
        said = "; ".join(f"invariant {v['name']} is violated" + (f" ({v['error']})" if "error" in v else "")
                         + "".join(f", {k} = {x}" for k, x in v.get("bindings", {}).items()) for v in broken)
        title = f"a path of {len(path)} step{'' if len(path) == 1 else 's'} through {self.cs.name}"
        return render(Counterexample(trace, title, said or "every invariant holds in the last state"))

    def jump(self, invariant: str, max_seconds: float | None = None) -> dict[str, Any]:
        """The shortest path from the initial state to a state violating `invariant` (BFS)."""
        if invariant not in self.invariants:
            known = ", ".join(self.invariants) or "none"
            raise ExploreError(f"{invariant[:60]!r} is not an invariant of {self.cs.name} (its invariants: {known})")
        result = explore(_OneInvariant(self.cs, invariant), Options(max_seconds=max_seconds))
        v = result.violation
        st = result.stats
        searched = {"distinct_states": st.distinct, "complete": result.complete, "stopped_by": result.stopped_by}
        if v is None:
            why = ("no reachable state violates it" if result.complete else
                   f"none found before the search stopped ({result.stopped_by} bound)")
            return {"found": False, "reason": f"invariant {invariant}: {why}", "search": searched}
        return {"found": True, "path": v.trace.steps, "line": violation_line(self.cs, v), "message": v.message,
                "length": len(v.trace), "search": searched}


__all__ = ["ExploreError", "Explorer", "MAX_PATH"]
