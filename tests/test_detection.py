"""shared.detection: week 6 lesson 03's detector, packaged for later lessons."""

import math

import pytest
import torch
from torch import nn

from shared import detection, scenes
from shared.detection import (
    GRID,
    STRIDE,
    PointDetector,
    all_targets,
    coco_map,
    detect,
    detection_loss,
    distances_to_boxes,
    loss_parts,
    point_detector_backbone,
    scene_targets,
    split_outputs,
)

C = scenes.NUM_CLASSES


@pytest.fixture(autouse=True)
def _tiny(tiny_env):
    """The repository's tiny MNIST: these tests need no data pack."""


class FixedMaps(nn.Module):
    """A stand-in for a trained detector: returns the same hand-made raw maps for every image."""

    def __init__(self, logits: torch.Tensor, distances: torch.Tensor):
        super().__init__()
        raw = torch.log(distances / STRIDE)  # split_outputs turns it back into these distances
        self.register_buffer("maps", torch.cat([logits, raw], dim=0))
        self.anchor = nn.Parameter(torch.zeros(()))  # predict() looks up the device of a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps.expand(len(x), -1, -1, -1).clone()


def test_output_shapes_and_the_backbones_names():
    model = PointDetector()
    outputs = model(torch.rand(2, 1, 64, 64))
    assert outputs.shape == (2, C + 4, GRID, GRID)
    logits, distances = split_outputs(outputs)
    assert logits.shape == (2, C, GRID, GRID) and distances.shape == (2, 4, GRID, GRID)
    assert (distances > 0).all()
    assert distances_to_boxes(distances).shape == (2, 4, GRID, GRID)
    # Any input size works at stride 4; the backbone alone gives `width` channels.
    assert point_detector_backbone(32)(torch.rand(3, 1, 28, 28)).shape == (3, 32, 7, 7)
    assert PointDetector(num_classes=3, width=24)(torch.rand(1, 1, 32, 32)).shape == (1, 3 + 4, 8, 8)
    # Lesson 03's names: its state dicts load here, and a backbone's names map with one prefix.
    names = list(model.state_dict())
    assert names[:6] == ["backbone.0.0.weight", "backbone.0.1.weight", "backbone.0.1.bias",
                         "backbone.0.1.running_mean", "backbone.0.1.running_var", "backbone.0.1.num_batches_tracked"]
    assert names[-4:] == ["heatmap.weight", "heatmap.bias", "box.weight", "box.bias"]
    assert [f"backbone.{n}" for n in point_detector_backbone().state_dict()] == names[:-4]
    assert sum(p.numel() for p in model.parameters()) == 81_950
    # The heatmap starts near the prior of 0.01.
    assert torch.allclose(model.heatmap.bias, torch.full((C,), -math.log(99)))


def test_scene_targets_on_a_hand_scene():
    boxes = torch.tensor([[8.0, 4.0, 24.0, 28.0],  # centre (16, 16): row 4, column 4
                          [40.0, 44.0, 64.0, 64.0],  # centre (52, 54): row 13, column 13
                          [50.0, 50.0, 56.0, 60.0],  # centre (53, 55), the same cell, smaller: it keeps the cell
                          [56.0, 0.0, 64.0, 8.0]])  # centre (60, 4): row 1, column 15
    labels = torch.tensor([7, 2, 5, 0])
    target = scene_targets(boxes, labels)
    assert target.shape == (C + 5, GRID, GRID)
    heat, box, is_object = target[:C], target[C:C + 4], target[C + 4]
    cells = [(4, 4), (13, 13), (1, 15)]
    assert is_object.sum() == 3 and all(is_object[i, j] == 1 for i, j in cells)
    assert heat.sum() == 3
    assert heat[7, 4, 4] == 1 and heat[5, 13, 13] == 1 and heat[2, 13, 13] == 0 and heat[0, 1, 15] == 1
    assert torch.equal(box[:, 4, 4], boxes[0]) and torch.equal(box[:, 13, 13], boxes[2])
    assert torch.equal(box[:, 1, 15], boxes[3])
    # The order of the boxes does not matter: the smaller box keeps a shared cell either way.
    order = torch.tensor([2, 0, 3, 1])
    assert torch.equal(scene_targets(boxes[order], labels[order]), target)
    # A centre on the canvas's far edge (64, 64) falls into the last cell; no box, no target.
    edge = scene_targets(torch.tensor([[60.0, 60.0, 68.0, 68.0]]), torch.tensor([3]), grid=8, stride=8)
    assert edge[3, 7, 7] == 1 and edge[C + 4, 7, 7] == 1 and edge.sum() == 2 + 4 * 64
    assert scene_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)).sum() == 0


def test_distances_to_boxes_give_back_the_target_boxes():
    made = scenes.make_scenes(12, "train", seed=3)
    targets = all_targets(made)
    assert targets.shape == (12, C + 5, GRID, GRID)
    assert int(targets[:, C + 4].sum()) <= sum(len(b) for b in made.boxes)
    boxes = targets[:, C:C + 4]
    is_object = targets[:, C + 4] > 0
    centre_x = (torch.arange(GRID) + 0.5) * STRIDE
    centre_y = centre_x.view(-1, 1)
    distances = torch.stack([centre_x - boxes[:, 0], centre_y - boxes[:, 1], boxes[:, 2] - centre_x,
                             boxes[:, 3] - centre_y], dim=1)
    assert (distances.permute(0, 2, 3, 1)[is_object] > 0).all(), "a box's centre cell lies inside the box"
    back = distances_to_boxes(distances)
    assert torch.allclose(back.permute(0, 2, 3, 1)[is_object], boxes.permute(0, 2, 3, 1)[is_object], atol=1e-5)
    # Through the network's raw outputs: z = log(d / stride) gives d back.
    raw = torch.cat([torch.zeros(12, C, GRID, GRID), torch.log(distances.clamp(min=1e-3) / STRIDE)], dim=1)
    _, again = split_outputs(raw)
    assert torch.allclose(distances_to_boxes(again).permute(0, 2, 3, 1)[is_object],
                          boxes.permute(0, 2, 3, 1)[is_object], atol=1e-4)
    # The clamp guards against overflow only.
    _, huge = split_outputs(torch.full((1, C + 4, 2, 2), 100.0))
    assert torch.isfinite(huge).all() and torch.allclose(huge, torch.full_like(huge, STRIDE * math.exp(6)))


def test_detect_decodes_hand_made_maps():
    logits, distances = torch.full((C, GRID, GRID), -10.0), torch.ones(4, GRID, GRID)
    logits[3, 5, 7] = 2.0  # a 3 at row 5, column 7: centre (30, 22)
    distances[:, 5, 7] = torch.tensor([3.0, 4.0, 5.0, 6.0])
    logits[1, 8, 8], logits[1, 8, 9] = 4.0, 1.0  # a 1 seen by two neighbouring cells, with the same box
    distances[:, 8, 8] = 8.0
    distances[:, 8, 9] = torch.tensor([12.0, 8.0, 4.0, 8.0])
    logits[9, 8, 8] = 3.0  # and a 9 at the same cell: NMS is per class, so it stays
    found = detect(FixedMaps(logits, distances), torch.zeros(2, 1, 64, 64), score_threshold=0.3)
    assert len(found) == 2
    for image in found:
        assert image["labels"].tolist() == [1, 9, 3] and image["labels"].dtype == torch.int64
        assert torch.allclose(image["boxes"], torch.tensor([[26.0, 26, 42, 42], [26, 26, 42, 42], [27, 18, 35, 28]]),
                              atol=1e-4)
        assert torch.allclose(image["scores"], torch.tensor([4.0, 3.0, 2.0]).sigmoid())
    # max_detections keeps the best; a high threshold keeps nothing, with the right shapes and dtypes.
    assert detect(FixedMaps(logits, distances), torch.zeros(1, 1, 64, 64), 0.3, max_detections=1)[0][
        "labels"].tolist() == [1]
    empty = detect(FixedMaps(logits, distances), torch.zeros(1, 1, 64, 64), score_threshold=0.99)[0]
    assert empty["boxes"].shape == (0, 4) and empty["scores"].shape == (0,) and empty["labels"].shape == (0,)
    assert empty["labels"].dtype == torch.int64
    # The default threshold (0.05, for mAP) keeps more: the weak duplicate is still suppressed by NMS.
    assert detect(FixedMaps(logits, distances), torch.zeros(1, 1, 64, 64))[0]["labels"].tolist() == [1, 9, 3]


def test_the_loss_is_finite_and_falls_in_a_few_steps():
    made = scenes.make_scenes(8, "train", seed=0)
    x, y = made.images, all_targets(made)
    torch.manual_seed(0)
    model = PointDetector(width=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = detection_loss(model(x), y)
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    heat, box = loss_parts(model(x), y)
    assert heat.shape == () and box.shape == () and 0 <= box <= 2
    # Without any object, the box part is 0 and the loss still has a gradient path (a zero one).
    empty = torch.zeros(2, C + 5, GRID, GRID)
    outputs = model(x[:2])
    value = detection_loss(outputs, empty)
    value.backward()
    assert torch.isfinite(value)


def test_the_loss_is_the_focal_part_per_object_plus_twice_the_mean_giou():
    made = scenes.make_scenes(3, "train", seed=1)
    targets = all_targets(made)
    outputs = torch.randn(3, C + 4, GRID, GRID, generator=torch.Generator().manual_seed(0))
    logits, distances = split_outputs(outputs)
    # The focal loss from its formula, alpha 0.25, gamma 2.
    t = targets[:, :C]
    p = logits.sigmoid()
    p_t = p * t + (1 - p) * (1 - t)
    alpha_t = 0.25 * t + 0.75 * (1 - t)
    ce = nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="none")
    objects = targets[:, C + 4] > 0
    heat = (alpha_t * (1 - p_t) ** 2 * ce).sum() / objects.sum()
    predicted = distances_to_boxes(distances).permute(0, 2, 3, 1)[objects]
    wanted = targets[:, C:C + 4].permute(0, 2, 3, 1)[objects]
    from torchvision.ops import generalized_box_iou

    giou = torch.stack([generalized_box_iou(a[None], b[None])[0, 0] for a, b in zip(predicted, wanted, strict=True)])
    assert torch.allclose(detection_loss(outputs, targets), heat + 2 * (1 - giou).mean(), atol=1e-5)


def test_coco_map_of_the_truth_is_one_and_of_nothing_is_zero():
    made = scenes.make_scenes(6, "val", seed=1)
    truth = [{"boxes": b, "scores": torch.ones(len(b)), "labels": lab}
             for b, lab in zip(made.boxes, made.labels, strict=True)]
    assert float(coco_map(truth, made)["map_50"]) == pytest.approx(1.0)
    shifted = [{**d, "boxes": d["boxes"] + 40} for d in truth]
    assert float(coco_map(shifted, made, iou_thresholds=[0.5])["map"]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="one per scene"):
        coco_map(truth[:-1], made)


def test_lesson_03s_conventions():
    assert (detection.STRIDE, detection.SIZE, detection.GRID) == (4, 64, 16)
    assert (detection.FOCAL_ALPHA, detection.FOCAL_GAMMA, detection.BOX_WEIGHT) == (0.25, 2.0, 2.0)
    assert (detection.SCORE_THRESHOLD, detection.IOU_THRESHOLD, detection.MAX_DETECTIONS) == (0.05, 0.5, 100)
