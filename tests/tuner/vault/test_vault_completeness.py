"""The journal's completeness fails closed: a cut, zeroed or rolled-back journal is refused by
every reader (the tuner, `vault rotate RUN_DIR`, `journal verify`, `journal export`), whatever
run.json says about the run's vault; sealed files are checked for type and size first."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tuner.main import app
from tuner.rotate import rotate_run
from tuner.tune import load_journal
from tuner.vault import (
    JournalCutError,
    JournalDroppedError,
    KeyFile,
    ScryptParams,
    SealedJournal,
    TamperedError,
    Vault,
    VaultError,
    WrongKeyError,
    generate_key_file,
)

FAST = ScryptParams(log2_n=10)


def _make_run(folder: Path, key: KeyFile, *, trials: int = 4, vault: str | None = None) -> bytes:
    """A finished run folder as the tuner leaves it (vault entry with the journal's
    checkpoint); returns the journal's bytes after its first 2 trials (an older copy)."""
    folder.mkdir()
    vault_path = Path(vault) if vault else folder / "vault.hsv"
    if not vault_path.exists():
        Vault.create(vault_path, key)
    older = b""
    with SealedJournal.create(folder / "journal.hsj", key) as journal:
        journal.append({"type": "run", "settings": {}})
        journal.append({"type": "detector", "options": {"vault": vault}})
        for n in range(trials):
            journal.append({"type": "trial", "number": n})
            if n == 1:
                older = (folder / "journal.hsj").read_bytes()
        checkpoint = journal.checkpoint()
    document = {"kind": "tuning-result", "journal": checkpoint.to_dict()}
    Vault.open(vault_path, key).put(folder.name, document)
    where = {"vault": str(vault_path)} if vault else {"vault": "vault.hsv"}
    if not vault:
        where["vault_relative_to"] = "run"
    info = {"format": "hyperseal-run/1", "entry": folder.name, "status": "finished", **where}
    (folder / "run.json").write_text(json.dumps(info))
    return older


def _edit_run_json(run: Path, **changes: Any) -> None:
    info = json.loads((run / "run.json").read_text())
    info.update(changes)
    (run / "run.json").write_text(json.dumps(info))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _cli(*args: Any) -> Any:
    return CliRunner().invoke(app, [*map(str, args)])


@pytest.fixture
def key(tmp_path: Path) -> KeyFile:
    return generate_key_file(tmp_path / "k.key")


@pytest.mark.parametrize("vault_named", ["missing", "foreign", "same key, no checkpoint"])
def test_a_rolled_back_journal_is_caught_whatever_run_json_names(
    tmp_path: Path, key: KeyFile, vault_named: str
) -> None:
    """run.json is plaintext: pointing its vault at a missing file, a vault sealed for someone
    else, or another vault of the user's, must not switch the checkpoint off."""
    run = tmp_path / "run"
    older = _make_run(run, key)
    (run / "journal.hsj").write_bytes(older)  # 2 of 4 trials: an older copy of the journal
    if vault_named == "foreign":
        Vault.create(run / "other.hsv", generate_key_file(tmp_path / "someone-else.key"))
    elif vault_named == "same key, no checkpoint":
        Vault.create(run / "other.hsv", key)
    _edit_run_json(run, vault="gone.hsv" if vault_named == "missing" else "other.hsv")
    with pytest.raises(JournalDroppedError, match="older copy"):
        load_journal(run, key)
    before = _files(run)
    with pytest.raises(JournalDroppedError):
        rotate_run(run, key, generate_key_file(tmp_path / "new.key"))
    assert _files(run) == before  # nothing re-sealed, no fresh checkpoint stored


def test_a_missing_or_foreign_run_vault_is_an_error_not_no_checkpoint(
    tmp_path: Path, key: KeyFile
) -> None:
    run = tmp_path / "run"
    older = _make_run(run, key)
    (run / "journal.hsj").write_bytes(older)
    good_vault = (run / "vault.hsv").read_bytes()
    (run / "vault.hsv").unlink()
    with pytest.raises(VaultError, match=r"vault of the run .* is missing") as missing:
        load_journal(run, key)
    assert "\n" not in str(missing.value)
    Vault.create(run / "vault.hsv", generate_key_file(tmp_path / "someone-else.key"))
    with pytest.raises(WrongKeyError, match="does not open with the key of its journal"):
        load_journal(run, key)
    result = _cli(
        "vault",
        "rotate",
        run,
        "--key-file",
        tmp_path / "k.key",
        "--new-key-file",
        tmp_path / "n.key",
    )
    assert result.exit_code == 11, result.output
    (run / "vault.hsv").write_bytes(good_vault)
    (run / "run.json").unlink()
    with pytest.raises(VaultError, match="run file"):
        load_journal(run, key)


def test_a_vault_given_with_vault_is_found_by_its_sealed_name(tmp_path: Path, key: KeyFile) -> None:
    shared = tmp_path / "shared.hsv"
    run = tmp_path / "run"
    older = _make_run(run, key, vault=str(shared))
    assert len(load_journal(run, key)) == 6
    (run / "journal.hsj").write_bytes(older)
    with pytest.raises(JournalDroppedError):
        load_journal(run, key)
    Vault.create(tmp_path / "elsewhere.hsv", key)
    _edit_run_json(run, vault=str(tmp_path / "elsewhere.hsv"))
    with pytest.raises(TamperedError, match=r"run\.json was edited"):
        load_journal(run, key)
    _edit_run_json(run, vault=str(tmp_path / "gone" / "shared.hsv"))
    with pytest.raises(VaultError, match="is missing"):
        load_journal(run, key)


def test_journal_verify_and_export_report_completeness(tmp_path: Path, key: KeyFile) -> None:
    run = tmp_path / "run"
    older = _make_run(run, key)
    key_path = tmp_path / "k.key"
    ok = _cli("vault", "journal", "verify", run / "journal.hsj", "--key-file", key_path)
    assert ok.exit_code == 0, ok.output
    assert "complete: it ends with its authenticated end and holds the 6 records" in ok.output
    (run / "journal.hsj").write_bytes(older)  # rolled back: its own end is valid, but older
    bad = _cli("vault", "journal", "verify", run / "journal.hsj", "--key-file", key_path)
    assert bad.exit_code == 19 and "older copy" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    out = tmp_path / "trials.jsonl"
    export = _cli(
        "vault", "journal", "export", run / "journal.hsj", "--out", out, "--key-file", key_path
    )
    assert export.exit_code == 19 and not out.exists()
    alone = tmp_path / "alone.hsj"
    alone.write_bytes(older)
    standalone = _cli("vault", "journal", "verify", alone, "--key-file", key_path)
    assert standalone.exit_code == 0
    assert "rollback to an older copy of the file cannot be told" in standalone.output


def test_journal_verify_says_plainly_when_it_cannot_check_completeness(tmp_path: Path) -> None:
    from tuner.vault import generate_identity_file

    identity = generate_identity_file(tmp_path / "id")
    path = tmp_path / "j.hsj"
    with SealedJournal.create(path, identity.recipient) as journal:
        journal.append({"trial": 0})
    result = _cli("vault", "journal", "verify", path, "--recipient", str(identity.recipient))
    assert result.exit_code == 0 and "completeness NOT checked" in result.output


def test_a_journal_cut_at_a_record_boundary_fails_verify(tmp_path: Path, key: KeyFile) -> None:
    path = tmp_path / "j.hsj"
    with SealedJournal.create(path, key) as journal:
        journal.append({"trial": 0})
        journal.append({"trial": 1})
        boundary = path.stat().st_size
        journal.append({"trial": 2})
        journal.append({"trial": 3})
    data = path.read_bytes()
    for cut, says in ((boundary, "cut off its end"), (boundary - 28, "not the last one written")):
        path.write_bytes(data[:cut])  # at the boundary, or without the old end slot
        result = _cli("vault", "journal", "verify", path, "--key-file", tmp_path / "k.key")
        assert result.exit_code == 19, result.output
        assert "tampered" in result.output and says in result.output
        with pytest.raises(JournalCutError):
            load_journal_alone(path, key)


def load_journal_alone(path: Path, key: KeyFile) -> list[dict[str, Any]]:
    return SealedJournal.open(path, key, writable=False).read()


def test_zeros_over_complete_records_are_never_repaired_away(tmp_path: Path, key: KeyFile) -> None:
    path = tmp_path / "j.hsj"
    with SealedJournal.create(path, key) as journal:
        journal.append({"trial": 0})
        keep = path.stat().st_size
        journal.append({"trial": 1})
        journal.append({"trial": 2})
    data = path.read_bytes()
    zeroed = data[:keep] + bytes(len(data) - keep)
    path.write_bytes(zeroed)
    key_path = tmp_path / "k.key"
    verify = _cli("vault", "journal", "verify", path, "--key-file", key_path)
    assert verify.exit_code == 19 and "zero bytes" in verify.output
    repair = _cli("vault", "journal", "verify", path, "--repair", "--key-file", key_path)
    assert repair.exit_code == 19 and "dropped" not in repair.output
    assert path.read_bytes() == zeroed


def test_sealed_and_key_files_are_checked_for_type_and_size(tmp_path: Path, key: KeyFile) -> None:
    huge = tmp_path / "huge.hsv"
    with open(huge, "wb") as handle:  # sparse: costs no disk
        handle.truncate(65 << 20)
    key_path = tmp_path / "k.key"
    for args in (
        ("vault", "verify", huge, "--key-file", key_path),
        ("vault", "journal", "verify", huge, "--key-file", key_path),
    ):
        result = _cli(*args)
        assert result.exit_code == 10 and "over the limit of 64 MiB" in result.output
        assert len(result.output.strip().splitlines()) == 1
    if os.path.exists("/dev/zero"):
        result = _cli("vault", "verify", "/dev/zero", "--key-file", key_path)
        assert result.exit_code == 10 and "/dev/zero" in result.output
        assert "regular file" in result.output
        with pytest.raises(VaultError, match="over the limit of 64 KiB"):
            KeyFile("/dev/zero")
    big_key = tmp_path / "big.key"
    big_key.write_bytes(b"#" * (70 << 10))
    with pytest.raises(VaultError, match="over the limit of 64 KiB"):
        KeyFile(big_key)


def test_a_run_json_naming_dev_zero_fails_in_one_line(tmp_path: Path, key: KeyFile) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    run = tmp_path / "run"
    _make_run(run, key, vault=str(tmp_path / "vault.hsv"))
    shared = tmp_path / "zero"  # same name as the sealed one, pointing at /dev/zero
    shared.mkdir()
    (shared / "vault.hsv").symlink_to("/dev/zero")
    _edit_run_json(run, vault=str(shared / "vault.hsv"))
    with pytest.raises(VaultError, match="regular file") as info:
        load_journal(run, key)
    assert "\n" not in str(info.value)


_MEMORY_PROBE = """
import json, resource, sys
from pathlib import Path
from tuner.vault import KeyFile, SealedJournal, Vault, VaultError, inspect_file

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB

folder = Path(sys.argv[1])
key = KeyFile(folder / "k.key")
cases = {
    "vault is /dev/zero": lambda: Vault.open(folder / "zero.hsv", key),
    "journal is /dev/zero": lambda: SealedJournal.open(folder / "zero.hsj", key).read(),
    "header of /dev/zero": lambda: inspect_file(folder / "zero.hsv"),
    "key file is /dev/zero": lambda: KeyFile(folder / "zero.key"),
    "vault over 64 MiB": lambda: Vault.open(folder / "huge.hsv", key),
    "journal of 64 MiB of zeros": lambda: SealedJournal.open(folder / "zeros.hsj", key).read(),
}
Vault.open(folder / "small.hsv", key)  # warm up: imports and first calls
base, out = peak(), {}
for name, call in cases.items():
    try:
        call()
        out[name] = "accepted"
    except VaultError:
        out[name] = peak() - base
print(json.dumps(out))
"""


def test_memory_stays_within_200_mib_on_hostile_sealed_files(tmp_path: Path, key: KeyFile) -> None:
    import subprocess
    import sys

    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    for name in ("zero.hsv", "zero.hsj", "zero.key"):
        (tmp_path / name).symlink_to("/dev/zero")
    with open(tmp_path / "huge.hsv", "wb") as handle:
        handle.truncate(1 << 30)  # sparse
    Vault.create(tmp_path / "small.hsv", key)
    SealedJournal.create(tmp_path / "zeros.hsj", key).close()
    with open(tmp_path / "zeros.hsj", "r+b") as handle:  # a valid header, then zeros to 64 MiB
        handle.truncate(64 << 20)
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    grown = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(grown) == 6
    assert {n: g for n, g in grown.items() if g == "accepted" or g > 200} == {}
