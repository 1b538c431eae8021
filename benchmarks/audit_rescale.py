"""The zero-cost defence ``rescale:C`` against the naive and the adaptive attacker.

Small networks are trained here to (near) convergence with a known weight
decay (full-batch SGD, momentum 0.9, cosine schedule; decay split as
hyperseal's training splits it), rescaled by :func:`audit.deep.reparam.rescale`
with several seeds, and attacked four ways, each through the paper's equation
``wd = −Σ wᵀ∇L / Σ ‖w‖²`` (full batch, train mode, over the decayed parameters
of every layer that does not feed a normalisation layer):

* ``naive``: on the released (rescaled) weights;
* ``geomean`` / ``unit``: after :func:`audit.deep.reparam.rebalance`, which
  rebalances every junction whose two sides are decayed and, where the producer
  is a norm layer without decay, assumes its per-channel scales were equal
  (``geomean``) or 1 (``unit``);
* ``median``: the median over channels of each junction consumer's own
  estimate ``−w_jᵀ∇_j L / ‖w_j‖²`` (a symmetric factor distribution cancels in
  the median), over consumers that do not feed a norm.

``worst`` is the owner's worst case: the attacker closest to the truth. The
table gives, per network, decay and ``C``, the ratio estimate/truth (median over
seeds, with the range) and how many seeds each verdict gets from the worst
case (leaks ≤ 1.5x, partial ≤ 10x, resists). A tiny FCOS checks outputs and
mAP.

    python -m benchmarks.audit_rescale [--seeds 5] [--only-gn | --only-fcos] [--json OUT]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audit.deep.reparam import channel_median, rebalance, rescale, trace
from audit.deep.testing import train_full_batch
from audit.deep.verdict import verdict_for
from tuner.train.params import split_decayed

Loss = Callable[[nn.Module, Any], torch.Tensor]


def equation(model: nn.Module, loss: Loss, batch: Any, run: Any, dnb: bool) -> float:
    """The paper's equation over the decayed parameters of layers that do not feed a norm."""
    net = copy.deepcopy(model).train()
    invariant = {f.layer for f in trace(net, run).norm_feeds}
    net.zero_grad()
    loss(net, batch).backward()
    num = den = 0.0
    for name, p in split_decayed(net, dnb)[0]:
        if name.rpartition(".")[0] not in invariant and p.grad is not None:
            num += float((p.detach().double() * p.grad.double()).sum())
            den += float(p.detach().double().pow(2).sum())
    return -num / den if den > 0 else math.nan


def median(model: nn.Module, loss: Loss, batch: Any, run: Any, dnb: bool) -> float:
    """:func:`audit.deep.reparam.channel_median` on the one full batch."""
    return channel_median(model, loss, [batch], run, decay_norm_and_bias=dnb)


def train(
    model: nn.Module, loss: Loss, batch: Any, wd: float, steps: int, lr: float, dnb: bool
) -> nn.Module:
    return train_full_batch(model, loss, batch, wd, steps=steps, lr=lr, decay_norm_and_bias=dnb)


def mlp(norm: type[nn.Module] | None) -> nn.Sequential:
    torch.manual_seed(0)

    def block(n_in: int) -> list[nn.Module]:
        return [nn.Linear(n_in, 16), *([norm(16)] if norm else []), nn.ReLU()]

    return nn.Sequential(*block(10), *block(16), nn.Linear(16, 1))


class GNCNN(nn.Module):
    """Conv-GN-ReLU twice, a 1x1 prediction conv, mean pooling (a detector head's shape)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)

        def block(n_in: int, n_out: int) -> list[nn.Module]:
            return [nn.Conv2d(n_in, n_out, 3, padding=1), nn.GroupNorm(4, n_out), nn.ReLU()]

        self.body = nn.Sequential(*block(1, 8), *block(8, 16), nn.Conv2d(16, 10, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


def mse(model: nn.Module, batch: Any) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def ce(model: nn.Module, batch: Any) -> torch.Tensor:
    return nn.functional.cross_entropy(model(batch[0]), batch[1])


ATTACKERS = ("naive", "geomean", "unit", "median")


def attack_all(net: nn.Module, loss: Loss, batch: Any, run: Any, dnb: bool) -> dict[str, float]:
    return {
        "naive": equation(net, loss, batch, run, dnb),
        "geomean": equation(rebalance(net, run, decay_norm_and_bias=dnb), loss, batch, run, dnb),
        "unit": equation(
            rebalance(net, run, decay_norm_and_bias=dnb, prior="unit"), loss, batch, run, dnb
        ),
        "median": median(net, loss, batch, run, dnb),
    }


def worst(found: dict[str, float], truth: float) -> float:
    positive = [v for v in found.values() if math.isfinite(v) and v > 0]
    return min(positive, key=lambda v: abs(math.log10(v / truth))) if positive else math.nan


def family(
    name: str,
    net: nn.Module,
    loss: Loss,
    batch: Any,
    run: Any,
    wd: float,
    dnb: bool,
    factors: tuple[float, ...],
    seeds: int,
) -> list[dict[str, Any]]:
    rows = []
    base = attack_all(net, loss, batch, run, dnb)
    rows.append(
        {
            "network": name,
            "wd": wd,
            "C": 1.0,
            **{k: [v / wd] for k, v in base.items()},
            "worst": [worst(base, wd) / wd],
        }
    )
    for factor in factors:
        found: dict[str, list[float]] = {k: [] for k in (*ATTACKERS, "worst")}
        for seed in range(seeds):
            defended = copy.deepcopy(net)
            rescale(defended, run, factor=factor, seed=seed)
            result = attack_all(defended, loss, batch, run, dnb)
            for k, v in result.items():
                found[k].append(v / wd)
            found["worst"].append(worst(result, wd) / wd)
        rows.append({"network": name, "wd": wd, "C": factor, **found})
    for row in rows[-1 - len(factors) :]:
        print(line(row), flush=True)
    return rows


def summary(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "none"
    if len(values) == 1:
        return f"{finite[0]:.3g}"
    nan = f" ({len(values) - len(finite)} none)" if len(finite) < len(values) else ""
    return f"{statistics.median(finite):.3g} [{min(finite):.2g}–{max(finite):.2g}]{nan}"


def verdicts(values: list[float]) -> str:
    counts = {"leaks": 0, "partial": 0, "resists": 0}
    for v in values:
        counts[verdict_for(v if math.isfinite(v) else None, 1.0)] += 1
    return "/".join(str(counts[k]) for k in counts)


def line(row: dict[str, Any]) -> str:
    cells = [row["network"], f"{row['wd']:g}", "none" if row["C"] == 1 else f"rescale:{row['C']:g}"]
    cells += [summary(row[k]) for k in (*ATTACKERS, "worst")] + [verdicts(row["worst"])]
    return "| " + " | ".join(cells) + " |"


def second_channel(model: nn.Module, batches: Any, run: Any) -> dict[str, float]:
    """``‖g_B‖² / (2‖w‖²)`` of the layers feeding a norm: pooled, median over layers, range.

    The second channel (:mod:`audit.deep.equilibrium`) reads ``wd·(1 − m)/lr``
    from it; rescaling a layer feeding a norm by ``c`` divides its ratio by ``c⁴``.
    """
    from audit.deep.detector import detector_loss
    from audit.deep.reparam.structure import module_paths as _modules

    net = copy.deepcopy(model)
    feeds = [f.layer for f in trace(net, run).norm_feeds]
    modules = _modules(net)
    net.train()
    grad_sq = dict.fromkeys(feeds, 0.0)
    n = 0
    for batch in batches:
        n += 1
        net.zero_grad()
        detector_loss(net, batch).backward()
        for f in feeds:
            for p in modules[f].parameters(recurse=False):
                grad_sq[f] += float(p.grad.double().pow(2).sum()) if p.grad is not None else 0.0
    weight_sq = {
        f: sum(float(p.detach().double().pow(2).sum()) for p in modules[f].parameters(False))
        for f in feeds
    }
    per = [grad_sq[f] / n / (2 * weight_sq[f]) for f in feeds]
    return {
        "pooled": sum(grad_sq.values()) / n / (2 * sum(weight_sq.values())),
        "median": math.exp(statistics.median(math.log(v) for v in per)),
        "low": min(per),
        "high": max(per),
    }


def fcos_check(images: int, epochs: int, seeds: int) -> dict[str, Any]:
    """A tiny FCOS: outputs and mAP after rescale:4 and rescale:100, and the second channel."""
    import os

    os.environ.setdefault("HYPERSEAL_CACHE", tempfile.mkdtemp())
    from audit.deep.detector import DetectorBatches
    from audit.deep.reparam import detector_probe
    from tuner.data.dataset import DetectionDataset
    from tuner.data.resolve import resolve_data
    from tuner.detectors import ModelSpec
    from tuner.evaluate import evaluate_model
    from tuner.train import TrainConfig, train_detector

    splits = resolve_data("synthetic", images=images, size=64, seed=0)
    train_set, val = DetectionDataset(splits.train), DetectionDataset(splits.val)
    spec = ModelSpec("fcos", "tiny", 64, tuple(splits.class_names))
    config = TrainConfig(epochs=epochs, batch_size=8, weight_decay=1e-3, hflip=0.0, seed=0)
    net = train_detector(config, train_set, val, spec, device="cpu", eval_every=1000).model
    net = net.cpu().eval()
    cpu = torch.device("cpu")
    base = evaluate_model(net, val, cpu)["mAP"]
    out: dict[str, Any] = {"mAP": base, "defences": [], "second_channel": []}
    for factor in (4.0, 100.0):
        defended = copy.deepcopy(net)
        start = time.perf_counter()
        report = rescale(defended, detector_probe(val), factor=factor, seed=0)
        seconds = time.perf_counter() - start
        m = evaluate_model(defended, val, cpu)["mAP"]
        out["defences"].append(
            {
                "C": factor,
                "junctions": len(report.junctions),
                "channels": report.channels,
                "norm_feeds": len(report.norm_feeds),
                "skipped": len(report.skipped),
                "deviation": report.deviation,
                "mAP": m,
                "mAP_lost": base - m,
                "seconds": seconds,
            }
        )
        print(
            f"tiny FCOS rescale:{factor:g}: {report.describe()}; mAP {base:.6f} -> {m:.6f} "
            f"({seconds:.2f} s)",
            flush=True,
        )
    # the second channel, in units of its target wd·(1 − momentum)/lr
    target = config.weight_decay * (1 - config.momentum) / config.lr
    batches = DetectorBatches(train_set, config.batch_size, seed=0)
    run = detector_probe(val)
    for factor in (1.0, 4.0, 100.0):
        for seed in range(1 if factor == 1 else seeds):
            defended = copy.deepcopy(net)
            if factor > 1:
                rescale(defended, run, factor=factor, seed=seed)
            found = {k: v / target for k, v in second_channel(defended, batches, run).items()}
            out["second_channel"].append({"C": factor, "seed": seed, **found})
            print(
                f"tiny FCOS second channel, {'none' if factor == 1 else f'rescale:{factor:g}'} "
                f"seed {seed}: pooled {found['pooled']:.3g}x, median over layers "
                f"{found['median']:.3g}x, layers {found['low']:.2g}-{found['high']:.2g}x "
                "of wd(1-m)/lr",
                flush=True,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="Rescaling seeds per network.")
    parser.add_argument("--gn-steps", type=int, default=1500, help="SGD steps of the GN CNN.")
    parser.add_argument("--skip-gn", action="store_true", help="Leave out the GN CNN (slow).")
    parser.add_argument("--only-gn", action="store_true", help="Only the GN CNN.")
    parser.add_argument("--only-fcos", action="store_true", help="Only the tiny FCOS.")
    parser.add_argument("--fcos-images", type=int, default=128, help="Synthetic scenes.")
    parser.add_argument("--fcos-epochs", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="Also write the rows here.")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from audit.classical.datasets import load_dataset

    d = load_dataset("diabetes")
    X = torch.tensor(d.X_train, dtype=torch.float32)
    y = torch.tensor(d.y_train, dtype=torch.float32)[:, None]
    batch = (X, y)

    def run(m: nn.Module) -> Any:
        return m(X)

    factors = (4.0, 100.0)
    print(
        "| network | true wd | defence | naive | rebalanced (geomean) | rebalanced (unit) | "
        "channel median | owner's worst case | leaks/partial/resists |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows: list[dict[str, Any]] = []
    for wd in (1e-3, 1e-2, 1e-1) if not (args.only_gn or args.only_fcos) else ():
        net = train(mlp(None), mse, batch, wd, 1500, 0.2, False)
        rows += family("ReLU MLP", net, mse, batch, run, wd, False, factors, args.seeds)
    for wd in (1e-3, 1e-2, 1e-1) if not (args.only_gn or args.only_fcos) else ():
        net = train(mlp(nn.BatchNorm1d), mse, batch, wd, 1500, 0.2, False)
        rows += family("BN MLP", net, mse, batch, run, wd, False, factors, args.seeds)
    for wd in (1e-3, 1e-2) if not (args.only_gn or args.only_fcos) else ():
        net = train(mlp(nn.BatchNorm1d), mse, batch, wd, 1500, 0.2, True)
        rows += family("BN MLP, norms decayed", net, mse, batch, run, wd, True, factors, args.seeds)
    if not (args.skip_gn or args.only_fcos):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.data[:256] / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
        labels = torch.tensor(digits.target[:256])
        gbatch = (images, labels)

        def grun(m: nn.Module) -> Any:
            return m(images[:64])

        for wd in (1e-3, 3e-3, 1e-2):
            start = time.perf_counter()
            net = train(GNCNN(), ce, gbatch, wd, args.gn_steps, 0.05, False)
            seconds = time.perf_counter() - start
            print(
                f"(GN CNN, wd {wd:g}: {seconds:.0f} s of training, final loss "
                f"{float(ce(net, gbatch).detach()):.3f})",
                flush=True,
            )
            rows += family("GN CNN", net, ce, gbatch, grun, wd, False, factors, args.seeds)
    fcos = fcos_check(args.fcos_images, args.fcos_epochs, 3) if not args.only_gn else {}
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "fcos": fcos}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
