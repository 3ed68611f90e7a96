"""Named crash points for fault tests: ``TCI_CRASH_AT=<name>`` kills the process with
SIGKILL when it reaches that point, exactly as ``kill -9`` would, so a test can stop the
gateway between two steps that no timing could separate reliably. Unset (always, outside
tests), :func:`crash_point` does nothing."""

from __future__ import annotations

import os
import signal

ENV = "TCI_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, without cleanup, when ``TCI_CRASH_AT`` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
