from __future__ import annotations

from pathlib import Path

import pytest

from tuner.errors import ConfigError
from tuner.search.space import default_space, load_space, parse_space


def test_default_space_covers_the_detector_recipe() -> None:
    space = default_space(epochs=5)
    assert {p.name for p in space.searched} == {
        "optimizer", "lr", "momentum", "weight_decay", "batch_size", "warmup_epochs",
        "schedule", "hflip", "scale_jitter", "color_jitter",
    }  # fmt: skip
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
    [({"lr": {"type": "log", "low": 0.0, "high": 1.0}}, "parameter 'lr' is log-scaled"),
     ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, "parameter 'lr' needs finite bounds"),
     ({"lr": {"type": "gaussian"}}, "parameter 'lr' has type 'gaussian'"),
     ({"lr": {"type": "log", "low": 1e-4, "high": 1.0, "default": 2.0}}, "default outside"),
     ({"batch_size": {"type": "int", "low": 1.5, "high": 8}}, "whole numbers"),
     ({"batch_size": {"type": "choice", "choices": []}}, "non-empty list"),
     ({"batch_size": {"type": "choice", "choices": [4, 8], "default": 6}}, "not among its choices"),
     ({"lr": {"type": "log", "low": 1e-4, "high": 1.0, "step": 2}}, "unknown key 'step'"),
     ({"learning_rate": {"type": "log", "low": 1e-4, "high": 1.0}}, "'learning_rate' is not a"),
     ({"momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}}},
      "'when' names 'optimizer'"),
     ({"epochs": {"type": "fixed", "value": 3}}, "every parameter is fixed"),
     ({"lr": {"type": "float", "low": 0.0, "high": 30.0}}, "defaults do not make a valid config"),
     ({"lr": {"type": "log", "low": 0.1, "high": 30.0, "default": 1.0}}, "reaches 30.0"),
     ([], "non-empty mapping")],
)  # fmt: skip
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
