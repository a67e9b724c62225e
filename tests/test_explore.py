"""`pnyx explore`: the explorer's views and jumps, its JSON endpoints, the command (Ctrl-C ends
it quietly), and the page in a real headless browser."""

from __future__ import annotations

import html
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest
from browser import chrome, console_errors
from conftest import ROOT
from specs import compiled
from test_html_trace import BROKEN_TPC, TPC

from pnyx.checker.bfs import Options, check
from pnyx.checker.explore_server import HOST, make_handler, parse_path
from pnyx.checker.explorer import ExploreError, Explorer
from pnyx.checker.model import SpecModel


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return Explorer(compiled(BROKEN_TPC))


# ---- the explorer's logic -----------------------------------------------------------------------
def test_the_enabled_events_are_the_successors_bfs_expands(explorer: Explorer) -> None:
    model = SpecModel(explorer.cs)
    s0 = model.init_states()[0]
    view = explorer.view([])
    assert [e["index"] for e in view["enabled"]] == list(range(len(model.successors(s0))))
    assert [e["text"] for e in view["enabled"]] == [
        "n2 fires timer give_up", "n3 fires timer give_up", "client calls begin() at n1",
        "n1 crashes (volatile state and its channels lost)", "n2 crashes (volatile state and its channels lost)",
        "n3 crashes (volatile state and its channels lost)"]
    assert view["history"] == [] and view["changes"] == [] and view["violated"] == []


def test_taking_an_event_changes_the_state_and_back_restores_it(explorer: Explorer) -> None:
    start = explorer.view([])
    after = explorer.view([2])  # the client begins
    assert after["history"] == ["client calls begin() at n1"]
    assert after["changes"] == ["n1.started: false -> true", "sends Prepare to n2", "sends Prepare to n3"]
    started = next(r for r in after["state"] if r["name"] == "started")
    assert started["values"] == ["true", "false", "false"] and started["was"] == ["false", None, None]
    assert [m["message"] for m in after["network"]] == ["Prepare", "Prepare"]
    assert explorer.view([2][:-1]) == start


def test_jump_finds_the_shortest_violation_and_its_state_violates_it(explorer: Explorer) -> None:
    jump = explorer.jump("CommitNeedsAllYes")
    v = check(explorer.cs, Options()).violation
    assert v is not None and jump["found"] and jump["length"] == len(v.trace) == 3
    view = explorer.view(jump["path"])
    assert view["violated"] == [{"name": "CommitNeedsAllYes", "bindings": {"n": "n1"}}]
    # a chosen invariant other than the first one BFS meets: Atomicity needs a fourth step
    jump = explorer.jump("Atomicity")
    assert jump["found"] and jump["length"] == 4
    assert [x["name"] for x in explorer.view(jump["path"])["violated"]] == ["Atomicity", "CommitNeedsAllYes"]


def test_a_path_becomes_the_counterexample_page(explorer: Explorer) -> None:
    path = explorer.jump("CommitNeedsAllYes")["path"]
    page = explorer.page(path)
    assert page.startswith("<!DOCTYPE html>") and "a path of 3 steps through two_phase_commit" in page
    assert "invariant CommitNeedsAllYes is violated, n = n1" in page
    assert all(html.escape(text) in page for text in explorer.view(path)["history"])
    assert "every invariant holds in the last state" in explorer.page([])


def test_jump_to_an_invariant_that_holds_says_so() -> None:
    e = Explorer(compiled(TPC.read_text()))
    jump = e.jump("Atomicity")
    assert jump == {"found": False, "reason": "invariant Atomicity: no reachable state violates it",
                    "search": jump["search"]} and jump["search"]["complete"]


@pytest.mark.parametrize("path, message", [
    ([99], "names an event that is not enabled"),
    ([2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "names an event that is not enabled"),
])
def test_a_path_that_does_not_fit_is_refused(explorer: Explorer, path: list[int], message: str) -> None:
    with pytest.raises(ExploreError, match=message):
        explorer.view(path)


def test_bad_paths_and_invariants_are_refused(explorer: Explorer) -> None:
    assert parse_path("") == [] and parse_path("2.0.1") == [2, 0, 1] and parse_path("2,0") == [2, 0]
    for bad in ("a", "-1", "1..x", "1e3", "\u0663"):
        with pytest.raises(ExploreError, match="expected event numbers"):
            parse_path(bad)
    with pytest.raises(ExploreError, match="'Nope' is not an invariant of two_phase_commit"):
        explorer.jump("Nope")


# ---- the server ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(explorer: Explorer) -> Iterator[str]:
    httpd = HTTPServer((HOST, 0), make_handler(explorer, 60.0))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def get(url: str) -> tuple[int, str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read().decode()
            return r.status, r.headers["Content-Type"], body
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_the_endpoints_answer_json(server: str, explorer: Explorer) -> None:
    status, kind, body = get(server + "api/spec")
    assert status == 200 and kind == "application/json"
    assert json.loads(body) == explorer.spec() and json.loads(body)["invariants"] == ["Atomicity", "CommitNeedsAllYes"]
    status, _, body = get(server + "api/state?path=2.1")
    assert status == 200 and json.loads(body) == json.loads(json.dumps(explorer.view([2, 1])))
    status, _, body = get(server + "api/violation?invariant=CommitNeedsAllYes")
    assert status == 200 and json.loads(body)["path"] == explorer.jump("CommitNeedsAllYes")["path"]


def test_the_trace_page_of_a_path_is_served(server: str) -> None:
    status, kind, body = get(server + "trace.html?path=2.1.2")
    assert status == 200 and kind.startswith("text/html") and "Step 3: n1 receives VoteMsg(yes=true) from n2" in body
    status, _, body = get(server + "trace.html?path=7")
    assert status == 400 and "not enabled" in json.loads(body)["error"]


def test_the_page_is_self_contained(server: str) -> None:
    status, kind, body = get(server)
    assert status == 200 and kind.startswith("text/html")
    assert "<script src" not in body and "<link" not in body and "/*SCRIPT*/" not in body and "/*STYLE*/" not in body


@pytest.mark.parametrize("url, status, message", [
    ("api/state?path=x", 400, "expected event numbers"),
    ("api/state?path=99", 400, "not enabled"),
    ("api/violation?invariant=Nope", 400, "is not an invariant"),
    ("api/violation", 400, "is not an invariant"),
    ("nothing/here", 404, "no such page"),
])
def test_bad_requests_get_a_json_error(server: str, url: str, status: int, message: str) -> None:
    got, kind, body = get(server + url)
    assert got == status and kind == "application/json" and message in json.loads(body)["error"]


# ---- the command ---------------------------------------------------------------------------------
def start_explore(*args: str) -> tuple[subprocess.Popen[str], str]:
    """`pnyx explore ARGS --port 0` in a fresh process, and the address it prints."""
    p = subprocess.Popen([sys.executable, "-m", "pnyx", "explore", *args, "--port", "0"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.startswith("exploring "), line + (p.stderr.read() if p.stderr else "")
    return p, line.split(" at ", 1)[1].split(" ", 1)[0]


def test_explore_serves_and_ctrl_c_ends_it_quietly() -> None:
    p, url = start_explore(str(TPC))
    try:
        assert url.startswith("http://127.0.0.1:")
        status, _, body = get(url + "api/spec")
        assert status == 200 and json.loads(body)["spec"] == "two_phase_commit"
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0 and out == "" and err == ""


def test_explore_bad_input_is_one_line_and_status_2(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pnyx", "explore", str(tmp_path / "missing.pnyx")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "pnyx", "explore", str(TPC), "--port", "70000"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "expected a port number from 0 to 65,535" in r.stderr


# ---- in a real browser ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chrome()


def wait_for(pred: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    return pred()


def shown_path(browser: Any) -> str | None:
    return browser.execute_script("return document.body.dataset.path === undefined ? null : document.body.dataset.path")


def cell(browser: Any, var: str, node: int) -> str:
    row = browser.find_element("xpath", f'//div[@id="state"]//tr[th="{var}"]')
    return str(row.find_elements("tag name", "td")[node].text.split("\n")[0])


def test_the_explorer_page_walks_the_graph_and_jumps_to_a_violation(browser: Any, server: str) -> None:
    browser.get(server)
    assert wait_for(lambda: shown_path(browser) == "")
    console_errors(browser)
    assert cell(browser, "started", 0) == "false"
    browser.find_element("id", "event-2").click()  # the client begins at n1
    assert wait_for(lambda: shown_path(browser) == "2")
    assert cell(browser, "started", 0) == "true"
    assert browser.find_element("xpath", '//div[@id="state"]//td[@class="changed"]').text.startswith("true")
    assert [li.text for li in browser.find_elements("css selector", "#history li")] == ["client calls begin() at n1"]
    browser.find_element("id", "back").click()
    assert wait_for(lambda: shown_path(browser) == "")
    assert cell(browser, "started", 0) == "false"
    browser.find_element("id", "jump").click()  # the first invariant listed: Atomicity
    expected = ".".join(map(str, Explorer(compiled(BROKEN_TPC)).jump("Atomicity")["path"]))
    assert wait_for(lambda: shown_path(browser) == expected)
    status = wait_for(lambda: "the shortest" in browser.find_element("id", "status").text
                      and browser.find_element("id", "status").text)
    assert status.startswith("Violated: invariant Atomicity") and "(4 steps, the shortest" in status
    assert (cell(browser, "outcome", 0), cell(browser, "outcome", 1)) == ("Committed", "Aborted")
    assert browser.find_element("id", "as-trace").get_attribute("href") == server + "trace.html?path=" + expected
    assert console_errors(browser) == []


def test_a_failing_handler_is_shown_instead_of_the_events() -> None:
    e = Explorer(compiled("spec c\nnodes 1\nstate { volatile x: 0..1 = 0 }\non timer inc { x = x + 1 }\n"))
    assert [ev["text"] for ev in e.view([])["enabled"]] == ["n1 fires timer inc"]
    view = e.view([0])  # x = 1: the next firing leaves 0..1
    assert view["enabled"] == [] and view["error"].startswith("n1 fires timer inc fails: ")
    assert "x leaves its declared type: 2" in view["error"]
