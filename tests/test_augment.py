import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from shared.augment import BatchTransform, normalize, random_crop, random_hflip, to_float

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def _batch(n=6, c=3, h=8, w=8, seed=0):
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_crop_without_padding_at_full_size_is_the_identity():
    x = _batch()
    assert torch.equal(random_crop(x, 8), x)


def test_every_crop_is_a_window_of_the_padded_image():
    x = _batch(n=32)
    out = random_crop(x, 8, padding=2, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(x)):
        matches = [(t, left) for t in range(5) for left in range(5)
                   if torch.equal(out[i], padded[i, :, t:t + 8, left:left + 8])]
        assert matches, f"crop {i} is not a window of its padded image"
        offsets.add(matches[0])
    assert len(offsets) > 5  # each image gets its own offset


def test_crop_larger_than_image_is_rejected():
    with pytest.raises(ValueError, match="larger than the padded image"):
        random_crop(_batch(), 12, padding=1)


def test_flip_probability():
    x = _batch(n=400, h=2, w=3)
    assert torch.equal(random_hflip(x, p=1.0), x.flip(3))
    assert torch.equal(random_hflip(x, p=0.0), x)
    flipped = (random_hflip(x, 0.5, torch.Generator().manual_seed(0)) != x).flatten(1).any(1).float().mean()
    assert 0.4 < flipped < 0.6


def test_normalize_matches_torchvision():
    x = to_float(_batch())
    expected = torch.stack([transforms.Normalize(MEAN, STD)(img) for img in x])
    assert torch.allclose(normalize(x, MEAN, STD), expected, atol=1e-6)


def test_normalize_needs_one_value_per_channel():
    with pytest.raises(ValueError, match="one value per channel"):
        normalize(torch.zeros(2, 3, 4, 4), (0.5,), (0.5,))


def test_plain_transform_equals_torchvision_to_tensor_and_normalize():
    x = _batch()
    reference = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    expected = torch.stack([reference(Image.fromarray(img.permute(1, 2, 0).numpy())) for img in x])
    assert torch.allclose(BatchTransform(MEAN, STD)(x), expected, atol=1e-6)


def test_augmenting_transform_is_seeded_and_keeps_shape():
    x = _batch(n=16, h=32, w=32)
    make = lambda: BatchTransform(MEAN, STD, crop=32, padding=4, flip=True, seed=3)  # noqa: E731
    a, b = make()(x), make()(x)
    assert a.shape == (16, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.allclose(a, BatchTransform(MEAN, STD)(x))


def test_transform_rejects_single_images_and_half_statistics():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        BatchTransform()(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="both mean and std"):
        BatchTransform(mean=MEAN)


def test_to_float_scales_bytes():
    assert torch.allclose(to_float(torch.tensor([0, 255], dtype=torch.uint8)), torch.tensor([0.0, 1.0]))
    assert np.isclose(to_float(torch.tensor([2.0])).item(), 2.0)
