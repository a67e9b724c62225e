"""Shared helpers: build specs from source text, run the checker, run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:  # lets tests import reference.py however pytest was started
    sys.path.insert(0, str(TESTS))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: exploration runs of a few seconds")


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m pnyx ARGS` in a fresh process, as a user runs it."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "pnyx", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=120)
