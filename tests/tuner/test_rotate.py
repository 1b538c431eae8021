"""Rotating a tuning run: its vault and its journal move to the new key together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tuner.rotate as rotate_module
from tuner.main import app
from tuner.rotate import rotate_run
from tuner.tune import load_journal, load_results
from tuner.vault import (
    KeyFile,
    OldJournalFormatError,
    SealedJournal,
    Vault,
    WrongKeyError,
    generate_key_file,
)

TINY = ["--images", "24", "--image-size", "64", "--epochs", "1"]


@pytest.fixture
def run(hyperseal_env: Path) -> Path:
    """A finished 2-trial run sealed with the default key file."""
    out = hyperseal_env / "run"
    result = CliRunner().invoke(app, ["tune", *TINY, "--budget", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _old(env: Path) -> KeyFile:
    return KeyFile(env / "home" / "key")


def _cli(*args: Any) -> Any:
    return CliRunner().invoke(app, [*map(str, args)])


def test_a_rotated_run_reads_resumes_and_reports_with_the_new_key_only(
    hyperseal_env: Path, run: Path, tmp_path: Path
) -> None:
    before = load_results(run, _old(hyperseal_env))
    new = tmp_path / "new.key"
    result = _cli("vault", "rotate", run, "--new-key-file", new)
    assert result.exit_code == 0, result.output
    assert "vault.hsv and journal.hsj (" in result.output and "now sealed with a key file" in (
        result.output
    )
    after = load_results(run, KeyFile(new))
    assert after.drop(columns="curve").equals(before.drop(columns="curve"))
    with pytest.raises(WrongKeyError):
        Vault.open(run / "vault.hsv", _old(hyperseal_env))
    with pytest.raises(WrongKeyError):
        load_journal(run, _old(hyperseal_env))
    assert not (run / "journal.hsj.new").exists()
    # the rollback checkpoint was carried over: the new journal is checked against it
    from tuner.engine.checkpoint import find_run_checkpoint

    journal = SealedJournal.open(run / "journal.hsj", KeyFile(new), writable=False)
    found = find_run_checkpoint(run, KeyFile(new), journal.journal_id, journal.read())
    assert found.checkpoint is not None and found.checkpoint.records == len(journal.read())
    assert _cli("report", "tune", run, "--key-file", new).exit_code == 0
    resumed = _cli("tune", "--resume", run, "--budget", "3", "--key-file", new)
    assert resumed.exit_code == 0, resumed.output
    assert len(load_results(run, KeyFile(new))) == 3


def test_the_vault_of_a_run_is_not_rotated_alone(
    hyperseal_env: Path, run: Path, tmp_path: Path
) -> None:
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = _cli("vault", "rotate", run / "vault.hsv", "--new-key-file", tmp_path / "n.key")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and f"rotate the run as a whole: hyperseal vault rotate {run}" in (lines[0])
    )
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("stop", ["before the vault", "after the vault"])
def test_an_interrupted_rotation_is_finished_by_running_it_again(
    hyperseal_env: Path,
    run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stop: str,
) -> None:
    before = load_results(run, _old(hyperseal_env))
    new = generate_key_file(tmp_path / "new.key")
    if stop == "before the vault":
        target, name = Vault, "rotate"
    else:
        target, name = rotate_module, "_replace"  # the journal's rename

    def power_cut(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(target, name, power_cut)
        with pytest.raises(KeyboardInterrupt):
            rotate_run(run, _old(hyperseal_env), new)
    assert (run / "journal.hsj.new").exists()
    done = rotate_run(run, _old(hyperseal_env), new)
    assert done.completed == (stop == "after the vault")
    assert not (run / "journal.hsj.new").exists()
    after = load_results(run, KeyFile(tmp_path / "new.key"))
    assert after.drop(columns="curve").equals(before.drop(columns="curve"))


def test_a_running_run_is_not_rotated(
    hyperseal_env: Path, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner.vault import VaultLockedError
    from tuner.vault.atomic import FileLock

    monkeypatch.setattr(rotate_module, "FileLock", lambda path: FileLock(path, timeout=0.05))
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with FileLock(run / "journal.hsj"), pytest.raises(VaultLockedError):  # a tune holds it
        rotate_run(run, _old(hyperseal_env), generate_key_file(tmp_path / "n.key"))
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def _as_format_1(run: Path, key: KeyFile, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rewrite the run's journal as hyperseal 0.1 wrote journals (format 1: no end slots),
    and the vault's checkpoint to match, as a run of 0.1 would be."""
    import tuner.vault.cipher as cipher_module
    from tuner.vault import codec
    from tuner.vault.format import FileKind, encode_frame

    journal = SealedJournal.open(run / "journal.hsj", key, writable=False)
    records = journal.read()
    with monkeypatch.context() as patched:
        patched.setattr(cipher_module, "JOURNAL_VERSION", 1)
        cipher = cipher_module.new_file(
            FileKind.JOURNAL, key, "old", file_id=bytes.fromhex(journal.journal_id)
        )
    frames = [
        encode_frame(seq, cipher.seal(seq, codec.encode_document(record, "record")))
        for seq, record in enumerate(records)
    ]
    (run / "journal.hsj").write_bytes(cipher.header.raw + b"".join(frames))
    import hashlib

    vault = Vault.open(run / "vault.hsv", key)
    checkpoint = {
        "journal_id": journal.journal_id,
        "records": len(frames),
        "last": hashlib.sha256(frames[-1]).hexdigest()[:32],
    }
    vault.put("run", {**vault.get("run"), "journal": checkpoint})


def test_a_run_of_hyperseal_0_1_gets_one_line_on_how_to_migrate_it(
    hyperseal_env: Path, run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _old(hyperseal_env)
    before = load_results(run, key)
    _as_format_1(run, key, monkeypatch)
    with pytest.raises(OldJournalFormatError) as info:
        load_results(run, key)
    assert f"hyperseal vault journal migrate {run / 'journal.hsj'}" in str(info.value)
    report = _cli("report", "tune", run)
    assert report.exit_code == 14 and "journal migrate" in report.output
    migrated = _cli("vault", "journal", "migrate", run / "journal.hsj")
    assert migrated.exit_code == 0, migrated.output
    assert "and the checkpoint in vault.hsv" in migrated.output
    assert (run / "journal.hsj").read_bytes()[8] == 2
    after = load_results(run, key)
    assert after.drop(columns="curve").equals(before.drop(columns="curve"))
    again = _cli("vault", "journal", "migrate", run / "journal.hsj")
    assert again.exit_code == 0 and "nothing to do" in again.output
