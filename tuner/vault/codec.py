"""Plaintext payloads: canonical JSON, entry names, and their checks.

Payloads are JSON only (never pickle): UTF-8, sorted keys, no spaces, with
Python's ``NaN``/``Infinity`` tokens allowed so failed trials (a NaN loss)
can be recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tuner.vault.errors import DocumentError, TamperedError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,127}")
NAME_RULE = "1-128 characters of A-Z a-z 0-9 . _ : / @ + = -, starting with a letter or digit"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid entry name.

    Raises:
        DocumentError: it is not.
    """
    if not isinstance(name, str) or NAME_RE.fullmatch(name) is None:
        raise DocumentError(f"invalid entry name: use {NAME_RULE}")
    return name


def encode(value: Any, what: str = "document") -> bytes:
    """Canonical JSON bytes of ``value``.

    Raises:
        DocumentError: ``value`` holds something JSON cannot represent.
    """
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        # json's messages name types, never values.
        raise DocumentError(f"{what} is not JSON-serialisable ({exc})") from None
    except RecursionError:
        raise DocumentError(f"{what} is nested too deeply to store") from None
    return text.encode("utf-8")


def encode_document(document: Any, what: str = "document") -> bytes:
    """Canonical JSON bytes of a mapping with string keys.

    Raises:
        DocumentError: not a mapping with string keys, or not JSON-serialisable.
    """
    if not isinstance(document, Mapping):
        kind = type(document).__name__
        raise DocumentError(f"{what} must be a mapping (a JSON object), not {kind}")
    if not all(isinstance(k, str) for k in document):
        raise DocumentError(f"{what} has non-string keys; JSON objects need string keys")
    return encode(dict(document), what)


def check_document(document: Any, what: str = "document") -> dict[str, Any]:
    """A plain ``dict`` copy of a JSON-object document (round-tripped through JSON).

    Raises:
        DocumentError: not a mapping with string keys, or not JSON-serialisable.
    """
    return json.loads(encode_document(document, what))


def decode(data: bytes, where: str) -> Any:
    """Parse authenticated JSON bytes.

    Authenticated bytes that do not parse mean a writer bug or a forged
    record (recipient mode lets anyone holding the public key write one).

    Raises:
        TamperedError: not UTF-8 JSON.
    """
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TamperedError(f"{where}: a record authenticates but is not valid JSON") from None
