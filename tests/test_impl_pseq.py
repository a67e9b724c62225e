"""AppendSeq behaves as the immutable tuple it stands for, whatever is appended to which version."""

from __future__ import annotations

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
