"""Help pages: an on/off flag shows no value placeholder; an option that takes a value does."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from tuner.main import app


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _line(text: str, option: str) -> str:
    """The help line that lists ``option`` (not one that mentions it)."""
    return next(line for line in text.splitlines() if re.match(rf"\W*{option}\b", line))


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ((), "--version"),
        (("tune",), "--export"),
        (("vault", "journal", "verify"), "--repair"),
        (("audit", "model"), "--json"),
        (("report", "tune"), "--redact"),
    ],
)
def test_flags_are_listed_without_a_value_placeholder(command: tuple[str, ...], flag: str) -> None:
    text = _help(*command)
    assert "<bool>" not in text
    assert flag in _line(text, flag) and "<" not in _line(text, flag)
    assert "<" not in _line(text, "--help")


def test_options_that_take_a_value_keep_their_placeholder() -> None:
    text = _help("tune")
    assert "<int>" in _line(text, "--budget") and "<path>" in _line(text, "--resume")
    assert "RUN_DIR" in _line(text, "--warm-start")
