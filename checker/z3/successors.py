"""The z3 transition relation run on one concrete state, read back as checker/model.py's successors.

Differential tests compare this list with `SpecModel.successors` state by state: the
translation and the explicit model are two implementations of one semantics, and any
event one allows and the other does not is a bug in one of them.
"""

from __future__ import annotations

import z3

from pnyx.model.system import Event

from .encode import is_false
from .translate import Branch, Translator, free_leaves

MAX_OUTCOMES = 10_000  # per branch: a safety net, far above what a small spec's choices give


def outcomes(tr: Translator, br: Branch) -> list[tuple[Event, tuple]]:
    """Every (event, post-state) of one branch, by enumerating the models of its free choices."""
    if is_false(br.enabled):
        return []
    solver = z3.Solver()
    solver.add(br.enabled, *br.side)
    free = free_leaves(br)
    out: list[tuple[Event, tuple]] = []
    while solver.check() == z3.sat:
        m = solver.model()
        out.append((tr.event(br, m), tr.decode_state(br.post, m)))
        if not free or len(out) >= MAX_OUTCOMES:
            break
        solver.add(z3.Or(*(x != m.eval(x, model_completion=True) for x in free)))
    return out


def z3_successors(tr: Translator, state: tuple) -> list[tuple[Event, tuple]]:
    """Every (event, successor) the translation allows from `state` (which must be within its bounds)."""
    out: list[tuple[Event, tuple]] = []
    for br in tr.branches(tr.concrete_state(state)):
        out += outcomes(tr, br)
    return out
