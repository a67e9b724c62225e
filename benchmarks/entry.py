"""How every benchmark script starts: its output may go into a pipe that closes early.

`bench_x.py | head -3` should end quietly, as `pnyx` does, not with a BrokenPipeError traceback:
the default action of SIGPIPE (end the process, status 141 in a shell) is restored first.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import NoReturn


def run(main: Callable[[], int | None]) -> NoReturn:
    """Run a script's `main` and exit with its status; a reader that went away ends it quietly."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
