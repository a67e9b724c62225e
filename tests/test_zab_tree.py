"""The ZAB service's replicated state machine (impl/zab_tree.py): ZooKeeper's sequential names
and error words, and exactly-once application of re-submitted writes in a bounded table."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.impl.zab_tree import AppliedWrites, PathError, Replica, Tree, check_path


def payload(server: int, seq: int, op: tuple, low: int | None = None, incarnation: int = 1) -> tuple:
    """A service payload as ZabService._write builds it."""
    return ((server, incarnation, seq, seq if low is None else low), op)


def apply_all(replica: Replica, values: list[Any]) -> list[tuple[bool, Any]]:
    return [replica.apply(v, (1, k + 1))[1] for k, v in enumerate(values)]


# ---- the tree: ZooKeeper's names and words ---------------------------------------------------
def test_sequential_names_count_every_child_change_of_their_parent_as_zookeeper_does() -> None:
    t = Tree()
    assert t.apply(("create", "/q", b""), (1, 1)) == (True, ("/q", (1, 1)))
    assert t.apply(("create", "/q/lock-", b"a", True), (1, 2)) == (True, ("/q/lock-0000000000", (1, 2)))
    assert t.apply(("create", "/q/plain", b""), (1, 3))[0]
    assert t.apply(("create", "/q/lock-", b"b", True), (1, 4))[1][0] == "/q/lock-0000000002"
    assert t.apply(("delete", "/q/lock-0000000000", -1), (1, 5))[0]
    # a delete counts too (the parent's cversion), so a name is never reused under one parent
    assert t.apply(("create", "/q/lock-", b"c", True), (1, 6))[1][0] == "/q/lock-0000000004"
    assert t.apply(("create", "/q/", b"", True), (1, 7))[1][0] == "/q/0000000005"
    # counters are per parent
    assert t.apply(("create", "/r", b""), (1, 8))[0]
    assert t.apply(("create", "/r/x", b"", True), (1, 9))[1][0] == "/r/x0000000000"
    assert sorted(t.nodes["/q"].children) == ["0000000005", "lock-0000000002", "lock-0000000004", "plain"]
    assert t.nodes["/q/lock-0000000004"].data == b"c"


def test_errors_are_worded_as_zookeepers_cli_words_them() -> None:
    t = Tree()
    assert t.apply(("create", "/a", b"v"), (1, 1))[0]
    assert t.apply(("create", "/a/b", b""), (1, 2))[0]
    assert t.apply(("create", "/a", b"again"), (1, 3)) == (False, "Node already exists: /a")
    assert t.apply(("create", "/x/y", b""), (1, 4)) == (False, "Node does not exist: /x/y (no parent /x)")
    assert t.apply(("create", "/x/y", b"", True), (1, 4)) == (False, "Node does not exist: /x/y (no parent /x)")
    assert t.apply(("set", "/nope", b"", -1), (1, 5)) == (False, "Node does not exist: /nope")
    assert t.apply(("set", "/a", b"w", 3), (1, 6)) == (False, "Bad version: /a is at version 0, not 3")
    assert t.apply(("delete", "/a", 0), (1, 7)) == (False, "Node not empty: /a (it has 1 child; delete them first)")
    assert t.apply(("delete", "/a/b", 1), (1, 8)) == (False, "Bad version: /a/b is at version 0, not 1")
    assert t.apply(("delete", "/", -1), (1, 9))[1].startswith("Arguments are not valid: /")
    assert t.apply(("set", "/a", b"w", 0), (1, 10)) == (True, (1, (1, 10)))
    assert t.nodes["/a"].data == b"w" and t.nodes["/a"].mzxid == (1, 10) and t.nodes["/a"].czxid == (1, 1)


@pytest.mark.parametrize("path, sequential, ok", [
    ("/a", False, True), ("/", False, True), ("/a/", False, False), ("/a/", True, True), ("a", True, False),
    ("/a//b", False, False), ("/a/../b", False, False), ("/" + "x" * 1020, True, False), ("/" + "x" * 1013, True, True),
])
def test_paths_are_checked_with_the_suffix_a_sequential_create_adds(path: str, sequential: bool, ok: bool) -> None:
    if ok:
        assert check_path(path, sequential) == path
    else:
        with pytest.raises(PathError):
            check_path(path, sequential)


# ---- exactly once, in a bounded table ------------------------------------------------------------
def test_a_resubmitted_write_is_applied_once_and_every_copy_gets_the_first_answer() -> None:
    r = Replica()
    create = payload(0, 1, ("create", "/c", b""))
    bump = payload(0, 2, ("set", "/c", b"x", -1), low=1)  # any version: a second application would show
    outcomes = apply_all(r, [create, bump, bump, create, bump])
    assert r.tree.nodes["/c"].version == 1
    assert outcomes[1] == outcomes[2] == outcomes[4] == (True, (1, (1, 2)))
    assert outcomes[3] == outcomes[0] == (True, ("/c", (1, 1)))  # not "Node already exists"


def test_without_the_table_the_same_copies_apply_twice() -> None:
    """Negative control for the test above: the tree alone bumps the version per copy."""
    t = Tree()
    t.apply(("create", "/c", b""), (1, 1))
    for k in range(3):
        t.apply(("set", "/c", b"x", -1), (1, k + 2))
    assert t.nodes["/c"].version == 3


def test_a_copy_arriving_after_its_server_let_it_go_is_refused_not_applied_again() -> None:
    r = Replica()
    first = payload(0, 1, ("create", "/c", b""))
    bump = payload(0, 2, ("set", "/c", b"x", -1), low=1)
    later = payload(0, 3, ("sync",), low=3)  # writes 1 and 2 are finished at server 0
    outcomes = apply_all(r, [first, bump, later, bump])
    assert len(r.writes) == 1  # only write 3's outcome is kept
    assert outcomes[3][0] is False and outcomes[3][1].startswith("expired: write 2 of server n1")
    assert r.tree.nodes["/c"].version == 1


def test_a_restarted_server_retires_its_earlier_session() -> None:
    r = Replica()
    old = payload(2, 5, ("create", "/old", b""), incarnation=100)
    new = payload(2, 1, ("create", "/new", b""), incarnation=200)
    outcomes = apply_all(r, [new, old])
    assert outcomes[1][0] is False and "earlier run of server n3" in outcomes[1][1]
    assert "/old" not in r.tree.nodes and list(r.writes.sessions) == [2]


def test_values_that_are_not_service_payloads_are_no_operation() -> None:
    r = Replica()
    assert r.apply(1, (1, 1)) == (None, (False, "no operation"))  # a checker trace's value
    assert r.apply(((1, 2, 3), ("sync",)), (1, 2)) == (None, (False, "no operation"))
    assert len(r.writes) == 0 and len(r.tree.nodes) == 1


def test_the_table_stays_bounded_over_a_long_history_with_copies() -> None:
    """Three servers with up to 8 writes outstanding each, resubmitting them (identical
    copies) and sometimes giving up; each copy is applied among the 5 oldest in flight (the
    log's order, give or take a leader change): 20,000 events, no write applied twice, and the
    table never holds more than each server's last 16 writes."""
    rng = random.Random(7)
    table = AppliedWrites()
    next_seq = [1, 1, 1]
    outstanding: list[dict[int, tuple]] = [{}, {}, {}]  # seq -> its id, until answered or given up
    in_flight: list[tuple] = []
    applied: dict[tuple[int, int], int] = {}
    peak = 0
    for _ in range(20_000):
        s, roll = rng.randrange(3), rng.random()
        if roll < 0.3 and len(outstanding[s]) < 8:
            seq = next_seq[s]
            next_seq[s] += 1
            outstanding[s][seq] = (s, 1, seq, min([seq, *outstanding[s]]))
            in_flight.append(outstanding[s][seq])
        elif roll < 0.4 and outstanding[s]:
            in_flight.append(rng.choice(list(outstanding[s].values())))  # resubmitted: its leader may have died
        elif roll < 0.52 and outstanding[s]:
            del outstanding[s][rng.choice(list(outstanding[s]))]  # gave up: "it may still take effect"
        elif in_flight:
            wid = in_flight.pop(rng.randrange(min(5, len(in_flight))))

            def run(key: tuple[int, int] = (wid[0], wid[2])) -> tuple[bool, Any]:
                applied[key] = applied.get(key, 0) + 1
                return True, key

            table.apply(wid, run)
            outstanding[wid[0]].pop(wid[2], None)  # its server has its answer
        for server, session in table.sessions.items():  # only ids among the server's last 16
            assert all(seq >= next_seq[server] - 16 for seq in session.outcomes), (server, sorted(session.outcomes))
        peak = max(peak, len(table))
    assert max(applied.values()) == 1 and len(applied) > 5000
    assert 8 <= peak <= 3 * 16


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6), st.sampled_from(["set", "seq"])), min_size=1, max_size=40),
       st.randoms(use_true_random=False))
def test_replicas_applying_one_history_with_copies_agree_and_apply_each_write_once(
        writes: list[tuple[int, int, str]], rnd: random.Random) -> None:
    """Each distinct (server, seq) names one write; copies of it are scattered in the history.
    Two replicas agree on everything, and each write changed the tree once at most."""
    ops = {(s, q): ("set", "/c", b"", -1) if kind == "set" else ("create", "/c/n-", b"", True) for s, q, kind in writes}
    history = [payload(0, 0, ("create", "/c", b""), incarnation=0)]
    history += [payload(s, q, op, low=1) for (s, q), op in ops.items() for _ in range(rnd.randint(1, 3))]
    rest = history[1:]
    rnd.shuffle(rest)
    history[1:] = rest
    a, b = Replica(), Replica()
    assert apply_all(a, history) == apply_all(b, history)
    assert {p: (n.data, n.version, n.cversion) for p, n in a.tree.nodes.items()} == \
           {p: (n.data, n.version, n.cversion) for p, n in b.tree.nodes.items()}
    sets = sum(op[0] == "set" for op in ops.values())
    creates = len(ops) - sets
    assert a.tree.nodes["/c"].version == sets and len(a.tree.nodes["/c"].children) == creates
