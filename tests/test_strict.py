"""`strict` and `ignore`: a delivered message that no handler accepts is an error in strict
mode, found at the same depth by BFS and by z3's bmc, and by the independent reference;
without `strict` it is dropped; `ignore` exempts a kind; bad declarations are located."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from reference import NaiveExplorer, RefError
from specs import checked, compiled, explore

from pnyx.checker.z3.bmc import bmc
from pnyx.model import ir
from pnyx.model.errors import SpecError

DOC = (ROOT / "docs" / "language.md").read_text()
SPEC, OUTPUT = re.findall(r"```\n(.*?)```", DOC[DOC.index("### Unhandled messages"):], flags=re.S)[:2]


def test_the_docs_example_fails_as_the_doc_shows() -> None:
    result = explore(SPEC)
    assert result.violation is not None and result.violation.kind == "error"
    assert "no handler accepts Ping" in OUTPUT and "no handler accepts Ping" in result.violation.message
    assert len(result.violation.trace.events) == 4  # go, Ping, Note (ignored), go: the 2nd Ping fails


def test_bmc_finds_it_at_the_same_depth() -> None:
    res = bmc(compiled(SPEC), 6)
    assert not res.ok and res.kind == "error" and "no handler accepts Ping" in res.name
    assert len(res.events) == 4


def test_without_ignore_the_first_unhandled_kind_fails_first() -> None:
    result = explore(SPEC.replace("ignore Note\n", ""))
    assert result.violation is not None and "no handler accepts Note" in result.violation.message
    assert len(result.violation.trace.events) == 2


def test_without_strict_the_message_is_dropped_and_the_reference_agrees() -> None:
    lax = SPEC.replace("strict\nignore Note\n", "")
    result = explore(lax)
    assert result.violation is None
    assert result.stats.distinct == len(NaiveExplorer(checked(lax)).explore())
    with pytest.raises(RefError, match="no handler accepts Ping"):
        NaiveExplorer(checked(SPEC)).explore()


def test_a_kind_with_an_unguarded_handler_needs_no_catch_all() -> None:
    core = checked(SPEC.replace("on Ping(k) when k > got", "on Ping(k)")).core
    extra = [h for h in core.handlers if any(isinstance(s, ir.Fail) for s in h.body)]
    assert extra == []  # Note is ignored and Ping always accepted
    core = checked(SPEC).core
    extra = [h for h in core.handlers if any(isinstance(s, ir.Fail) for s in h.body)]
    assert [h.message for h in extra] == ["Ping"]  # type: ignore[attr-defined]


BAD = [
    ("ignore Ping", "4:1", "`ignore` takes effect in strict mode only"),
    ("strict\nignore Pong", "5:8", "unknown message 'Pong' in `ignore`"),
    ("strict\nignore Ping, Ping", "5:14", "message Ping is ignored twice"),
    ("strict\nstrict", "5:1", "a spec declares `strict` once"),
]


@pytest.mark.parametrize(("decl", "where", "message"), BAD)
def test_bad_strict_declarations_are_refused_where_written(decl: str, where: str, message: str) -> None:
    src = f"spec S\nnodes 2\nmessage Ping()\n{decl}\nstate {{ volatile x: int = 0 }}\n"
    with pytest.raises(SpecError) as info:
        checked(src)
    text = str(info.value)
    assert message in text and f":{where}" in text, text


def test_drops_are_counted_per_message_kind_either_way() -> None:
    from pnyx.checker.model import SpecModel

    lax = SPEC.replace("strict\nignore Note\n", "")
    result = explore(lax)
    # an independent count: every delivery transition with no handler, over all reachable states
    model = SpecModel(compiled(lax))
    seen, todo, counts = set(model.init_states()), list(model.init_states()), {}
    while todo:
        s = todo.pop()
        for ev, s2 in model.successors(s):
            if ev.kind == "deliver" and ev.handler == -1:
                name = model.cs.messages[ev.msg[0]].name
                counts[name] = counts.get(name, 0) + 1
            if s2 not in seen:
                seen.add(s2)
                todo.append(s2)
    assert result.stats.dropped == counts and set(counts) == {"Ping", "Note"}
    assert explore(SPEC).stats.dropped.get("Note", 0) > 0  # ignored kinds are counted too
