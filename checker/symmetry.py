"""Symmetry reduction: a canonical representative of a state under renaming of node ids.

The representative is the least state (in tuple order) over all permutations, so two
states that differ only by which node is which share one fingerprint. Exploration keeps
the original states on the path, so traces stay readable. Cost: N! renamings per new
state, cut short as soon as a renamed node vector is already larger than the best.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from model.compiler import CompiledSpec

from .model import State


def canonicalizer(cs: CompiledSpec) -> Callable[[State], State]:
    """A function mapping a state to its representative; identity if the spec is not symmetric."""
    if not cs.symmetric or cs.perm_node_state is None or cs.perm_message is None or cs.n_nodes < 2:
        return lambda s: s
    n = cs.n_nodes
    pns, pmsg = cs.perm_node_state, cs.perm_message
    perms = []
    for p in itertools.permutations(range(n)):
        if p == tuple(range(n)):
            continue
        q = [0] * n
        for old, new in enumerate(p):
            q[new] = old
        perms.append((p, tuple(q)))
    fifo = cs.network == "fifo"
    pairs = [(a, b) for a in range(n) for b in range(n)]

    def canon(state: State) -> State:
        ns, up, net, budget = state
        best = state
        best_ns = ns
        for p, q in perms:
            ns2 = tuple([pns(ns[q[j]], p, q) for j in range(n)])
            if ns2 > best_ns:
                continue
            up2 = tuple([up[q[j]] for j in range(n)])
            if fifo:
                net2 = tuple([tuple([pmsg(m, p, q) for m in net[q[a] * n + q[b]]]) for a, b in pairs])
            else:
                net2 = tuple(sorted([(p[d], p[s], pmsg(m, p, q)) for d, s, m in net]))
            cand = (ns2, up2, net2, budget)
            if cand < best:
                best, best_ns = cand, ns2
        return best

    return canon
