"""No searched value of the recipe in plaintext: every file and every line hyperseal writes.

Real commands on tiny synthetic data, none with an export: ``tune`` (default space,
random search, so that trials leave the defaults), ``audit model --vault`` on its best
model, ``report tune/audit --redact``, and ``train`` on configs drawn from the default
space (hypothesis). Their stdout and stderr, as a pipe or a log file gets them (no
terminal), and every file they write are searched for each searched value.

What is searched (the rule, chosen so that a hit is a leak and not chance):

* the values of every trial in the sealed journal and the sealed best config (and, for
  ``train``, the config it was given); a value equal to its parameter's default is left
  out (the default space is public, and trial 0 runs it);
* a float with at least 3 significant digits (``0.0137``, not ``0.02``), in each of its
  printed forms: ``repr``, ``str``, ``g``, ``.6g``, ``.4g``, ``.3g``, ``e``, ``.3e``, ``.2e``,
  and for a value in [0, 1] ``.1%``; a form standing on its own (not inside a longer
  number or word);
* a choice by name, as a whole word, when it was not the default (``adamw``); names
  that are ordinary words (``step``, ``constant``) only where they would name the value
  (quoted, or after ``=`` or ``:``);
* numbers too short to search as text (a batch size of 4, 8 or 16; an epoch count) where
  they would be named: ``batch size N``, ``batches of N``, ``batch_size``; and the
  fields that would count them (a released model's ``metrics.json`` holds the
  validation metrics only; no progress bar is left in the log);
* the audit's sealed estimates (estimate, plain estimate, interval) the same way.

Not searched: sealed files (``.hsv``, ``.hsj``: encrypted), the key file, the synthetic
data cache (the data is not the secret), the ``train --config`` file (the user's input),
and the tensors of a weights file (only its header is text).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuner.main import app
from tuner.search.space import default_space

TINY = ["--images", "24", "--image-size", "64"]
SPACE = default_space(epochs=1)
DEFAULTS = {p.name: p.default for p in SPACE.params if p.kind != "fixed"}
#: Choice names that are ordinary words: searched only where they would name the value.
COMMON_WORDS = {"step", "constant"}
#: Files not searched: sealed (encrypted) and lock files.
SEALED = {".hsv", ".hsj", ".lock"}
METRICS = {"mAP", "mAP50", "mAP75", "AR100"}


def significant_digits(value: float) -> int:
    mantissa = f"{abs(value):.6e}".split("e")[0].replace(".", "").rstrip("0")
    return len(mantissa.lstrip("0"))


def float_forms(value: float) -> set[str]:
    """The printed forms of a float specific enough that a hit is not chance."""
    if not math.isfinite(value) or value == 0 or significant_digits(value) < 3:
        return set()
    forms = {
        repr(value),
        str(value),
        f"{value:g}",
        f"{value:.6g}",
        f"{value:.4g}",
        f"{value:.3g}",
        f"{value:e}",
        f"{value:.3e}",
        f"{value:.2e}",
    }
    if 0 < value <= 1:
        forms.add(f"{value:.1%}")
    return {f for f in forms if sum(c.isdigit() for c in f.split("e")[0]) >= 3}


def patterns(name: str, value: Any) -> list[re.Pattern[str]]:
    """How ``value`` of parameter ``name`` would read in plaintext (see the module's rule)."""
    if value == DEFAULTS.get(name) or isinstance(value, bool):
        return []
    if isinstance(value, float):
        return [
            re.compile(r"(?<![\w.])" + re.escape(f) + (r"(?![\w])" if f[-1].isalnum() else ""))
            for f in float_forms(value)
        ]
    if isinstance(value, int):
        if name != "batch_size":
            return []
        n = str(value)
        return [re.compile(rf"(?i)\b(batch[ _]size[\"']?[:=]?\s*|batch(es)? of ){n}\b")]
    if isinstance(value, str):
        word = re.escape(value)
        if value in COMMON_WORDS:
            return [re.compile(rf"([\"']{word}[\"']|[=:]\s*{word}\b)")]
        return [re.compile(rf"(?i)\b{word}\b")]
    return []


def leaks(texts: dict[str, str], secrets: dict[str, list[Any]]) -> list[str]:
    """``where: name=value (form)`` for every searched value found in ``texts``."""
    found = []
    searched = [(n, v, p) for n, values in secrets.items() for v in values for p in patterns(n, v)]
    for where, text in texts.items():
        for name, value, pattern in searched:
            hit = pattern.search(text)
            if hit:
                context = text[max(0, hit.start() - 40) : hit.end() + 40]
                found.append(f"{where}: {name}={value!r} as {hit.group(0)!r}: {context!r}")
    return found


def written(folder: Path) -> dict[str, str]:
    """Every plaintext file under ``folder`` (sealed and lock files left out), as text; of
    weights, their header (what the audit measures is in the numbers, not in text)."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix not in SEALED:
            data = path.read_bytes()
            if path.suffix == ".safetensors":
                data = data[8 : 8 + int.from_bytes(data[:8], "little")]
            texts[str(path.relative_to(folder.parent))] = data.decode("latin-1")
    return texts


def cli(*args: Any) -> tuple[str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout, result.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A tiny tuning run; audits of its best model against its vault and against the
    configs of its other trials (at this size trial 0, the default, often wins, and an
    audit of a default recipe has nothing to leak); the redacted reports; what each
    command printed; the sealed values to look for."""
    from tuner.release import read_manifest
    from tuner.tune import load_results
    from tuner.vault import KeyFile, Vault

    root = tmp_path_factory.mktemp("plaintext")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERSEAL_CACHE", str(root / "cache"))
        mp.setenv("HYPERSEAL_HOME", str(root / "home"))
        mp.delenv("HYPERSEAL_PASSPHRASE", raising=False)
        run = root / "run"
        tune = ["tune", *TINY, "--epochs", 1, "--budget", 3, "--optimizer", "RandomSearch"]
        printed = {"tune": cli(*tune, "--out", run)}
        key = KeyFile(root / "home" / "key")
        frame = load_results(run, key)
        best = Vault.open(run / "vault.hsv", key).get("run")["config"]
        # one trial of each optimizer that left the defaults, as the recipe of the best model
        trials, seen = Vault.create(root / "trials.hsv", key), set()
        for number in sorted(frame["number"])[1:]:
            params = frame.set_index("number").loc[number]
            config = {n: _native(params[f"param_{n}"]) for n in DEFAULTS} | {"epochs": 1}
            if config["optimizer"] not in seen:
                seen.add(config["optimizer"])
                trials.put(
                    f"trial-{number}",
                    {
                        "config": config,
                        "weights_sha256": read_manifest(run / "best")["weights_sha256"],
                    },
                )
        audits = {"audit": (run / "vault.hsv", "run")}
        audits |= {f"audit-{n}": (root / "trials.hsv", n) for n in trials.names()}
        documents = []
        for folder, (vault, entry) in audits.items():
            printed[f"{folder} model"] = cli(
                "audit",
                "model",
                "--model",
                run / "best",
                "--vault",
                vault,
                "--entry",
                entry,
                *TINY[:2],
                "--device",
                "cpu",
                "--defend",
                "round:3",
                "--out",
                root / folder,
            )
            printed[f"report {folder} --redact"] = cli("report", "audit", root / folder, "--redact")
            documents.append(Vault.open(root / folder / "audit.hsv", key).get("audit"))
        printed["report tune --redact"] = cli("report", "tune", run, "--redact")
    torch.set_num_threads(threads)
    secrets: dict[str, list[Any]] = {name: [best[name]] for name in DEFAULTS}
    for name in DEFAULTS:
        secrets[name] += [_native(v) for v in frame[f"param_{name}"]]
    estimates = []
    for d in documents:
        estimates += [d["estimate"], d["plain_estimate"], *(d["ci"] or [])]
        estimates.append((d["worst_case"] or {}).get("estimate"))
    secrets["audit estimate"] = [v for v in estimates if isinstance(v, float)]
    texts = written(run)
    for folder in audits:
        texts |= written(root / folder)
    for command, (out, err) in printed.items():
        texts[f"{command} stdout"], texts[f"{command} stderr"] = out, err
    yield {
        "root": root,
        "texts": texts,
        "secrets": secrets,
        "frame": frame,
        "printed": printed,
        "audits": list(audits),
        "documents": documents,
    }


def _native(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def test_the_search_left_the_defaults(world: dict[str, Any]) -> None:
    """The check below means something: the sealed trials hold searchable values."""
    searchable = [
        (name, value)
        for name, values in world["secrets"].items()
        for value in values
        if patterns(name, value)
    ]
    assert len(searchable) >= 6, searchable
    assert world["secrets"]["audit estimate"]  # the SGD recipe's audit estimated something


def test_no_searched_value_in_any_plaintext_file_or_line(world: dict[str, Any]) -> None:
    texts = world["texts"]
    # what was searched: run.json, best/ (manifest, metrics), the summary, both reports
    files = ["run/run.json", "run/best/manifest.json", "run/best/metrics.json"]
    files += ["audit/summary.json", "run/report-redacted.html", "audit/report-redacted.md"]
    for name in files:
        assert name in texts, sorted(texts)
    assert leaks(texts, world["secrets"]) == []


def test_audit_output_into_a_pipe_names_no_recipe_value(world: dict[str, Any]) -> None:
    """Off a terminal the audit prints what summary.json holds, and says where the rest is."""
    assert {d["optimizer_family"] for d in world["documents"]} == {"sgd", "adamw"}
    for folder in world["audits"]:
        out, _ = world["printed"][f"{folder} model"]
        assert "printed on a terminal only" in out and "hyperseal report audit" in out
        for sealed in (
            "truth      ",
            "weight_decay ≈",
            "plain  ",
            "worst case",
            "round:3 ",
            "note:",
            "adamw",
            "AdamW",
            "batches of 16",
        ):
            assert sealed not in out, (folder, sealed, out)
        assert "optimizer  sealed (from the sealed recipe)" in out and "verdict    " in out


def test_files_are_built_from_the_allow_lists(world: dict[str, Any]) -> None:
    from tuner import plaintext

    texts = world["texts"]
    files = {
        "run/run.json": "run.json",
        "run/best/metrics.json": "best metrics.json",
        "run/best/manifest.json": "manifest.json",
    }
    files |= {f"{folder}/summary.json": "audit summary.json" for folder in world["audits"]}
    for name, kind in files.items():
        plaintext.check(kind, json.loads(texts[name]))


def test_a_field_off_the_list_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from tuner import plaintext
    from tuner.engine.folder import write_json

    with pytest.raises(plaintext.PlaintextFieldError, match=r"run.json.summary.best_config"):
        write_json(tmp_path / "run.json", {"summary": {"best_config": {"lr": 0.0137}}}, "run.json")
    with pytest.raises(plaintext.PlaintextFieldError, match=r"metrics must be|a number"):
        plaintext.dumps("release metrics.json", {"optimizer": "adamw"})
    with pytest.raises(plaintext.PlaintextFieldError, match="batch_size"):
        plaintext.dumps("manifest.json", {"format": "x", "batch_size": 16})
    assert not (tmp_path / "run.json").exists()
    # a run.json read back with a field hyperseal did not write is rewritten without it
    kept = plaintext.allowed_only(
        "run.json", {"status": "running", "note": "x", "summary": {"ok": 1, "lr": 0.0137}}
    )
    assert kept == {"status": "running", "summary": {"ok": 1}}


# -- train: configs drawn from the default space ---------------------------------------------


def _round(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def _param(p: Any) -> st.SearchStrategy[Any]:
    if p.kind == "choice":
        return st.sampled_from(p.choices)
    if p.kind == "log":
        low, high = math.log10(p.low), math.log10(p.high)
        return st.floats(low, high).map(lambda x: _round(10**x))
    return st.floats(p.low, p.high).map(_round)


RECIPES = st.fixed_dictionaries(
    {p.name: _param(p) for p in SPACE.params if p.kind != "fixed"} | {"epochs": st.integers(1, 2)}
).map(SPACE.complete)


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(recipe=RECIPES)
def test_a_released_model_and_its_log_name_no_recipe_value(
    recipe: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    import yaml

    root = tmp_path_factory.mktemp("train")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({**recipe, "epochs": recipe["epochs"]}))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HYPERSEAL_CACHE", str(root.parent / "train-cache"))
            mp.setenv("HYPERSEAL_HOME", str(root / "home"))
            out, err = cli("train", *TINY, "--config", config, "--out", root / "model")
    finally:
        torch.set_num_threads(threads)
    texts = {**written(root / "model"), "train stdout": out, "train stderr": err}
    assert leaks(texts, {name: [recipe[name]] for name in DEFAULTS}) == []
    # nothing that counts the epochs or the steps (which give the batch size)
    metrics = json.loads(texts["model/metrics.json"])
    assert set(metrics) <= METRICS and set(metrics) >= {"mAP", "mAP50"}
    assert "epoch" not in err and not re.search(r"\d+/\d+", err), err
    assert "validation: mAP=" in out


def test_a_summary_with_importance_failures_and_freezes_is_on_the_list() -> None:
    """Every field a finished search can put in run.json's summary is on the allow-list."""
    from tuner import plaintext
    from tuner.engine.run import run_summary
    from tuner.search.study import Study, StudySettings
    from tuner.testing import QuadraticObjective, quadratic_space

    settings = StudySettings(
        optimizer="OnePlusOne",
        budget=24,
        seed=0,
        pruner="median",
        max_epochs=6,
        freeze_unimportant=True,
        freeze_after=8,
        freeze_threshold=0.2,
    )
    result = Study(QuadraticObjective(fail_above_lr=0.3), quadratic_space(), settings).run()
    summary = run_summary(result)
    assert summary["importance"] and summary["failures"] and summary["frozen"]
    plaintext.check("run.json", {"summary": {**summary, "warnings": ["w"]}})


def test_a_redacted_report_that_shows_a_sealed_value_is_not_written(tmp_path: Path) -> None:
    """The last guard of report redaction: a sealed value printed in full stops the write."""
    from reports.output import report_paths, write_report
    from tuner.plaintext import PlaintextFieldError, shown_values

    paths = report_paths(tmp_path, redact=True)
    sealed = {"lr": [0.0474658, 0.02], "weight_decay": [0.000429925]}
    with pytest.raises(PlaintextFieldError, match=r"shows the sealed value of lr;"):
        write_report(paths, "<p>lr 0.0474658</p>", "lr 0.0474658", private=False, sealed=sealed)
    assert not paths.html.exists() and not paths.markdown.exists()
    # short values (a default, a printed metric) and longer numbers are not taken for them
    assert shown_values(["0.02 0.04746581 0.0004299 4.30e-04"], sealed) == []
    write_report(paths, "<p>fitness 0.0475</p>", "fitness 0.0475", private=False, sealed=sealed)
    assert paths.html.exists()
    # a private report shows the values on purpose
    (tmp_path / "private").mkdir()
    private = report_paths(tmp_path / "private")
    write_report(private, "lr 0.0474658", "lr 0.0474658", private=True, sealed=sealed)


OBJECTIVE = """\
from pathlib import Path


def objective(params, trial):
    weights = Path(trial.workdir) / "weights.bin"
    weights.write_bytes(b"\\0" * 16)
    trial.add_artifact(weights)
    # reports its learning rate as a metric, as training code often logs it
    return {"score": 1 - abs(params["lr"] - 0.01), "lr": params["lr"]}
"""


def test_a_metric_named_like_a_parameter_stays_sealed(hyperseal_env: Path) -> None:
    from tuner.tune import load_results
    from tuner.vault import KeyFile

    (hyperseal_env / "train.py").write_text(OBJECTIVE)
    space = hyperseal_env / "space.yaml"
    space.write_text("lr: {type: log, low: 1.0e-4, high: 1.0, default: 0.0123457}\n")
    run = hyperseal_env / "run"
    objective = f"{hyperseal_env / 'train.py'}:objective"
    args = ["--fitness", "score", "--epochs", 1, "--budget", 3, "--optimizer", "RandomSearch"]
    out, err = cli("tune", "--objective", objective, "--space", space, *args, "--out", run)
    report = cli("report", "tune", run, "--redact")
    frame = load_results(run, KeyFile(hyperseal_env / "home" / "key"))
    assert set(frame["metric_lr"]) == set(frame["param_lr"])  # the journal keeps it
    texts = {**written(run), "stdout": out, "stderr": err, "report": "".join(report)}
    values = [v for v in frame["param_lr"] if v != 0.0123457]
    assert values and leaks(texts, {"lr": values}) == []
    assert json.loads(texts["run/best/metrics.json"]).keys() == {"trial", "fitness", "score"}
