"""DetectionDataset: shapes, dtypes, labels, crowd handling and the image cache."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tuner.data.coco import CocoSplit, load_coco
from tuner.data.dataset import DetectionDataset, collate
from tuner.errors import DataError


@pytest.fixture
def split(coco: Any) -> CocoSplit:
    return load_coco(coco.write(), coco.images)


def test_items_have_the_shapes_and_types_detectors_want(split: CocoSplit) -> None:
    ds = DetectionDataset(split)
    assert len(ds) == 3
    assert ds.num_classes == 3  # two categories plus the background
    assert ds.class_names == ["bike", "truck"]
    image, target = ds[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 30, 40)
    assert set(target) == {"boxes", "labels", "image_id"}
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (2, 4)
    assert target["labels"].dtype == torch.int64
    assert target["labels"].tolist() == [2, 1]  # truck (id 7) -> 2, bike (id 3) -> 1
    assert target["image_id"].dtype == torch.int64 and target["image_id"].shape == ()
    assert int(target["image_id"]) == 10
    torch.testing.assert_close(
        target["boxes"], torch.tensor([[2.0, 3.0, 12.0, 11.0], [20.0, 5.0, 35.5, 25.0]])
    )


def test_pixels_are_the_file_in_rgb_channel_first(split: CocoSplit, coco: Any) -> None:
    image, _ = DetectionDataset(split)[0]
    pixels = np.asarray(Image.open(coco.images / "a.png").convert("RGB"))
    np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), pixels)


def test_empty_image_and_crowd_regions(split: CocoSplit) -> None:
    ds = DetectionDataset(split)
    _, empty = ds[1]
    assert empty["boxes"].shape == (0, 4) and empty["boxes"].dtype == torch.float32
    assert empty["labels"].shape == (0,) and empty["labels"].dtype == torch.int64
    _, with_crowd = ds[2]
    assert with_crowd["labels"].tolist() == [1]  # the crowd annotation is left out
    assert ds[-1][1]["image_id"] == 12
    with pytest.raises(IndexError):
        ds[3]


def test_grayscale_files_come_out_rgb(coco: Any, edited: Any) -> None:
    path = coco.write()
    Image.fromarray(np.full((30, 40), 77, dtype=np.uint8)).save(coco.images / "a.png")
    image, _ = DetectionDataset(load_coco(path, coco.images))[0]
    assert image.shape == (3, 30, 40) and int(image[2, 5, 5]) == 77


def test_cache_keeps_decoded_images(split: CocoSplit, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = DetectionDataset(split, cache=True)
    assert ds.caching and ds.cached_images == 0
    first, _ = ds[0]
    assert ds.cached_images == 1
    first[:] = 0  # changing an item never changes the cache
    target = ds[0][1]
    target["boxes"][:] = -1

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(ds, "_decode", fail)
    again, target = ds[0]
    assert int(again.max()) > 0
    assert float(target["boxes"].min()) >= 0


def test_no_cache(split: CocoSplit) -> None:
    ds = DetectionDataset(split, cache=False)
    ds[0]
    ds[0]
    assert not ds.caching and ds.cached_images == 0


def test_automatic_cache_follows_the_limit(split: CocoSplit) -> None:
    needed = 3 * (40 * 30 * 2 + 20 * 20)
    assert DetectionDataset(split).caching
    assert DetectionDataset(split, cache_limit_bytes=needed).caching
    small = DetectionDataset(split, cache_limit_bytes=needed - 1)
    assert not small.caching and small.estimated_bytes == needed


def test_preload_fills_the_cache(split: CocoSplit) -> None:
    ds = DetectionDataset(split, cache=False)
    ds.preload()
    assert ds.caching and ds.cached_images == 3


def test_dataloader_with_collate(split: CocoSplit) -> None:
    loader = DataLoader(DetectionDataset(split), batch_size=2, collate_fn=collate)
    batches = list(loader)
    assert [len(images) for images, _ in batches] == [2, 1]
    images, targets = batches[0]
    assert isinstance(images, list) and isinstance(targets, list)
    assert images[0].shape == (3, 30, 40) and targets[1]["boxes"].shape == (0, 4)


def test_image_broken_after_loading_raises_data_error(split: CocoSplit, coco: Any) -> None:
    (coco.images / "b.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="cannot decode image id 11"):
        DetectionDataset(split)[1]


def test_synthetic_split_labels(synth: Any) -> None:
    split = load_coco(synth.annotation_files[0], synth.out / "images")
    ds = DetectionDataset(split)
    assert ds.num_classes == 4
    labels = torch.cat([ds[i][1]["labels"] for i in range(len(ds))])
    assert set(labels.tolist()) == {1, 2, 3}
    image, target = ds[0]
    assert image.shape == (3, 96, 96)
    boxes = target["boxes"]
    assert bool((boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all())
    assert float(boxes.min()) >= 0 and float(boxes.max()) <= 96


def test_an_image_file_bigger_than_its_record_is_refused_before_decoding(
    coco: Any, split: CocoSplit
) -> None:
    from PIL import Image

    Image.new("RGB", (4000, 3000)).save(coco.images / "a.png")  # record says 40x30
    ds = DetectionDataset(split)
    with pytest.raises(DataError, match=r"a.png\) is 4000x3000, not 40x30 as .* says"):
        ds[0]


def test_an_image_record_over_the_pixel_limit_is_refused(coco: Any, edited: Any) -> None:
    from tuner.data.coco import MAX_IMAGE_PIXELS

    path = coco.write(
        edited(lambda d: d["images"][0].update(width=8192, height=4096)), images=False
    )
    with pytest.raises(DataError, match=rf"8192x4096 pixels, over the limit of {MAX_IMAGE_PIXELS}"):
        load_coco(path, coco.images)
