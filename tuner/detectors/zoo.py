"""Build any detector of the zoo from a :class:`ModelSpec`.

``build_detector(spec)`` returns a torchvision detection model in train mode,
randomly initialised (never downloaded weights). Each model resizes its inputs
to ``spec.image_size`` and keeps detections down to a score of 0.05, as COCO
evaluation expects.
"""

from __future__ import annotations

from functools import partial

from torch import nn
from torchvision.models.detection import (
    FCOS,
    FasterRCNN,
    RetinaNet,
    fasterrcnn_mobilenet_v3_large_fpn,
    fasterrcnn_resnet50_fpn,
    fcos_resnet50_fpn,
    retinanet_resnet50_fpn,
    ssdlite320_mobilenet_v3_large,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator, DefaultBoxGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead
from torchvision.ops import MultiScaleRoIAlign

from tuner.detectors.spec import ModelSpec
from tuner.detectors.tiny import STRIDES, TinyBackbone
from tuner.errors import ModelError

#: Detections below this score are dropped at inference (COCO practice).
SCORE_THRESH = 0.05
#: Initial bias of the tiny FCOS's box regression (left, top, right, bottom distances in
#: anchor sizes, behind a ReLU): every side starts at one anchor size, the location's own
#: cell. With torchvision's zero bias a side whose random weights give it a negative
#: output everywhere never gets a gradient and the detector learns almost nothing
#: (docs/benchmarks.md, "Dead box sides at initialisation").
FCOS_REG_BIAS = 1.0


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_detector(spec: ModelSpec) -> nn.Module:
    """Build the detector ``spec`` describes, randomly initialised.

    Raises:
        ModelError: The spec has no classes or names an unsupported combination.
    """
    if not spec.classes:
        raise ModelError("the model needs at least one class; the dataset named none")
    builders = {"tiny": _build_tiny, "mobilenet_v3": _build_mobilenet, "resnet50": _build_resnet}
    model = builders[spec.backbone](spec)
    model.train()
    return model


def _sizes(strides: tuple[int, ...], scale: float = 1.0, octaves: int = 1) -> tuple:
    return tuple(
        tuple(round(s * scale * 2 ** (i / octaves)) for i in range(octaves)) for s in strides
    )


def _common(spec: ModelSpec) -> dict:
    return {"min_size": spec.image_size, "max_size": spec.image_size}


def _build_tiny(spec: ModelSpec) -> nn.Module:
    backbone = TinyBackbone()
    c, k = backbone.out_channels, spec.num_classes
    levels = len(STRIDES)
    # the one-stage heads keep the 300 best candidates per level
    one_stage = {"score_thresh": SCORE_THRESH, "topk_candidates": 300, **_common(spec)}
    if spec.arch == "fcos":
        # Half-stride sizes put objects up to 32 px on P3, 32-64 px on P4, larger on P5.
        anchors = AnchorGenerator(_sizes(STRIDES, 0.5), ((1.0,),) * levels)
        head = FCOSHead(c, 1, k, num_convs=2)
        nn.init.constant_(head.regression_head.bbox_reg.bias, FCOS_REG_BIAS)
        return FCOS(backbone, k, anchor_generator=anchors, head=head, **one_stage)
    if spec.arch == "retinanet":
        anchors = AnchorGenerator(_sizes(STRIDES, 1.0, 3), ((0.5, 1.0, 2.0),) * levels)
        head = RetinaNetHead(c, anchors.num_anchors_per_location()[0], k)
        return RetinaNet(backbone, k, anchor_generator=anchors, head=head, **one_stage)
    if spec.arch == "fasterrcnn":
        anchors = AnchorGenerator(_sizes(STRIDES, 1.0, 2), ((0.5, 1.0, 2.0),) * levels)
        pool = MultiScaleRoIAlign(["0", "1", "2"], output_size=7, sampling_ratio=2)
        return FasterRCNN(
            backbone,
            None,
            rpn_anchor_generator=anchors,
            box_roi_pool=pool,
            box_head=TwoMLPHead(c * 7 * 7, 128),
            box_predictor=FastRCNNPredictor(128, k),
            rpn_pre_nms_top_n_train=300,
            rpn_post_nms_top_n_train=150,
            rpn_pre_nms_top_n_test=200,
            rpn_post_nms_top_n_test=100,
            box_batch_size_per_image=128,
            box_score_thresh=SCORE_THRESH,
            **_common(spec),
        )
    # ssdlite
    anchors = DefaultBoxGenerator([[2, 3]] * levels, min_ratio=0.08, max_ratio=0.6)
    norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    head = SSDLiteHead([c] * levels, anchors.num_anchors_per_location(), k, norm)
    size = (spec.image_size, spec.image_size)
    return SSD(backbone, anchors, size, k, head=head, score_thresh=SCORE_THRESH)


def _build_mobilenet(spec: ModelSpec) -> nn.Module:
    k = spec.num_classes
    if spec.arch == "fasterrcnn":
        return fasterrcnn_mobilenet_v3_large_fpn(
            weights=None,
            weights_backbone=None,
            num_classes=k,
            box_score_thresh=SCORE_THRESH,
            **_common(spec),
        )
    if spec.arch == "ssdlite":
        model = ssdlite320_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=k, score_thresh=SCORE_THRESH
        )
        model.transform.min_size = (spec.image_size,)
        model.transform.max_size = spec.image_size
        model.transform.fixed_size = (spec.image_size, spec.image_size)
        model.size = (spec.image_size, spec.image_size)
        return model
    backbone = mobilenet_backbone(
        backbone_name="mobilenet_v3_large",
        weights=None,
        fpn=True,
        trainable_layers=6,
        norm_layer=nn.BatchNorm2d,
    )
    strides = (16, 32, 64)  # C4, C5 and the max-pooled extra level
    one_stage = {"score_thresh": SCORE_THRESH, **_common(spec)}
    if spec.arch == "fcos":
        anchors = AnchorGenerator(_sizes(strides), ((1.0,),) * 3)
        return FCOS(backbone, k, anchor_generator=anchors, **one_stage)
    anchors = AnchorGenerator(_sizes(strides, 2.0, 3), ((0.5, 1.0, 2.0),) * 3)
    head = RetinaNetHead(backbone.out_channels, anchors.num_anchors_per_location()[0], k)
    return RetinaNet(backbone, k, anchor_generator=anchors, head=head, **one_stage)


def _build_resnet(spec: ModelSpec) -> nn.Module:
    k = spec.num_classes
    common = {"weights": None, "weights_backbone": None, "num_classes": k, **_common(spec)}
    if spec.arch == "fcos":
        return fcos_resnet50_fpn(score_thresh=SCORE_THRESH, **common)
    if spec.arch == "retinanet":
        return retinanet_resnet50_fpn(score_thresh=SCORE_THRESH, **common)
    if spec.arch == "fasterrcnn":
        return fasterrcnn_resnet50_fpn(box_score_thresh=SCORE_THRESH, **common)
    raise ModelError("ssdlite runs on the tiny or mobilenet_v3 backbone, not resnet50")
