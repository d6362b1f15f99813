"""shared.scenes: week 6's scenes of real digits, their boxes and masks."""

import pytest
import torch

from shared import scenes


@pytest.fixture(autouse=True)
def _tiny(tiny_env):
    """The repository's tiny MNIST: these tests need no data pack."""


def test_same_seed_same_scenes_and_another_seed_other_scenes():
    a, b, c = (scenes.make_scenes(6, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert all(torch.equal(x, y) for x, y in zip(a.boxes, b.boxes, strict=True))
    assert not torch.equal(a.images, c.images)


def test_every_scene_has_its_digits_boxed_and_masked_consistently():
    made = scenes.make_scenes(40, size=64, digits=(1, 4), clutter=3, seed=0)
    assert made.images.shape == (40, 1, 64, 64) and made.masks.shape == (40, 64, 64)
    assert 0 <= made.images.min() and made.images.max() <= 1
    counts = [len(b) for b in made.boxes]
    assert min(counts) >= 1 and max(counts) <= 4 and len(set(counts)) > 1
    for image, boxes, labels, mask in zip(made.images, made.boxes, made.labels, made.masks, strict=True):
        assert boxes.shape == (len(labels), 4) and labels.dtype == torch.int64
        assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
        assert boxes.min() >= 0 and boxes.max() <= 64
        inside = torch.zeros(64, 64, dtype=torch.bool)
        for box, label in zip(boxes.long(), labels, strict=True):
            x1, y1, x2, y2 = box.tolist()
            region = mask[y1:y2, x1:x2]
            inside[y1:y2, x1:x2] = True
            # A later digit may cover part of an earlier one, never all of it (they overlap by IoU <= 0.2).
            assert (region == 1 + label).any(), f"digit {int(label)} has no pixel of its own in its box"
        # Every digit pixel is inside a box, and a stroke pixel is bright.
        assert not (mask[~inside] != scenes.BACKGROUND).any()
        assert (image[0][mask != scenes.BACKGROUND] > scenes.STROKE).all()
        assert set(torch.unique(mask).tolist()) <= {0} | {1 + int(d) for d in labels}


def test_boxes_are_tight_when_a_digit_stands_alone():
    made = scenes.make_scenes(30, digits=(1, 1), clutter=0, seed=1)
    for boxes, mask in zip(made.boxes, made.masks, strict=True):
        rows, cols = torch.nonzero(mask != scenes.BACKGROUND, as_tuple=True)
        tight = torch.tensor([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], dtype=torch.float32)
        assert torch.equal(boxes, tight)


def test_clutter_is_in_the_image_but_in_no_mask_and_no_box():
    with_clutter = scenes.make_scenes(10, digits=(1, 1), clutter=4, seed=2)
    without = scenes.make_scenes(10, digits=(1, 1), clutter=0, seed=2)
    background = with_clutter.masks == scenes.BACKGROUND
    assert with_clutter.images[:, 0][background].sum() > without.images[:, 0][without.masks == 0].sum()


def test_digits_overlap_no_more_than_allowed():
    from torchvision.ops import box_iou

    made = scenes.make_scenes(30, digits=(4, 4), max_overlap=0.1, seed=5)
    for boxes in made.boxes:
        iou = box_iou(boxes, boxes) - torch.eye(len(boxes))
        assert iou.max() <= 0.1 + 1e-6


def test_the_splits_draw_on_disjoint_digits():
    pools = {split: scenes.digit_pool(split)[0].flatten(1) for split in scenes.SPLITS}
    # No image of one pool appears in another: the pools together hold as many distinct images as apart.
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        both = torch.cat([pools[first], pools[second]])
        apart = len(torch.unique(pools[first], dim=0)) + len(torch.unique(pools[second], dim=0))
        assert len(torch.unique(both, dim=0)) == apart, f"{first} and {second} share digits"
    assert 0 < len(pools["val"]) < len(pools["train"]) and len(pools["test"]) > 0


def test_target_is_in_torchvisions_detection_format_and_repr_says_what_the_scenes_are():
    made = scenes.make_scenes(3, split="test", seed=7)
    target = made.target(0)
    assert set(target) == {"boxes", "labels"} and target["boxes"].dtype == torch.float32
    assert repr(made).startswith("Scenes(3 scenes of 64x64 made of MNIST test digits, seed 7")


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "validation"}, "split must be one of train, val, test, got 'validation'"),
    ({"digits": (0, 2)}, "digits must be (fewest, most) with 1 <= fewest <= most"),
    ({"size": 24, "digit_size": (16, 32)}, "a digit must fit on the canvas"),
    ({"n": 0}, "n must be at least 1 scene"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    arguments = {"n": 2, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scenes.make_scenes(**arguments)
