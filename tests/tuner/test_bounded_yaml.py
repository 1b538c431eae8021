"""YAML files are bounded: size and type checked before reading, alias bombs refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.errors import ConfigError

BOMB = "\n".join(
    [
        "lr: &a [x, x, x, x, x, x, x, x, x, x]",
        *(f"k{i}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)),
    ]
)


def test_an_alias_bomb_in_a_search_space_is_refused_in_one_line(tmp_path: Path) -> None:
    from tuner.search.space import load_space

    path = tmp_path / "space.yaml"
    path.write_text(BOMB + "\n")
    with pytest.raises(ConfigError, match=r"space.yaml: expands to more than 100000 values"):
        load_space(path)


def test_a_recursive_alias_in_a_train_config_is_refused(tmp_path: Path) -> None:
    from tuner.train.config import load_config

    path = tmp_path / "train.yaml"
    path.write_text("lr: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"train.yaml: an alias \(\*name\) refers to a node"):
        load_config(path)


def test_aliases_and_merge_keys_within_the_limit_still_work(tmp_path: Path) -> None:
    from tuner.yamlfile import load_yaml

    text = "base: &b {x: 1, y: [1, 2]}\none: {<<: *b, z: 3}\ntwo: *b\n"
    assert load_yaml(text) == {
        "base": {"x": 1, "y": [1, 2]},
        "one": {"x": 1, "y": [1, 2], "z": 3},
        "two": {"x": 1, "y": [1, 2]},
    }


def test_a_yaml_file_that_is_a_device_or_too_big_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    from tuner.search.space import load_space
    from tuner.train.config import load_config

    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match=r"zero.yaml: the search space file must be a regular"):
        load_space(tmp_path / "zero.yaml")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(2 << 20)
    with pytest.raises(ConfigError, match=r"big.yaml: the config file is 2 MiB, over the limit"):
        load_config(big)


def test_vault_put_refuses_an_alias_bomb_a_device_and_an_oversized_stdin(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tuner.main import app

    runner = CliRunner()
    vault = tmp_path / "v.hsv"
    env = {"HYPERSEAL_PASSPHRASE": "pw-one"}
    init = ["vault", "init", str(vault), "--kdf-log2n", "10"]
    assert runner.invoke(app, init, env=env).exit_code == 0, "init"
    before = vault.read_bytes()
    (tmp_path / "bomb.yaml").write_text(BOMB + "\n")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    cases = {
        "bomb.yaml": ("bomb.yaml: expands to more than 100000 values", None),
        "zero.yaml": ("zero.yaml: the config file must be a regular file", None),
        "-": ("stdin: the config is over the limit of 1 MiB", "a: 1\n" * 300_000),
    }
    for name, (message, stdin) in cases.items():
        source = name if name == "-" else str(tmp_path / name)
        args = ["vault", "put", str(vault), "best", source]
        result = runner.invoke(app, args, env=env, input=stdin)
        assert result.exit_code == 10, (name, result.output)
        assert message in result.output and result.output.count("\n") == 1, result.output
    assert vault.read_bytes() == before


def test_an_optimizer_option_that_is_an_alias_bomb_is_refused() -> None:
    from tuner.tune_cli import _options

    levels = ["&a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"&{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    with pytest.raises(ConfigError, match=r"--optimizer-option popsize: expands to more than"):
        _options(["popsize=[" + ", ".join(levels) + "]"])
    assert _options(["popsize=12", "scale=[1, 2]"]) == {"popsize": 12, "scale": [1, 2]}
