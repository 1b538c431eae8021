"""``hyperseal vault ...``: create, fill, read, rotate and check vaults and journals.

Commands only parse options, ask for keys (:mod:`tuner.vault.cli_keys`) and
print; the work is done by the public API of :mod:`tuner.vault`, imported
inside each command so ``hyperseal --help`` stays fast.

Plaintext leaves a vault in two ways only: ``show`` on a terminal, and
``export``, which says on stderr that it wrote plaintext.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tuner.cli_support import new_app
from tuner.vault.cli_keys import (
    NEW_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    IdentityOption,
    KeyFileOption,
    PassphraseFileOption,
    RecipientOption,
    key_for_new,
    key_for_reading_or_default,
    key_for_writing_or_default,
)

if TYPE_CHECKING:
    from tuner.vault.journal import SealedJournal
    from tuner.vault.kdf import ScryptParams

app = new_app("Encrypted, authenticated storage for winning configs and trial journals.")
journal_app = new_app("Inspect, repair and export sealed trial journals.")
app.add_typer(journal_app, name="journal")

VaultArg = Annotated[Path, typer.Argument(help="The vault file.", show_default=False)]
KdfOption = Annotated[
    int,
    typer.Option(
        "--kdf-log2n",
        hidden=True,
        help="scrypt cost log2(N) for a new passphrase (default 17; lower only for tests).",
    ),
]
OutOption = Annotated[
    str,
    typer.Option(
        "--out", help="File to write the PLAINTEXT to (- for stdout).", show_default=False
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="json or yaml (default: from the file extension, else json).",
        show_default=False,
    ),
]


def _scrypt(log2_n: int) -> ScryptParams:
    from tuner.vault.kdf import ScryptParams

    return ScryptParams(log2_n=log2_n)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _read_stdin(limit: int) -> str:
    """At most ``limit`` characters of stdin; more is a :class:`DocumentError`."""
    from tuner.bounded import size_text
    from tuner.vault.errors import DocumentError

    text = sys.stdin.read(limit + 1)
    if len(text) > limit:
        raise DocumentError(f"stdin: the config is over the limit of {size_text(limit)}")
    return text


def _load_config(source: str) -> dict[str, Any]:
    """Read a YAML or JSON mapping from a file, or from stdin when ``source`` is ``-``."""
    import json

    import yaml

    from tuner.bounded import MAX_YAML_BYTES, check_json_memory, read_text
    from tuner.vault.errors import DocumentError
    from tuner.yamlfile import DuplicateKeyError, duplicate_key_message, load_yaml

    where = "stdin" if source == "-" else source
    if source != "-" and not Path(source).exists():
        raise DocumentError(f"{where}: no such config file")
    try:  # type and size checked before reading (not /dev/zero, not a 10 GB file)
        text = (
            _read_stdin(MAX_YAML_BYTES)
            if source == "-"
            else read_text(Path(source), MAX_YAML_BYTES, "the config file", DocumentError)
        )
    except UnicodeDecodeError:
        raise DocumentError(f"{where}: config file is not UTF-8 text") from None
    except OSError as exc:
        raise DocumentError(f"{where}: cannot read config file ({exc.strerror})") from None
    too_deep = DocumentError(f"{where}: the config is nested too deeply to store")
    if source.endswith(".json"):
        check_json_memory(where, text, "the config", DocumentError)
        try:
            value = json.loads(text)
        except RecursionError:
            raise too_deep from None
        except json.JSONDecodeError as exc:
            # Position only: the message must not quote the (secret) content.
            raise DocumentError(
                f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno})"
            ) from None
    else:
        try:
            value = load_yaml(text, where=where, error=DocumentError)  # alias bombs refused
        except DuplicateKeyError as exc:
            raise DocumentError(f"{where}: {duplicate_key_message(exc)}") from None
        except RecursionError:
            raise too_deep from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark is not None else ""
            raise DocumentError(f"{where}: not valid YAML or JSON{at}") from None
    if not isinstance(value, dict):
        raise DocumentError(f"{where}: the config must be a mapping (key: value pairs)")
    _check_storable(value, where)
    return value


def _check_storable(document: dict[str, Any], where: str) -> None:
    """Refuse NaN and infinities, which JSON cannot carry (an export would not parse), and
    the dates and times unquoted YAML gives; the message names the key, never a value.
    Walks without recursion: nesting is the user's."""
    import datetime
    import math

    from tuner.vault.errors import DocumentError

    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise DocumentError(
                f"{where}: {path or 'a value'} is not a finite number (NaN or infinity);"
                " JSON cannot store it"
            )
        if isinstance(value, datetime.date | datetime.time):
            raise DocumentError(
                f"{where}: {path or 'a value'} is a date or time, which JSON cannot store;"
                " quote it in the YAML to keep it as text"
            )
        if isinstance(value, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))


def _render(value: Any, fmt: str) -> str:
    import json

    if fmt == "json":
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(value, sort_keys=True, allow_unicode=True)


def _format_for(out: str, fmt: str | None) -> str:
    from tuner.vault.errors import VaultError

    if fmt is None:
        fmt = "yaml" if out.endswith((".yaml", ".yml")) else "json"
    if fmt not in ("json", "yaml"):
        raise VaultError(f"unknown --format {fmt!r}; use json or yaml")
    return fmt


def _refuse_overwriting_inputs(out: str, *inputs: Path | None) -> None:
    """Refuse an ``--out`` that is the sealed file being exported or one of its key files:
    ``--force`` would replace it with plaintext, and the sealed data would be lost."""
    import os

    from tuner.keyring import default_key_file
    from tuner.vault.errors import VaultError

    if out == "-" or not os.path.exists(out):
        return
    for source in (*inputs, default_key_file()):
        if source is not None and os.path.exists(source) and os.path.samefile(out, source):
            raise VaultError(
                f"{out}: is a sealed file or key this export reads; refusing to overwrite it"
                " with plaintext; choose another --out"
            )


def _write_plaintext(out: str, text: str, what: str, force: bool) -> None:
    """Write exported plaintext to ``out`` (0600, atomic) or stdout, and say so on stderr."""
    from tuner.vault.atomic import atomic_write, create_exclusive

    if out == "-":
        typer.echo(text, nl=False)
        typer.echo(f"note: wrote the plaintext of {what} to stdout (not encrypted)", err=True)
        return
    (atomic_write if force else create_exclusive)(Path(out), text.encode("utf-8"))
    typer.echo(
        f"note: wrote the plaintext of {what} to {out} (mode 0600, NOT encrypted);"
        " delete it when done",
        err=True,
    )


@app.command("init")
def init(
    vault: VaultArg,
    key_file: KeyFileOption = None,
    recipient: RecipientOption = None,
    passphrase_file: PassphraseFileOption = None,
    kdf_log2n: KdfOption = 17,
) -> None:
    """Create an empty vault sealed with a passphrase (default), a key file or a public key.

    --key-file F uses F, generating it (mode 0600) when it does not exist.
    --recipient PUBKEY seals to a public key from `hyperseal vault keygen`:
    anyone with it can add entries; only the identity file reads them.
    """
    import os

    from tuner.vault import Vault
    from tuner.vault.errors import VaultError

    if os.path.lexists(vault):  # before a key file is generated or a passphrase asked for
        raise VaultError(f"{vault}: file exists; refusing to overwrite it")
    key = key_for_new(passphrase_file=passphrase_file, key_file=key_file, recipient=recipient)
    created = Vault.create(vault, key, kdf=_scrypt(kdf_log2n))
    typer.echo(f"created {vault} (sealed with a {created.key_mode.describe()})")


@app.command("keygen")
def keygen(
    identity_file: Annotated[
        Path, typer.Argument(help="Where to write the new identity.", show_default=False)
    ],
) -> None:
    """Make an X25519 identity (mode 0600) and print its public key on stdout."""
    from tuner.vault import generate_identity_file

    identity = generate_identity_file(identity_file)
    typer.echo(
        f"wrote identity {identity_file} (mode 0600): keep it secret; it reads what is sealed"
        " to the public key below (give that to writers as --recipient)",
        err=True,
    )
    typer.echo(str(identity.recipient))


@app.command("put")
def put(
    vault: VaultArg,
    name: Annotated[str, typer.Argument(help="Entry name.", show_default=False)],
    config_file: Annotated[
        str, typer.Argument(help="A YAML or JSON file, or - for stdin.", show_default=False)
    ],
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
    recipient: RecipientOption = None,
) -> None:
    """Store CONFIG_FILE (YAML or JSON) in VAULT under NAME, replacing any entry of that name."""
    from tuner.vault import Vault
    from tuner.vault.codec import check_name

    check_name(name)
    if config_file == "-":
        _stdin_not_needed_for_a_passphrase(vault, passphrase_file)
    document = _load_config(config_file)
    key = key_for_writing_or_default(
        vault,
        passphrase_file=passphrase_file,
        key_file=key_file,
        identity=identity,
        recipient=recipient,
    )
    Vault.open(vault, key).put(name, document)
    typer.echo(f"stored {name} in {vault}")
    if config_file != "-":
        typer.echo(
            f"note: {config_file} is still on disk in plaintext; delete it if it should not stay",
            err=True,
        )


def _stdin_not_needed_for_a_passphrase(vault: Path, passphrase_file: Path | None) -> None:
    """``put ... -`` reads the config from a piped standard input, which then cannot also
    give a passphrase-sealed vault its passphrase: say so before reading anything."""
    from tuner.vault import KeyMode, inspect_file
    from tuner.vault.cli_keys import passphrase_from_env
    from tuner.vault.errors import VaultError

    if sys.stdin.isatty() or passphrase_file is not None or passphrase_from_env() is not None:
        return
    if vault.is_file() and inspect_file(vault).key_mode is KeyMode.PASSPHRASE:
        raise VaultError(
            f"{vault}: standard input holds the config, so it cannot give the passphrase too;"
            f" use --passphrase-file or ${PASSPHRASE_ENV}"
        )


@app.command("list")
def list_entries(
    vault: VaultArg,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """List entry names and when they were saved (UTC); no stored values."""
    from tuner.vault import Vault

    key = key_for_reading_or_default(
        vault, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    entries = Vault.open(vault, key).entries()
    if not entries:
        typer.echo(f"{vault} has no entries", err=True)
        return
    width = max(len(e.name) for e in entries)
    for entry in entries:
        saved = entry.saved_at.strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{entry.name:<{width}}  {saved}")


@app.command("show")
def show(
    vault: VaultArg,
    name: Annotated[str, typer.Argument(help="Entry name.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Show as JSON instead of YAML.")] = False,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """Show one entry on the terminal (to write it to a file or a pipe, use export)."""
    from tuner.vault import Vault
    from tuner.vault.errors import VaultError

    if not _stdout_is_terminal():
        raise VaultError(
            "show writes only to a terminal; to write plaintext to a file or a pipe use"
            f" `hyperseal vault export {vault} {name} --out FILE` (--out - for stdout)"
        )
    key = key_for_reading_or_default(
        vault, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    document = Vault.open(vault, key).get(name)
    typer.echo(_render(document, "json" if as_json else "yaml"), nl=False)


@app.command("export")
def export(
    vault: VaultArg,
    out: OutOption,
    name: Annotated[
        str | None, typer.Argument(help="Entry to export (default: all).", show_default=False)
    ] = None,
    fmt: FormatOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """Write decrypted entries to a plain file: the one way plaintext leaves a vault.

    With NAME, the entry's document; without, a mapping of every name to its document.
    """
    from tuner.vault import Vault

    style = _format_for(out, fmt)
    _refuse_overwriting_inputs(out, vault, passphrase_file, key_file, identity)
    key = key_for_reading_or_default(
        vault, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    opened = Vault.open(vault, key)
    if name is not None:
        value: Any = opened.get(name)
        what = f"entry {name}"
    else:
        value = {n: opened.get(n) for n in opened.names()}
        what = f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"
    _write_plaintext(out, _render(value, style), what, force)


@app.command("rotate")
def rotate(
    vault: VaultArg,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
    new_passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--new-passphrase-file",
            help=f"The new passphrase's file (else ${NEW_PASSPHRASE_ENV}, else a prompt).",
            show_default=False,
        ),
    ] = None,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="Switch to this key file (generated if missing).",
            show_default=False,
        ),
    ] = None,
    new_recipient: Annotated[
        str | None,
        typer.Option(
            "--new-recipient", help="Switch to sealing for this public key.", show_default=False
        ),
    ] = None,
    kdf_log2n: KdfOption = 17,
) -> None:
    """Re-encrypt VAULT under a new passphrase (default) or a new key, with a fresh data key.

    Given a tuning run's folder, rotate the run as a whole: its vault and its trial journal.
    """
    from tuner.vault import SealedJournal, Vault, inspect_file

    def new_key() -> Any:
        return key_for_new(
            passphrase_file=new_passphrase_file,
            key_file=new_key_file,
            recipient=new_recipient,
            env=NEW_PASSPHRASE_ENV,
            prompt="New passphrase",
            flag_prefix="new-",
        )

    if vault.is_dir():
        from tuner.rotate import rotate_run
        from tuner.tune import JOURNAL_FILE

        key = key_for_reading_or_default(
            vault / JOURNAL_FILE, passphrase_file=passphrase_file, key_file=key_file,
            identity=identity,
        )  # fmt: skip
        # the key first; a journal of hyperseal 0.1 is rotated (and so migrated) too
        SealedJournal.open(vault / JOURNAL_FILE, key, writable=False, legacy=True).close()
        done = rotate_run(vault, key, new_key(), kdf=_scrypt(kdf_log2n))
        how = inspect_file(done.vault).key_mode.describe()
        finished = " (finished the rotation stopped earlier)" if done.completed else ""
        typer.echo(
            f"rotated the run {vault}{finished}: {done.vault.name} and {done.journal.name}"
            f" ({done.records} records) now sealed with a {how}"
        )
        return
    journal = _run_journal_beside(vault)
    if journal is not None:
        from tuner.vault.errors import VaultError

        raise VaultError(
            f"{vault} is the vault of the tuning run {vault.parent}, whose journal is sealed with"
            f" the same key; rotate the run as a whole: hyperseal vault rotate {vault.parent}"
        )
    key = key_for_reading_or_default(
        vault, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    opened = Vault.open(vault, key)
    opened.rotate(new_key(), kdf=_scrypt(kdf_log2n))
    typer.echo(f"rotated {vault}: now sealed with a {opened.key_mode.describe()}")


def _run_journal_beside(vault: Path) -> Path | None:
    """The journal of the tuning run whose folder holds ``vault``, if it is one."""
    from tuner.tune import JOURNAL_FILE, RUN_FILE

    folder = vault.parent
    journal = folder / JOURNAL_FILE
    return journal if (folder / RUN_FILE).is_file() and journal.is_file() else None


@app.command("verify")
def verify_vault(
    vault: VaultArg,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """Authenticate every byte of VAULT; exit non-zero with the reason if anything is wrong."""
    from tuner.vault import verify

    key = key_for_reading_or_default(
        vault, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    report = verify(vault, key)
    typer.echo(f"ok: {vault}: {report.describe()}")


JournalArg = Annotated[Path, typer.Argument(help="The journal file.", show_default=False)]


@journal_app.command("verify")
def journal_verify(
    journal: JournalArg,
    repair: Annotated[
        bool, typer.Option("--repair", help="Drop a torn last record left by a crash.")
    ] = False,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
    recipient: RecipientOption = None,
) -> None:
    """Authenticate JOURNAL's records and its end; --repair drops a torn last record.

    Only what a crash mid-append leaves is repaired, never cut or zeroed records.
    Says whether the journal is complete: it ends with its authenticated end,
    and a tuning run's journal holds what its vault's checkpoint counted.
    With only --recipient (no identity) nothing is authenticated: the frame
    structure and sequence are checked, completeness is not.
    """
    from tuner.vault import JournalTornTailError, SealedJournal

    if recipient is not None:
        key = key_for_writing_or_default(journal, recipient=recipient)
    else:
        key = key_for_reading_or_default(
            journal, passphrase_file=passphrase_file, key_file=key_file, identity=identity
        )
    opened = SealedJournal.open(journal, key, writable=repair)
    try:
        if opened.can_read:
            try:
                records = opened.read()
            except JournalTornTailError:
                if not repair:
                    raise
                _report_repair(journal, opened)
                records = opened.read()
            how = f"all authenticated; {_completeness(journal, opened, records, key)}"
            count = len(records)
        else:
            if opened.torn_tail is not None and repair:
                _report_repair(journal, opened)
            opened.check_structure()
            count = opened.records
            how = (
                "structure only: authenticating them, and checking that none was cut off the"
                " end, needs the identity; completeness NOT checked"
            )
        typer.echo(f"ok: {journal}: journal, {opened.key_mode.describe()}, {count} records ({how})")
    finally:
        opened.close()


def _run_folder(journal: Path) -> Path | None:
    """The tuning run folder whose journal ``journal`` is, if it is one."""
    from tuner.tune import JOURNAL_FILE, RUN_FILE

    folder = journal.parent
    return folder if journal.name == JOURNAL_FILE and (folder / RUN_FILE).exists() else None


def _completeness(
    journal: Path, opened: SealedJournal, records: list[dict[str, Any]], key: Any
) -> str:
    """Words on how complete the journal (just read) is shown to be; checks the run's
    checkpoint when the journal belongs to a run (failing closed, as the tuner does)."""
    from tuner.run_checkpoint import find_run_checkpoint

    run_dir = _run_folder(journal)
    if run_dir is None:
        return (
            "complete: it ends with its authenticated end (a rollback to an older copy of the"
            " file cannot be told without a checkpoint)"
        )
    found = find_run_checkpoint(run_dir, key, opened.journal_id, records)
    if found.checkpoint is None:
        return (
            f"complete: it ends with its authenticated end; {found.vault.name} holds no"
            " checkpoint of it yet (no session of the run has finished), so a rollback to an"
            " older copy of the file cannot be told"
        )
    opened.check_checkpoint(found.checkpoint)
    return (
        "complete: it ends with its authenticated end and holds the"
        f" {found.checkpoint.records} records the checkpoint in {found.vault.name} counted"
    )


def _report_repair(journal: Path, opened: SealedJournal) -> None:
    torn = opened.torn_tail
    assert torn is not None
    dropped = opened.repair()
    typer.echo(
        f"repaired {journal}: dropped a torn record of {dropped} bytes at byte {torn.offset}"
    )


@journal_app.command("export")
def journal_export(
    journal: JournalArg,
    out: OutOption,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """Write the decrypted records of JOURNAL as JSON Lines (one record per line).

    Only a complete journal is exported (see `journal verify`).
    """
    import json

    from tuner.vault import SealedJournal

    _refuse_overwriting_inputs(out, journal, passphrase_file, key_file, identity)
    key = key_for_reading_or_default(
        journal, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    opened = SealedJournal.open(journal, key, writable=False)
    try:
        records = opened.read()
        how = _completeness(journal, opened, records, key)
    finally:
        opened.close()
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)
    _write_plaintext(out, text, f"{len(records)} journal records", force)
    typer.echo(f"note: the journal is {how}", err=True)


@journal_app.command("migrate")
def journal_migrate(
    journal: JournalArg,
    repair: Annotated[
        bool, typer.Option("--repair", help="First drop a torn last record left by a crash.")
    ] = False,
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    identity: IdentityOption = None,
) -> None:
    """Convert a journal written by hyperseal 0.1 (format 1) to the current format, once.

    Format 1 cannot prove that no record was cut off its end. The records are
    authenticated and sealed again, same key, with an authenticated end.
    A tuning run's journal is migrated with its run: the checkpoint in the
    run's vault is updated too, as `vault rotate RUN_DIR` does.
    Migrate only a journal you trust to be whole.
    """
    from tuner.vault import SealedJournal, inspect_file, migrate_journal

    key = key_for_reading_or_default(
        journal, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )
    run_dir = _run_folder(journal)
    if inspect_file(journal).version >= 2:
        typer.echo(f"{journal}: already in the current format; nothing to do")
        return
    if repair:
        with SealedJournal.open(journal, key, legacy=True) as opened:
            if opened.torn_tail is not None:
                _report_repair(journal, opened)
    if run_dir is not None:
        from tuner.rotate import rotate_run

        scrypt = inspect_file(journal).kdf
        done = rotate_run(run_dir, key, key, kdf=scrypt)
        typer.echo(
            f"migrated {journal} ({done.records} records) and the checkpoint in"
            f" {done.vault.name}; same key"
        )
        return
    records = migrate_journal(journal, key)
    typer.echo(f"migrated {journal} ({records} records); same key")
