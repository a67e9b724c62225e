"""The counterexample page (`pnyx check --html`, `pnyx show --html`): its content, the diagram's
arrows, bad input, and the page in a real headless browser (keys, highlighted step, lasso cycle)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import chrome, console_errors, press
from conftest import ROOT, run_cli
from specs import compiled

from pnyx.checker import html_trace
from pnyx.checker.bfs import Options, check
from pnyx.checker.liveness import check as live_check
from pnyx.checker.model import SpecModel
from pnyx.checker.trace import changes, describe, replay

TPC = ROOT / "spec" / "examples" / "two_phase_commit.pnyx"
# The coordinator commits on the first yes vote: CommitNeedsAllYes fails after 3 steps.
BROKEN_TPC = TPC.read_text().replace("if len(yes_votes) == N - 1 {", "if len(yes_votes) >= 1 {")

# One greedy timer keeps a lock busy forever: `eventually Served` fails on a 2-step cycle.
LOCK = """spec lock
nodes 1
state {
  volatile busy: bool = false
  volatile served: bool = false
}
on timer grab when not busy and not served { busy = true }
on timer release when busy { busy = false }
on timer serve when not busy and not served { served = true }
fair timer grab
fair timer release
fair timer serve
eventually Served: forall n in Node: n.served
"""

# A message, a network duplicate of it, its delivery, the copy lost.
RELAY = """spec relay
nodes 2
network unordered
budget {
  losses = 1
  duplicates = 1
  crashes = 1
}
message Ping(k: 0..3)
state { volatile got: 0..3 = 0 }
on timer start when self == node(1) and got == 0 {
  got = 1
  send Ping(1) to node(2)
}
on Ping(k) from p when got < 3 { got = k + 1 }
invariant Small: forall n in Node: n.got < 2
"""


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "tpc_broken.pnyx"
    path.write_text(BROKEN_TPC)
    return path


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "lock.pnyx"
    path.write_text(LOCK)
    return path


def safety_page() -> html_trace.Counterexample:
    cs = compiled(BROKEN_TPC)
    v = check(cs, Options()).violation
    assert v is not None and v.name == "CommitNeedsAllYes"
    return html_trace.from_violation(cs, v)


def lasso_page() -> html_trace.Counterexample:
    cs = compiled(LOCK)
    verdict = live_check(cs).verdicts[0]
    assert verdict.holds is False and verdict.lasso is not None
    return html_trace.from_verdict(cs, verdict)


def path_by_text(model: SpecModel, wanted: list[str]) -> list[int]:
    """The successor indices of the events whose descriptions contain each of `wanted`, in turn."""
    state, steps = model.init_states()[0], []
    for text in wanted:
        i = next(i for i, (ev, _) in enumerate(model.successors(state)) if text in describe(model.cs, ev))
        steps.append(i)
        state = model.successors(state)[i][1]
    return steps


# ---- the diagram's arrows -----------------------------------------------------------------------
def test_arrows_go_from_the_send_to_the_delivery_and_the_rest_stay_in_flight() -> None:
    got = [(a.label, a.src, a.dst, a.sent, a.ended, a.fate) for a in html_trace.arrows(safety_page().trace)]
    assert sorted(got, key=lambda a: (a[3], a[2])) == [
        ("Prepare", 0, 1, 1, 2, "delivered"),
        ("Prepare", 0, 2, 1, None, "pending"),
        ("VoteMsg(yes=true)", 1, 0, 2, 3, "delivered"),
        ("Decide(commit=true)", 0, 1, 3, None, "pending"),
        ("Decide(commit=true)", 0, 2, 3, None, "pending"),
    ]


def test_a_duplicate_and_a_loss_are_drawn_as_faults() -> None:
    model = SpecModel(compiled(RELAY))
    trace = replay(model, path_by_text(model, ["fires timer start", "duplicates", "receives", "loses"]))
    got = [(a.sent, a.ended, a.fate, a.duplicate) for a in html_trace.arrows(trace)]
    assert got == [(1, 3, "delivered", False), (2, 4, "lost", True)]


def test_a_crash_loses_what_was_in_flight_to_and_from_the_node() -> None:
    model = SpecModel(compiled(RELAY))
    trace = replay(model, path_by_text(model, ["fires timer start", "n2 crashes"]))
    assert [(a.sent, a.ended, a.fate) for a in html_trace.arrows(trace)] == [(1, 2, "lost")]
    svg = html_trace.diagram(html_trace.Counterexample(trace, "t", "t"))
    assert 'class="lane down"' in svg and 'class="fault-label crash"' in svg


# ---- the page's content -------------------------------------------------------------------------
def test_the_page_is_self_contained_and_shows_every_step_and_the_violation() -> None:
    c = safety_page()
    page = html_trace.render(c)
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"]  # the SVG namespace, never fetched
    assert "Violated: invariant CommitNeedsAllYes" in page and "falsifying bindings: <code>n = n1</code>" in page
    assert page.count('class="step-detail"') == 4 and page.count('<li class="step"') == 4
    for ev in c.trace.events:
        assert html.escape(describe(c.trace.model.cs, ev)) in page
    # every changed variable of every step is highlighted, and nothing else is
    cs = c.trace.model.cs
    n_changes = sum(len(changes(cs, a, b)) for a, b in zip(c.trace.states, c.trace.states[1:]))
    assert page.count('class="changed"') == n_changes == 4
    assert "n1 \u2192 n3: Prepare" in page  # in flight after step 1


def test_the_lasso_cycle_is_marked_in_the_list_and_the_diagram() -> None:
    page = html_trace.render(lasso_page())
    assert re.findall(r'<li class="step cycle" data-step="(\d+)"', page) == ["1", "2"]
    assert 'class="cycle-band"' in page and "cycle: steps 1 to 2 repeat forever (step 2 returns to state 0)" in page
    meta = json.loads(re.search(r'<script id="trace-meta" type="application/json">(.*?)</script>', page).group(1))
    assert meta["cycle"] == [1, 2] and meta["lasso"] == {"loop": 0, "stutter": False, "trigger": 0}


def test_a_stutter_and_a_leadsto_trigger_are_said() -> None:
    cs = compiled(TPC.read_text())
    verdict = next(v for v in live_check(cs).verdicts if v.name == "Termination")
    page = html_trace.render(html_trace.from_verdict(cs, verdict))
    assert "after step 2: the left side holds; the right side never does from here on" in page
    assert "then stutters forever: no fair event is enabled there" in page
    assert 'class="cycle-band"' not in page


def test_text_from_the_spec_is_escaped() -> None:
    src = RELAY.replace("invariant Small", "invariant Small_lt_2")
    model = SpecModel(compiled(src))
    trace = replay(model, path_by_text(model, ["fires timer start"]))
    page = html_trace.render(html_trace.Counterexample(trace, "<b>x</b>", "a < b & c"))
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and "a &lt; b &amp; c" in page


# ---- the command line ---------------------------------------------------------------------------
def test_check_html_writes_the_page_of_a_violation(broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.html"
    r = run_cli("check", str(broken), "--quiet", "--html", str(out))
    assert r.returncode == 1, r.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Violated: invariant CommitNeedsAllYes" in page


def test_check_html_without_a_counterexample_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "trace.html"
    r = run_cli("check", str(TPC), "--quiet", "--html", str(out))
    assert r.returncode == 0 and not out.exists()
    assert f"note: no counterexample, so --html {out} was not written" in r.stderr


def test_check_html_to_an_unwritable_place_is_one_line_and_status_2(broken: Path, tmp_path: Path) -> None:
    r = run_cli("check", str(broken), "--quiet", "--html", str(tmp_path / "no" / "such" / "dir.html"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_show_renders_a_saved_violation_as_check_does(broken: Path, tmp_path: Path) -> None:
    saved, direct, shown = tmp_path / "t.json", tmp_path / "direct.html", tmp_path / "shown.html"
    r = run_cli("check", str(broken), "--json", "--html", str(direct))
    saved.write_text(r.stdout)
    r = run_cli("show", str(saved), "--html", str(shown))
    assert r.returncode == 0, r.stderr
    assert shown.read_bytes() == direct.read_bytes()


def test_show_renders_a_saved_lasso_as_check_does(lock: Path, tmp_path: Path) -> None:
    saved, direct, shown = tmp_path / "t.json", tmp_path / "direct.html", tmp_path / "shown.html"
    r = run_cli("check", str(lock), "--liveness", "--json", "--html", str(direct))
    saved.write_text(r.stdout)
    r = run_cli("show", str(saved), "--html", str(shown))
    assert r.returncode == 0, r.stderr
    assert shown.read_bytes() == direct.read_bytes()


def test_simulate_html_writes_the_random_walk_that_show_reproduces(broken: Path, tmp_path: Path) -> None:
    saved, direct, shown = tmp_path / "t.json", tmp_path / "direct.html", tmp_path / "shown.html"
    r = run_cli("simulate", str(broken), "--runs", "50", "--depth", "30", "--seed", "3", "--json", "--html", str(direct))
    assert r.returncode == 1 and json.loads(r.stdout)["violation"]["property"] == "CommitNeedsAllYes"
    saved.write_text(r.stdout)
    assert run_cli("show", str(saved), "--html", str(shown)).returncode == 0
    assert shown.read_bytes() == direct.read_bytes() and b"Violated: invariant CommitNeedsAllYes" in direct.read_bytes()


@pytest.mark.parametrize("content, expected", [
    (None, "missing.json: no such file"),
    ("{not json", "not a JSON trace"),
    ("[1, 2]", "expected a JSON object"),
    ('{"violation": null, "file": "x.pnyx"}', "holds no counterexample"),
])
def test_show_bad_input_is_one_line_and_status_2(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "missing.json"
    if content is not None:
        path.write_text(content)
    r = run_cli("show", str(path), "--html", str(tmp_path / "x.html"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and expected in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.html").exists()


def test_show_refuses_a_trace_its_spec_no_longer_reaches(broken: Path, tmp_path: Path) -> None:
    saved = tmp_path / "t.json"
    saved.write_text(run_cli("check", str(broken), "--json").stdout)
    changed = BROKEN_TPC.replace("      outcome = Committed\n", "      outcome = Aborted\n")
    assert changed != BROKEN_TPC
    broken.write_text(changed)  # the spec changed: the trace's third step now aborts
    r = run_cli("show", str(saved), "--html", str(tmp_path / "x.html"))
    assert r.returncode == 2 and "is not the state" in r.stderr and "Traceback" not in r.stderr
    broken.unlink()
    r = run_cli("show", str(saved), "--html", str(tmp_path / "x.html"))
    assert r.returncode == 2 and "the trace's spec file is not there; pass --spec FILE" in r.stderr


# ---- in a real browser ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chrome()


def open_page(browser: Any, path: Path, c: html_trace.Counterexample) -> None:
    html_trace.write(str(path), c)
    browser.get(path.as_uri())
    console_errors(browser)  # nothing before this page counts


def current(browser: Any) -> tuple[int, str]:
    """The highlighted step and the heading of the state panel shown."""
    li = browser.find_elements("css selector", "#steps li.current")
    shown = [s for s in browser.find_elements("css selector", ".step-detail") if s.is_displayed()]
    assert len(li) == 1 and len(shown) == 1
    return int(li[0].get_attribute("data-step")), shown[0].find_element("tag name", "h2").text


def test_the_page_loads_without_console_errors_and_keys_move_the_step(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "trace.html"
    html_trace.write(str(page), safety_page())
    browser.get(page.as_uri())
    assert console_errors(browser) == []
    assert current(browser) == (0, "State 0: initial state")
    press(browser, "j")
    assert current(browser) == (1, "Step 1: client calls begin() at n1")
    assert browser.find_element("css selector", 'svg .row.current').get_attribute("data-step") == "1"
    press(browser, "\ue015")  # arrow down
    step, heading = current(browser)
    assert step == 2 and heading.startswith("Step 2: n2 receives Prepare from n1")
    changed = browser.find_elements("css selector", ".step-detail:not([hidden]) td.changed")
    assert [c.text.split("\n")[0] for c in changed] == ["Yes"]
    press(browser, "\ue010")  # End
    assert current(browser)[0] == 3
    press(browser, "k")
    assert current(browser)[0] == 2
    press(browser, "\ue011")  # Home
    assert current(browser)[0] == 0
    browser.find_element("css selector", '#steps li[data-step="3"]').click()
    assert current(browser)[0] == 3
    assert console_errors(browser) == []


def test_the_lasso_cycle_is_marked_in_the_browser(browser: Any, tmp_path: Path) -> None:
    open_page(browser, tmp_path / "lasso.html", lasso_page())
    cycle = browser.find_elements("css selector", "#steps li.cycle")
    assert [li.get_attribute("data-step") for li in cycle] == ["1", "2"]
    normal = browser.find_element("css selector", '#steps li[data-step="0"]')
    assert cycle[0].value_of_css_property("border-left-color") != normal.value_of_css_property("border-left-color")
    band = browser.find_element("css selector", "svg .cycle-band")
    assert band.is_displayed() and band.size["height"] > 0
    assert console_errors(browser) == []


SCREENSHOT = ROOT / "docs" / "trace_html.png"


def test_the_page_of_a_zab_mutant(browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ZAB mutant's counterexample (a crash and a recovery in it) loads cleanly; with
    PNYX_UPDATE_SCREENSHOT=1 the browser's picture of it becomes docs/trace_html.png."""
    import os

    from pnyx.checker.mutants import load_mutant, run_mutant

    monkeypatch.chdir(ROOT)  # the page names the spec as given: spec/zab.pnyx
    mutant = load_mutant("spec/zab_mutants/recovered_keeps_volatile.toml")
    cs, result = run_mutant("spec/zab.pnyx", mutant)
    v = result.violation
    assert v is not None and v.name == mutant.property and len(v.trace) == mutant.length
    page = tmp_path / "zab.html"
    html_trace.write(str(page), html_trace.from_violation(cs, v))
    browser.get(page.as_uri())
    assert console_errors(browser) == []
    assert len(browser.find_elements("css selector", "svg .dot.crash")) == 1
    assert len(browser.find_elements("css selector", "svg .dot.recover")) == 1
    press(browser, "\ue010")  # End: the violating state
    assert current(browser)[0] == mutant.length
    if os.environ.get("PNYX_UPDATE_SCREENSHOT") == "1":
        browser.set_window_size(1500, 1060)
        browser.save_screenshot(str(SCREENSHOT))
    assert console_errors(browser) == []


# ---- fuzzing `pnyx show` with mutated saved traces ------------------------------------------------
def test_show_survives_mutated_traces(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Whatever a saved trace turns into (a value replaced, a key deleted, a list entry duplicated),
    `pnyx show` writes a page or says in one line why not: never a traceback."""
    from hypothesis import given
    from hypothesis import strategies as st
    from test_fuzz_cli import FUZZ, JSON, _paths
    from test_fuzz_cli import run_cli as run_in_process

    d = tmp_path_factory.mktemp("show_fuzz")
    spec = d / "broken.pnyx"
    spec.write_text(BROKEN_TPC)
    lock = d / "lock.pnyx"
    lock.write_text(LOCK)
    texts = [run_cli("check", str(spec), "--json").stdout, run_cli("check", str(lock), "--liveness", "--json").stdout]

    @FUZZ
    @given(data=st.data())
    def mutated(data: st.DataObject) -> None:
        j = json.loads(data.draw(st.sampled_from(texts)))
        where = data.draw(st.sampled_from(_paths(j)[1:]))
        parent = j
        for key in where[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            parent[where[-1]] = data.draw(JSON)
        else:
            del parent[where[-1]]
        path = d / "trace.json"
        path.write_text(json.dumps(j))
        code, _ = run_in_process(["show", str(path), "--html", str(d / "out.html")])
        assert code in (0, 2)

    mutated()


def test_a_failing_handler_is_the_last_row() -> None:
    cs = compiled("spec c\nnodes 2\nstate { volatile x: 0..1 = 0 }\non timer inc { x = x + 1 }\n")
    v = check(cs, Options()).violation
    assert v is not None and v.kind == "error" and v.trace.failed_event is not None and len(v.trace) == 1
    page = html_trace.render(html_trace.from_violation(cs, v))
    assert '<li class="step failed" data-step="2"' in page and "n1 fires timer inc -&gt; fails" in page
    assert page.count('class="dot failed"') == 1 and "Failed: " in page
    assert page.count('class="step-detail"') == 3  # states 0 and 1, then the failing step (no state after it)
