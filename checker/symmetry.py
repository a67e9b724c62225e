"""Symmetry reduction: a canonical representative of a state under renaming of node ids.

The representative is the least state (in tuple order) over a set of candidate
renamings that depends only on the state's orbit: nodes are first sorted by a
signature that renaming cannot change (up flag, variables holding no node ids, sizes
of collections of node ids), and only the renamings that put the signatures in
sorted order are tried (all of them among nodes whose signatures tie). Two states
that differ only by which node is which therefore share one representative, and a
state whose nodes all differ costs one renaming instead of N!. Exploration keeps the
original states on the path, so traces stay readable. With node roles, a node's class
(its symmetric role, or the node alone) leads its signature, so only nodes of one
symmetric role are ever interchanged.

Ties are where the cost lies: k nodes with one signature allow k! renamings. The
renamings tried per state are capped at `MAX_RENAMINGS`. Tie groups are taken in
signature order; a group is permuted in full while the product of the groups'
factorials stays within the cap, and any other group keeps its nodes in id order.
The trade-off: every candidate is still a renaming of the state, so the representative
lies in the state's orbit and merging states by representative stays sound (no
reachable state is missed, no two inequivalent states merge); but two renamings of
one state may then get different representatives, so fewer states merge than could.
Nothing is ever enumerated beyond the cap, whatever N is: ties are permuted lazily and
the table of permutations exists only for group sizes whose factorial fits in the cap.
With at most 6 nodes (6! = 720) every orbit still has exactly one representative.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from pnyx.model.compiler import CompiledSpec

from .model import State

MAX_RENAMINGS = 720  # renamings tried per state: all of them among up to 6 tied nodes
CACHE_CELLS = 4_000_000  # integers the candidate cache may hold (a fifo renaming carries N*N channel indices)

Candidate = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...] | None]


def tie_plan(sizes: tuple[int, ...], cap: int) -> tuple[bool, ...]:
    """Which tie groups are permuted in full: in order, while the product of factorials fits in `cap`.

    It depends on the group sizes only, which renaming cannot change, so renamed copies of a
    state make the same choice.
    """
    plan = []
    budget = cap
    for size in sizes:
        f = 1
        for k in range(2, size + 1):  # size! without computing it beyond the budget
            f *= k
            if f > budget:
                break
        if f <= budget:
            plan.append(True)
            budget //= f
        else:
            plan.append(False)
    return tuple(plan)


def canonicalizer(cs: CompiledSpec) -> Callable[[State], State]:
    """A function mapping a state to its representative; identity if the spec is not symmetric."""
    if not cs.symmetric or cs.perm_node_state is None or cs.perm_message is None or cs.n_nodes < 2:
        return lambda s: s
    n = cs.n_nodes
    pns, pmsg = cs.perm_node_state, cs.perm_message
    fifo = cs.network == "fifo"
    pairs = [(a, b) for a in range(n) for b in range(n)] if fifo else []
    sig = cs.node_signature
    assert sig is not None
    identity = tuple(range(n))
    cap = MAX_RENAMINGS
    group_perms: dict[int, tuple[tuple[int, ...], ...]] = {}  # filled on demand, only for sizes whose k! <= cap
    moving = cs.messages_hold_nodes
    candidates_cache: dict[tuple, list[Candidate]] = {}
    cells = [0]  # integers held by the cache
    cell_cost = 2 * n + (n * n if fifo else 0)
    # Roles: a node is renamed only within its class (checked.symmetry_classes). Classes are
    # numbered by their first node id, so sorting by class first keeps each role's block in place.
    classes = cs.checked.symmetry_classes
    by_class = any(classes)

    def permutations_of(k: int) -> tuple[tuple[int, ...], ...]:
        hit = group_perms.get(k)
        if hit is None:
            hit = group_perms[k] = tuple(itertools.permutations(range(k)))
        return hit

    def candidates(order: list[int], sizes: tuple[int, ...]) -> list[Candidate]:
        """The (p, q, channel order) that map the sorted order onto positions 0..n-1, ties permuted as planned."""
        key = (tuple(order), sizes)
        hit = candidates_cache.get(key)
        if hit is not None:
            return hit
        per_group = []
        start = 0
        for size, full in zip(sizes, tie_plan(sizes, cap)):
            members = order[start : start + size]
            if full and size > 1:
                per_group.append([tuple(members[i] for i in perm) for perm in permutations_of(size)])
            else:
                per_group.append([tuple(members)])  # too many ties: id order, sound but reducing less
            start += size
        out: list[Candidate] = []
        for combo in itertools.product(*per_group):
            q = tuple(x for grp in combo for x in grp)  # new position j holds old node q[j]
            p = [0] * n
            for new, old in enumerate(q):
                p[old] = new
            out.append((tuple(p), q, tuple([q[a] * n + q[b] for a, b in pairs]) if fifo else None))
        cost = len(out) * cell_cost
        if len(candidates_cache) < 100_000 and cells[0] + cost <= CACHE_CELLS:
            candidates_cache[key] = out
            cells[0] += cost
        return out

    def canon(state: State) -> State:
        ns, up, net, budget = state
        if by_class:
            sigs = [(classes[i], up[i], sig(ns[i])) for i in range(n)]
        else:
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
                    net2 = tuple([net[c] for c in chans])  # type: ignore[union-attr]
                elif fifo:
                    net2 = tuple([tuple([pmsg(m, p, q) for m in net[c]]) for c in chans])  # type: ignore[union-attr]
                else:
                    net2 = tuple(sorted([(p[d], p[s], pmsg(m, p, q)) for d, s, m in net]))
                cand = (ns2, up2, net2, budget)
            if best is None or cand < best:
                best, best_ns = cand, ns2
        assert best is not None
        return best

    return canon
