"""The TLA+ export's fairness and liveness properties: TLC, checking FairSpec against the
`_liveness.cfg`, reaches the verdict `pnyx check --liveness` reaches, on every fairness kind the
export writes (weak and strong; timers, requests, deliveries, crashes, recovery) and on the bundled
protocols at small constants; what it cannot write leaves the configuration out, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from specs import checked
from test_liveness import PING, RESTART, TOGGLE
from test_tla import tlc_jar

from pnyx.checker import liveness
from pnyx.checker.tla import export, tlc
from pnyx.model.compiler import compile_checked

GOSSIP = (ROOT / "spec" / "gossip.pnyx").read_text()
TWO_PC = (ROOT / "spec" / "examples" / "two_phase_commit.pnyx").read_text()
PING_FAIR = "fair request ask\nfair timer send\nfair deliver Ping"

# (name, source, constants)
CASES: list[tuple[str, str, dict[str, object]]] = [
    ("toggle_none", TOGGLE.replace("FAIRNESS", ""), {}),
    ("toggle_flip", TOGGLE.replace("FAIRNESS", "fair timer flip"), {}),
    ("toggle_weak", TOGGLE.replace("FAIRNESS", "fair timer flip\nfair timer finish"), {}),
    ("toggle_strong", TOGGLE.replace("FAIRNESS", "fair timer flip\nstrong fair timer finish"), {}),
    ("toggle_strong_only", TOGGLE.replace("FAIRNESS", "strong fair timer finish"), {}),
    ("ping_fair", PING.replace("FAIRNESS", PING_FAIR), {}),
    ("ping_no_delivery", PING.replace("FAIRNESS", "fair request ask\nfair timer send"), {}),
    ("ping_no_request", PING.replace("FAIRNESS", "fair timer send\nfair deliver"), {}),
    ("ping_crash", PING.replace("FAIRNESS", PING_FAIR), {"CRASHES": 1}),
    ("ping_crash_recover", PING.replace("FAIRNESS", PING_FAIR + "\nfair recover"), {"CRASHES": 1}),
    ("restart", RESTART.replace("FAIRNESS", "fair crash\nfair recover"), {}),
    ("restart_no_crash", RESTART.replace("FAIRNESS", "fair recover"), {}),
    ("twopc", TWO_PC, {}),
    ("twopc_no_crash", TWO_PC, {"CRASHES": 0}),
    ("gossip_n2", GOSSIP, {"N": 2, "WRITES": 1}),
    ("gossip_n2_lossless", GOSSIP, {"N": 2, "WRITES": 1, "LOSSES": 0}),
]


@pytest.mark.slow
def test_tlc_agrees_with_pnyx_on_liveness(tmp_path: Path) -> None:
    jar = tlc_jar()
    expected: dict[str, bool] = {}
    runs: list[tuple[str, Path, Path]] = []
    for name, source, consts in CASES:
        ct = checked(source, **consts)
        r = liveness.check(compile_checked(ct))
        assert r.complete
        expected[name] = r.ok
        ex = export(ct)
        assert ex.live_cfg is not None, name
        mod, _ = tlc.write_export(ex, tmp_path, stem=name)
        cfg = tmp_path / f"{name}_liveness.cfg"
        cfg.write_text(ex.live_cfg)
        runs.append((name, mod, cfg))
    assert set(expected.values()) == {True, False}  # both verdicts among the cases
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda x: (x[0], tlc.run_tlc(jar, x[1], x[2], jvm=tlc.QUICK_JVM)), runs))
    for name, res in results:
        violated = "Temporal properties were violated" in res.output
        assert res.completed or violated, (name, res.output[-2000:])
        assert res.completed == expected[name], (name, expected[name], res.output[-2000:])


def test_fairness_is_written_per_event_class() -> None:
    ex = export(checked(PING.replace("FAIRNESS", PING_FAIR + "\nstrong fair recover"), CRASHES=1))
    assert "\\A i \\in Node : WF_vars(Request_ask_at(i))" in ex.tla
    assert "\\A i \\in Node : WF_vars(Timer_send(i))" in ex.tla
    assert "\\A s, d \\in Node : \\A m \\in [kind : {\"Ping\"}] : WF_vars(DeliverOf(s, d, m))" in ex.tla
    assert "\\A i \\in Node : SF_vars(Recover(i))" in ex.tla
    assert ex.live_cfg is not None and "SPECIFICATION FairSpec" in ex.live_cfg and "PROPERTY Got" in ex.live_cfg


def test_what_cannot_be_written_leaves_the_configuration_out() -> None:
    lossy = GOSSIP.replace("fair timer gossip, antientropy\n", "fair timer gossip, antientropy\nfair lose\n")
    assert lossy != GOSSIP
    ex = export(checked(lossy))
    assert ex.live_cfg is None and "fair timer gossip" in lossy
    assert "fairness not written: fairness of lose events is not exported" in ex.tla
    unbounded = PING.replace("FAIRNESS", "fair deliver\nmessage Big(n: int)")
    ex = export(checked(unbounded))
    assert ex.live_cfg is None and "the messages Big are not a finite set TLC can enumerate" in ex.tla
    plain = TOGGLE.replace("FAIRNESS", "").replace("eventually Done: forall n in Node: n.done", "")
    assert export(checked(plain)).live_cfg is None  # no liveness property: no configuration
