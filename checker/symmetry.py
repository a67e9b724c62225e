"""Symmetry reduction: a canonical representative of a state under renaming of node ids.

The representative is the least state (in tuple order) over a set of candidate
renamings that depends only on the state's orbit: nodes are first sorted by a
signature that renaming cannot change (up flag, variables holding no node ids, sizes
of collections of node ids), and only the renamings that put the signatures in
sorted order are tried (all of them among nodes whose signatures tie). Two states
that differ only by which node is which therefore share one representative, and a
state whose nodes all differ costs one renaming instead of N!. Exploration keeps the
original states on the path, so traces stay readable.
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
    fifo = cs.network == "fifo"
    pairs = [(a, b) for a in range(n) for b in range(n)]
    sig = cs.node_signature
    assert sig is not None
    identity = tuple(range(n))
    group_perms: dict[int, list[tuple[int, ...]]] = {k: list(itertools.permutations(range(k))) for k in range(1, n + 1)}
    moving = cs.messages_hold_nodes
    Candidate = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    candidates_cache: dict[tuple, list[Candidate]] = {}

    def candidates(order: list[int], sizes: tuple[int, ...]) -> list[Candidate]:
        """Every (p, q, channel order) that maps the sorted order onto positions 0..n-1, ties permuted."""
        key = (tuple(order), sizes)
        hit = candidates_cache.get(key)
        if hit is not None:
            return hit
        per_group = []
        start = 0
        for size in sizes:
            members = order[start : start + size]
            per_group.append([tuple(members[i] for i in perm) for perm in group_perms[size]])
            start += size
        out = []
        for combo in itertools.product(*per_group):
            q = tuple(x for grp in combo for x in grp)  # new position j holds old node q[j]
            p = [0] * n
            for new, old in enumerate(q):
                p[old] = new
            out.append((tuple(p), q, tuple([q[a] * n + q[b] for a, b in pairs])))
        if len(candidates_cache) < 100_000:
            candidates_cache[key] = out
        return out

    def canon(state: State) -> State:
        ns, up, net, budget = state
        sigs = [(up[i], sig(ns[i])) for i in range(n)]
        order = sorted(range(n), key=sigs.__getitem__)
        sizes = []
        run = 1
        for j in range(1, n):
            if sigs[order[j]] == sigs[order[j - 1]]:
                run += 1
            else:
                sizes.append(run)
                run = 1
        sizes.append(run)
        best = None
        best_ns = None
        for p, q, chans in candidates(order, tuple(sizes)):
            if p == identity:
                ns2 = ns
            else:
                ns2 = tuple([pns(ns[q[j]], p, q) for j in range(n)])
            if best_ns is not None and ns2 > best_ns:
                continue
            if p == identity:
                cand = state
            else:
                up2 = tuple([up[q[j]] for j in range(n)])
                if fifo and not moving:
                    net2 = tuple([net[c] for c in chans])
                elif fifo:
                    net2 = tuple([tuple([pmsg(m, p, q) for m in net[c]]) for c in chans])
                else:
                    net2 = tuple(sorted([(p[d], p[s], pmsg(m, p, q)) for d, s, m in net]))
                cand = (ns2, up2, net2, budget)
            if best is None or cand < best:
                best, best_ns = cand, ns2
        assert best is not None
        return best

    return canon
