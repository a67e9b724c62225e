"""AppendSeq behaves as the immutable tuple it stands for, whatever is appended to which version."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.impl.pseq import AppendSeq
from pnyx.impl.wire import decode, encode

# each op: (which earlier version, what to do with it, argument)
OPS = st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["append", "extend", "prefix", "slice", "concat"]),
                         st.lists(st.integers(-3, 3), max_size=3)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_every_version_stays_the_tuple_it_was(ops: list) -> None:
    versions: list[tuple[AppendSeq | tuple, tuple]] = [(AppendSeq.of(()), ())]
    for which, op, arg in ops:
        seq, model = versions[which % len(versions)]
        if op == "append" and isinstance(seq, AppendSeq):
            versions.append((seq + (arg[0] if arg else 0,), model + (arg[0] if arg else 0,)))
        elif op == "extend" and isinstance(seq, AppendSeq):
            versions.append((seq + AppendSeq.of(arg), model + tuple(arg)))
        elif op == "prefix":
            k = arg[0] % (len(model) + 1) if arg else 0
            versions.append((seq[0:k], model[0:k]))
        elif op == "slice":
            versions.append((seq[1:], model[1:]))
        elif op == "concat":
            versions.append((tuple(arg) + seq, tuple(arg) + model))
        for s, m in versions:  # no later append changed an earlier version
            assert s == m and m == s and not (s != m)
            assert len(s) == len(m) and list(s) == list(m) and hash(s) == hash(m)
            assert all(s[i] == m[i] for i in range(-len(m), len(m)))
            assert decode(encode(s)) == m
            assert all(x in s for x in m) and (99 in s) is False
    for (a, ma), (b, mb) in zip(versions, versions[1:], strict=False):
        assert (a == b) == (ma == mb) and (a < b) == (ma < mb) and (a >= b) == (ma >= mb)


def test_appending_to_the_newest_view_shares_its_list_and_reports_the_new_items() -> None:
    a = AppendSeq.of((1, 2))
    b = a + (3,)
    c = b + (4, 5)
    assert c.appended_since(a) == (3, 4, 5) and c.appended_since(c) == () and a.appended_since(c) is None
    fork = b + (9,)  # b is no longer the newest view of its list: this copies
    assert fork == (1, 2, 3, 9) and c == (1, 2, 3, 4, 5) and fork.appended_since(b) is None
    assert c.appended_since((1, 2)) is None  # a plain tuple: unknown without comparing


def test_a_real_nodes_ghost_sequences_grow_in_place_within_a_step() -> None:
    """Ghost variables serve only properties: a real node (keep_ghost=False) blanks them after
    every step. Each ghost sequence starts a step as an empty AppendSeq of its own, so a step that
    appends many items to one (ZAB's `delivered` when a new leader commits its whole retained log)
    extends a list in place instead of copying a tuple per item (O(items^2))."""
    from pathlib import Path

    from pnyx.impl.node import NodeRuntime
    from pnyx.impl.storage import MemoryStorage
    from pnyx.model.compiler import load

    cs = load(str(Path(__file__).resolve().parent.parent / "spec" / "zab.pnyx"),
              {"TXNS": 100, "VALUES": 10**6, "MAX_EPOCH": 10, "TIMEOUTS": 10, "RETAIN": 1000})
    queue: list[tuple[int, int, tuple]] = []

    class Net:
        def send(self, src: int, dst: int, msg: tuple) -> None:
            queue.append((src, dst, msg))

    class First:
        def pick(self, options: Any, site: int = 0) -> Any:
            return options[0]

        def subset(self, options: Any, size: int, site: int = 0) -> tuple:
            return tuple(options[:size])

    nodes = [NodeRuntime(cs, i, MemoryStorage(), Net(), keep_ghost=False, chooser=First()) for i in range(3)]
    delivered = next(v.slot for v in cs.vars if v.name == "delivered")

    def settle() -> None:
        while queue:
            src, dst, msg = queue.pop(0)
            nodes[dst].deliver(src, msg)

    for rt in nodes:
        rt.start()
    for i in (1, 2):
        nodes[i].timer(nodes[i].timer_handler("elect"))
    settle()
    for k in range(40):
        assert nodes[0].request("write", (k,)) is not None
        assert nodes[0].timer(nodes[0].timer_handler("logProposals")) is not None  # the leader logs it, as a host does
        settle()
    follower = nodes[1]
    follower.timer(follower.timer_handler("followerTimeout"))  # back to election: commit = base = 0
    nodes[0].timer(nodes[0].timer_handler("leaderTimeout"))
    nodes[2].timer(nodes[2].timer_handler("followerTimeout"))
    blank = follower.state[delivered]
    assert isinstance(blank, AppendSeq) and len(blank) == 0
    for i in (1, 2):
        nodes[i].timer(nodes[i].timer_handler("elect"))
    settle()  # the new leader's UPTODATE makes the follower deliver all 40 again, in one step
    assert follower.get("commit") == 40 and len(blank) == 0 and len(blank._items) == 40  # appended in place
    after = follower.state[delivered]
    assert isinstance(after, AppendSeq) and len(after) == 0 and after._items == []  # a fresh one for the next step
