"""The attack's portfolio, piece by piece: batchings, free partners, the second channel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from audit.deep.batching import FULL_BATCH_ROWS, Batchings
from audit.deep.equilibrium import equilibrium_estimate
from audit.deep.steal import VARIANT_COLUMNS, steal_weight_decay
from audit.deep.testing import cross_entropy, make_net


def _rows(batch: object) -> int:
    return int(batch[0].shape[0]) if isinstance(batch, tuple) else int(batch["x"].shape[0])


def test_tensor_batches_are_regrouped_at_random_without_a_short_last_batch() -> None:
    X, y = torch.arange(100.0)[:, None], torch.arange(100)
    given = [(X[i : i + 32], y[i : i + 32]) for i in range(0, 100, 32)]  # 32, 32, 32, 4
    data = Batchings(given, count=3, seed=0)
    assert data.count == 3 and data.batch_size == 32 and data.dropped == 4
    seen = []
    for k in range(3):
        batches = list(data.batching(k))
        assert [_rows(b) for b in batches] == [32, 32, 32]  # the 4-row batch is left out
        rows = torch.cat([b[0][:, 0] for b in batches])
        assert len(set(rows.tolist())) == 96
        assert all(torch.equal(b[0][:, 0].long(), b[1]) for b in batches)  # rows stay paired
        seen.append(rows.tolist())
    assert seen[0] != seen[1] != seen[2]  # three different batchings
    assert list(data.batching(1)) and [b[0].tolist() for b in data.batching(1)] == [
        b[0].tolist() for b in data.batching(1)
    ]  # re-iterable, same order each time
    full = data.full()
    assert full is not None and _rows(full[0]) == 100


def test_dict_batches_and_what_cannot_be_regrouped() -> None:
    x = torch.randn(40, 3)
    data = Batchings([{"x": x[:20], "y": x[:20, 0]}, {"x": x[20:], "y": x[20:, 0]}], count=2)
    assert data.count == 2 and all(_rows(b) == 20 for b in data.batching(1))
    single = Batchings([(x, x[:, 0])], count=4)  # one batch of everything: nothing to regroup
    assert single.count == 1 and single.full() is None
    odd = Batchings([[torch.randn(3, 8, 8)], [torch.randn(3, 9, 9)]], count=2)
    assert odd.count == 1 and odd.kind == "as given"
    big = torch.zeros(FULL_BATCH_ROWS + 64, 2)
    assert Batchings([(big[:64],), (big[64:],)]).full() is None  # too large for one batch


def test_detector_batches_are_regrouped_over_the_same_known_images() -> None:
    from audit.deep.detector import DetectorBatches

    class Fake:
        def __len__(self) -> int:
            return 30

    first = DetectorBatches(Fake(), 4, fraction=0.5, seed=3)  # type: ignore[arg-type]
    other = first.rebatched(7)
    mine = {i for c in first.chunks for i in c}
    theirs = {i for c in other.chunks for i in c}
    assert mine <= set(first.known) and theirs <= set(first.known)  # 15 known, 12 in batches
    assert first.chunks != other.chunks and all(len(c) == 4 for c in other.chunks)
    assert other.known == first.known and len(other) == len(first) == 3


def _trained(family: str, wd: float = 5e-3, epochs: int = 8) -> nn.Module:
    from audit.deep.testing import train_reference

    torch.set_num_threads(1)
    return train_reference(family, wd, batch_size=64, epochs=epochs, seed=0)


@pytest.mark.parametrize("family", ["mlp-bn", "mlp-gn"])
def test_the_last_layer_has_its_norm_layer_as_free_partner(family: str) -> None:
    ref = _trained(family)
    res = steal_weight_decay(ref.model, cross_entropy, ref.batches(), device="cpu")
    groups = res.groups.set_index("group")
    assert groups.loc["6", "informative"] and "free partner 4" in groups.loc["6", "note"]
    assert groups.loc["0", "scale_invariant"] and groups.loc["3", "scale_invariant"]
    variants = res.variants.set_index("variant")
    assert list(res.variants.columns) == list(VARIANT_COLUMNS)
    pooled, balanced = variants.loc["train x2 pooled"], variants.loc["train x2 balanced"]
    # wd = -D (1/x + 1/z): above the plain solve by exactly 1 + |w|^2/|norm affine|^2
    last, norm = ref.model[6].weight, ref.model[4]
    z = float(norm.weight.detach().pow(2).sum() + norm.bias.detach().pow(2).sum())
    x = float(last.detach().pow(2).sum())
    assert balanced["estimate"] / pooled["estimate"] == pytest.approx(1 + x / z, rel=1e-6)
    if family == "mlp-bn":
        assert "eval pooled" in variants.index and "full pooled" in variants.index
    else:  # GroupNorm normalises each image alone: eval and full batch are train mode again
        assert "eval pooled" not in variants.index
        assert any("no BatchNorm" in n for n in res.notes)


def test_no_partner_without_normalisation() -> None:
    ref = _trained("mlp-none", wd=1e-3)
    res = steal_weight_decay(ref.model, cross_entropy, ref.batches(), device="cpu")
    assert not res.normalised
    row = res.variants.set_index("variant").loc["train x2 balanced"]
    assert math.isnan(row["estimate"]) and "no free partner" in row["note"]
    assert res.equilibrium is not None and res.equilibrium.groups == 0


def test_model_without_batchnorm_runs_one_view_and_is_left_as_it_was() -> None:
    net = make_net("cnn-gn")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    X, y = torch.randn(48, 64), torch.randint(0, 10, (48,))
    res = steal_weight_decay(
        net, cross_entropy, [(X[:16], y[:16]), (X[16:32], y[16:32]), (X[32:], y[32:])], device="cpu"
    )
    assert set(res.variants["view"]) == {"train"}
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


def test_equilibrium_estimate_pools_invariant_groups_only() -> None:
    grad_sq = np.array([[4.0, 2.0, 100.0], [6.0, 2.0, 100.0]])
    weight_sq = np.array([1.0, 1.0, 1.0])
    est = equilibrium_estimate(grad_sq, weight_sq, np.array([True, True, False]))
    assert est.groups == 2 and est.estimate == pytest.approx((5 + 2) / 4)
    assert est.ci is not None and est.ci[0] <= est.estimate <= est.ci[1]
    assert est.truth(1e-3, 0.1, 0.9) == pytest.approx(1e-3)
    none = equilibrium_estimate(grad_sq, weight_sq, np.zeros(3, dtype=bool))
    assert math.isnan(none.estimate) and none.ci is None and none.groups == 0


def test_bad_portfolio_options_are_one_error() -> None:
    from audit.errors import AuditOptionError

    X, y = torch.randn(8, 64), torch.randint(0, 10, (8,))
    with pytest.raises(AuditOptionError, match="batchings 0 must be at least 1"):
        steal_weight_decay(make_net("mlp-none"), cross_entropy, [(X, y)], batchings=0)
    single = steal_weight_decay(
        make_net("mlp-bn"),
        cross_entropy,
        [(X[:4], y[:4]), (X[4:], y[4:])],
        device="cpu",
        portfolio=False,
    )
    assert set(single.variants["view"]) == {"train"} and not single.variants["usable"].any()
    assert not single.reliable and single.pick_reason == "single variant (portfolio off)"
