"""docs/api.md is true: its worked example runs against the installed `pnyx` and prints what the page shows."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT

DOC = (ROOT / "docs" / "api.md").read_text()


def test_worked_example_prints_what_the_doc_shows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = re.search(r"```python\n(.*?)```", DOC, flags=re.S)
    shown = re.search(r"```text\n(.*?)```", DOC, flags=re.S)
    assert code is not None and shown is not None
    proc = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == shown.group(1)


def test_every_public_name_is_documented() -> None:
    import pnyx

    missing = [name for name in pnyx.__all__ if f"pnyx.{name}" not in DOC]
    assert not missing, f"undocumented in docs/api.md: {missing}"


def test_importing_pnyx_loads_no_heavy_package() -> None:
    """The client commands import `pnyx`: it must not pull in lark, z3 or the compiler."""
    probe = "import sys, pnyx; print(sorted(m for m in ('lark', 'z3', 'pnyx.model.compiler', 'rich') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
