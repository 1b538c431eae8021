"""Audit II on the tiny FCOS trained on synthetic scenes: API, CLI, results folder, refusals.

One detector is trained per module (24 synthetic images at 64 px, two epochs
of SGD with weight decay 1e-3): seconds on a CPU. It is far from a stationary
point, which is the realistic case the verdict must describe honestly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from audit.cli import app
from audit.deep.model_audit import audit_model
from audit.deep.pricing import DEFENCE_COLUMNS
from audit.deep.results import load_detector_audit, save_detector_audit
from audit.deep.verdict import VERDICTS, verdict_for
from audit.errors import AuditOptionError
from tuner.data.dataset import DetectionDataset
from tuner.data.resolve import resolve_data
from tuner.detectors import ModelSpec, build_detector
from tuner.release import WEIGHTS, read_manifest, save_release, write_release_bytes
from tuner.train import TrainConfig, train_detector
from tuner.vault import KeyFile, Vault, generate_key_file

WD = 1e-3
CONFIG = TrainConfig(epochs=2, batch_size=4, weight_decay=WD, hflip=0.0, seed=0)
SUMMARY_KEYS = {
    "kind",
    "model",
    "data",
    "known_fraction",
    "optimizer_family",
    "verdict",
    "recommended_defence",
}
DOCUMENT_KEYS = {
    "estimate",
    "plain_estimate",
    "ci",
    "truth",
    "relative_error",
    "log10_error",
    "verdict",
    "groups",
    "defences",
    "threat_model",
    "optimizer_family",
    "pick",
    "pick_reason",
    "pick_verdict",
    "reliable",
    "worst_case",
    "variants",
    "second_channel",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A trained tiny FCOS released as ``run/best``, its recipe sealed in a vault."""
    root = tmp_path_factory.mktemp("deep")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERSEAL_CACHE", str(root / "cache"))
        mp.setenv("HYPERSEAL_HOME", str(root / "home"))
        mp.delenv("HYPERSEAL_PASSPHRASE", raising=False)
        splits = resolve_data("synthetic", images=24, size=64, seed=0)
        train, val = DetectionDataset(splits.train), DetectionDataset(splits.val)
        spec = ModelSpec("fcos", "tiny", 64, tuple(splits.class_names))
        result = train_detector(CONFIG, train, val, spec, device="cpu", eval_every=100)
        release = root / "run" / "best"
        save_release(result.model, spec, release)
        key = generate_key_file(root / "owner.key")
        vault = root / "vault.hsv"
        Vault.create(vault, key).put(
            "run",
            {
                "config": CONFIG.to_dict(),
                "weights_sha256": read_manifest(release)["weights_sha256"],
                "model": {"arch": "fcos", "backbone": "tiny", "image_size": 64},
            },
        )
        yield {
            "root": root,
            "release": release,
            "spec": spec,
            "key": key,
            "vault": vault,
            "key_path": root / "owner.key",
        }
    torch.set_num_threads(threads)


def run(*args: Any, code: int = 0) -> Any:
    result = CliRunner().invoke(app, [*map(str, args)])
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def one_error_line(result: Any, text: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines


def common(world: dict[str, Any]) -> list[str]:
    return [
        "--model",
        str(world["release"]),
        "--data",
        "synthetic",
        "--images",
        "24",
        "--device",
        "cpu",
    ]


# -- the Python API ------------------------------------------------------------------------


def test_fcos_estimate_verdict_and_defences(world: dict[str, Any]) -> None:
    report = audit_model(
        world["release"],
        "synthetic",
        synthetic_images=24,
        truth=CONFIG.to_dict(),
        defences="round:2,noise:1e-2",
        device="cpu",
        n_bootstrap=200,
    )
    est = report.estimate
    assert est is not None
    print(
        f"\ntiny FCOS, wd={WD:g}: estimate {est.estimate:.3g} (interval {est.ci}), plain "
        f"{est.plain_estimate:.3g}, verdict {report.verdict}, relative error "
        f"{report.relative_error}, attack {report.seconds['attack']:.2f} s\n{report.defences}"
    )
    assert math.isfinite(est.estimate) and math.isfinite(est.plain_estimate)
    assert report.truth == WD
    # two epochs leave the detector far from a stationary point: no attack variant is usable
    # (their gradients are not along -w, or their intervals reach zero), so the audit prints
    # no interval rather than a false one, and the verdict judges no variant
    assert not est.reliable and est.ci is None and "unreliable" in est.ci_method
    assert int(est.variants["usable"].sum()) == 0 and report.worst_case is None
    assert report.verdict == "resists" and report.pick_verdict == verdict_for(est.estimate, WD)
    assert any("usable without the truth" in note for note in report.notes)
    groups = report.groups.set_index("group")
    # convs followed by BatchNorm (backbone) and GroupNorm (FCOS heads): no signal
    for name in (
        "backbone.stem.0",
        "backbone.stage4.1.0",
        "head.classification_head.conv.0",
        "head.regression_head.conv.3",
    ):
        assert groups.loc[name, "scale_invariant"] and groups.loc[name, "followed_by_norm"], name
    # the prediction layers and the FPN's 1x1 convs carry the signal
    for name in (
        "head.classification_head.cls_logits",
        "head.regression_head.bbox_reg",
        "backbone.fpn.inner_blocks.0.0",
    ):
        assert groups.loc[name, "informative"], name
    assert est.n_informative < est.n_decayed / 10
    table = report.defences
    assert list(table.columns) == list(DEFENCE_COLUMNS)
    assert list(table["defence"]) == ["none", "round:2", "noise:1e-2"]
    assert table["mAP"].between(0, 1).all() and table["recommended"].sum() <= 1
    # with the truth, each row judges the owner's worst case: here no usable variant, none
    undefended = table.loc[0, "estimate"]
    assert table.loc[0, "mAP_lost"] == 0 and (undefended is None or math.isnan(undefended))
    assert set(report.summary()) == SUMMARY_KEYS
    document = report.document()
    assert set(document) == DOCUMENT_KEYS
    assert set(document["groups"][0]) == {
        "group",
        "parameters",
        "estimate",
        "scale_invariant",
        "cosine",
    }
    assert "train mode" in report.threat_model and "24" not in report.data
    # the threat model appears in redacted reports: no recipe value in it
    assert "batches of 4" not in report.threat_model and "0.001" not in report.threat_model
    assert "from the sealed recipe" in report.threat_model


def test_attacker_with_half_the_data_and_no_truth(world: dict[str, Any]) -> None:
    report = audit_model(
        world["release"],
        "synthetic",
        synthetic_images=24,
        known_fraction=0.5,
        device="cpu",
        n_bootstrap=100,
    )
    assert report.verdict == "unknown" and report.truth is None and report.relative_error is None
    # 10 known images in batches of 8 (the default): the partial last batch is left out
    assert report.assumptions["known_images"] == 10 and report.assumptions["batches"] == 1
    assert report.assumptions["images_used"] == 8
    assert report.assumptions["batch_size_source"] == "default"
    assert report.optimizer_family == "unknown"
    assert any("assumes SGD" in note for note in report.notes)
    assert report.weight_decay is not None


def test_adamw_recipe_is_not_applicable(world: dict[str, Any]) -> None:
    report = audit_model(
        world["release"],
        "synthetic",
        synthetic_images=24,
        device="cpu",
        truth={**CONFIG.to_dict(), "optimizer": "adamw"},
        defences="round:2",
    )
    assert report.verdict == "not-applicable" and report.estimate is None
    assert report.document()["estimate"] is None and report.document()["groups"] == []
    assert report.document()["optimizer_family"] == "adamw" and len(report.defences) == 0
    assert any("decoupled" in note for note in report.notes)
    # the sealed recipe chose AdamW: nothing in plaintext (summary, threat model) says so
    summary = json.dumps(report.summary()).lower()
    assert report.summary()["verdict"] == report.summary()["optimizer_family"] == "sealed"
    assert "adamw" not in summary and "decoupled" not in report.threat_model.lower()
    # the attacker's own assumption is no secret
    assumed = audit_model(
        world["release"], "synthetic", synthetic_images=24, device="cpu", optimizer="adamw"
    )
    assert assumed.summary()["optimizer_family"] == "adamw"
    assert assumed.summary()["verdict"] == "not-applicable"
    assert "decoupled" in assumed.threat_model


def test_results_folder_round_trip(world: dict[str, Any], tmp_path: Path) -> None:
    report = audit_model(
        world["release"],
        "synthetic",
        synthetic_images=24,
        device="cpu",
        truth=CONFIG.to_dict(),
        n_bootstrap=100,
    )
    key = generate_key_file(tmp_path / "k.key")
    out = save_detector_audit(report, tmp_path / "out", key)
    saved = load_detector_audit(out, KeyFile(tmp_path / "k.key"))
    assert saved.summary == report.summary() and saved.verdict == report.verdict
    assert saved.document["estimate"] == pytest.approx(report.weight_decay)
    assert list(saved.groups["group"]) == list(report.groups["group"])
    assert len(saved.defences) == 0
    with pytest.raises(AuditOptionError, match="not empty"):
        save_detector_audit(report, out, key)
    other = generate_key_file(tmp_path / "other.key")
    (out / "report.html").write_text("<!-- hyperseal-report --> the earlier audit's numbers")
    (out / "report.md").write_text("notes of my own, kept")
    save_detector_audit(report, out, other, force=True)  # replaces the earlier audit
    assert load_detector_audit(out, KeyFile(tmp_path / "other.key")).verdict == report.verdict
    assert not (out / "report.html").exists()  # its report went with it
    assert (out / "report.md").read_text() == "notes of my own, kept"


# -- the CLI -------------------------------------------------------------------------------


def test_cli_with_the_vault_prints_estimate_and_verdict(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # into a pipe the values stay sealed (tests/test_no_plaintext_recipe.py): on a terminal
    monkeypatch.setattr("tuner.plaintext.stdout_is_terminal", lambda: True)
    out = tmp_path / "result"
    result = run(
        "model",
        *common(world),
        "--vault",
        world["vault"],
        "--key-file",
        world["key_path"],
        "--defend",
        "round:3,noise:1e-3",
        "--out",
        out,
    )
    text = result.stdout
    print(text)
    for label in (
        "estimate   weight_decay ≈",
        "plain",
        "truth      1.00e-03",
        "verdict",
        "round:3",
        "noise:1e-3",
        "from the sealed recipe",
        "wrote",
    ):
        assert label in text, label
    # (the vault keeps its write-lock file beside it, as every hyperseal vault does)
    assert sorted(p.name for p in out.iterdir()) == ["audit.hsv", "audit.hsv.lock", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == SUMMARY_KEYS and summary["kind"] == "model-audit"
    # the optimizer is a searched choice: from the vault it stays sealed
    assert summary["optimizer_family"] == "sealed" and summary["known_fraction"] == 1.0
    assert summary["model"] == {"arch": "fcos", "backbone": "tiny", "image_size": 64}
    # nothing in plaintext reveals the recipe: no estimate, no truth, no error
    plain = (out / "summary.json").read_text()
    assert "e-0" not in plain and "0.00" not in plain
    document = Vault.open(out / "audit.hsv", world["key"]).get("audit")
    assert set(document) == DOCUMENT_KEYS and document["truth"] == WD
    assert document["verdict"] == summary["verdict"] in VERDICTS
    assert [d["defence"] for d in document["defences"]] == ["none", "round:3", "noise:1e-3"]


def test_cli_json_is_one_object(world: dict[str, Any], tmp_path: Path) -> None:
    result = run(
        "model",
        *common(world),
        "--vault",
        world["vault"],
        "--key-file",
        world["key_path"],
        "--json",
        "--out",
        tmp_path / "r",
    )
    data = json.loads(result.stdout)
    assert set(data) >= DOCUMENT_KEYS | SUMMARY_KEYS
    assert data["truth"] == WD and data["pick_verdict"] == verdict_for(data["estimate"], WD)
    assert data["verdict"] == "resists" and data["worst_case"] is None and not data["reliable"]
    assert {v["variant"] for v in data["variants"]} >= {"train x2 pooled", "eval pooled"}
    assert data["assumptions"]["batch_size"] == CONFIG.batch_size
    assert data["diagnostics"]["n_batches"] == 4


def test_cli_without_vault_uses_the_default_key(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPERSEAL_CACHE", str(world["root"] / "cache"))
    monkeypatch.setenv("HYPERSEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HYPERSEAL_PASSPHRASE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("model", *common(world), "--known-fraction", "0.5")
    assert "verdict    unknown" in result.stdout and "\ntruth " not in result.stdout
    out = tmp_path / "audit-run"  # default name: the run's, for a run's best/ folder
    saved = load_detector_audit(out, KeyFile(tmp_path / "home" / "key"))
    assert saved.document["truth"] is None and saved.summary["known_fraction"] == 0.5
    before = (out / "summary.json").read_bytes()
    again = run("model", *common(world), code=29)
    one_error_line(again, "not empty")
    assert "--force" in again.stderr and (out / "summary.json").read_bytes() == before
    run("model", *common(world), "--force")  # replaces the earlier audit
    saved = load_detector_audit(out, KeyFile(tmp_path / "home" / "key"))
    assert saved.summary["known_fraction"] == 1.0


# -- refusals: one line each, non-zero exit ------------------------------------------------


def test_altered_weights_are_refused(world: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "altered"
    folder.mkdir()
    (folder / "manifest.json").write_bytes((world["release"] / "manifest.json").read_bytes())
    data = bytearray((world["release"] / WEIGHTS).read_bytes())
    data[-1] ^= 1
    (folder / WEIGHTS).write_bytes(bytes(data))
    result = run("model", "--model", folder, "--images", "24", "--out", tmp_path / "o", code=26)
    one_error_line(result, "does not match the SHA-256")
    assert not (tmp_path / "o").exists()


def test_pickle_payload_is_refused_and_never_runs(world: dict[str, Any], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "manifest.json").write_bytes((world["release"] / "manifest.json").read_bytes())
    torch.save({"model": Payload()}, folder / "model.pt")
    result = run("model", "--model", folder / "model.pt", "--images", "24", code=25)
    one_error_line(result, "not weights-only")
    assert not marker.exists()
    (folder / "model.pkl").write_bytes((folder / "model.pt").read_bytes())
    one_error_line(run("model", "--model", folder / "model.pkl", code=25), "pickle")
    assert not marker.exists()


def test_weights_only_torch_file_is_accepted(world: dict[str, Any], tmp_path: Path) -> None:
    from audit.deep.release import load_released_detector

    released = load_released_detector(world["release"])
    folder = tmp_path / "pt"
    folder.mkdir()
    (folder / "manifest.json").write_bytes((world["release"] / "manifest.json").read_bytes())
    torch.save(released.model.state_dict(), folder / "model.pt")
    again = load_released_detector(folder / "model.pt")
    assert not again.pinned and again.spec == released.spec
    for (name, a), b in zip(
        again.model.state_dict().items(), released.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_data_with_other_classes_is_refused(world: dict[str, Any], tmp_path: Path) -> None:
    other = ModelSpec("fcos", "tiny", 64, ("cat", "dog"))
    save_release(build_detector(other), other, tmp_path / "other")
    result = run(
        "model", "--model", tmp_path / "other", "--images", "24", "--out", tmp_path / "o", code=22
    )
    one_error_line(result, "differ from the model's")


def test_weights_that_do_not_fit_the_manifest_are_refused(
    world: dict[str, Any], tmp_path: Path
) -> None:
    weights = (world["release"] / WEIGHTS).read_bytes()
    other = ModelSpec("fcos", "tiny", 64, (*world["spec"].classes, "extra"))
    write_release_bytes(weights, other, tmp_path / "misfit")  # hash matches, shapes do not
    result = run("model", "--model", tmp_path / "misfit", "--images", "24", code=22)
    one_error_line(result, "does not fit the architecture")


def test_missing_manifest_and_bad_options(world: dict[str, Any], tmp_path: Path) -> None:
    one_error_line(run("model", "--model", tmp_path, code=26), "manifest.json is missing")
    result = run("model", *common(world), "--known-fraction", "0", "--out", tmp_path / "o", code=29)
    one_error_line(result, "known-fraction")
    result = run("model", *common(world), "--defend", "blur:3", "--out", tmp_path / "o", code=29)
    one_error_line(result, "round:K or noise:SIGMA")


def test_a_raw_pickle_torch_file_is_refused_without_a_warning(tmp_path: Path) -> None:
    import pickle
    import warnings

    from audit.deep.release import load_released_detector
    from audit.errors import UnsafeModelError

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    spec = ModelSpec("fcos", "tiny", 64, ("car",))
    save_release(build_detector(spec), spec, tmp_path / "rel")
    path = tmp_path / "rel" / "model.pth"
    path.write_bytes(pickle.dumps({"model": Payload()}, protocol=4))  # not torch.save's zip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be a second line on stderr
        with pytest.raises(UnsafeModelError, match="not weights-only"):
            load_released_detector(path)
    assert not marker.exists()


def test_negative_seed_and_meta_device_are_one_line(world: dict[str, Any], tmp_path: Path) -> None:
    for option, value in (("--seed", "-1"), ("--device", "meta")):
        result = run("model", *common(world), option, value, "--out", tmp_path / "o", code=29)
        one_error_line(result, option)
    assert not (tmp_path / "o").exists()


def test_malformed_model_description_names_the_manifest(
    world: dict[str, Any], tmp_path: Path
) -> None:
    import shutil

    release = tmp_path / "release"
    shutil.copytree(world["release"], release)
    manifest = json.loads((release / "manifest.json").read_text())
    for model in (["fcos"], {**manifest["model"], "classes": []}):
        manifest["model"] = model
        (release / "manifest.json").write_text(json.dumps(manifest))
        out = tmp_path / "o"
        result = run("model", "--model", release, "--images", "24", "--out", out, code=26)
        one_error_line(result, f"{release / 'manifest.json'}: model description")


def test_the_attacker_line_counts_the_images_a_short_batch_holds() -> None:
    from audit.presentation import _batch_images

    assert _batch_images({"batches": 1, "batch_size": 100, "images_used": 19}) == (
        "19 (fewer images known than the batch size 100)"
    )
    assert _batch_images({"batches": 4, "batch_size": 8, "images_used": 32}) == "8"
    assert _batch_images({"batches": 1, "batch_size": 8, "images_used": 8}) == "8"
