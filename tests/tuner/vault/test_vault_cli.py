"""``hyperseal vault ...`` via the root app: round trips in every mode, exit codes, plaintext."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tuner.main import app
from tuner.vault import KeyFile, Passphrase, SealedJournal, Vault
from tuner.vault.atomic import FileLock

CONFIG = {"lr": 0.02, "weight_decay": 0.0005, "optimizer": "sgd", "epochs": 12}
FAST = ["--kdf-log2n", "10"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "best.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def run(runner: CliRunner, *args: Any, code: int | None = 0, **kwargs: Any) -> Any:
    """Invoke ``hyperseal vault ARGS`` and check the exit code (unless ``code`` is None)."""
    result = runner.invoke(app, ["vault", *map(str, args)], **kwargs)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def _terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tuner.vault.cli._stdout_is_terminal", lambda: True)


def test_passphrase_mode_with_prompts(
    runner: CliRunner, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "best.vault"
    result = run(runner, "init", vault, *FAST, input="pw-one\npw-one\n")
    assert "created" in result.stdout and "pw-one" not in result.output
    run(runner, "put", vault, "fasterrcnn", config_file, input="pw-one\n")
    listing = run(runner, "list", vault, input="pw-one\n").stdout
    assert "fasterrcnn" in listing and "0.02" not in listing
    _terminal(monkeypatch)
    shown = run(runner, "show", vault, "fasterrcnn", "--json", input="pw-one\n").stdout
    assert json.loads(shown[shown.index("{") :]) == CONFIG
    run(runner, "rotate", vault, *FAST, input="pw-one\npw-two\npw-two\n")
    run(runner, "verify", vault, input="pw-one\n", code=11)
    verified = run(runner, "verify", vault, input="pw-two\n").stdout
    assert "ok:" in verified and "1 entry" in verified
    out = tmp_path / "export.json"
    exported = run(runner, "export", vault, "fasterrcnn", "--out", out, input="pw-two\n")
    assert json.loads(out.read_text()) == CONFIG
    assert "plaintext" in exported.stderr and "NOT encrypted" in exported.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_mismatched_confirmation_asks_again(runner: CliRunner, tmp_path: Path) -> None:
    vault = tmp_path / "v"
    run(runner, "init", vault, *FAST, input="one\ntwo\nthree\nthree\n")
    assert Vault.open(vault, Passphrase("three")).names() == []


def test_passphrase_from_file_and_env(runner: CliRunner, config_file: Path, tmp_path: Path) -> None:
    vault = tmp_path / "v"
    secret_file = tmp_path / "pass.txt"
    secret_file.write_text("from a file\n")
    run(runner, "init", vault, *FAST, "--passphrase-file", secret_file)
    run(runner, "put", vault, "a", config_file, "--passphrase-file", secret_file)
    env = {"HYPERSEAL_PASSPHRASE": "from a file"}
    assert "a " in run(runner, "list", vault, env=env).stdout + " "
    assert Vault.open(vault, Passphrase("from a file")).get("a") == CONFIG
    run(runner, "list", vault, env={"HYPERSEAL_PASSPHRASE": "nope"}, code=11)
    new = {"HYPERSEAL_PASSPHRASE": "from a file", "HYPERSEAL_NEW_PASSPHRASE": "rotated"}
    run(runner, "rotate", vault, *FAST, env=new)
    assert Vault.open(vault, Passphrase("rotated")).get("a") == CONFIG


def test_no_passphrase_available_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    vault = tmp_path / "v"
    result = run(runner, "init", vault, *FAST, input="", code=10)
    assert "no passphrase given" in result.stderr
    assert not vault.exists()


def test_passphrase_that_is_not_utf8_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    """Undecodable bytes in $HYPERSEAL_PASSPHRASE (surrogate escapes) used to crash scrypt."""
    vault = tmp_path / "v"
    run(runner, "init", vault, *FAST, input="pw-one\npw-one\n")
    before = vault.read_bytes()
    bad = {"HYPERSEAL_PASSPHRASE": b"\xff\xfe".decode("utf-8", "surrogateescape")}
    for command in (["list", vault], ["init", tmp_path / "w", *FAST]):
        result = run(runner, *command, env=bad, code=10)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "not valid UTF-8" in result.stderr
    assert vault.read_bytes() == before and not (tmp_path / "w").exists()


def test_key_file_mode(
    runner: CliRunner, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, key = tmp_path / "v", tmp_path / "vault.key"
    created = run(runner, "init", vault, "--key-file", key)
    assert "wrote a new key file" in created.stderr and key.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    run(runner, "put", vault, "best", config_file, "--key-file", key)
    run(runner, "list", vault, code=11)  # needs --key-file
    assert "best" in run(runner, "list", vault, "--key-file", key).stdout
    _terminal(monkeypatch)
    shown = run(runner, "show", vault, "best", "--key-file", key).stdout
    assert yaml.safe_load(shown) == CONFIG
    run(runner, "rotate", vault, "--key-file", key, "--new-key-file", tmp_path / "new.key")
    run(runner, "verify", vault, "--key-file", key, code=11)
    run(runner, "verify", vault, "--key-file", tmp_path / "new.key")
    assert Vault.open(vault, KeyFile(tmp_path / "new.key")).get("best") == CONFIG


def test_vault_commands_find_the_default_key_file(
    runner: CliRunner, config_file: Path, tmp_path: Path
) -> None:
    """A vault sealed with the default key file (as `hyperseal tune` seals by default) reads
    and takes entries with no key option, as the hint `tune` prints says."""
    from tuner.keyring import ensure_default_key

    vault = tmp_path / "v"
    run(runner, "init", vault, "--key-file", tmp_path / "other.key")
    run(runner, "list", vault, code=11)  # no default key file yet: still asks for --key-file
    key, _ = ensure_default_key()
    default_sealed = tmp_path / "tuned.hsv"
    run(runner, "init", default_sealed, "--key-file", key)
    run(runner, "put", default_sealed, "best", config_file)
    assert "best" in run(runner, "list", default_sealed).stdout
    assert "ok:" in run(runner, "verify", default_sealed).stdout
    result = run(runner, "list", vault, code=11)  # another key file's vault: the default fails
    assert "key" in result.stderr
    assert Vault.open(default_sealed, KeyFile(key)).get("best") == CONFIG


def test_default_key_file_applies_even_with_a_passphrase_in_the_environment(
    runner: CliRunner, config_file: Path, tmp_path: Path
) -> None:
    """$HYPERSEAL_PASSPHRASE (set for some other vault) cannot open a key-file-sealed file, so
    it must not stop the default key file from being used for one (it used to: exit 11)."""
    from tuner.keyring import ensure_default_key

    key, _ = ensure_default_key()
    default_sealed = tmp_path / "tuned.hsv"
    run(runner, "init", default_sealed, "--key-file", key)
    env = {"HYPERSEAL_PASSPHRASE": "for another vault"}
    run(runner, "put", default_sealed, "best", config_file, env=env)
    assert "best" in run(runner, "list", default_sealed, env=env).stdout
    assert "ok:" in run(runner, "verify", default_sealed, env=env).stdout
    assert Vault.open(default_sealed, KeyFile(key)).get("best") == CONFIG
    # a passphrase vault still takes its passphrase from the environment
    sealed = tmp_path / "pw.hsv"
    run(runner, "init", sealed, *FAST, env=env)
    run(runner, "put", sealed, "best", config_file, env=env)
    assert Vault.open(sealed, Passphrase("for another vault")).get("best") == CONFIG


def test_init_over_an_existing_vault_changes_nothing(
    runner: CliRunner, config_file: Path, tmp_path: Path
) -> None:
    """Refused before a key file is generated or a passphrase asked for (a stray key file was
    left behind, and the passphrase typed twice for nothing)."""
    vault, key = tmp_path / "v", tmp_path / "vault.key"
    run(runner, "init", vault, "--key-file", key)
    run(runner, "put", vault, "best", config_file, "--key-file", key)
    before = vault.read_bytes()
    result = run(runner, "init", vault, "--key-file", tmp_path / "new.key", code=10)
    assert "exists" in result.stderr and not (tmp_path / "new.key").exists()
    result = run(runner, "init", vault, *FAST, input="pw\npw\n", code=10)
    assert "exists" in result.stderr and "Passphrase" not in result.output
    assert vault.read_bytes() == before
    assert Vault.open(vault, KeyFile(key)).get("best") == CONFIG


def test_export_never_overwrites_what_it_reads(
    runner: CliRunner, config_file: Path, tmp_path: Path
) -> None:
    """--force replaced the vault (or its key file) with plaintext: the sealed data was lost."""
    from tuner.keyring import ensure_default_key

    vault, key = tmp_path / "v", tmp_path / "vault.key"
    run(runner, "init", vault, "--key-file", key)
    run(runner, "put", vault, "best", config_file, "--key-file", key)
    with SealedJournal.create(tmp_path / "j", KeyFile(key)) as journal:
        journal.append({"trial": 0, **CONFIG})
    default_key, _ = ensure_default_key()
    inputs = [vault, key, tmp_path / "j", default_key]
    before = {p: p.read_bytes() for p in inputs}
    for out in (vault, key, default_key, tmp_path / "." / "v"):
        result = run(runner, "export", vault, "--out", out, "--force", "--key-file", key, code=10)
        assert "refusing to overwrite" in result.stderr and result.stderr.count("\n") == 1
    for out in (tmp_path / "j", key):
        args = ["journal", "export", tmp_path / "j", "--out", out, "--force", "--key-file", key]
        assert "refusing" in run(runner, *args, code=10).stderr
    assert {p: p.read_bytes() for p in inputs} == before
    other = tmp_path / "other.json"
    other.write_text("old")
    run(runner, "export", vault, "--out", other, "--force", "--key-file", key)
    assert json.loads(other.read_text()) == {"best": CONFIG}


def test_recipient_mode(runner: CliRunner, config_file: Path, tmp_path: Path) -> None:
    vault, identity = tmp_path / "v", tmp_path / "id.key"
    generated = run(runner, "keygen", identity)
    public = generated.stdout.strip()
    assert public.startswith("hspub1") and "keep it secret" in generated.stderr
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    run(runner, "keygen", identity, code=10)  # never overwrites an identity
    run(runner, "init", vault, "--recipient", public)
    result = run(runner, "put", vault, "best", config_file, code=11)
    assert "--recipient" in result.stderr
    run(runner, "put", vault, "best", config_file, "--recipient", public)
    run(runner, "put", vault, "other", config_file, env={"HYPERSEAL_RECIPIENT": public})
    other = run(runner, "keygen", tmp_path / "other.key").stdout.strip()
    run(runner, "put", vault, "x", config_file, "--recipient", other, code=11)
    run(runner, "list", vault, code=11)
    listing = run(runner, "list", vault, "--identity", identity).stdout
    assert "best" in listing and "other" in listing
    run(runner, "verify", vault, "--identity", identity)
    out = tmp_path / "all.yaml"
    run(runner, "export", vault, "--out", out, "--identity", identity)
    assert yaml.safe_load(out.read_text()) == {"best": CONFIG, "other": CONFIG}


def test_a_key_file_others_can_read_is_used_with_a_warning(
    runner: CliRunner, tmp_path: Path, config_file: Path
) -> None:
    vault, key = tmp_path / "v", tmp_path / "k.key"
    run(runner, "init", vault, "--key-file", key)
    run(runner, "put", vault, "best", config_file, "--key-file", key)
    assert "can be read by other users" not in run(runner, "list", vault, "--key-file", key).stderr
    key.chmod(0o644)
    listed = run(runner, "list", vault, "--key-file", key)
    assert "best" in listed.stdout
    assert f"warning: key file {key} can be read by other users (mode 0644)" in listed.stderr
    assert f"chmod 600 {key}" in listed.stderr


def test_put_from_stdin_and_json(runner: CliRunner, tmp_path: Path) -> None:
    vault, key = tmp_path / "v", tmp_path / "k"
    run(runner, "init", vault, "--key-file", key)
    result = run(runner, "put", vault, "a", "-", "--key-file", key, input=json.dumps(CONFIG))
    assert "still on disk" not in result.stderr
    json_file = tmp_path / "c.json"
    json_file.write_text(json.dumps({"lr": 1e-3}))
    put_json = run(runner, "put", vault, "b", json_file, "--key-file", key)
    assert "still on disk in plaintext" in put_json.stderr
    opened = Vault.open(vault, KeyFile(key))
    assert opened.get("a") == CONFIG and opened.get("b") == {"lr": 1e-3}


def test_put_from_stdin_into_a_passphrase_vault_says_where_the_passphrase_must_come_from(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "v"
    monkeypatch.setenv("HYPERSEAL_PASSPHRASE", "correct horse")
    run(runner, "init", vault, *FAST)
    before = vault.read_bytes()
    assert "HYPERSEAL_PASSPHRASE" not in os.environ  # read once, then taken out of it
    result = run(runner, "put", vault, "a", "-", input=json.dumps(CONFIG), code=None)
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "standard input holds the config" in result.stderr
    assert "--passphrase-file or $HYPERSEAL_PASSPHRASE" in result.stderr
    assert vault.read_bytes() == before
    monkeypatch.setenv("HYPERSEAL_PASSPHRASE", "correct horse")
    run(runner, "put", vault, "a", "-", input=json.dumps(CONFIG))
    assert Vault.open(vault, Passphrase("correct horse")).get("a") == CONFIG


@pytest.mark.parametrize(
    ("content", "suffix"),
    [
        ("lr: [0.02, secret-value", ".yaml"),
        ('{"lr": secret-value}', ".json"),
        ("- a list", ".yaml"),
    ],
)
def test_bad_config_files(runner: CliRunner, tmp_path: Path, content: str, suffix: str) -> None:
    vault, key = tmp_path / "v", tmp_path / "k"
    run(runner, "init", vault, "--key-file", key)
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(content)
    result = run(runner, "put", vault, "a", bad, "--key-file", key, code=10)
    assert "secret-value" not in result.output
    run(runner, "put", vault, "a", tmp_path / "missing.yaml", "--key-file", key, code=10)
    run(runner, "put", vault, "bad name", bad, "--key-file", key, code=10)


def test_show_refuses_a_pipe_and_export_is_the_way(
    runner: CliRunner, config_file: Path, tmp_path: Path
) -> None:
    vault, key = tmp_path / "v", tmp_path / "k"
    run(runner, "init", vault, "--key-file", key)
    run(runner, "put", vault, "best", config_file, "--key-file", key)
    refused = run(runner, "show", vault, "best", "--key-file", key, code=10)
    assert "export" in refused.stderr and "0.02" not in refused.output
    exported = run(runner, "export", vault, "best", "--out", "-", "--key-file", key)
    assert json.loads(exported.stdout) == CONFIG
    assert "plaintext" in exported.stderr
    out = tmp_path / "x.yaml"
    run(runner, "export", vault, "--out", out, "--key-file", key)
    run(runner, "export", vault, "--out", out, "--key-file", key, code=10)  # exists
    run(runner, "export", vault, "--out", out, "--force", "--key-file", key)
    assert yaml.safe_load(out.read_text()) == {"best": CONFIG}
    run(runner, "export", vault, "nope", "--out", tmp_path / "n.json", "--key-file", key, code=10)
    run(runner, "export", vault, "--out", "-", "--format", "xml", "--key-file", key, code=10)


def test_conflicting_key_options(runner: CliRunner, tmp_path: Path) -> None:
    vault = tmp_path / "v"
    result = run(
        runner, "init", vault, "--key-file", tmp_path / "k", "--recipient", "hspub1x", code=10
    )
    assert "only one of" in result.stderr
    assert not vault.exists()


def _damaged(vault: Path, how: str) -> None:
    data = bytearray(vault.read_bytes())
    if how == "tampered":
        data[-3] ^= 1
    elif how == "truncated":
        del data[-5:]
    elif how == "version":
        data[8] = 9
    elif how == "not-a-vault":
        data = bytearray(b"just some text\n")
    vault.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("how", "code", "words"),
    [
        ("tampered", 12, "fails authentication"),
        ("truncated", 13, "truncated"),
        ("version", 14, "unknown format version 9"),
        ("not-a-vault", 16, "not a hyperseal vault"),
    ],
)
def test_exit_codes(runner: CliRunner, tmp_path: Path, how: str, code: int, words: str) -> None:
    vault, key = tmp_path / "v", tmp_path / "k"
    run(runner, "init", vault, "--key-file", key)
    _damaged(vault, how)
    before = vault.read_bytes()
    command = ["verify", vault] if how == "not-a-vault" else ["verify", vault, "--key-file", key]
    result = run(runner, *command, code=code)
    assert result.stderr.startswith("error: ") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert vault.read_bytes() == before


def test_kdf_cap_and_lock_exit_codes(
    runner: CliRunner, tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    vault = tmp_path / "v"
    env = {"HYPERSEAL_PASSPHRASE": "pw"}
    run(runner, "init", vault, *FAST, env=env)

    class QuickLock(FileLock):
        def __init__(self, path: Any, timeout: float = 10.0) -> None:
            super().__init__(path, timeout=0.05)

    monkeypatch.setattr("tuner.vault.vault.FileLock", QuickLock)
    with FileLock(vault):
        locked = run(runner, "put", vault, "a", config_file, env=env, code=17)
    assert "another process" in locked.stderr
    data = bytearray(vault.read_bytes())
    struct.pack_into(">BII", data, 26, 30, 8, 1)
    data[127:159] = hashlib.sha256(bytes(data[:127])).digest()
    vault.write_bytes(bytes(data))
    result = run(runner, "verify", vault, env=env, code=15)
    assert "scrypt parameters refused" in result.stderr


def test_journal_commands(runner: CliRunner, tmp_path: Path) -> None:
    from tuner.vault import generate_identity_file

    identity = generate_identity_file(tmp_path / "id")
    path = tmp_path / "trials.journal"
    with SealedJournal.create(path, identity.recipient) as journal:
        for n in range(3):
            journal.append({"trial": n, "lr": 0.01 * n})
    ok = run(runner, "journal", "verify", path, "--identity", tmp_path / "id")
    assert "3 records" in ok.stdout and "all authenticated" in ok.stdout
    structural = run(runner, "journal", "verify", path, "--recipient", str(identity.recipient))
    assert "structure only" in structural.stdout
    before = path.read_bytes()
    with SealedJournal.open(path, identity.recipient) as journal:
        journal.append({"trial": 3, "lr": 0.03})
    after = path.read_bytes()
    path.write_bytes(before + after[len(before) : -9])  # a crash in the middle of that append
    torn = run(runner, "journal", "verify", path, "--identity", tmp_path / "id", code=18)
    assert "--repair" in torn.stderr
    repaired = run(runner, "journal", "verify", path, "--repair", "--identity", tmp_path / "id")
    assert "dropped a torn record" in repaired.stdout and "3 records" in repaired.stdout
    out = tmp_path / "trials.jsonl"
    exported = run(runner, "journal", "export", path, "--out", out, "--identity", tmp_path / "id")
    assert [json.loads(x) for x in out.read_text().splitlines()] == [
        {"trial": 0, "lr": 0.0},
        {"trial": 1, "lr": 0.01},
        {"trial": 2, "lr": 0.02},
    ]
    assert "plaintext" in exported.stderr
    head = path.read_bytes()
    path.write_bytes(head + head[-200:])  # a duplicated/garbled tail
    bad = run(runner, "journal", "verify", path, "--identity", tmp_path / "id", code=None)
    assert bad.exit_code == 12 and "corrupt frame head" in bad.stderr


def test_journal_order_exit_code(runner: CliRunner, tmp_path: Path) -> None:
    key_path = tmp_path / "k"
    from tuner.vault import generate_key_file
    from tuner.vault.format import FileKind, parse_header, scan_journal

    key = generate_key_file(key_path)
    path = tmp_path / "j"
    with SealedJournal.create(path, key) as journal:
        for n in range(3):
            journal.append({"trial": n})
    data = path.read_bytes()
    header = parse_header(data, FileKind.JOURNAL, "test")
    scan = scan_journal(data, header, "test")
    head = data[: scan.ends[0] + scan.end_len]
    frames = [data[f.offset : f.end + scan.end_len] for f in scan.frames]
    path.write_bytes(head + frames[1] + frames[0] + frames[2])
    result = run(runner, "journal", "verify", path, "--key-file", key_path, code=19)
    assert "out of order" in result.stderr
    run(runner, "verify", path, "--key-file", key_path, code=16)  # a journal is not a vault


def test_help_is_fast_and_imports_no_crypto() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import tuner.vault.cli; "
        "print('cryptography' in sys.modules, 'yaml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    result = CliRunner().invoke(app, ["vault", "--help"])
    assert result.exit_code == 0
    for command in [
        "init",
        "keygen",
        "put",
        "list",
        "show",
        "export",
        "rotate",
        "verify",
        "journal",
    ]:
        assert command in result.stdout


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1\nb: .nan\n", "b is not a finite number"),
        ("a: {c: [1, .inf]}\n", "a.c[1] is not a finite number"),
        (
            "run: {start: 2026-01-02}\n",
            "run.start is a date or time, which JSON cannot store; quote it",
        ),
        ("lr: 0.1\nlr: 0.2\n", "key 'lr' appears twice (line 2); keep one"),
        ("deep: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested too deeply"),
    ],
)
def test_put_refuses_what_json_cannot_hold(
    runner: CliRunner, tmp_path: Path, text: str, fragment: str
) -> None:
    vault, key = tmp_path / "v", tmp_path / "k.key"
    run(runner, "init", vault, "--key-file", key)
    before = vault.read_bytes()
    config = tmp_path / "c.yaml"
    config.write_text(text)
    result = run(runner, "put", vault, "e", config, "--key-file", key, code=10)
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert vault.read_bytes() == before


def test_a_runs_vault_is_not_rotated_without_its_journal(runner: CliRunner, tmp_path: Path) -> None:
    """Rotated alone, a run's vault would leave its journal (the whole trial history) under
    the old key, and the run readable by neither key alone."""
    run_dir, key = tmp_path / "run", tmp_path / "k.key"
    run_dir.mkdir()
    run(runner, "init", run_dir / "vault.hsv", "--key-file", key)
    rotated = run(
        runner,
        "rotate",
        run_dir / "vault.hsv",
        "--key-file",
        key,
        "--new-key-file",
        tmp_path / "new.key",
    )
    assert "rotated" in rotated.stdout  # not a run's vault: rotated as asked
    (run_dir / "run.json").write_text("{}")
    SealedJournal.create(run_dir / "journal.hsj", KeyFile(key)).close()
    before = (run_dir / "vault.hsv").read_bytes()
    refused = run(
        runner,
        "rotate",
        run_dir / "vault.hsv",
        "--key-file",
        tmp_path / "new.key",
        "--new-key-file",
        tmp_path / "newer.key",
        code=10,
    )
    assert f"rotate the run as a whole: hyperseal vault rotate {run_dir}" in refused.stderr
    assert (run_dir / "vault.hsv").read_bytes() == before
    assert not (tmp_path / "newer.key").exists()


def test_rotate_names_its_own_flags_when_two_new_keys_are_given(
    runner: CliRunner, tmp_path: Path
) -> None:
    vault, key = tmp_path / "v", tmp_path / "k.key"
    run(runner, "init", vault, "--key-file", key)
    public = run(runner, "keygen", tmp_path / "id.key").stdout.strip()
    result = run(
        runner,
        "rotate",
        vault,
        "--key-file",
        key,
        "--new-key-file",
        tmp_path / "n.key",
        "--new-recipient",
        public,
        code=10,
    )
    assert "give only one of --new-key-file, --new-recipient" in result.stderr
    assert Vault.open(vault, KeyFile(key)).names() == []
