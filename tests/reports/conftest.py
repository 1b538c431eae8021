"""Fixtures: one real tiny tuning run (shared), a synthetic tuning history, audit folders."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tuner.main import app
from tuner.vault import SealedJournal, Vault, generate_key_file

TINY = ["--images", "24", "--image-size", "64", "--epochs", "2", "--budget", "4"]


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real ``hyperseal tune`` run (4 trials, 2 epochs, 64 px), made once per session.

    Returns ``run`` (the run folder, read-only for tests: copy it to write) and
    ``home`` (its HYPERSEAL_HOME, holding the default key file it was sealed with).
    """
    root = tmp_path_factory.mktemp("real-run")
    env = {"HYPERSEAL_CACHE": str(root / "cache"), "HYPERSEAL_HOME": str(root / "home")}
    saved = {k: os.environ.get(k) for k in [*env, "HYPERSEAL_PASSPHRASE"]}
    os.environ.update(env)
    os.environ.pop("HYPERSEAL_PASSPHRASE", None)
    try:
        run = root / "run"
        result = CliRunner().invoke(app, ["tune", *TINY, "--out", str(run)])
        assert result.exit_code == 0, result.output
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"run": run, "home": root / "home", "key": root / "home" / "key"}


def make_synthetic_run(run_dir: Path, key: Any, *, budget: int = 24, seed: int = 0) -> Path:
    """A run folder like ``hyperseal tune`` writes, from the cheap quadratic objective.

    Has completed, pruned and failed trials, importances and a mid-search freeze.
    """
    from tuner.engine.folder import JOURNAL_FILE, run_summary, write_run_file
    from tuner.search.study import Study, StudySettings
    from tuner.testing import QuadraticObjective, quadratic_space
    from tuner.tune import DetectorTarget, TuneOptions

    settings = StudySettings(
        optimizer="OnePlusOne",
        budget=budget,
        seed=seed,
        pruner="median",
        max_epochs=6,
        freeze_unimportant=True,
        freeze_after=8,
        freeze_threshold=0.2,
    )
    options = TuneOptions(synthetic_images=24, image_size=64, epochs=6, settings=settings)
    run_dir.mkdir(parents=True)
    with SealedJournal.create(run_dir / JOURNAL_FILE, key) as journal:
        study = Study(
            QuadraticObjective(fail_above_lr=0.3), quadratic_space(), settings, journal=journal
        )
        journal.append(
            {
                "type": "detector",
                "options": {
                    "arch": "fcos",
                    "backbone": "tiny",
                    "data": "synthetic",
                    "image_size": 64,
                    "synthetic_images": 24,
                    "synthetic_seed": 0,
                    "epochs": 6,
                    "workers": 1,
                },
            }
        )
        result = study.run()
    Vault.create(run_dir / "vault.hsv", key)
    write_run_file(
        run_dir,
        DetectorTarget(options),
        run_dir / "vault.hsv",
        run_dir.name,
        status="finished",
        summary=run_summary(result),
    )
    return run_dir


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 24-trial synthetic run sealed with a key file (shared; copy it to write into it)."""
    root = tmp_path_factory.mktemp("synthetic-run")
    key = generate_key_file(root / "run.key")
    run = make_synthetic_run(root / "run", key)
    return {"run": run, "key": key, "key_path": root / "run.key"}


MODEL_AUDIT = {
    "estimate": 0.000493817,
    "plain_estimate": 0.000731942,
    "ci": [0.000451236, 0.000538127],
    "truth": 0.000512734,
    "relative_error": 0.0368934,
    "log10_error": 0.0163178,
    "verdict": "leaks",
    "groups": [
        {
            "group": "backbone.conv",
            "parameters": 18432,
            "estimate": 0.000487219,
            "scale_invariant": False,
            "cosine": -0.412,
        },
        {
            "group": "backbone.bn",
            "parameters": 512,
            "estimate": 0.00231577,
            "scale_invariant": True,
            "cosine": 0.003,
        },
        {
            "group": "fpn.conv",
            "parameters": 36864,
            "estimate": 0.000503318,
            "scale_invariant": False,
            "cosine": -0.387,
        },
        {
            "group": "head.cls_logits",
            "parameters": 2313,
            "estimate": 0.000472691,
            "scale_invariant": False,
            "cosine": -0.298,
        },
    ],
    "defences": [
        {
            "defence": "none",
            "estimate": 0.000493817,
            "relative_error": 0.0368934,
            "log10_error": 0.0163178,
            "mAP": 0.4123,
            "mAP_lost": 0.0,
            "recommended": False,
        },
        {
            "defence": "round:4",
            "estimate": 0.000611948,
            "relative_error": 0.193492,
            "log10_error": 0.0768492,
            "mAP": 0.4119,
            "mAP_lost": 0.0004,
            "recommended": False,
        },
        {
            "defence": "round:3",
            "estimate": 0.00874123,
            "relative_error": 16.0483,
            "log10_error": 1.23175,
            "mAP": 0.4087,
            "mAP_lost": 0.0036,
            "recommended": True,
        },
        {
            "defence": "noise:1e-3",
            "estimate": 0.00143672,
            "relative_error": 1.80206,
            "log10_error": 0.447474,
            "mAP": 0.4102,
            "mAP_lost": 0.0021,
            "recommended": False,
        },
        {
            "defence": "round:2",
            "estimate": 0.0617325,
            "relative_error": 119.398,
            "log10_error": 2.0805,
            "mAP": 0.3311,
            "mAP_lost": 0.0812,
            "recommended": False,
        },
    ],
    "threat_model": (
        "An attacker holds the released weights and half of the training images, which are "
        "bought synthetic scenes. They solve the training's stationarity equation for the "
        "weight decay the recipe used."
    ),
}


def make_model_audit(
    folder: Path, key: Any, entry: dict[str, Any] | None = None, verdict: str = "leaks"
) -> Path:
    """A detector-audit result folder following the Audit II contract."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "kind": "model-audit",
        "model": {"arch": "fcos", "backbone": "tiny", "image_size": 64},
        "data": "synthetic",
        "known_fraction": 0.5,
        "optimizer_family": "sgd",
        "verdict": verdict,
        "recommended_defence": "round:3",
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    Vault.create(folder / "audit.hsv", key).put("audit", entry or MODEL_AUDIT)
    return folder


@pytest.fixture
def model_audit(tmp_path: Path) -> dict[str, Any]:
    """A detector-audit folder and the key file that opens it."""
    key = generate_key_file(tmp_path / "audit.key")
    folder = make_model_audit(tmp_path / "audit", key)
    return {"folder": folder, "key": key, "key_path": tmp_path / "audit.key"}


@pytest.fixture(scope="session")
def shared_model_audit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A detector-audit folder made once per session (write reports elsewhere with ``out``)."""
    root = tmp_path_factory.mktemp("model-audit")
    key = generate_key_file(root / "audit.key")
    return {"folder": make_model_audit(root / "audit", key), "key": key}


@pytest.fixture
def make_audit(tmp_path: Path) -> Any:
    """``make_audit(changes, verdict=...)``: a detector-audit folder whose sealed entry is
    :data:`MODEL_AUDIT` updated with ``changes``; returns (folder, key)."""
    key = generate_key_file(tmp_path / "made-audit.key")
    count = iter(range(1000))

    def make(changes: dict[str, Any] | None = None, verdict: str = "leaks") -> tuple[Path, Any]:
        folder = tmp_path / f"made-audit-{next(count)}"
        return make_model_audit(folder, key, {**MODEL_AUDIT, **(changes or {})}, verdict), key

    return make


@pytest.fixture(scope="session")
def reproduction(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``audit.reproduce`` tables from a very small config (about a second)."""
    from audit.classical.reproduction import ReproduceConfig, reproduce

    folder = tmp_path_factory.mktemp("reproduce") / "out"
    config = ReproduceConfig(
        learners=("ridge", "lasso", "logistic_l2"),
        all_datasets=False,
        values=(1e-2, 1.0, 1e2),
        tolerance_learners=("lasso", "logistic_l2"),
        tols=(1e-2, 1e-4, 1e-6),
        defence_learners=("ridge", "logistic_l2"),
        decimals=(1, 2, 3),
        noise=(1e-3,),
        tsr_learners=("ridge",),
        fractions=(0.25,),
        tsr_grid=(1e-2, 1.0, 1e2),
    )
    reproduce(folder, config=config)
    return folder


# -- finding hyperparameter values in text -------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
_STYLE = re.compile(r"<style>.*?</style>", re.S)
_FORMATS = ("g", ".2g", ".3g", ".4g", ".5g", ".6g", ".2e", ".3e", ".4e", ".3f", ".4f", ".5f", ".6f")


def _significant(text: str) -> int:
    mantissa = re.split(r"[eE]", text)[0].lstrip("+-").replace(".", "")
    return len(mantissa.strip("0"))


def secret_forms(values: Any) -> tuple[set[str], set[str]]:
    """Distinctive ways the values may be written: numbers (3+ significant digits) and words."""
    numbers: set[str] = set()
    words: set[str] = set()
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str):
            if len(value) >= 3:
                words.add(value)
            continue
        if isinstance(value, int) or not math.isfinite(float(value)):
            continue  # small integers (batch sizes, epochs) are everywhere in any text
        v = float(value)
        forms = {repr(value), str(value), repr(v), *(format(v, f) for f in _FORMATS)}
        numbers.update(f for f in forms if _significant(f) >= 3)
    return numbers, words


def find_values(text: str, values: Any, allowed: Any = ()) -> list[str]:
    """Every written form of ``values`` found in ``text`` (image data and stylesheet ignored).

    Numbers match whole numeric tokens; a token in ``allowed`` (a score that
    happens to read like a value) does not count. Words match whole words.
    """
    text = _STYLE.sub("", _DATA_URI.sub("", text))  # image data and the fixed stylesheet
    numbers, words = secret_forms(values)
    allowed = set(allowed)
    found = []
    for token in _NUMBER.findall(text):
        bare = token.lstrip("+-")
        if (token in numbers or bare in numbers) and bare not in allowed and token not in allowed:
            found.append(token)
    for word in words:
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
            found.append(word)
    return found


@pytest.fixture(scope="session")
def leaks() -> Any:
    """``leaks(text, values, allowed=())``: the written forms of ``values`` found in ``text``."""
    return find_values


def tune_allowed(run: Any) -> set[str]:
    """Numbers a redacted tuning report shows on purpose (scores, importances, times)."""
    from reports import formatting as fmt

    allowed: set[str] = set()
    for t in run.trials:
        for v in (t.fitness, *t.metrics.values(), *(c[1] for c in t.curve)):
            allowed.update({fmt.score(v), fmt.signed(v).lstrip("+-")})
        allowed.add(fmt.seconds(t.seconds).split(" ")[0])
    best, default = run.best, run.default
    if best is not None and default is not None:
        for m in best.metrics:
            if m in default.metrics:
                allowed.add(fmt.signed(best.metrics[m] - default.metrics[m]).lstrip("+-"))
        allowed.add(fmt.signed(best.fitness - default.fitness).lstrip("+-"))
    for row in run.importance:
        allowed.add(fmt.importance(row["importance"]))
    return allowed


@pytest.fixture(scope="session")
def allowed_for_tune() -> Any:
    return tune_allowed
