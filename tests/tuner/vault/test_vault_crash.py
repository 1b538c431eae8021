"""A writer SIGKILLed mid-write leaves the vault as it was (or as it became, after the rename).

The child process pauses at a chosen point of the write (by patching the
write path, in the child only), tells the parent, and is killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuner.vault import (
    JournalTornTailError,
    KeyFile,
    SealedJournal,
    Vault,
    generate_key_file,
)

CHILD = textwrap.dedent(
    """
    import os, sys, time
    import tuner.vault.atomic as atomic
    from tuner.vault import KeyFile, SealedJournal, Vault

    path, key_path, point = sys.argv[1], sys.argv[2], sys.argv[3]

    def pause(*args, **kwargs):
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        time.sleep(120)

    if point == "mid-write":
        real = atomic.write_all
        def half(fd, data):
            real(fd, data[: len(data) // 2])
            pause()
        atomic.write_all = half
    elif point == "before-rename":
        os.replace = pause
    elif point == "after-rename":
        atomic.fsync_dir = pause
    elif point == "mid-append":
        import tuner.vault.journal_append as journal_module
        real = journal_module._pwrite_all
        def half_append(fd, data, offset):
            real(fd, data[: len(data) // 2], offset)
            pause()
        journal_module._pwrite_all = half_append

    key = KeyFile(key_path)
    if point == "mid-append":
        with SealedJournal.open(path, key) as journal:
            journal.append({"trial": 99, "config": {"lr": 0.5}})
    else:
        Vault.open(path, key).put("best", {"lr": 0.5, "blob": "x" * 200000})
    """
)


def _child_env() -> dict[str, str]:
    """This environment, with the checkout first on the child's import path."""
    paths = [str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _kill_midway(path: Path, key_path: Path, point: str) -> None:
    env = _child_env()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(key_path), point],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == b"ready\n", f"child did not reach {point}"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("point", "survives"),
    [("mid-write", "old"), ("before-rename", "old"), ("after-rename", "new")],
)
def test_killed_vault_write(point: str, survives: str, tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "k.key")
    path = tmp_path / "best.vault"
    Vault.create(path, key).put("best", {"lr": 0.02})
    before = path.read_bytes()
    _kill_midway(path, tmp_path / "k.key", point)
    opened = Vault.open(path, KeyFile(tmp_path / "k.key"))
    if survives == "old":
        assert path.read_bytes() == before
        assert opened.get("best") == {"lr": 0.02}
    else:
        assert opened.get("best")["lr"] == 0.5
    # the kernel released the dead writer's lock; the next write clears its temp file
    opened.put("next", {"ok": True})
    assert Vault.open(path, key).names() == ["best", "next"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_killed_journal_append_leaves_a_repairable_torn_tail(tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "k.key")
    path = tmp_path / "trials.journal"
    with SealedJournal.create(path, key) as journal:
        journal.append({"trial": 0})
        journal.append({"trial": 1})
    _kill_midway(path, tmp_path / "k.key", "mid-append")
    with pytest.raises(JournalTornTailError):
        SealedJournal.open(path, key, writable=False).read()
    with SealedJournal.open(path, key) as journal:
        assert journal.repair() > 0
        journal.append({"trial": 2})
    assert SealedJournal.open(path, key, writable=False).read() == [
        {"trial": 0},
        {"trial": 1},
        {"trial": 2},
    ]


LOOP_CHILD = textwrap.dedent(
    """
    import sys
    from tuner.vault import KeyFile, Vault

    vault = Vault.open(sys.argv[1], KeyFile(sys.argv[2]))
    for n in range(10000):
        vault.put(f"e{n}", {"n": n, "blob": "y" * 50000})
        sys.stdout.write(f"{n}\\n")
        sys.stdout.flush()
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.011])
def test_killed_at_an_unplanned_moment(delay: float, tmp_path: Path) -> None:
    """No patching: kill a busy writer at whatever point it has reached."""
    import time

    key = generate_key_file(tmp_path / "k.key")
    path = tmp_path / "v"
    Vault.create(path, key)
    env = _child_env()
    child = subprocess.Popen(
        [sys.executable, "-c", LOOP_CHILD, str(path), str(tmp_path / "k.key")],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        done = [int(child.stdout.readline()) for _ in range(3)]
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    names = Vault.open(path, key).names()
    assert {f"e{n}" for n in done} <= set(names)
    assert sorted(int(name[1:]) for name in names) == list(range(len(names)))  # no gaps
