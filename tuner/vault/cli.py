"""``hyperseal vault ...``: create, fill, read, rotate and check vaults and journals.

Commands only parse options, ask for keys (:mod:`tuner.vault.cli_keys`) and
print; the work, and the rules on what may be combined, are in the public API
(:mod:`tuner.vault`, :mod:`tuner.vault.commands`, :mod:`tuner.vault.documents`),
imported inside each command so ``hyperseal --help`` stays fast.

Plaintext leaves a vault in two ways only: ``show`` on a terminal, and
``export``, which says on stderr that it wrote plaintext.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tuner.cli_support import new_app
from tuner.vault.cli_keys import (
    NEW_PASSPHRASE_ENV,
    NO_KEY_OPTIONS,
    IdentityOption,
    KeyFileOption,
    PassphraseFileOption,
    ReadingKeyOptions,
    RecipientOption,
    key_for_new,
    key_for_writing_or_default,
    with_reading_key_options,
)

if TYPE_CHECKING:
    from tuner.vault.commands import OnRepair
    from tuner.vault.journal import TornTail
    from tuner.vault.kdf import ScryptParams
    from tuner.vault.keys import KeySource

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


def _write_plaintext(out: str, text: str, what: str, force: bool) -> None:
    """Write exported plaintext to ``out`` (0600, atomic) or stdout, and say so on stderr."""
    from tuner.vault.commands import write_plaintext_file

    if out == "-":
        typer.echo(text, nl=False)
        typer.echo(f"note: wrote the plaintext of {what} to stdout (not encrypted)", err=True)
        return
    write_plaintext_file(Path(out), text, force=force)
    typer.echo(
        f"note: wrote the plaintext of {what} to {out} (mode 0600, NOT encrypted);"
        " delete it when done",
        err=True,
    )


def _reading_command(
    typer_app: typer.Typer, name: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register command ``name`` on ``typer_app`` with its ``keys`` parameter as the three
    key options of a file it reads (:func:`~tuner.vault.cli_keys.with_reading_key_options`)."""

    def register(command: Callable[..., None]) -> Callable[..., None]:
        return typer_app.command(name)(with_reading_key_options(command))

    return register


def _say_repaired(journal: Path) -> OnRepair:
    """What to print when a torn last record of ``journal`` was dropped."""

    def say(torn: TornTail, dropped: int) -> None:
        typer.echo(
            f"repaired {journal}: dropped a torn record of {dropped} bytes at byte {torn.offset}"
        )

    return say


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
    from tuner.vault import Vault
    from tuner.vault.commands import refuse_existing

    refuse_existing(vault)  # before a key file is generated or a passphrase asked for
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
    from tuner.vault.commands import check_stdin_free
    from tuner.vault.documents import load_document

    check_name(name)
    if config_file == "-":
        check_stdin_free(vault, passphrase_file)
    document = load_document(config_file)
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


@_reading_command(app, "list")
def list_entries(vault: VaultArg, keys: ReadingKeyOptions = NO_KEY_OPTIONS) -> None:
    """List entry names and when they were saved (UTC); no stored values."""
    from tuner.vault import Vault

    entries = Vault.open(vault, keys.key_for(vault)).entries()
    if not entries:
        typer.echo(f"{vault} has no entries", err=True)
        return
    width = max(len(e.name) for e in entries)
    for entry in entries:
        saved = entry.saved_at.strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{entry.name:<{width}}  {saved}")


@_reading_command(app, "show")
def show(
    vault: VaultArg,
    name: Annotated[str, typer.Argument(help="Entry name.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Show as JSON instead of YAML.")] = False,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
) -> None:
    """Show one entry on the terminal (to write it to a file or a pipe, use export)."""
    from tuner.vault import Vault
    from tuner.vault.documents import render_document
    from tuner.vault.errors import VaultError

    if not _stdout_is_terminal():
        raise VaultError(
            "show writes only to a terminal; to write plaintext to a file or a pipe use"
            f" `hyperseal vault export {vault} {name} --out FILE` (--out - for stdout)"
        )
    document = Vault.open(vault, keys.key_for(vault)).get(name)
    typer.echo(render_document(document, "json" if as_json else "yaml"), nl=False)


@_reading_command(app, "export")
def export(
    vault: VaultArg,
    out: OutOption,
    name: Annotated[
        str | None, typer.Argument(help="Entry to export (default: all).", show_default=False)
    ] = None,
    fmt: FormatOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
) -> None:
    """Write decrypted entries to a plain file: the one way plaintext leaves a vault.

    With NAME, the entry's document; without, a mapping of every name to its document.
    """
    from tuner.vault import Vault
    from tuner.vault.commands import exported_entries, refuse_overwriting_inputs
    from tuner.vault.documents import output_format, render_document

    style = output_format(out, fmt)
    refuse_overwriting_inputs(out, vault, keys.passphrase_file, keys.key_file, keys.identity)
    value, what = exported_entries(Vault.open(vault, keys.key_for(vault)), name)
    _write_plaintext(out, render_document(value, style), what, force)


@_reading_command(app, "rotate")
def rotate(
    vault: VaultArg,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
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
    from tuner.vault import commands

    def new_key() -> KeySource:
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

        key = keys.key_for(commands.run_journal(vault))
        commands.check_run_key(vault, key)  # the key first, then the new one
        done = rotate_run(vault, key, new_key(), kdf=_scrypt(kdf_log2n))
        typer.echo(commands.describe_run_rotation(vault, done))
        return
    commands.refuse_run_vault(vault)
    opened = commands.rotate_vault(vault, keys.key_for(vault), new_key(), kdf=_scrypt(kdf_log2n))
    typer.echo(f"rotated {vault}: now sealed with a {opened.key_mode.describe()}")


@_reading_command(app, "verify")
def verify_vault(vault: VaultArg, keys: ReadingKeyOptions = NO_KEY_OPTIONS) -> None:
    """Authenticate every byte of VAULT; exit non-zero with the reason if anything is wrong."""
    from tuner.vault import verify

    report = verify(vault, keys.key_for(vault))
    typer.echo(f"ok: {vault}: {report.describe()}")


JournalArg = Annotated[Path, typer.Argument(help="The journal file.", show_default=False)]
RepairOption = Annotated[
    bool, typer.Option("--repair", help="Drop a torn last record left by a crash.")
]
RepairFirstOption = Annotated[
    bool, typer.Option("--repair", help="First drop a torn last record left by a crash.")
]


@_reading_command(journal_app, "verify")
def journal_verify(
    journal: JournalArg,
    repair: RepairOption = False,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
    recipient: RecipientOption = None,
) -> None:
    """Authenticate JOURNAL's records and its end; --repair drops a torn last record.

    Only what a crash mid-append leaves is repaired, never cut or zeroed records.
    Says whether the journal is complete: it ends with its authenticated end,
    and a tuning run's journal holds what its vault's checkpoint counted.
    With only --recipient (no identity) nothing is authenticated: the frame
    structure and sequence are checked, completeness is not.
    """
    from tuner.vault.commands import verify_journal

    if recipient is not None:
        key = key_for_writing_or_default(journal, recipient=recipient)
    else:
        key = keys.key_for(journal)
    found = verify_journal(journal, key, repair=repair, on_repair=_say_repaired(journal))
    typer.echo(found.describe(journal))


@_reading_command(journal_app, "export")
def journal_export(
    journal: JournalArg,
    out: OutOption,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
) -> None:
    """Write the decrypted records of JOURNAL as JSON Lines (one record per line).

    Only a complete journal is exported (see `journal verify`).
    """
    from tuner.vault.commands import read_complete_journal, refuse_overwriting_inputs
    from tuner.vault.documents import journal_lines

    refuse_overwriting_inputs(out, journal, keys.passphrase_file, keys.key_file, keys.identity)
    records, how = read_complete_journal(journal, keys.key_for(journal))
    _write_plaintext(out, journal_lines(records), f"{len(records)} journal records", force)
    typer.echo(f"note: the journal is {how}", err=True)


@_reading_command(journal_app, "migrate")
def journal_migrate(
    journal: JournalArg,
    repair: RepairFirstOption = False,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
) -> None:
    """Convert a journal written by hyperseal 0.1 (format 1) to the current format, once.

    Format 1 cannot prove that no record was cut off its end. The records are
    authenticated and sealed again, same key, with an authenticated end.
    A tuning run's journal is migrated with its run: the checkpoint in the
    run's vault is updated too, as `vault rotate RUN_DIR` does.
    Migrate only a journal you trust to be whole.
    """
    from tuner.vault.commands import migrate_journal_file

    key = keys.key_for(journal)
    done = migrate_journal_file(journal, key, repair=repair, on_repair=_say_repaired(journal))
    if done is None:
        typer.echo(f"{journal}: already in the current format; nothing to do")
    elif done.vault is not None:
        typer.echo(
            f"migrated {journal} ({done.records} records) and the checkpoint in"
            f" {done.vault.name}; same key"
        )
    else:
        typer.echo(f"migrated {journal} ({done.records} records); same key")
