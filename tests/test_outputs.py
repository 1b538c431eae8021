"""Output folders are checked before the work, and a failing disk is one line, not a traceback."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tuner.errors import ConfigError
from tuner.main import app
from tuner.outputs import check_output_folder


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args])
    return result.exit_code, result.output


def test_a_folder_that_can_be_made_passes(tmp_path: Path) -> None:
    check_output_folder(tmp_path / "new" / "deeper")
    check_output_folder(tmp_path)
    assert not (tmp_path / "new").exists()  # nothing created


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"notes.txt is a file, not a folder"):
        check_output_folder(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match=r"lies under .*notes.txt, a file"):
        check_output_folder(tmp_path / "notes.txt" / "run")


def test_a_folder_that_cannot_be_written_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Tests may run as root, which writes anywhere: the probe is made to fail.)
    def read_only(*args: object, **kwargs: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tuner.outputs.tempfile.mkdtemp", read_only)
    with pytest.raises(ConfigError, match=r"--out .*run: cannot write in .*Read-only file system"):
        check_output_folder(tmp_path / "run")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "f").write_text("x")
    monkeypatch.undo()
    with pytest.raises(ConfigError, match=r"old is not empty; pass --force"):
        check_output_folder(tmp_path / "old", if_not_empty="pass --force")
    check_output_folder(tmp_path / "old")  # files in it are the caller's business


@pytest.mark.parametrize(
    "command",
    [["train", "--images", "8", "--image-size", "64", "-o"], ["data", "synth", "-n", "4"]],
)
def test_commands_refuse_a_file_as_their_output_folder(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "exists.txt"
    target.write_text("mine")
    code, out = _invoke(*command, str(target))
    assert code == 3, out
    assert out.count("\n") == 1 and "is a file, not a folder" in out and "Traceback" not in out
    assert target.read_text() == "mine"


def test_a_disk_error_mid_run_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "ds" / "x.png"))

    monkeypatch.setattr("tuner.data.synth.generate_synthetic", full_disk)
    code, out = _invoke("data", "synth", "-n", "4", str(tmp_path / "ds"))
    assert code == 8
    assert out.strip() == (
        f"error: {tmp_path / 'ds' / 'x.png'}: No space left on device; check the path, its "
        "permissions and free disk space"
    )
