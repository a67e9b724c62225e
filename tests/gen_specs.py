"""A hypothesis strategy for small random specs, for cross-checking the checker.

The generated specs use most of the language (sets, options, maps, records of the
message, choose, for, let, if, sends to a node and to a set, requests, timers, recovery,
crashes, losses, duplication) but keep every value inside its type (arithmetic is
clamped, appends are guarded) and every channel bounded, so the state space is finite
and small and no handler fails.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# Global properties over the generated state, declared `reachable` so they never stop the
# search; tests compare their value in every reachable state with the reference's.
PROPERTIES = [
    "forall n in Node: n.a <= n.b or n.s == {}",
    "exists n, k in Node: n != k and n in k.s",
    "forall n in Node: n.o == none or value(n.o) in n.s",
    "forall n in Node: len(n.g) <= 1 or n.g[0] == n.g[1]",
    "forall n in Node: forall k in Node: n.m[k] <= n.a",
    "{n.a for n in Node} == {0}",
    "forall n in Node: is_prefix(n.g[0:1], n.g) and n.g[1:] == tail(n.g)",
    "exists n in Node: max({n.a, n.b}) == 1 and min(n.a, n.b) == 0",
    "forall n in Node: (if n.o == none then 0 else 1) + len(n.s) <= 2",
    "exists n in Node: len({k in Node where n.m[k] > 0}) == 1",
    "forall x in A: x.v == 0 or x.src != x.dst",
    "exists x in B: x.who == x.dst and len(A) <= 1",
]


class _Gen:
    def __init__(self, draw: st.DrawFn, hi: int) -> None:
        self.draw = draw
        self.hi = hi
        self.count = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def pick(self, options: list[str]) -> str:
        return self.draw(st.sampled_from(options))

    def clamp(self, e: str) -> str:
        return f"min(max({e}, 0), {self.hi})"

    def int_expr(self, ints: list[str], nodes: list[str], depth: int = 0) -> str:
        leaves = ints + [str(i) for i in range(self.hi + 1)] + ["len(s)"] + [f"m[{n}]" for n in nodes]
        if depth >= 2 or self.draw(st.booleans()):
            return self.pick(leaves)
        kind = self.pick(["+", "-", "cond", "opt"])
        if kind == "cond":
            return f"(if {self.bool_expr(ints, nodes, depth + 1)} then {self.int_expr(ints, nodes, depth + 1)} " \
                   f"else {self.int_expr(ints, nodes, depth + 1)})"
        if kind == "opt":
            return "(if o == none then 0 else 1)"
        return f"({self.int_expr(ints, nodes, depth + 1)} {kind} {self.int_expr(ints, nodes, depth + 1)})"

    def node_expr(self, nodes: list[str]) -> str:
        return self.pick(nodes + ["(if o == none then self else value(o))"])

    def bool_expr(self, ints: list[str], nodes: list[str], depth: int = 0) -> str:
        kind = self.pick(["cmp", "eq", "in", "nodeq", "not", "and", "or", "exists", "forall", "true"])
        if depth >= 2 and kind in ("not", "and", "or"):
            kind = "cmp"
        if kind == "cmp":
            return f"{self.int_expr(ints, nodes, depth + 1)} < {self.int_expr(ints, nodes, depth + 1)}"
        if kind == "eq":
            return f"{self.int_expr(ints, nodes, depth + 1)} == {self.int_expr(ints, nodes, depth + 1)}"
        if kind == "in":
            return f"{self.node_expr(nodes)} {self.pick(['in', 'not in'])} s"
        if kind == "nodeq":
            return f"{self.node_expr(nodes)} {self.pick(['==', '!='])} {self.node_expr(nodes)}"
        if kind == "not":
            return f"not ({self.bool_expr(ints, nodes, depth + 1)})"
        if kind in ("and", "or"):
            return f"({self.bool_expr(ints, nodes, depth + 1)} {kind} {self.bool_expr(ints, nodes, depth + 1)})"
        if kind in ("exists", "forall"):
            q = self.fresh("p")
            body = self.bool_expr(ints, nodes + [q], depth + 1)
            return f"({kind} {q} in Node: {body})"
        return "true"

    def node_set(self, nodes: list[str]) -> str:
        q = self.fresh("p")
        return self.pick(["s", "{" + self.node_expr(nodes) + "}", f"{{{q} in Node where {q} != self}}",
                          f"{{{q} in Node where {q} not in s}}"])

    def block(self, ints: list[str], nodes: list[str], depth: int, n: int | None = None) -> list[str]:
        ints, nodes = list(ints), list(nodes)
        out: list[str] = []
        for _ in range(n if n is not None else self.draw(st.integers(0, 3))):
            out += self.stmt(ints, nodes, depth)
        return out

    def stmt(self, ints: list[str], nodes: list[str], depth: int) -> list[str]:
        kinds = ["a", "b", "sadd", "sdel", "map", "opt", "send", "sendb", "log"]
        if depth < 2:
            kinds += ["if", "choose", "subset", "for", "let"]
        kind = self.pick(kinds)
        ie = lambda: self.clamp(self.int_expr(ints, nodes))  # noqa: E731
        if kind in ("a", "b"):
            return [f"{kind} = {ie()}"]
        if kind == "sadd":
            return [f"s = s | {{{self.node_expr(nodes)}}}"]
        if kind == "sdel":
            return [f"s = s - {self.node_set(nodes)}"]
        if kind == "map":
            return [f"m[{self.node_expr(nodes)}] = {ie()}"]
        if kind == "opt":
            return [self.pick(["o = none", f"o = some({self.node_expr(nodes)})"])]
        if kind == "send":
            dest = self.node_expr(nodes) if self.draw(st.booleans()) else self.node_set(nodes)
            return [f"send A({ie()}) to {dest}"]
        if kind == "sendb":
            return [f"send B(who: {self.node_expr(nodes)}, v: {ie()}) to {self.node_expr(nodes)}"]
        if kind == "log":
            return [f"if len(g) < 2 {{ g = append(g, {ie()}) }}"]
        if kind == "if":
            cond = self.bool_expr(ints, nodes)
            then = self.block(ints, nodes, depth + 1)
            other = self.block(ints, nodes, depth + 1)
            return [f"if {cond} {{"] + ["  " + x for x in then] + ["} else {"] + ["  " + x for x in other] + ["}"]
        if kind == "choose":
            q = self.fresh("c")
            nodes.append(q)
            return [f"choose {q} in {self.node_set(nodes[:-1])}"]
        if kind == "subset":
            q = self.fresh("u")
            return [f"choose {q} subset of {self.node_set(nodes)} size {self.draw(st.integers(0, 2))}",
                    f"send A({ie()}) to {q}"]
        if kind == "for":
            q = self.fresh("f")
            body = self.block(ints, nodes + [q], depth + 1, n=self.draw(st.integers(1, 2)))
            return [f"for {q} in {self.node_set(nodes)} {{"] + ["  " + x for x in body] + ["}"]
        q = self.fresh("t")  # let
        line = f"let {q} = {ie()}"
        ints.append(q)
        if self.draw(st.booleans()):
            return [line, f"{q} = {self.clamp(q + ' + 1')}"]
        return [line]

    def handler(self, head: str, ints: list[str], nodes: list[str], guard: bool = True) -> list[str]:
        g = f" when {self.bool_expr(ints, nodes)}" if guard and self.draw(st.booleans()) else ""
        body = self.block(ints, nodes, 0, n=self.draw(st.integers(1, 3)))
        return [f"{head}{g} {{"] + ["  " + x for x in body] + ["}"]


@st.composite
def small_specs(draw: st.DrawFn, symmetric: bool | None = None) -> str:
    """The source text of a small random spec with a finite state space."""
    hi = draw(st.integers(1, 2))
    g = _Gen(draw, hi)
    n = draw(st.integers(1, 3) if hi == 1 else st.integers(1, 2))
    net = draw(st.sampled_from(["fifo", "unordered"]))
    sym = draw(st.booleans()) if symmetric is None else symmetric
    budget = {
        "requests": draw(st.integers(0, 2)),
        "crashes": draw(st.integers(0, 1)),
        "losses": draw(st.integers(0, 1)),
        "duplicates": draw(st.integers(0, 1)) if net == "unordered" else 0,
    }
    lines = [
        "spec gen",
        f"nodes {n}{' symmetric' if sym else ''}",
        f"network {net} capacity {draw(st.integers(1, 2))}",
        "budget { " + "  ".join(f"{k} = {v}" for k, v in budget.items()) + " }",
        f"message A(v: 0..{hi})",
        f"message B(who: Node, v: 0..{hi})",
        "state {",
        f"  persistent a: 0..{hi} = 0",
        f"  volatile b: 0..{hi} = {draw(st.integers(0, hi))}",
        "  volatile s: set[Node] = {}",
        f"  volatile m: map[Node, 0..{hi}]",
        "  volatile o: option[Node] = none",
        f"  ghost g: seq[0..{hi}, 2] = []",
        "}",
    ]
    lines += g.handler("on request put(k: 0.." + str(hi) + ")", ["a", "b", "k"], ["self"])
    lines += g.handler("on timer tick", ["a", "b"], ["self"])
    lines += g.handler("on A(x) from src", ["a", "b", "x"], ["self", "src"])
    lines += g.handler("on B(w, x) from src", ["a", "b", "x"], ["self", "src", "w"])
    if draw(st.booleans()):
        lines += g.handler("on recover", ["a", "b"], ["self"], guard=False)
    lines += [f"reachable R{i}: {p}" for i, p in enumerate(PROPERTIES)]
    return "\n".join(lines) + "\n"


def sample_specs(count: int, key: Callable[[str], Hashable | None], tries: int = 20) -> list[str]:
    """Up to `count` specs with distinct, non-None `key`s, drawn from a fixed seed: the same list on every run.

    Hypothesis' derandomized mode draws them (no database, no shrinking), so tests and
    benchmarks outside `@given` (which run many specs in one batch) get a stable sample.
    Hypothesis draws many near-copies of a spec; a key such as the state count keeps one of each.
    """
    out: list[str] = []
    seen: set[Hashable] = set()

    @settings(max_examples=count * tries, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(small_specs())
    def collect(src: str) -> None:
        if len(out) >= count:
            return
        k = key(src)
        if k is not None and k not in seen:
            seen.add(k)
            out.append(src)

    collect()
    return out
