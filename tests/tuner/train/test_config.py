from __future__ import annotations

from pathlib import Path

import pytest

from tuner.errors import ConfigError
from tuner.train import TrainConfig, load_config
from tuner.train.schedule import lr_factor


def test_config_reads_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("optimizer: adamw\nlr: 3e-4\nepochs: 4\nnesterov: false\n")
    (tmp_path / "c.json").write_text('{"lr": 0.05, "batch_size": 16}')
    yaml_cfg = load_config(tmp_path / "c.yaml")
    assert (yaml_cfg.optimizer, yaml_cfg.lr, yaml_cfg.epochs) == ("adamw", 3e-4, 4)
    json_cfg = load_config(tmp_path / "c.json")
    assert (json_cfg.lr, json_cfg.batch_size) == (0.05, 16)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"learning_rate": 0.1}, "unknown field 'learning_rate'"),
        ({"lr": -1.0}, "'lr' is out of range"),
        ({"lr": "fast"}, "'lr' must be a number"),
        ({"batch_size": 2.5}, "'batch_size' must be a whole number"),
        ({"epochs": float("inf")}, "'epochs' must be a whole number"),
        ({"epochs": float("nan")}, "'epochs' must be a whole number"),
        ({"optimizer": "lamb"}, "'optimizer' must be one of sgd, adamw"),
        ({"schedule": "poly"}, "'schedule' must be one of"),
        ({"nesterov": "yes"}, "'nesterov' must be true or false"),
        ({"lr": float("nan")}, "'lr' must be a finite number"),
        ({"momentum": 0.0, "nesterov": True}, "'nesterov' needs a momentum"),
    ],
)
def test_bad_fields_are_named_without_echoing_values(data: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        TrainConfig.from_dict(data)
    for value in data.values():
        if isinstance(value, float) and value == value and value not in (0.0,):
            assert repr(value) not in str(info.value)


def test_bad_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a folder, not a YAML or JSON file; pass a YAML"):
        load_config(tmp_path)
    (tmp_path / "broken.yaml").write_text("lr: [0.1\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2, column 1; check the"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_schedule_warms_up_then_decays() -> None:
    total, warm = 100, 10
    assert lr_factor(0, total, warm, "cosine") == pytest.approx(0.001)
    assert lr_factor(5, total, warm, "cosine") == pytest.approx(0.5, abs=0.01)
    assert lr_factor(10, total, warm, "cosine") == pytest.approx(1.0)
    assert lr_factor(99, total, warm, "cosine") < 0.01
    assert lr_factor(50, total, warm, "constant") == 1.0
    assert lr_factor(60, total, warm, "step") == 1.0
    assert lr_factor(80, total, warm, "step") == pytest.approx(0.1)
    assert lr_factor(95, total, warm, "step") == pytest.approx(0.01)


def test_a_field_given_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("lr: 0.01\nepochs: 3\nlr: 0.5\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: key 'lr' appears twice \(line 3\); keep one"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"lr": "0.1"}, "'lr' must be a number, not str"),
        ({"batch_size": 2.5}, "'batch_size' must be a whole number, not float"),
        ({"nesterov": 1}, "'nesterov' must be true or false, not int"),
        ({"optimizer": 3}, "'optimizer' must be text, not int"),
    ],
)
def test_a_config_built_in_python_is_checked_for_types(fields: dict, text: str) -> None:
    """from_dict converts a file's values; a notebook's direct construction is checked too."""
    import numpy as np

    with pytest.raises(ConfigError, match=text):
        TrainConfig(**fields)
    numpy_values = TrainConfig(lr=np.float32(0.1), batch_size=np.int64(4), nesterov=False)
    assert numpy_values.batch_size == 4
