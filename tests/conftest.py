"""Shared helpers: build specs from source text, run the checker, run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:  # lets tests import reference.py however pytest was started
    sys.path.insert(0, str(TESTS))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: exploration runs of a few seconds")


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m pnyx ARGS` in a fresh process, as a user runs it (killed after `timeout` wall seconds)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "pnyx", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout)


def eventually(pred: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll `pred` until it holds or `timeout` seconds pass; a node not answering yet counts as not yet."""
    from pnyx.impl.client import ClientError, Unavailable

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except (Unavailable, ClientError):
            pass
        time.sleep(0.05)
    return pred()
