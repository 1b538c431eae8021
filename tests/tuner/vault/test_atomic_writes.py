"""Every file hyperseal writes goes through one atomic writer that never follows a planted link.

An attacker who can write in a run or result folder plants symbolic links at the
names a writer will open (its temporary file, the target, the lock file) to make
hyperseal overwrite another file of the user's. None of them may be followed.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import tuner.vault.atomic as atomic
from tuner.errors import HypersealError
from tuner.vault.atomic import FileLock, atomic_write, create_exclusive
from tuner.vault.errors import VaultError

ROOT = Path(__file__).resolve().parents[3]
VICTIM_TEXT = "the user's own file\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_text(VICTIM_TEXT)
    return path


def _write_run_json(folder: Path) -> Path:
    from tuner.engine.folder import RUN_FILE, write_json

    write_json(folder / RUN_FILE, {"format": "hyperseal-run/1"})
    return folder / RUN_FILE


def _write_release_file(folder: Path) -> Path:
    from tuner.release import MANIFEST, _write

    _write(folder / MANIFEST, b"{}\n")
    return folder / MANIFEST


def _write_audit_summary(folder: Path) -> Path:
    from audit.deep.results import write_summary

    return write_summary(folder, {})


def _write_coefficients(folder: Path) -> Path:
    from audit.classical.io import save_coefficients

    return save_coefficients(folder / "model.npz", "ridge", {"coef": [1.0, 2.0]})


def _write_table(folder: Path) -> Path:
    import pandas as pd

    from audit.classical.reproduction import _write_table

    _write_table(folder, "table", pd.DataFrame({"a": [1, 2]}))
    return folder / "table.csv"


def _write_report(folder: Path) -> Path:
    from reports.output import report_paths, write_report
    from tuner.outputs import GENERATOR_MARK

    paths = report_paths(folder)
    write_report(paths, f"<!-- {GENERATOR_MARK} -->", f"<!-- {GENERATOR_MARK} -->", private=True)
    return paths.html


WRITERS: dict[str, Callable[[Path], Path]] = {
    "run.json": _write_run_json,
    "release manifest": _write_release_file,
    "audit summary": _write_audit_summary,
    "coefficients": _write_coefficients,
    "reproduction table": _write_table,
    "report": _write_report,
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_each_writer_replaces_a_link_at_its_target_and_leaves_the_linked_file_alone(
    name: str, tmp_path: Path, victim: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    target = WRITERS[name](folder)  # once, to learn the target's name
    target.unlink()
    target.symlink_to(victim)
    if name == "report":  # reports refuse a link at their target before writing
        with pytest.raises(HypersealError, match="not a hyperseal report"):
            WRITERS[name](folder)
    else:
        WRITERS[name](folder)
        assert not target.is_symlink() and target.is_file()
    assert victim.read_text() == VICTIM_TEXT


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_link_planted_at_the_temporary_name_is_never_followed(
    name: str, tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: "0" * (2 * n))
    target = WRITERS[name](folder)
    before = target.read_bytes()
    planted = folder / f".{target.name}.{'0' * 12}.tmp"
    planted.symlink_to(victim)
    with pytest.raises(HypersealError, match=re.escape(str(target))):
        WRITERS[name](folder)
    assert victim.read_text() == VICTIM_TEXT
    assert target.read_bytes() == before  # the old file is intact
    assert planted.is_symlink()  # not removed either: it is not ours


def test_the_old_fixed_temporary_names_of_run_json_and_metrics_json_are_not_followed(
    tmp_path: Path, victim: Path
) -> None:
    from tuner.engine.folder import write_json

    for name in ("run.json", "metrics.json"):
        (tmp_path / f".{name}.tmp").symlink_to(victim)
        write_json(tmp_path / name, {"ok": True})
        assert json.loads((tmp_path / name).read_text()) == {"ok": True}
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert victim.read_text() == VICTIM_TEXT


def test_files_are_0600_unless_a_wider_mode_is_asked(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "sealed", b"x")
        create_exclusive(tmp_path / "new", b"x")
        atomic_write(tmp_path / "public", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "sealed").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "public").stat().st_mode) == 0o644


def test_create_exclusive_treats_a_dangling_link_as_an_existing_file(
    tmp_path: Path, victim: Path
) -> None:
    gone = victim.with_name("not-yet")
    (tmp_path / "key").symlink_to(gone)
    with pytest.raises(VaultError, match="file exists"):
        create_exclusive(tmp_path / "key", b"secret")
    assert not gone.exists()


def test_a_streamed_log_is_a_new_file_never_a_followed_link(tmp_path: Path, victim: Path) -> None:
    from tuner.vault.atomic import open_new

    (tmp_path / "stdout.log").symlink_to(victim)
    with pytest.raises(VaultError, match=r"stdout.log: file exists; refusing to overwrite it"):
        open_new(tmp_path / "stdout.log")
    assert victim.read_text() == VICTIM_TEXT
    with open_new(tmp_path / "stderr.log") as handle:
        handle.write(b"ok")
    assert stat.S_IMODE((tmp_path / "stderr.log").stat().st_mode) == 0o600


def test_a_lock_file_planted_as_a_link_is_refused_and_not_followed(
    tmp_path: Path, victim: Path
) -> None:
    (tmp_path / "vault.hsv.lock").symlink_to(victim)
    with pytest.raises(VaultError, match=r"vault.hsv.lock: the lock file is a symbolic link"):
        FileLock(tmp_path / "vault.hsv").acquire()
    assert victim.read_text() == VICTIM_TEXT
    dangling = victim.with_name("created-through-the-link")
    (tmp_path / "journal.hsj.lock").symlink_to(dangling)
    with pytest.raises(VaultError, match="symbolic link"):
        FileLock(tmp_path / "journal.hsj").acquire()
    assert not dangling.exists()


def test_a_lock_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "vault.hsv.lock")
    with pytest.raises(VaultError, match="the lock file is not a regular file"):
        FileLock(tmp_path / "vault.hsv").acquire()


def test_a_lock_file_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "vault.hsv.lock").write_text("")
    monkeypatch.setattr(atomic.os, "geteuid", lambda: os.getuid() + 1)
    with pytest.raises(VaultError, match="the lock file is owned by another user"):
        FileLock(tmp_path / "vault.hsv").acquire()


#: Ways of writing a file that bypass the one writer (tuner/vault/atomic.py).
_BYPASS = re.compile(
    r"os\.replace\(|os\.rename\(|\.write_text\(|\.write_bytes\(|mkstemp\(|NamedTemporaryFile\("
    r"|O_CREAT|save_file\(|torch\.save\(|np\.savez\w*\((?!buffer)"
    r"|\bopen\((?!fileobj=)[^)]*[\"'][wax]b?\+?[\"']|\.to_(csv|parquet)\((?!index=False\)|buffer)"
)


def test_no_module_writes_a_file_around_the_one_writer() -> None:
    found = []
    for package in ("tuner", "audit", "reports"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "tuner" / "vault" / "atomic.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if _BYPASS.search(line.split("#")[0]):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_a_filesystem_that_cannot_sync_folders_still_gets_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def unsupported(folder: Path) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(atomic, "fsync_dir", unsupported)
    atomic_write(tmp_path / "report.md", b"ok")
    assert (tmp_path / "report.md").read_bytes() == b"ok"

    def failing(folder: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic, "fsync_dir", failing)
    with pytest.raises(VaultError, match=r"report.md: written, but syncing its folder failed"):
        atomic_write(tmp_path / "report.md", b"again")
