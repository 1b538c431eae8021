"""Detection training in the style of torchvision's references/detection/train.py.

A COCO folder in (``images/`` + ``annotations/instances_{train,val}.json``), a
zoo model built with ``weights=None``, SGD, COCO mAP from pycocotools out. Run
it on its own::

    python train.py --data-path data/ --epochs 5 --lr 0.02 --output-dir out/

The only additions for ``hyperseal tune --command``:

* ``--config FILE``: a JSON or YAML file whose keys set any of the options
  below (``lr``, ``momentum``, ``weight_decay``, ...), so that no value is on
  the command line; an unknown key is an error;
* after each epoch, when ``$HYPERSEAL_METRICS`` is set, one JSON line
  ``{"epoch": N, "mAP": ..., "mAP50": ...}`` is appended to it;
* ``--output-dir`` receives ``weights.safetensors`` and a ``manifest.json``
  that ``hyperseal audit model`` reads (architecture and classes, no recipe).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.transforms.functional import pil_to_tensor

#: torchvision builder -> (arch, backbone) as hyperseal's manifest names them.
MODELS = {
    "fasterrcnn_mobilenet_v3_large_fpn": ("fasterrcnn", "mobilenet_v3"),
    "fasterrcnn_resnet50_fpn": ("fasterrcnn", "resnet50"),
    "retinanet_resnet50_fpn": ("retinanet", "resnet50"),
    "fcos_resnet50_fpn": ("fcos", "resnet50"),
}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="PyTorch Detection Training", add_help=True)
    parser.add_argument("--data-path", required=True, type=str, help="COCO dataset folder")
    parser.add_argument("--model", default="fasterrcnn_mobilenet_v3_large_fpn", choices=MODELS)
    parser.add_argument("--device", default="cpu", type=str, help="device (cpu or cuda)")
    parser.add_argument("-b", "--batch-size", default=2, type=int, help="images per batch")
    parser.add_argument("--epochs", default=26, type=int, help="number of total epochs")
    parser.add_argument("--lr", default=0.02, type=float, help="initial learning rate")
    parser.add_argument("--momentum", default=0.9, type=float, help="momentum")
    parser.add_argument(
        "--wd", "--weight-decay", default=1e-4, type=float, dest="weight_decay", help="weight decay"
    )
    parser.add_argument("--lr-gamma", default=0.1, type=float, help="decrease lr by a factor")
    parser.add_argument("--lr-steps", default=[16, 22], nargs="+", type=int, help="lr steps")
    parser.add_argument("--image-size", default=64, type=int, help="min and max image side")
    parser.add_argument("--output-dir", default=".", type=str, help="path to save outputs")
    parser.add_argument("--seed", default=0, type=int, help="random seed")
    parser.add_argument(
        "--config",
        default=None,
        type=str,
        help="JSON/YAML file of option values (keys: dests, e.g. lr)",
    )
    return parser


def apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Set options from ``args.config``; an unknown key stops with a usage error."""
    if not args.config:
        return
    text = Path(args.config).read_text()
    if args.config.endswith((".yaml", ".yml")):
        import yaml

        values = yaml.safe_load(text)
    else:
        values = json.loads(text)
    known = {a.dest for a in parser._actions} - {"help", "config"}
    for key, value in values.items():
        if key not in known:
            parser.error(f"--config: unknown option {key!r}")
        setattr(args, key, value)


class CocoDetection(torch.utils.data.Dataset):
    """Images and boxes of one COCO split, as torchvision's detection models take them."""

    def __init__(self, root: Path, split: str) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(str(root / "annotations" / f"instances_{split}.json"))
        self.root = root / "images"
        self.ids = sorted(self.coco.imgs)
        self.labels = {c: i + 1 for i, c in enumerate(sorted(self.coco.cats))}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        image = pil_to_tensor(Image.open(self.root / info["file_name"]).convert("RGB")) / 255.0
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id))
        boxes = [
            [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
            for a in anns
        ]
        target = {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(
                [self.labels[a["category_id"]] for a in anns], dtype=torch.int64
            ),
            "image_id": image_id,
        }
        return image, target


def collate_fn(batch: list) -> tuple:
    return tuple(zip(*batch, strict=True))


def train_one_epoch(model, optimizer, data_loader, device) -> float:  # type: ignore[no-untyped-def]
    model.train()
    total = 0.0
    for images, targets in data_loader:
        images = [image.to(device) for image in images]
        targets = [
            {k: v.to(device) if torch.is_tensor(v) else v for k, v in t.items()} for t in targets
        ]
        loss = sum(model(images, targets).values())
        if not math.isfinite(loss.item()):
            raise SystemExit(f"Loss is {loss.item()}, stopping training")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / max(1, len(data_loader))


@torch.inference_mode()
def evaluate(model, data_loader, device) -> dict[str, float]:  # type: ignore[no-untyped-def]
    model.eval()
    dataset = data_loader.dataset
    to_category = {i: c for c, i in dataset.labels.items()}
    results = []
    for images, targets in data_loader:
        outputs = model([image.to(device) for image in images])
        for target, output in zip(targets, outputs, strict=True):
            for box, score, label in zip(
                output["boxes"].tolist(),
                output["scores"].tolist(),
                output["labels"].tolist(),
                strict=True,
            ):
                x0, y0, x1, y1 = box
                results.append(
                    {
                        "image_id": target["image_id"],
                        "score": score,
                        "category_id": to_category[label],
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                    }
                )
    if not results:
        return {"mAP": 0.0, "mAP50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        detections = dataset.coco.loadRes(results)
        coco_eval = COCOeval(dataset.coco, detections, "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return {
        "mAP": max(0.0, float(coco_eval.stats[0])),
        "mAP50": max(0.0, float(coco_eval.stats[1])),
    }


def save_release(model, args, classes: list[str]) -> None:  # type: ignore[no-untyped-def]
    """weights.safetensors + the manifest ``hyperseal audit model`` reads (no recipe)."""
    from safetensors.torch import save

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state)
    (out / "weights.safetensors").write_bytes(data)
    arch, backbone = MODELS[args.model]
    manifest = {
        "format": "hyperseal-model/1",
        "model": {
            "arch": arch,
            "backbone": backbone,
            "image_size": args.image_size,
            "classes": classes,
        },
        "weights": "weights.safetensors",
        "weights_sha256": hashlib.sha256(data).hexdigest(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device)
    root = Path(args.data_path)
    train_set, val_set = CocoDetection(root, "train"), CocoDetection(root, "val")
    classes = [train_set.coco.cats[c]["name"] for c in sorted(train_set.coco.cats)]
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, collate_fn=collate_fn
    )
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=4, collate_fn=collate_fn)

    model = torchvision.models.detection.__dict__[args.model](
        weights=None,
        weights_backbone=None,
        num_classes=len(classes) + 1,
        min_size=args.image_size,
        max_size=args.image_size,
        box_score_thresh=0.05,
    )
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=args.lr_steps, gamma=args.lr_gamma
    )
    metrics_file = os.environ.get("HYPERSEAL_METRICS")
    for epoch in range(1, args.epochs + 1):
        loss = train_one_epoch(model, optimizer, train_loader, device)
        scheduler.step()
        metrics = evaluate(model, val_loader, device)
        print(f"epoch {epoch}: loss {loss:.4f}  mAP {metrics['mAP']:.4f}", flush=True)
        if metrics_file:
            with open(metrics_file, "a") as handle:
                handle.write(json.dumps({"epoch": epoch, **metrics}) + "\n")
    save_release(model, args, classes)


if __name__ == "__main__":
    parser = get_args_parser()
    arguments = parser.parse_args()
    apply_config(parser, arguments)
    main(arguments)
