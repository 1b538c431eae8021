from __future__ import annotations

from pathlib import Path

import pytest

from tuner.errors import ConfigError
from tuner.search.space import default_space, load_space, parse_space


def test_default_space_covers_the_detector_recipe() -> None:
    space = default_space(epochs=5)
    assert {p.name for p in space.searched} == {
        "optimizer",
        "lr",
        "momentum",
        "weight_decay",
        "batch_size",
        "warmup_epochs",
        "schedule",
        "hflip",
        "scale_jitter",
        "color_jitter",
    }
    assert space["epochs"].kind == "fixed" and space["epochs"].default == 5
    assert space.to_config(space.defaults()).epochs == 5


def test_space_maps_to_nevergrad_and_back() -> None:
    space = default_space()
    param = space.parametrization(seed=1)
    for _ in range(20):
        values = param.sample().value
        config = space.to_config(values)
        assert 1e-3 <= config.lr <= 0.2
        assert config.batch_size in (4, 8, 16)


def test_conditional_parameter_keeps_its_default_when_inactive() -> None:
    space = default_space()
    full = space.complete({"optimizer": "adamw", "momentum": 0.81, "lr": 0.001})
    assert full["momentum"] == 0.9
    assert space.complete({"optimizer": "sgd", "momentum": 0.81})["momentum"] == 0.81


def test_freeze_fixes_values() -> None:
    frozen = default_space().freeze({"schedule": "step"})
    assert frozen["schedule"].kind == "fixed"
    assert frozen.complete({})["schedule"] == "step"
    assert "schedule" not in {p.name for p in frozen.searched}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"lr": {"type": "log", "low": 0.0, "high": 1.0}}, "parameter 'lr' is log-scaled"),
        ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, "parameter 'lr' needs finite bounds"),
        ({"lr": {"type": "gaussian"}}, "parameter 'lr' has type 'gaussian'"),
        ({"lr": {"type": "log", "low": 1e-4, "high": 1.0, "default": 2.0}}, "default outside"),
        ({"batch_size": {"type": "int", "low": 1.5, "high": 8}}, "whole numbers"),
        ({"batch_size": {"type": "choice", "choices": []}}, "non-empty list"),
        (
            {"batch_size": {"type": "choice", "choices": [4, 8], "default": 6}},
            "not among its choices",
        ),
        ({"lr": {"type": "log", "low": 1e-4, "high": 1.0, "step": 2}}, "unknown key 'step'"),
        ({"learning_rate": {"type": "log", "low": 1e-4, "high": 1.0}}, "'learning_rate' is not a"),
        (
            {"momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}}},
            "parameter 'momentum' has 'when: {optimizer: ...}', but the space has no parameter",
        ),
        ({"epochs": {"type": "fixed", "value": 3}}, "every parameter is fixed"),
        (
            {"lr": {"type": "float", "low": 0.0, "high": 30.0}},
            "defaults do not make a valid config",
        ),
        ({"lr": {"type": "log", "low": 0.1, "high": 30.0, "default": 1.0}}, "reaches 30.0"),
        ([], "non-empty mapping"),
    ],
)
def test_bad_specs_name_the_parameter(spec: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_space(spec)


def test_space_file(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "lr: {type: log, low: 1.0e-4, high: 0.1, default: 0.01}\n"
        "optimizer: {type: choice, choices: [sgd, adamw]}\n"
        "momentum: {type: float, low: 0.5, high: 0.99, when: {optimizer: sgd}}\n"
    )
    space = load_space(path)
    assert space.names == ["lr", "optimizer", "momentum"]
    assert "when" in space.to_yaml()
    (tmp_path / "bad.yaml").write_text("lr: {type: log, low: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(tmp_path / "bad.yaml")


_MOMENTUM = "momentum: {type: float, low: 0, high: 0.99, default: 0.9"


def _space_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    """Write ``text`` as a space file; the path and the message loading it raises."""
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_space(path)
    return path, str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            f"{_MOMENTUM}, when: {{nosuch: sgd}}}}\n",
            "parameter 'momentum' has 'when: {nosuch: ...}', but the space has no parameter"
            " 'nosuch'",
        ),
        (
            f"lr: {{type: log, low: 1.0e-3, high: 0.2}}\n{_MOMENTUM}, when: {{lr: 0.02}}}}\n",
            "'lr' is a log parameter; 'when' can only name a choice (or fixed) parameter",
        ),
        (
            f"optimizer: {{type: choice, choices: [sgd, adamw]}}\n{_MOMENTUM}, when: {{optimizer: "
            "[sgd, rmsprop]}}\n",
            "'optimizer' never takes 'rmsprop' (its choices are 'sgd', 'adamw')",
        ),
        (
            f"{_MOMENTUM}}}\nepochs: {{type: int, low: 1, high: 9, default: 4}}\n",
            "parameter 'epochs' has type int, but the trial length is not searched",
        ),
        (
            f"{_MOMENTUM}, when: {{epochs: 4}}}}\n"
            "epochs: {type: int, low: 1, high: 9, default: 4}\n",
            "parameter 'epochs' has type int",
        ),
        (
            f"{_MOMENTUM}}}\nepochs: {{type: fixed, value: 4}}\n"
            "lr: {type: log, low: 0.0, high: 1.0}\n",
            "parameter 'lr' is log-scaled",
        ),
        (
            f"{_MOMENTUM}}}\nlearning_rate: {{type: log, low: 0.1, high: 1.0}}\n",
            "'learning_rate' is not a training hyperparameter",
        ),
        ("epochs: {type: fixed, value: 4}\n", "every parameter is fixed"),
        ("[]\n", "must be a non-empty mapping"),
    ],
)
def test_every_error_of_a_space_file_names_the_file(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path, message = _space_error(tmp_path, text)
    assert message.startswith(f"search space {path}: ") or message.startswith(
        f"search space {path} must"
    ), message
    assert fragment in message and "\n" not in message


def test_a_frozen_space_keeps_naming_its_file(tmp_path: Path) -> None:
    """tune fixes 'epochs' at --epochs; a 'when' on the file's value then names the file."""
    path = tmp_path / "space.yaml"
    path.write_text(f"{_MOMENTUM}, when: {{epochs: 6}}}}\nepochs: {{type: fixed, value: 6}}\n")
    space = load_space(path)
    assert space.where == f"search space {path}"
    with pytest.raises(ConfigError) as info:
        space.freeze({"epochs": 3})
    assert str(info.value) == (
        f"search space {path}: parameter 'momentum' has 'when: {{epochs: ...}}', but 'epochs' "
        "never takes 6 (it is fixed at 3); use values it takes"
    )
    assert space.freeze({"epochs": 6}).where == space.where


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("lr: {type: log, low: 1.0e-3, high: 0.2\ntoken: hunter2: x\n", "line 2, column 6"),
        ("lr: {type: log, low: 1.0e-3, high: 0.2}\n  token: 'hunter2\n", "line 2, column 3"),
        ('lr: {type: log, low: 1.0e-3, high: 0.2}\ntoken: "hunter2\x01"\n', "line 2, column 16"),
    ],
)
def test_a_yaml_syntax_error_gives_the_line_but_never_the_content(
    tmp_path: Path, text: str, line: str
) -> None:
    path, message = _space_error(tmp_path, text)
    assert message.startswith(f"search space file {path} is not valid YAML at {line}; ")
    assert "hunter2" not in message and "token" not in message and "\n" not in message


def test_a_parameter_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    """YAML would keep the second silently; the user meant one of them."""
    path = tmp_path / "space.yaml"
    path.write_text(
        "lr: {type: log, low: 0.001, high: 0.1, default: 0.01}\n"
        "weight_decay: {type: log, low: 1.0e-6, high: 0.01, default: 1.0e-4}\n"
        "lr: {type: log, low: 0.0001, high: 1.0, default: 0.01}\n"
    )
    with pytest.raises(ConfigError, match=r"space\.yaml: key 'lr' appears twice \(line 3\)"):
        load_space(path)
    from tuner.yamlfile import load_yaml

    # an anchor merged in and then overridden is not a repeat
    assert load_yaml("a: &A {x: 1, y: 2}\nb: {<<: *A, x: 3}\n")["b"] == {"x": 3, "y": 2}


def test_a_config_of_another_space_is_projected_onto_this_one() -> None:
    new = parse_space(
        {
            "optimizer": {"type": "choice", "choices": ["sgd", "adamw"], "default": "sgd"},
            "lr": {"type": "log", "low": 1e-3, "high": 0.1, "default": 0.02},
            "momentum": {
                "type": "float",
                "low": 0.8,
                "high": 0.98,
                "default": 0.9,
                "when": {"optimizer": "sgd"},
            },
            "batch_size": {"type": "choice", "choices": [4, 8], "default": 8},
            "layers": {"type": "int", "low": 1, "high": 4, "default": 2},  # new
            "epochs": {"type": "fixed", "value": 3},
        },
        detector=False,
    )
    earlier = {
        "optimizer": "sgd",
        "lr": 0.5,  # above the new bounds: clipped
        "momentum": 0.95,
        "batch_size": 16,  # no longer a choice: the default
        "weight_decay": 1e-3,  # not in the new space: dropped
        "epochs": 6,  # fixed in the new space: its value
    }
    assert new.project(earlier) == {
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.95,
        "batch_size": 8,
        "layers": 2,
        "epochs": 3,
    }
    # conditional: momentum is inactive for adamw, so it keeps its default
    adamw = new.project({**earlier, "optimizer": "adamw", "lr": 1e-5, "momentum": 0.81})
    assert adamw["optimizer"] == "adamw" and adamw["lr"] == 1e-3 and adamw["momentum"] == 0.9
    # an int outside its bounds, a choice of another type, a value that is not a number
    odd = new.project({"layers": 9.7, "batch_size": "4", "lr": "fast", "optimizer": True})
    assert odd["layers"] == 4 and odd["batch_size"] == 8 and odd["lr"] == 0.02
    assert odd["optimizer"] == "sgd"
    assert new.project({"batch_size": 4.0})["batch_size"] == 4
