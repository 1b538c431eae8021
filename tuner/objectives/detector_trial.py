"""The objective ``hyperseal tune`` optimises: train a detector, return validation metrics.

:class:`DetectorObjective` is plain data (picklable), so it runs unchanged in
this process, in local worker processes and on Dask workers. Each worker
process decodes the dataset once and keeps it for the trials it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tuner.search.trial import TrialContext


@dataclass(frozen=True)
class DataRef:
    """Where a worker finds the data: ``synthetic`` (with its parameters) or a COCO folder.

    ``check_images=False`` skips opening every image of a folder when a worker
    loads it (``hyperseal tune`` checked them all before the first trial); an
    image that is missing or broken then fails the trials that read it.
    """

    spec: str = "synthetic"
    images: int = 500
    size: int = 128
    seed: int = 0
    check_images: bool = True


@dataclass(frozen=True)
class DetectorObjective:
    """Train one detector per trial with ``base`` overridden by the trial's params."""

    data: DataRef = field(default_factory=DataRef)
    arch: str = "fcos"
    backbone: str = "tiny"
    image_size: int = 128
    base: dict[str, Any] = field(default_factory=dict)
    keep_weights: bool = True

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        from tuner.detectors import ModelSpec
        from tuner.train import TrainConfig, train_detector

        train_set, val_set = _datasets(self.data)
        config = TrainConfig.from_dict({**self.base, **params}, where="trial")
        spec = ModelSpec(self.arch, self.backbone, self.image_size, tuple(train_set.class_names))

        def on_epoch(report: Any) -> bool:
            return bool(report.metrics) and trial.report(report.epoch, report.metrics)

        result = train_detector(
            config, train_set, val_set, spec, device=trial.device, on_epoch=on_epoch
        )
        if self.keep_weights:
            from safetensors.torch import save

            state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
            trial.artifacts["weights"] = save(state)
        return result.metrics


@lru_cache(maxsize=2)
def _datasets(ref: DataRef) -> tuple[Any, Any]:
    from tuner.data.dataset import DetectionDataset
    from tuner.data.resolve import resolve_data

    splits = resolve_data(
        ref.spec, images=ref.images, size=ref.size, seed=ref.seed, check_images=ref.check_images
    )
    return DetectionDataset(splits.train), DetectionDataset(splits.val)
