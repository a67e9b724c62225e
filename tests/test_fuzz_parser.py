"""Parser and type checker fuzzing: any input is accepted or rejected with a `PnyxError`,
never another exception; whatever type-checks also compiles."""

from __future__ import annotations

from conftest import ROOT
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from pnyx.model.compiler import compile_checked
from pnyx.model.errors import PnyxError
from pnyx.model.parser import GRAMMAR, parse
from pnyx.model.typecheck import check

_GRAMMAR = Lark(GRAMMAR.read_text(), parser="lalr", start="start")
GOSSIP = (ROOT / "spec" / "gossip.pnyx").read_text()


def accepts_or_rejects_cleanly(text: str) -> None:
    try:
        ct = check(parse(text, "fuzz.pnyx"))
    except PnyxError as exc:
        assert str(exc)  # a message for the user
        return
    compile_checked(ct)  # what type-checks must compile


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(from_lark(_GRAMMAR, explicit={"NAME": st.sampled_from(["x", "y", "Node", "N", "v", "self_", "M"]),
                                     "NUMBER": st.sampled_from(["0", "1", "2", "7"])}))
def test_grammar_generated_text(text: str) -> None:
    accepts_or_rejects_cleanly(text)


@settings(max_examples=150, deadline=None)
@given(st.data())
@example(None)
def test_mutated_gossip(data: st.DataObject | None) -> None:
    text = GOSSIP
    if data is not None:
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(text)))
            j = data.draw(st.integers(i, min(len(text), i + 12)))
            text = text[:i] + data.draw(st.sampled_from(["", "x", "1", "{", "}", "(", ")", "..", "not", "self", "\n",
                                                          "-", "Node", ",", ":", "=", "0"])) + text[j:]
    accepts_or_rejects_cleanly(text)


@given(st.text(max_size=60))
def test_arbitrary_text(text: str) -> None:
    accepts_or_rejects_cleanly(text)
