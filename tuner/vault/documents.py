"""Documents going into and out of a vault as text: YAML or JSON, checked on the way in.

:func:`load_document` reads what ``hyperseal vault put`` stores (a file, or
standard input), bounded in size and nesting, and refuses what JSON cannot
carry; :func:`render_document` writes what ``show`` and ``export`` print.
Messages name the source and a position or key, never a (secret) value.
"""

from __future__ import annotations

import datetime
import json
import math
import sys
from pathlib import Path
from typing import Any

from tuner.bounded import MAX_YAML_BYTES, check_json_memory, read_text, size_text
from tuner.vault.errors import DocumentError, VaultError

#: The styles :func:`render_document` writes.
FORMATS = ("json", "yaml")


def load_document(source: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping from a file, or from standard input when ``source`` is ``-``.

    Type and size are checked before reading (not ``/dev/zero``, not a 10 GB file); YAML
    alias bombs and duplicate keys are refused; the result is checked by
    :func:`check_storable`.

    Raises:
        DocumentError: missing, unreadable, too big, not UTF-8, not valid JSON or YAML,
            nested too deeply, not a mapping, or holding a value JSON cannot store.
    """
    source = str(source)
    where = "stdin" if source == "-" else source
    text = _read_source(source, where)
    try:
        value = _parse_json(text, where) if source.endswith(".json") else _parse_yaml(text, where)
    except RecursionError:
        raise DocumentError(f"{where}: the config is nested too deeply to store") from None
    if not isinstance(value, dict):
        raise DocumentError(f"{where}: the config must be a mapping (key: value pairs)")
    check_storable(value, where)
    return value


def _read_source(source: str, where: str) -> str:
    if source != "-" and not Path(source).exists():
        raise DocumentError(f"{where}: no such config file")
    try:
        if source == "-":
            return _read_stdin(MAX_YAML_BYTES)
        return read_text(Path(source), MAX_YAML_BYTES, "the config file", DocumentError)
    except UnicodeDecodeError:
        raise DocumentError(f"{where}: config file is not UTF-8 text") from None
    except OSError as exc:
        raise DocumentError(f"{where}: cannot read config file ({exc.strerror})") from None


def _read_stdin(limit: int) -> str:
    """At most ``limit`` characters of stdin; more is a :class:`DocumentError`."""
    text = sys.stdin.read(limit + 1)
    if len(text) > limit:
        raise DocumentError(f"stdin: the config is over the limit of {size_text(limit)}")
    return text


def _parse_json(text: str, where: str) -> Any:
    check_json_memory(where, text, "the config", DocumentError)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Position only: the message must not quote the (secret) content.
        raise DocumentError(
            f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


def _parse_yaml(text: str, where: str) -> Any:
    import yaml

    from tuner.yamlfile import DuplicateKeyError, duplicate_key_message, load_yaml

    try:
        return load_yaml(text, where=where, error=DocumentError)  # alias bombs refused
    except DuplicateKeyError as exc:
        raise DocumentError(f"{where}: {duplicate_key_message(exc)}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise DocumentError(f"{where}: not valid YAML or JSON{at}") from None


def check_storable(document: dict[str, Any], where: str) -> None:
    """Refuse NaN and infinities, which JSON cannot carry (an export would not parse), and
    the dates and times unquoted YAML gives; the message names the key, never a value.
    Walks without recursion: nesting is the user's.

    Raises:
        DocumentError: such a value, named by its key path.
    """
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


def render_document(value: Any, fmt: str) -> str:
    """``value`` as sorted, indented JSON or as YAML (``fmt``: ``json`` or ``yaml``)."""
    if fmt == "json":
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(value, sort_keys=True, allow_unicode=True)


def output_format(out: str, fmt: str | None) -> str:
    """The style to write ``out`` in: ``fmt``, else YAML for a ``.yaml``/``.yml`` path, else JSON.

    Raises:
        VaultError: ``fmt`` is neither ``json`` nor ``yaml``.
    """
    if fmt is None:
        fmt = "yaml" if out.endswith((".yaml", ".yml")) else "json"
    if fmt not in FORMATS:
        raise VaultError(f"unknown --format {fmt!r}; use json or yaml")
    return fmt


def journal_lines(records: list[dict[str, Any]]) -> str:
    """Journal records as JSON Lines (one sorted JSON object a line)."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)


__all__ = [
    "FORMATS",
    "check_storable",
    "journal_lines",
    "load_document",
    "output_format",
    "render_document",
]
