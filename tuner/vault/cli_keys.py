"""Key options and key resolution for any hyperseal command that touches a sealed file.

``hyperseal vault ...``, ``hyperseal tune``, ``hyperseal audit model`` and
``hyperseal report`` all ask for keys the same way, with these ready-made
Typer options (``Annotated`` types, so they are reused as they are)::

    from tuner.vault.cli_keys import (
        IdentityOption, KeyFileOption, PassphraseFileOption, RecipientOption,
        key_for_new, key_for_reading, key_for_writing,
    )

    @app.command()
    def tune(
        vault: Path,
        passphrase_file: PassphraseFileOption = None,
        key_file: KeyFileOption = None,
        identity: IdentityOption = None,
        recipient: RecipientOption = None,
    ) -> None:
        key = key_for_writing(vault, passphrase_file=passphrase_file, key_file=key_file,
                              identity=identity, recipient=recipient)
        Vault.open(vault, key).put("best", result)

A command that only reads takes the three reading options as one value
(:class:`ReadingKeyOptions`, through :func:`with_reading_key_options`).

Which function:

* :func:`key_for_reading`: open an existing vault or journal to read it.
  Looks at the file's header (no key needed) to ask for the right kind of
  key: a passphrase, ``--key-file`` or ``--identity``.
* :func:`key_for_writing`: add to an existing file. Like reading, but a
  recipient-sealed file also accepts ``--recipient PUBKEY`` (or
  ``HYPERSEAL_RECIPIENT``), which must match the file's public key: a
  writer never seals to a key it was not told to trust.
* :func:`key_for_new`: a key for a file about to be created (``init``, a
  new journal, the new key of ``rotate``): ``--recipient``, ``--key-file``
  (generated when missing) or a passphrase asked twice.

The rules on which options fit which file are in :mod:`tuner.vault.key_options`.

Where a passphrase comes from, first match wins: ``--passphrase-file``
(its first line), the ``HYPERSEAL_PASSPHRASE`` environment variable when
the user sets it, else a hidden prompt (typed twice when creating). Never
from a command-line argument. A passphrase variable is taken out of the
environment when first read (and kept in memory for the rest of the command),
so that trial workers started afterwards never inherit it. These functions
may prompt and print notes on stderr: they are CLI-side only; core code takes
a ready key source.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from tuner.bounded import read_small
from tuner.vault.errors import VaultError
from tuner.vault.format import KeyMode
from tuner.vault.info import inspect_file
from tuner.vault.key_options import (
    RECIPIENT_ENV,
    KeyOptions,
    at_most_one,
    check_reading_options,
    check_writing_options,
    pinned_recipient,
)
from tuner.vault.keys import (
    Identity,
    KeyFile,
    KeySource,
    Passphrase,
    generate_key_file,
    load_recipient,
)

PASSPHRASE_ENV = "HYPERSEAL_PASSPHRASE"
NEW_PASSPHRASE_ENV = "HYPERSEAL_NEW_PASSPHRASE"

PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"Read the passphrase from this file's first line (else ${PASSPHRASE_ENV},"
        " else a hidden prompt).",
        show_default=False,
    ),
]
KeyFileOption = Annotated[
    Path | None,
    typer.Option("--key-file", help="A hyperseal key file (hskey1...).", show_default=False),
]
IdentityOption = Annotated[
    Path | None,
    typer.Option(
        "--identity",
        help="An identity file (from `hyperseal vault keygen`), to read recipient-sealed files.",
        show_default=False,
    ),
]
RecipientOption = Annotated[
    str | None,
    typer.Option(
        "--recipient",
        help=f"A public key (hspub1...) or a file holding one (else ${RECIPIENT_ENV}).",
        show_default=False,
    ),
]


def read_passphrase_file(path: Path) -> Passphrase:
    """The passphrase on the first line of ``path`` (its line ending removed).

    Raises:
        VaultError: missing, unreadable, not UTF-8 or empty.
    """
    raw = read_small(Path(path), "passphrase file", VaultError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultError(f"{path}: passphrase file is not UTF-8 text") from None
    line = text.split("\n", 1)[0].removesuffix("\r")
    if not line:
        raise VaultError(f"{path}: passphrase file is empty (its first line holds the passphrase)")
    return Passphrase(line)


def passphrase_from_env(variable: str = PASSPHRASE_ENV) -> Passphrase | None:
    """The passphrase in environment variable ``variable``, or ``None`` when unset or empty.

    The first read takes the variable out of the environment, so that no worker started
    afterwards inherits it; later reads in the same command get the value kept in memory
    (:mod:`tuner.secret_env`).
    """
    from tuner import secret_env

    value = secret_env.take(variable)
    return Passphrase(value) if value else None


def prompt_passphrase(prompt: str = "Passphrase", *, confirm: bool = False) -> Passphrase:
    """Ask for a passphrase with a hidden prompt (twice when ``confirm``).

    When standard input is not a terminal (a pipe, a file), its lines are read
    as the answers, with no prompt and no warning that input may be echoed.

    Raises:
        VaultError: no passphrase could be read (end of input, Ctrl-C).
    """
    if not sys.stdin.isatty():
        return Passphrase(_read_answers(confirm))
    try:
        value = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    except typer.Abort:
        raise _no_passphrase() from None
    return Passphrase(value)


def _no_passphrase() -> VaultError:
    return VaultError(
        f"no passphrase given; type it at the prompt, or use --passphrase-file or ${PASSPHRASE_ENV}"
    )


def _read_answers(confirm: bool) -> str:
    """A passphrase from lines of a standard input that is not a terminal (as the prompt
    takes them: empty lines skipped; with ``confirm``, pairs until two match)."""

    def answer() -> str:
        for line in sys.stdin:
            value = line.removesuffix("\n").removesuffix("\r")
            if value:
                return value
        raise _no_passphrase()

    while True:
        value = answer()
        if not confirm or answer() == value:
            return value
        typer.echo("error: the two entries do not match; reading the next two", err=True)


def warn_if_others_can_read(path: Path, what: str) -> None:
    """A line on stderr when other users may read the secret in ``path`` (ssh refuses such
    keys; hyperseal uses them, and says how to close the gap)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        typer.echo(
            f"warning: {what} {path} can be read by other users (mode {mode & 0o777:04o});"
            f" run: chmod 600 {path}",
            err=True,
        )


def get_passphrase(
    passphrase_file: Path | None,
    *,
    confirm: bool = False,
    env: str = PASSPHRASE_ENV,
    prompt: str = "Passphrase",
) -> Passphrase:
    """A passphrase from ``passphrase_file``, else ``$env``, else the prompt."""
    if passphrase_file is not None:
        warn_if_others_can_read(passphrase_file, "passphrase file")
        return read_passphrase_file(passphrase_file)
    from_env = passphrase_from_env(env)
    if from_env is not None:
        return from_env
    return prompt_passphrase(prompt, confirm=confirm)


def key_for_reading(
    path: Path,
    *,
    passphrase_file: Path | None = None,
    key_file: Path | None = None,
    identity: Path | None = None,
) -> KeySource:
    """The key that reads the vault or journal at ``path``, chosen by its header.

    Args:
        path: an existing vault or journal.
        passphrase_file: ``--passphrase-file``.
        key_file: ``--key-file``.
        identity: ``--identity``.

    Raises:
        KeyKindError: the options given do not fit the file's key mode.
        VaultError: the file or a key file cannot be read.
    """
    mode = check_reading_options(path, KeyOptions(passphrase_file, key_file, identity))
    if mode is KeyMode.PASSPHRASE:
        return get_passphrase(passphrase_file)
    if mode is KeyMode.KEY_FILE:
        assert key_file is not None
        warn_if_others_can_read(key_file, "key file")
        return KeyFile(key_file)
    assert identity is not None
    return _load_identity(identity)


def _load_identity(identity: Path) -> Identity:
    warn_if_others_can_read(identity, "identity")
    return Identity.load(identity)


def key_for_writing(
    path: Path,
    *,
    passphrase_file: Path | None = None,
    key_file: Path | None = None,
    identity: Path | None = None,
    recipient: str | None = None,
) -> KeySource:
    """The key that adds to the vault or journal at ``path``.

    As :func:`key_for_reading`, except that a recipient-sealed file also
    accepts ``recipient`` (``--recipient``, else ``$HYPERSEAL_RECIPIENT``);
    opening then checks the file is sealed to that very key.

    Raises:
        KeyKindError: the options given do not fit the file's key mode.
    """
    mode = check_writing_options(path, KeyOptions(passphrase_file, key_file, identity, recipient))
    if mode is not KeyMode.RECIPIENT:
        return key_for_reading(
            path, passphrase_file=passphrase_file, key_file=key_file, identity=identity
        )
    if identity is not None:
        return _load_identity(identity)
    return pinned_recipient(path, recipient)


def key_for_new(
    *,
    passphrase_file: Path | None = None,
    key_file: Path | None = None,
    recipient: str | None = None,
    env: str = PASSPHRASE_ENV,
    prompt: str = "Passphrase",
    flag_prefix: str = "",
) -> KeySource:
    """The key for a file about to be created (or the new key of a rotation).

    ``recipient`` wins, then ``key_file`` (generated, mode 0600, when it does
    not exist yet; a note goes to stderr), then a passphrase asked twice.

    Args:
        passphrase_file: ``--passphrase-file``.
        key_file: ``--key-file``.
        recipient: ``--recipient`` (a public key string or a file holding one).
        env: environment variable consulted for the passphrase.
        prompt: the prompt text.
        flag_prefix: what the options are called after ``--`` (``new-`` for ``rotate``),
            for messages.

    Raises:
        VaultError: conflicting options, or unreadable key material.
    """
    at_most_one(
        flag_prefix, passphrase_file=passphrase_file, key_file=key_file, recipient=recipient
    )
    if recipient is not None:
        return load_recipient(recipient)
    if key_file is not None:
        if Path(key_file).exists():
            warn_if_others_can_read(key_file, "key file")
            return KeyFile(key_file)
        made = generate_key_file(key_file)
        typer.echo(
            f"wrote a new key file {key_file} (mode 0600); keep it safe: without it the"
            " vault cannot be opened",
            err=True,
        )
        return made
    return get_passphrase(passphrase_file, confirm=True, env=env, prompt=prompt)


def default_key_for(path: Path) -> Path | None:
    """The user's default key file when ``path`` is sealed with a key file and it exists.

    ``hyperseal tune`` seals with ``~/.config/hyperseal/key`` (or
    ``$HYPERSEAL_HOME/key``) when no key option is given; reading commands
    then find it the same way.
    """
    from tuner.keyring import default_key_file

    if inspect_file(path).key_mode is KeyMode.KEY_FILE and default_key_file().exists():
        return default_key_file()
    return None


def _no_key_given(*options: object) -> bool:
    """No key option given and no passphrase in the environment: a new file gets the default
    key file."""
    return _no_key_option(*options) and passphrase_from_env() is None


def _no_key_option(*options: object) -> bool:
    """No key option given: an existing key-file-sealed file is tried with the default key
    file (``$HYPERSEAL_PASSPHRASE`` cannot open such a file, so it does not matter here)."""
    return not any(options)


def _or_default_key(path: Path, options: dict[str, Path | str | None]) -> dict[str, Any]:
    """``options`` with the default key file as ``key_file`` when no key option is given."""
    if _no_key_option(*options.values()):
        return {**options, "key_file": default_key_for(path)}
    return options


def key_for_reading_or_default(path: Path, **options: Path | None) -> KeySource:
    """:func:`key_for_reading` (the same keyword options), falling back on the default key
    file when no key was given."""
    return key_for_reading(path, **_or_default_key(path, dict(options)))


@dataclass(frozen=True)
class ReadingKeyOptions:
    """A command's ``--passphrase-file``, ``--key-file`` and ``--identity``, as one value
    (see :func:`with_reading_key_options`)."""

    passphrase_file: Path | None = None
    key_file: Path | None = None
    identity: Path | None = None

    def key_for(self, path: Path) -> KeySource:
        """:func:`key_for_reading_or_default` for ``path`` with these options."""
        return key_for_reading_or_default(
            path,
            passphrase_file=self.passphrase_file,
            key_file=self.key_file,
            identity=self.identity,
        )


NO_KEY_OPTIONS = ReadingKeyOptions()
"""The placeholder default of a ``keys`` parameter (the command line always fills it)."""

_READING_OPTIONS = {
    "passphrase_file": PassphraseFileOption,
    "key_file": KeyFileOption,
    "identity": IdentityOption,
}
_Result = TypeVar("_Result")


def with_reading_key_options(command: Callable[..., _Result]) -> Callable[..., _Result]:
    """A Typer command whose ``keys: ReadingKeyOptions`` parameter is, on the command line,
    the three options ``--passphrase-file``, ``--key-file`` and ``--identity``.

    They take the place of ``keys`` in the signature Typer reads (so ``--help`` lists
    them there) and reach ``command`` as one :class:`ReadingKeyOptions`::

        @app.command("list")
        @with_reading_key_options
        def list_entries(vault: VaultArg, keys: ReadingKeyOptions = NO_KEY_OPTIONS) -> None:
            entries = Vault.open(vault, keys.key_for(vault)).entries()
    """
    signature = inspect.signature(command)
    hints = get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name != "keys":
            parameters.append(parameter.replace(annotation=hints[parameter.name]))
            continue
        for name, option in _READING_OPTIONS.items():
            parameters.append(parameter.replace(name=name, annotation=option, default=None))

    @functools.wraps(command)
    def run(**options: Any) -> _Result:
        keys = ReadingKeyOptions(**{name: options.pop(name) for name in _READING_OPTIONS})
        return command(keys=keys, **options)

    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {
        "return": hints.get("return")
    }
    return run


def key_for_writing_or_default(path: Path, **options: Path | str | None) -> KeySource:
    """:func:`key_for_writing` (the same keyword options), falling back on the default key
    file when no key was given."""
    return key_for_writing(path, **_or_default_key(path, dict(options)))


def key_for_new_or_default(
    *,
    passphrase_file: Path | None = None,
    key_file: Path | None = None,
    recipient: str | None = None,
) -> KeySource:
    """:func:`key_for_new`, or the user's default key file when no key was given.

    The default key file (``~/.config/hyperseal/key`` or ``$HYPERSEAL_HOME/key``)
    is created on first use, mode 0600, with a note on stderr.
    """
    from tuner.keyring import ensure_default_key

    if not _no_key_given(passphrase_file, key_file, recipient):
        return key_for_new(passphrase_file=passphrase_file, key_file=key_file, recipient=recipient)
    path, created = ensure_default_key()
    if created:
        typer.echo(f"created your default key file {path} (mode 0600); keep it safe", err=True)
    return KeyFile(path)


__all__ = [
    "NEW_PASSPHRASE_ENV",
    "NO_KEY_OPTIONS",
    "PASSPHRASE_ENV",
    "RECIPIENT_ENV",
    "IdentityOption",
    "KeyFileOption",
    "PassphraseFileOption",
    "ReadingKeyOptions",
    "RecipientOption",
    "default_key_for",
    "get_passphrase",
    "key_for_new",
    "key_for_new_or_default",
    "key_for_reading",
    "key_for_reading_or_default",
    "key_for_writing",
    "key_for_writing_or_default",
    "passphrase_from_env",
    "prompt_passphrase",
    "read_passphrase_file",
    "with_reading_key_options",
]
