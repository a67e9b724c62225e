"""benchmarks/bench_bmc.py runs at a tiny size: the table, the JSON rows, a baseline column.

Times are printed, never asserted (the machine is shared); what is checked is that each
depth gets a CPU figure and that the verdicts are right.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_bmc.py"


def run(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def test_smoke_table_with_a_baseline_column(tmp_path: Path) -> None:
    # a baseline checkout with the old layout: this checkout's packages as top-level ones
    for pkg in ("checker", "model"):
        (tmp_path / pkg).symlink_to(ROOT / pkg, target_is_directory=True)
    out = run("--only", "gossip", "--baseline", str(tmp_path))
    lines = out.splitlines()
    assert lines[0].startswith("gossip WRITES=1") and "before CPU s" in lines[1] and "after CPU s" in lines[1]
    depth_rows = [ln.split() for ln in lines[2:5]]
    assert [r[0] for r in depth_rows] == ["1", "2", "3"] and all(len(r) == 3 for r in depth_rows)
    summary = next(ln for ln in lines if ln.startswith("gossip WRITES=1") and ln.endswith("nothing"))
    assert summary.count("3 / 3") == 2  # both reach depth 3 (the cap is far)


def test_smoke_json_rows() -> None:
    rows = [json.loads(ln) for ln in run("--json").splitlines()]
    assert [r["label"] for r in rows] == ["gossip WRITES=1", "zab log_zxid_before_increment"]
    gossip, zab = rows
    assert gossip["finished"] and gossip["found"] is None and sorted(gossip["depths"]) == ["0", "1", "2", "3"]
    assert zab["expected"] == "Integrity @12"  # the mutant's own record of BFS's shortest trace
    assert zab["finished"] and zab["found"] is None and sorted(zab["depths"]) == ["0", "1", "2"]
    assert all(r["cpu"] > 0 for r in rows)
