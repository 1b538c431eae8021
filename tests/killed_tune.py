"""A ``hyperseal tune`` process killed with SIGKILL once it has done some work.

The tests of ``--resume`` start the real CLI in a child process, wait until
``ready()`` says enough trials are in, and kill it without warning, as a crash
or the OOM killer would. Imported by name: tests/ is on ``sys.path``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def kill_tune_when(
    args: Sequence[object],
    ready: Callable[[], bool],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    poll: float = 0.05,
) -> subprocess.Popen[bytes]:
    """Run ``hyperseal ARGS`` until ``ready()`` (or ``timeout`` seconds, or its own end),
    then SIGKILL it and wait for it; the ended process."""
    driver = subprocess.Popen(
        [sys.executable, "-m", "tuner.main", *map(str, args)],
        cwd=cwd,
        env=dict(env) if env is not None else {**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(poll)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    return driver
