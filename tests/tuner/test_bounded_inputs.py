"""Files from outside are checked for type and size, and built objects bounded, before parsing.

Each hostile file is refused in one line naming the file and the limit, and the
process's memory stays within 200 MiB of its baseline while it is refused (a
subprocess measures its peak resident memory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hostile_files  # tests/ is on sys.path (its conftest.py, pytest's default import mode)
import pytest

from audit.errors import DataFileError, ModelFileError, ShapeMismatchError
from tuner.errors import ConfigError, DataError, HypersealError, ModelError

MEMORY_BUDGET_MIB = 200


def _audit_model(path: Path) -> Any:
    from audit.classical.io import load_model

    return load_model(path)


def _audit_release(path: Path) -> Any:
    from audit.deep.release import load_released_detector

    return load_released_detector(path)


def _audit_data(path: Path) -> Any:
    from audit.classical.io import load_data

    return load_data(path, "y")


def _coco(path: Path) -> Any:
    from tuner.data.coco import load_coco

    return load_coco(path, path.parent)


def _space(path: Path) -> Any:
    from tuner.search.space import load_space

    return load_space(path)


_UNPACKED = r"\(unpacked\) is 400 MiB, over the limit of"
_FIT = r"does not fit the architecture in manifest.json \(fcos/tiny, 3 classes\): missing"

#: How each hostile file is read, what it raises, and what the one line says.
CASES: dict[str, tuple[Callable[[Path], Any], type[Exception], str]] = {
    "dense csv": (_audit_data, DataFileError, r"dense.csv: the data file holds about 5000005"),
    "wide parquet": (_audit_data, DataFileError, r"wide.parquet: the data file holds 2000000 rows"),
    "npz bomb": (_audit_model, ModelFileError, rf"bomb.npz: the model file {_UNPACKED} 64 MiB"),
    "npz shape bomb": (
        _audit_model,
        ModelFileError,
        r"shape.npz: the model file \(its arrays\) is 74.5 GiB, over the limit of 64 MiB",
    ),
    "npz unnamed array": (
        _audit_model,
        ModelFileError,
        r"unnamed.npz: the model file \(its arrays\) is 74.5 GiB, over the limit of 64 MiB",
    ),
    "skops bomb": (_audit_model, ModelFileError, rf"bomb.skops: the model file {_UNPACKED} 64 MiB"),
    "torch bomb": (_audit_release, ModelFileError, rf"weights.pt: the weights file {_UNPACKED}"),
    "many classes": (
        _audit_release,
        ModelFileError,
        r"manifest.json: 200000 classes, over the limit of 1000",
    ),
    "huge tensor": (_audit_release, ShapeMismatchError, rf"weights.safetensors {_FIT}"),
    "huge header": (
        _audit_release,
        ModelFileError,
        r"weights.safetensors: the safetensors header is 1 TiB, over the limit of 8 MiB",
    ),
    "json bomb": (
        _coco,
        DataError,
        r"instances_train.json: the annotation file would take about [\d.]+ [MG]iB of memory to "
        r"parse, over the limit of 128 MiB",
    ),
    "huge json": (
        _coco,
        DataError,
        r"instances_big.json: the annotation file is 100 MiB, over the limit of 64 MiB",
    ),
    "yaml bomb": (
        _space,
        ConfigError,
        r"space.yaml: expands to more than 100000 values through its aliases",
    ),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {name: make(folder) for name, make in hostile_files.HOSTILE.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_hostile_file_is_refused_in_one_line_naming_file_and_limit(
    name: str, hostile: dict[str, Path]
) -> None:
    load, error, message = CASES[name]
    with pytest.raises(error, match=message) as info:
        load(hostile[name])
    assert "\n" not in str(info.value)


_PROBE = """
import json, resource, sys
sys.path[:0] = [{here!r}, {tests!r}]
import test_bounded_inputs as t
from tuner.errors import HypersealError

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB

for name, (load, _, _) in t.CASES.items():  # warm up: imports and first calls
    try:
        load(t.hostile_files.tiny_release(__import__("pathlib").Path({folder!r})))
    except (HypersealError, OSError):
        pass
base, out = peak(), {{}}
for name, path in json.loads({paths!r}).items():
    try:
        t.CASES[name][0](__import__("pathlib").Path(path))
        out[name] = "accepted"
    except HypersealError:
        out[name] = peak() - base
print(json.dumps(out))
"""


def test_memory_stays_within_200_mib_of_the_baseline_on_every_hostile_file(
    hostile: dict[str, Path], tmp_path: Path
) -> None:
    paths = json.dumps({name: str(path) for name, path in hostile.items()})
    here = Path(__file__).parent
    probe = _PROBE.format(here=str(here), tests=str(here.parent), folder=str(tmp_path), paths=paths)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    grown = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(grown) == set(CASES)
    assert {n: g for n, g in grown.items() if g == "accepted" or g > MEMORY_BUDGET_MIB} == {}


def test_a_manifest_or_weights_that_are_not_regular_files_are_refused(tmp_path: Path) -> None:
    from tuner.release import load_release, read_manifest

    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "manifest.json").symlink_to("/dev/zero")
    with pytest.raises(ModelError, match=r"manifest must be a regular file, not a character"):
        read_manifest(folder)
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(ModelError, match=r"manifest is 2 MiB, over the limit of 1 MiB"):
        load_release(folder)


def test_the_trainer_refuses_the_same_hostile_releases(hostile: dict[str, Path]) -> None:
    from tuner.release import load_release, load_torch_state

    with pytest.raises(ModelError, match=r"200000 classes, over the limit of 1000"):
        load_release(hostile["many classes"])
    with pytest.raises(ModelError, match=r"does not fit the architecture"):
        load_release(hostile["huge tensor"])
    spec = _spec_of(hostile["torch bomb"].parent)
    with pytest.raises(ModelError, match=r"weights.pt: the weights file \(unpacked\) is 400 MiB"):
        load_torch_state(hostile["torch bomb"], spec)


def _spec_of(release: Path) -> Any:
    from tuner.detectors import ModelSpec

    return ModelSpec.from_dict(json.loads((release / "manifest.json").read_text())["model"])


def test_a_real_release_still_loads(hostile: dict[str, Path]) -> None:
    from tuner.release import load_release

    _model, spec = load_release(hostile["torch bomb"].parent)
    assert spec.classes == ("car", "person", "sign")


def test_data_files_over_the_limit_are_refused(tmp_path: Path) -> None:
    from audit.classical.io import load_data

    big = tmp_path / "train.csv"
    with open(big, "wb") as handle:
        handle.truncate(40 << 20)
    with pytest.raises(DataFileError, match=r"train.csv: the data file is 40 MiB, over the limit"):
        load_data(big, "y")


def test_every_refusal_is_a_hyperseal_error() -> None:
    assert all(issubclass(error, HypersealError) for _, error, _ in CASES.values())


def test_result_files_read_by_reports_are_bounded(tmp_path: Path) -> None:
    from reports.errors import NotAResultError, ResultFormatError
    from reports.inputs import read_reproduction

    (tmp_path / "manifest.json").symlink_to("/dev/zero")
    with pytest.raises(NotAResultError, match=r"manifest.json missing or unreadable"):
        read_reproduction(tmp_path)  # not read: /dev/zero is not a regular file
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "manifest.json").write_text('{"tables": {"estimation": "estimation.csv"}}')
    with open(tmp_path / "estimation.csv", "wb") as handle:
        handle.truncate(20 << 20)
    with pytest.raises(ResultFormatError, match=r"estimation.csv: the table is 20 MiB, over"):
        read_reproduction(tmp_path)


def test_the_cli_prints_one_line_and_a_distinct_exit_code(
    hostile: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from tuner.main import app

    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    model, config = hostile["npz bomb"], hostile["yaml bomb"]
    audit = ["audit", "sklearn", "--model", model, "--data", data, "--target", "y"]
    train = ["train", "--out", tmp_path / "o", "--config", config]
    runs = [(26, "over the limit", audit), (3, "expands to more than", train)]
    for code, words, args in runs:
        result = CliRunner().invoke(app, [str(a) for a in args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == code and len(lines) == 1 and words in lines[0], result.output


def test_a_run_file_that_is_a_device_is_not_read(tmp_path: Path) -> None:
    from tuner.engine.folder import RUN_FILE, read_run_file

    (tmp_path / RUN_FILE).symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="is not a hyperseal tuning run"):
        read_run_file(tmp_path)


def test_a_large_real_annotation_file_is_read_once_the_limit_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defaults hold hostile files to 200 MiB; a real COCO file needs the limit raised."""
    from tuner.bounded import ANNOTATION_LIMIT_ENV, MAX_JSON_MEMORY, MiB, json_memory
    from tuner.data.coco import load_coco

    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64} for i in range(16000)]
    annotations = [
        {
            "id": i,
            "image_id": i,
            "category_id": 1,
            "bbox": [1.5, 2.5, 10.0, 12.0],
            "area": 120.0,
            "iscrowd": 0,
            "segmentation": [[1.5, 2.5, 11.5, 2.5, 11.5, 14.5, 1.5, 14.5] * 32],
        }
        for i in range(16000)
    ]
    path = tmp_path / "instances_train.json"
    path.write_text(
        json.dumps(
            {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
        )
    )
    # small on disk, costly once parsed
    assert path.stat().st_size < 64 * MiB < MAX_JSON_MEMORY < json_memory(path.read_bytes())
    with pytest.raises(DataError, match=rf"over the limit of 128 MiB; .*{ANNOTATION_LIMIT_ENV}"):
        load_coco(path, tmp_path, check_images=False)
    monkeypatch.setenv(ANNOTATION_LIMIT_ENV, "64")
    split = load_coco(path, tmp_path, check_images=False)
    assert len(split.images) == 16000
    monkeypatch.setenv(ANNOTATION_LIMIT_ENV, "1")
    with pytest.raises(
        DataError, match=rf"over the limit of 1 MiB; .*{ANNOTATION_LIMIT_ENV} \(now 1\)"
    ):
        load_coco(path, tmp_path, check_images=False)
    monkeypatch.setenv(ANNOTATION_LIMIT_ENV, "lots")
    with pytest.raises(DataError, match="must be a whole number of MiB"):
        load_coco(path, tmp_path, check_images=False)
