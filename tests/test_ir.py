"""The core IR (model/ir.py, built by model/lower.py): what it decides once for every back end.

Names resolved to their meaning, `send` and record fields in declared order, `choose` sites
numbered in statement order, property reads found by a walk of the IR (checked here against
the span containment the compiler used before), and visitors that name an unsupported node.
"""

from __future__ import annotations

import pytest
from conftest import ROOT
from specs import checked, compiled

from pnyx.model import ast as A
from pnyx.model import ir
from pnyx.model.compiler import load
from pnyx.model.errors import SpecError

SPEC = """spec irtest
const N = 2
nodes N
type Pair = record { a: 0..3, b: bool }
message Ping(k: 0..3, ok: bool)
state {
  volatile x: 0..3 = 0
  volatile p: Pair = Pair(b: false, a: 0)
}
on Ping(k, _) from s when k >= 0 {
  let y = k
  for i in 0..1 { x = i }
  if y > 1 {
    choose z in {q in Node where q != self}
    send Ping(ok: true, k: y) to z
  } else {
    choose w subset of Node size 1
    send Ping(k, false) to w
  }
  choose c in 0..1
  p.a = c
}
on request put(v: 0..3) { x = v  reply v }
invariant Small: forall n in Node: n.x <= 3 and (exists m in 0..3: m == n.p.a)
invariant FewPings: forall q in Ping: q.k <= 3
reachable Any: exists n in Node: n.x == 1
"""

BUNDLED = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "spec").rglob("*.pnyx"))


def _core(source: str) -> ir.Program:
    return checked(source).core


def test_names_resolve_to_their_meaning_and_binding() -> None:
    prog = _core(SPEC)
    h = prog.handlers[0]
    locals_ = {(x.name, x.binding) for x in ir.walk(h) if isinstance(x, ir.Local)}
    assert locals_ == {("k", "field"), ("y", "let"), ("i", "loop"), ("z", "choice"), ("w", "choice"),
                       ("c", "choice"), ("q", "bound")}
    assert {(x.name, x.slot) for x in ir.walk(h) if isinstance(x, ir.StateVar)} == {("x", 0), ("p", 1)}
    assert any(isinstance(x, ir.SelfId) for x in ir.walk(h))
    request = prog.handlers[1]
    assert isinstance(request, ir.OnRequest) and [p.name for p in request.params] == ["v"]
    assert {(x.name, x.binding) for x in ir.walk(request) if isinstance(x, ir.Local)} == {("v", "param")}
    assert [x.value for x in ir.walk(prog.vars[1]) if isinstance(x, ir.Literal)] == [False, 0]


def test_fields_in_declared_order_once_for_sends_and_records() -> None:
    prog = _core(SPEC)
    sends = [x for x in ir.walk(prog.handlers[0]) if isinstance(x, ir.Send)]
    assert [[f for f, _ in s.fields] for s in sends] == [["k", "ok"], ["k", "ok"]]
    assert [type(e).__name__ for _, e in sends[0].fields] == ["Local", "Literal"]
    init = prog.vars[1].init
    assert isinstance(init, ir.RecordLit) and [f for f, _ in init.fields] == ["a", "b"]


def test_choose_sites_numbered_in_statement_order() -> None:
    ct = checked(SPEC)
    h = ct.core.handlers[0]
    assert [(c.var, c.site) for c in h.choices] == [("z", 0), ("w", 1), ("c", 2)]
    assert [ir.contains_choice(s) for s in h.body] == [False, False, True, True, False]
    cs = compiled(SPEC)
    assert [v for v, _ in cs.handlers[0].choice_sites] == ["z", "w", "c"]
    assert not cs.handlers[1].has_choice


@pytest.mark.parametrize("path", BUNDLED)
def test_bundled_choose_sites_are_every_choose_once(path: str) -> None:
    ct = load(str(ROOT / path)).checked
    for h_ast, h in zip(ct.handlers, ct.core.handlers):
        chooses = [s for s in _statements(h_ast.body) if isinstance(s, A.ChooseOne | A.ChooseSubset)]
        assert [c.site for c in h.choices] == list(range(len(chooses)))


def test_property_reads_by_walk() -> None:
    props = {p.name: p for p in _core(SPEC).properties}
    assert props["Small"].reads == ("p", "x") and not props["Small"].reads_network
    assert props["FewPings"].reads == () and props["FewPings"].reads_messages == ("Ping",)
    assert props["Any"].reads == ("x",)


@pytest.mark.parametrize("path", BUNDLED + ["tests/golden/tla/relay.pnyx", "tests/golden/tla/flood.pnyx"])
def test_property_reads_agree_with_span_containment(path: str) -> None:
    """The walk over the IR finds what the compiler's old span comparison found."""
    ct = load(str(ROOT / path)).checked
    for p_ast, p in zip(ct.properties, ct.core.properties):
        inside = [(n, s) for n, s in ct.refs.items() if _within(n.span, p_ast.span)]
        reads = tuple(sorted({ct.vars[s.slot].name for n, s in inside if isinstance(n, A.FieldGet)}))
        assert p.reads == reads
        assert p.reads_network == any(s.kind == "inflight" for _, s in inside)


def test_compiler_handles_every_node_kind() -> None:
    from pnyx.model.compiler import _Compiler

    assert _Compiler.missing_kinds(ir.Expr) == []
    assert _Compiler.missing_kinds(ir.Stmt) == []


def test_a_back_end_names_what_it_does_not_support() -> None:
    class NoChoices(ir.Visitor):
        backend = "toy"

        def visit_Assign(self, s: ir.Assign) -> str:
            return "assign"

    prog = _core(SPEC)
    v = NoChoices()
    v.program = prog
    choose = prog.handlers[0].choices[0]
    with pytest.raises(SpecError) as err:
        v.visit(choose)
    assert "the toy back end does not support ChooseOne" in str(err.value)
    assert err.value.span == choose.span
    assert "ChooseOne" in NoChoices.missing_kinds()


def test_a_visitor_method_for_no_node_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="visit_Asign"):
        class Typo(ir.Visitor):
            def visit_Asign(self, s: ir.Assign) -> None: ...


def _statements(stmts: tuple[A.Stmt, ...]) -> list[A.Stmt]:
    out: list[A.Stmt] = []
    for s in stmts:
        out.append(s)
        if isinstance(s, A.If):
            out += _statements(s.then) + _statements(s.other)
        elif isinstance(s, A.For):
            out += _statements(s.body)
    return out


def _within(s: A.Span, o: A.Span) -> bool:
    return (o.line, o.col) <= (s.line, s.col) and (s.end_line, s.end_col) <= (o.end_line, o.end_col)



def test_generated_functions_are_named_after_what_they_run() -> None:
    """A profile or a traceback names the handler and its line, or the property (STYLE 20)."""
    cs = compiled(SPEC + "on timer t { x = 0 }\non timer t { x = 1 }\n")
    assert [h.fn.__name__ for h in cs.handlers] == ["on_Ping_l10", "request_put_l23", "timer_t_l27", "timer_t_l28"]
    assert [(p.holds.__name__, p.explain.__name__) for p in cs.properties] == [
        ("invariant_Small", "explain_Small"), ("invariant_FewPings", "explain_FewPings"), ("reachable_Any", "explain_Any")]
    one_line = compiled(SPEC + "on timer t { x = 0 } on timer t { x = 1 }\n")
    assert [h.fn.__name__ for h in one_line.handlers][2:] == ["timer_t_l27", "timer_t_l27_2"]
