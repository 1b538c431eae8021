"""What the terminal helpers print where there is no terminal (pipes, CI logs, cron)."""

from __future__ import annotations

import io

import pytest

from tuner.cli_support import RichProgress
from tuner.vault import Passphrase
from tuner.vault.cli_keys import prompt_passphrase
from tuner.vault.errors import VaultError


def _stages(progress: RichProgress) -> None:
    for stage in ("fit", "attack", "defend"):
        progress.start(stage, total=2)
        progress.advance(1)
        progress.advance(1, best=0.5)
    progress.finish()


def test_a_transient_bar_leaves_nothing_in_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    _stages(RichProgress(transient=True))
    assert capsys.readouterr().err == ""


def test_a_lasting_bar_leaves_its_final_state_in_a_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _stages(RichProgress())
    err = capsys.readouterr().err
    assert "defend" in err and "2/2" in err and "best=0.5" in err


def test_a_piped_passphrase_is_read_without_warnings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\nsecret one\n"))
    assert prompt_passphrase() == Passphrase("secret one")
    monkeypatch.setattr("sys.stdin", io.StringIO("a\nb\nc\nc\n"))
    assert prompt_passphrase(confirm=True) == Passphrase("c")
    captured = capsys.readouterr()
    assert "do not match" in captured.err
    assert "secret" not in captured.out + captured.err and "echo" not in captured.err


def test_an_empty_pipe_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(VaultError, match=r"no passphrase given; .* --passphrase-file"):
        prompt_passphrase()
