"""The audit against the truth on normalised networks trained by minibatch SGD.

Each network is trained here (seconds) with a known weight decay, as hyperseal
trains (:func:`audit.deep.testing.train_reference`), on seeds the calibration
table was not fitted on (it uses seeds 0 and 10-17). The first test is the measurement
that showed the audit understating leakage: a BatchNorm MLP on the digits
(64-128-BN-ReLU-64-BN-ReLU-10, SGD with momentum 0.9, cosine schedule, 60
epochs, batch 64, weight decay 5e-3 on the weight matrices). Before the
portfolio, the same attacker data gave 8.0e-4 with an interval that missed
the truth at batch 64, -4.2e-3 ("resists") at batch 256, 2.1e-3 on all 1,797
images, and 1.7e-3 in eval mode, interval missing the truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from audit.deep.steal import WeightDecayEstimate, steal_weight_decay
from audit.deep.testing import Reference, cross_entropy, train_reference
from audit.deep.verdict import verdict_for

WD = 5e-3

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bn_mlp() -> Reference:
    torch.set_num_threads(1)
    return train_reference("mlp-bn", WD, batch_size=64, epochs=60, seed=3)


def _batches(ref: Reference, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    X, y = ref.X, ref.y
    return [(X[i : i + size], y[i : i + size]) for i in range(0, len(X), size)]


@pytest.mark.parametrize("size", [64, 256, 1797])
def test_batchnorm_mlp_leak_is_not_understated(bn_mlp: Reference, size: int) -> None:
    res = steal_weight_decay(bn_mlp.model, cross_entropy, _batches(bn_mlp, size), device="cpu")
    print(f"\nbatches of {size}: pick {res.pick} {res.estimate:.3g} interval {res.ci}")
    print(res.variants[["variant", "estimate", "cosine", "corrected", "usable"]])
    assert res.reliable and res.ci is not None
    assert res.ci[0] <= WD <= res.ci[1]  # the interval holds the truth
    assert res.ci[1] <= 10 * res.ci[0] and res.pinned  # and pins it within a decade
    # the attacker's pick: within the calibration's nine-in-ten band on normalised networks
    # (2.8x, docs/audit.md); this network's pick is 1.9x low on one CPU model, within 1.5x on
    # another: training rounds differently, the trained weights differ, the pick moves
    assert abs(math.log10(res.estimate / WD)) < math.log10(2.8)
    assert res.ci[0] <= res.estimate <= res.ci[1]
    # what the audit reports, the owner's worst case, leaks: not understated
    worst = res.worst_case(WD)
    assert worst is not None and worst["ratio"] < 1.25
    assert verdict_for(worst["estimate"], WD) == "leaks"


def test_batchnorm_mlp_in_eval_mode_only(bn_mlp: Reference) -> None:
    res = steal_weight_decay(
        bn_mlp.model, cross_entropy, _batches(bn_mlp, 64), device="cpu", train_mode=False
    )
    print(f"\neval mode: pick {res.pick} {res.estimate:.3g} interval {res.ci}")
    assert set(res.variants["view"]) == {"eval"}
    assert res.reliable and res.ci is not None and res.ci[0] <= WD <= res.ci[1]
    assert abs(math.log10(res.estimate / WD)) < math.log10(3)


@pytest.mark.parametrize(("family", "wd"), [("mlp-gn", 1e-3), ("mlp-gn", 3e-2), ("cnn-bn", 5e-3)])
def test_normalised_networks_within_their_interval(family: str, wd: float) -> None:
    ref = train_reference(family, wd, batch_size=64, epochs=30, seed=4)
    res = steal_weight_decay(ref.model, cross_entropy, ref.batches(), device="cpu")
    print(f"\n{family} wd={wd:g}: pick {res.pick} {res.estimate:.3g} interval {res.ci}")
    assert res.normalised and res.reliable and res.ci is not None
    assert res.ci[0] <= wd <= res.ci[1]
    # the attacker's pick: within 1.4x in the median on held-out calibration networks, 2.8x
    # in nine cases of ten (docs/audit.md); the owner's worst case is closer
    assert abs(math.log10(res.estimate / wd)) < math.log10(4)
    worst = res.worst_case(wd)
    assert worst is not None and worst["ratio"] < 1.5


@pytest.mark.parametrize("wd", [1e-3, 3e-2])
def test_unnormalised_mlp_within_25_percent(wd: float) -> None:
    # Five networks, as a 95 % interval is a promise about many: one network's interval
    # misses the truth one time in twenty (on one CPU model seed 5's missed 1e-3 by 0.4 %).
    errors, held = [], 0
    for res in _unnormalised_on_seeds_5_to_9("mlp-none", wd, epochs=60):
        errors.append(abs(res.estimate - wd) / wd)
        held += res.ci[0] <= wd <= res.ci[1]
    assert sorted(errors)[2] < 0.25  # the median pick within 25 % (docs/audit.md's goal)
    assert max(errors) < 0.5
    assert held >= 3  # fails one time in 800 were the intervals exactly 95 %


@pytest.mark.parametrize("wd", [1e-3, 5e-3])
def test_unnormalised_cnn_interval_holds_the_truth(wd: float) -> None:
    # The one family no other test attacks: a schedule the calibration never trained (batch 64
    # for 30 epochs), seeds it never saw. On one CPU model all ten intervals hold the truth
    # (nine of ten with the table before the normal floor, docs/audit.md).
    held = 0
    for res in _unnormalised_on_seeds_5_to_9("cnn-none", wd, epochs=30):
        assert abs(math.log10(res.estimate / wd)) < math.log10(2.5)
        held += res.ci[0] <= wd <= res.ci[1]
    assert held >= 3  # fails one time in 800 were the intervals exactly 95 %


def _unnormalised_on_seeds_5_to_9(
    family: str, wd: float, *, epochs: int
) -> Iterator[WeightDecayEstimate]:
    """Each of five networks (batch 64, seeds 5-9) attacked; each reliable, with an interval."""
    for seed in range(5, 10):
        ref = train_reference(family, wd, batch_size=64, epochs=epochs, seed=seed)
        res = steal_weight_decay(ref.model, cross_entropy, ref.batches(), device="cpu")
        print(f"\n{family} wd={wd:g} seed {seed}: pick {res.pick} {res.estimate:.3g} {res.ci}")
        assert not res.normalised and res.reliable and res.ci is not None
        yield res
