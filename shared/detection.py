"""Lesson 03's one-stage detector (week 6), packaged for the lessons that come after it.

Week 6 lesson 03 builds this detector inline, step by step, and has its mentee write the focal loss, the GIoU
loss, the decoding and average precision by hand. Later lessons need the same detector without redoing that
work, so its plain code lives here with lesson 03's conventions unchanged: a stride-4 backbone of six 3x3
convolutions, per cell 10 heatmap logits and 4 raw box distances (``d = STRIDE * exp(min(z, 6))`` pixels from
the cell's centre), dense targets with the smallest box keeping a shared cell, the focal loss per object plus
twice the mean GIoU loss, and decoding with a score threshold and class-aware NMS. The losses and NMS are
torchvision's (``sigmoid_focal_loss``, ``generalized_box_iou_loss``, ``batched_nms``), never a copy of the
exercises' answers; the mAP is torchmetrics' ``MeanAveragePrecision`` on the ``faster_coco_eval`` backend.

Lesson 03's recipe with this module: ``all_targets`` for the scenes, ``BatchLoader(images, targets, 32)``,
``fit(PointDetector(), loader, detection_loss, AdamW(lr=3e-3, weight_decay=1e-4), ...)`` with a one-cycle
schedule stepped per batch, then ``coco_map(detect(model, scenes.images), scenes)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import batched_nms, generalized_box_iou_loss, sigmoid_focal_loss

from shared.scenes import NUM_CLASSES, Scenes
from shared.train import predict

STRIDE = 4  # pixels per cell: the network's total stride
SIZE = 64  # the scenes' side in pixels
GRID = SIZE // STRIDE  # cells per side of the output map
MAX_LOG_DISTANCE = 6  # raw distances are clamped here before exp: it only guards against overflow
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0  # RetinaNet's values
BOX_WEIGHT = 2.0  # the GIoU part's weight in the loss
SCORE_THRESHOLD = 0.05  # decoding for mAP keeps candidates down to this score (AP needs the whole ranking)
IOU_THRESHOLD = 0.5  # class-aware NMS
MAX_DETECTIONS = 100  # per image, after NMS


def conv_block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Return a 3x3 convolution (no bias), batch normalisation and ReLU; padding keeps the size at stride 1."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


def point_detector_backbone(width: int = 48) -> nn.Sequential:
    """Return lesson 03's backbone: six conv blocks, total stride 4 (64x64 -> 16x16), ``width`` channels out."""
    return nn.Sequential(
        conv_block(1, 16, stride=2), conv_block(16, 32),  # 64x64 -> 32x32
        conv_block(32, width, stride=2), conv_block(width, width),  # -> 16x16
        conv_block(width, width, dilation=2), conv_block(width, width, dilation=4))


class PointDetector(nn.Module):
    """A one-stage, anchor-free detector: per cell of a stride-4 map, class logits and 4 raw box distances."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 48, prior: float = 0.01):
        super().__init__()
        self.backbone = point_detector_backbone(width)
        self.heatmap = nn.Conv2d(width, num_classes, 1)
        self.box = nn.Conv2d(width, 4, 1)
        nn.init.constant_(self.heatmap.bias, -math.log((1 - prior) / prior))  # every score starts near `prior`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return (N, num_classes + 4, H / 4, W / 4): heatmap logits, then raw box distances."""
        features = self.backbone(x)
        return torch.cat([self.heatmap(features), self.box(features)], dim=1)


def split_outputs(outputs: torch.Tensor, stride: int = STRIDE) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (heatmap logits (N, C, G, G), box distances l, t, r, b in pixels (N, 4, G, G))."""
    logits, raw = outputs[:, :-4], outputs[:, -4:]
    return logits, stride * torch.exp(raw.clamp(max=MAX_LOG_DISTANCE))


def distances_to_boxes(distances: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Return the xyxy boxes (N, 4, G, G) that distances (N, 4, G, G) from each cell's centre describe."""
    grid_y, grid_x = distances.shape[-2:]
    steps = {"dtype": distances.dtype, "device": distances.device}
    centre_y = (torch.arange(grid_y, **steps) + 0.5).view(-1, 1) * stride
    centre_x = (torch.arange(grid_x, **steps) + 0.5).view(1, -1) * stride
    left, top, right, bottom = distances.unbind(dim=1)
    return torch.stack([centre_x - left, centre_y - top, centre_x + right, centre_y + bottom], dim=1)


def scene_targets(boxes: torch.Tensor, labels: torch.Tensor, grid: int = GRID, stride: int = STRIDE,
                  num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Return one scene's dense target (num_classes + 5, grid, grid): heatmap, box xyxy, object mask.

    A box belongs to the cell that holds its centre; when two centres share a cell, the smaller box keeps it.
    """
    target = torch.zeros(num_classes + 5, grid, grid)
    held_area = torch.full((grid, grid), math.inf)  # the area of the box each cell holds so far
    for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist(), strict=True):
        i = min(int((y1 + y2) / 2 // stride), grid - 1)
        j = min(int((x1 + x2) / 2 // stride), grid - 1)
        area = (x2 - x1) * (y2 - y1)
        if area >= held_area[i, j]:
            continue  # a smaller box already holds this cell
        held_area[i, j] = area
        target[:num_classes, i, j] = 0
        target[label, i, j] = 1
        target[num_classes:num_classes + 4, i, j] = torch.tensor([x1, y1, x2, y2])
        target[num_classes + 4, i, j] = 1
    return target


def all_targets(scenes: Scenes, stride: int = STRIDE, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Return the dense targets of every scene, stacked: (N, num_classes + 5, size / stride, size / stride)."""
    grid = scenes.images.shape[-1] // stride
    return torch.stack([scene_targets(b, lab, grid, stride, num_classes)
                        for b, lab in zip(scenes.boxes, scenes.labels, strict=True)])


def loss_parts(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (focal loss summed over cells and classes per object, mean GIoU loss at the object cells)."""
    num_classes = targets.shape[1] - 5
    logits, distances = split_outputs(outputs)
    is_object = targets[:, num_classes + 4] > 0  # (N, G, G)
    n_objects = is_object.sum().clamp(min=1)
    heat = sigmoid_focal_loss(logits, targets[:, :num_classes], FOCAL_ALPHA, FOCAL_GAMMA, reduction="sum")
    predicted = distances_to_boxes(distances).permute(0, 2, 3, 1)[is_object]  # (K, 4)
    wanted = targets[:, num_classes:num_classes + 4].permute(0, 2, 3, 1)[is_object]
    return heat / n_objects, generalized_box_iou_loss(predicted, wanted, reduction="mean")


def detection_loss(outputs: torch.Tensor, targets: torch.Tensor, box_weight: float = BOX_WEIGHT) -> torch.Tensor:
    """Return lesson 03's training loss: the focal part plus ``box_weight`` times the GIoU part."""
    heat, box = loss_parts(outputs, targets)
    return heat + box_weight * box


def decode(heatmap_logits: torch.Tensor, box_distances: torch.Tensor, stride: int = STRIDE,
           score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD,
           max_detections: int = MAX_DETECTIONS) -> list[dict[str, torch.Tensor]]:
    """Return, per image, {"boxes" (k, 4) xyxy, "scores" (k,), "labels" (k,) int64}, best score first.

    Candidates are the (class, cell) pairs scored strictly above ``score_threshold``; torchvision's
    ``batched_nms`` removes same-class boxes that overlap a better one by more than ``iou_threshold``.
    """
    scores = heatmap_logits.sigmoid()
    boxes = distances_to_boxes(box_distances, stride)
    detections = []
    for image_scores, image_boxes in zip(scores, boxes, strict=True):
        candidates = image_scores > score_threshold
        labels, rows, cols = candidates.nonzero(as_tuple=True)
        kept_scores = image_scores[candidates]  # the same row-major order as nonzero's
        kept_boxes = image_boxes.permute(1, 2, 0)[rows, cols]
        keep = batched_nms(kept_boxes, kept_scores, labels, iou_threshold)[:max_detections]
        detections.append({"boxes": kept_boxes[keep], "scores": kept_scores[keep], "labels": labels[keep]})
    return detections


def detect(model: nn.Module, images: torch.Tensor, score_threshold: float = SCORE_THRESHOLD,
           iou_threshold: float = IOU_THRESHOLD, max_detections: int = MAX_DETECTIONS,
           batch_size: int = 256) -> list[dict[str, torch.Tensor]]:
    """Return ``model``'s decoded detections for ``images`` (N, 1, H, W), one dict per image (see ``decode``)."""
    logits, distances = split_outputs(predict(model, images, batch_size=batch_size))
    return decode(logits, distances, STRIDE, score_threshold, iou_threshold, max_detections)


def coco_map(detections: Sequence[dict[str, torch.Tensor]], scenes: Scenes, **options) -> dict[str, torch.Tensor]:
    """Return torchmetrics' COCO mAP of ``detections`` against ``scenes``' boxes (``options`` go to the metric)."""
    if len(detections) != len(scenes):
        raise ValueError(f"{len(detections)} lists of detections for {len(scenes)} scenes: give one per scene.")
    from torchmetrics.detection import MeanAveragePrecision  # imported here: it takes seconds to load

    metric = MeanAveragePrecision(backend="faster_coco_eval", iou_type="bbox", **options)
    metric.update(list(detections), [scenes.target(k) for k in range(len(scenes))])
    return metric.compute()
