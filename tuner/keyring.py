"""The user's default key file, so that ``hyperseal tune`` works with no arguments.

When no key option is given and ``HYPERSEAL_PASSPHRASE`` is not set, runs are
sealed with a random key kept at ``$HYPERSEAL_HOME/key`` (else
``$XDG_CONFIG_HOME/hyperseal/key``, else ``~/.config/hyperseal/key``),
created on first use with mode 0600, like an SSH key. It never lives inside a
run folder. Pass ``--passphrase-file``,
``--key-file`` or ``--recipient`` to choose otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path


def hyperseal_home() -> Path:
    """``$HYPERSEAL_HOME``, else ``$XDG_CONFIG_HOME/hyperseal``, else ``~/.config/hyperseal``."""
    if os.environ.get("HYPERSEAL_HOME"):
        return Path(os.environ["HYPERSEAL_HOME"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hyperseal"


def default_key_file() -> Path:
    """Where the default key file lives."""
    return hyperseal_home() / "key"


def ensure_default_key() -> tuple[Path, bool]:
    """The default key file, created if missing; returns (path, created)."""
    from tuner.vault import generate_key_file

    path = default_key_file()
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    generate_key_file(path)
    return path, True
