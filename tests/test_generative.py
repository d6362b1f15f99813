import math

import pytest
import torch
from torch import nn

from shared.generative import (
    ConvVAE,
    DCGANDiscriminator,
    DCGANGenerator,
    DigitFeatures,
    MLPDiscriminator,
    MLPGenerator,
    dcgan_init,
)
from shared.metrics import class_coverage, frechet_distance, psnr


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_conv_vae_shapes_and_sample_range():
    vae = ConvVAE(latent_dim=8)
    x = torch.rand(5, 1, 28, 28)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 8)
    assert vae.decode(mu).shape == (5, 1, 28, 28)
    logits, mu2, logvar2 = vae(x)
    assert logits.shape == (5, 1, 28, 28) and torch.equal(mu, mu2) and torch.equal(logvar, logvar2)
    images = vae.sample(7)
    assert images.shape == (7, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert not images.requires_grad
    first = vae.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, vae.sample(3, generator=torch.Generator().manual_seed(1)))


def test_conv_vae_forward_draws_around_the_mean():
    vae = ConvVAE(latent_dim=4)
    x = torch.rand(2, 1, 28, 28)
    mu, _ = vae.encode(x)
    # Two forward passes draw different z, so the logits differ; decoding mu is the deterministic path.
    assert not torch.equal(vae(x)[0], vae(x)[0])
    assert torch.equal(vae.decode(mu), vae.decode(mu))


def test_mlp_gan_shapes_and_ranges():
    generator, discriminator = MLPGenerator(latent_dim=10, hidden=32), MLPDiscriminator(hidden=32)
    images = generator(torch.randn(6, 10) * 10)
    assert images.shape == (6, 1, 28, 28) and images.abs().max() <= 1
    assert discriminator(images).shape == (6, 1)
    assert generator.latent_dim == 10


def test_dcgan_plain_shapes_and_ranges():
    generator, discriminator = DCGANGenerator(latent_dim=12, width=8), DCGANDiscriminator(width=8)
    images = generator(torch.randn(4, 12))
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    assert discriminator(images).shape == (4, 1)


def test_dcgan_conditional_uses_the_labels():
    generator = DCGANGenerator(latent_dim=12, width=8, num_classes=10).eval()
    discriminator = DCGANDiscriminator(width=8, num_classes=10).eval()
    z = torch.randn(3, 12)
    images = generator(z, torch.tensor([0, 1, 2]))
    assert images.shape == (3, 1, 28, 28)
    assert not torch.allclose(images, generator(z, torch.tensor([5, 5, 5])))
    logits = discriminator(images, torch.tensor([0, 1, 2]))
    assert logits.shape == (3, 1)
    assert not torch.allclose(logits, discriminator(images, torch.tensor([9, 9, 9])))
    assert discriminator.net[0].in_channels == 11
    with pytest.raises(ValueError, match="conditional"):
        generator(z)
    with pytest.raises(ValueError, match="conditional"):
        discriminator(images, torch.tensor([0, 1]))


def test_dcgan_init_statistics():
    generator = dcgan_init(DCGANGenerator(latent_dim=64, width=64))
    weights = torch.cat([m.weight.flatten() for m in generator.modules()
                         if isinstance(m, (nn.Linear, nn.ConvTranspose2d))])
    assert abs(weights.mean().item()) < 1e-3 and weights.std().item() == pytest.approx(0.02, rel=0.02)
    gammas = torch.cat([m.weight for m in generator.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)])
    assert gammas.mean().item() == pytest.approx(1.0, abs=2e-3) and gammas.std().item() == pytest.approx(0.02, rel=0.1)
    biases = [m.bias for m in generator.modules() if getattr(m, "bias", None) is not None]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)
    discriminator = DCGANDiscriminator(width=64)
    assert discriminator.apply(dcgan_init) is discriminator
    assert discriminator.net[0].weight.std().item() == pytest.approx(0.02, rel=0.15)


def test_digit_features_shapes():
    model = DigitFeatures()
    x = torch.rand(4, 1, 28, 28)
    assert model.features(x).shape == (4, 128)
    assert model(x).shape == (4, 10)
    assert torch.allclose(model(x), model.head(model.features(x)))


def test_psnr_matches_the_formula_per_image():
    target = torch.rand(3, 1, 4, 4)
    noise = torch.randn(3, 1, 4, 4) * torch.tensor([0.01, 0.1, 0.3]).view(3, 1, 1, 1)
    prediction = target + noise
    expected = sum(10 * math.log10(1 / noise[i].pow(2).mean().item()) for i in range(3)) / 3
    assert psnr(prediction, target) == pytest.approx(expected, rel=1e-6)
    assert psnr(prediction * 255, target * 255, max_value=255.0) == pytest.approx(expected, rel=1e-6)
    assert psnr(torch.full((1, 2), 0.5), torch.zeros(1, 2)) == pytest.approx(10 * math.log10(4))


def test_psnr_of_identical_images_is_infinite_and_bad_shapes_fail():
    x = torch.rand(2, 1, 5, 5)
    assert psnr(x, x.clone()) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, x[:1])


def test_frechet_distance_is_zero_for_identical_sets_and_symmetric():
    a, b = torch.randn(500, 6), torch.randn(400, 6) * 1.5 + 0.3
    assert frechet_distance(a, a.clone()) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, b) > 0.5


def test_frechet_distance_of_one_dimensional_gaussians():
    a, b = torch.randn(1000, 1) * 2 + 1, torch.randn(800, 1) * 0.5 - 3
    m1, m2 = a.double().mean().item(), b.double().mean().item()
    s1, s2 = a.double().std().item(), b.double().std().item()  # unbiased, as torch.cov
    assert frechet_distance(a, b) == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-9)


def test_frechet_distance_of_diagonal_covariances():
    # Exactly diagonal sample covariances: +-1 patterns on orthogonal axes, scaled per axis.
    signs = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    a = signs * torch.tensor([1.0, 2.0, 3.0]) + torch.tensor([0.0, 1.0, 0.0])
    b = signs * torch.tensor([2.0, 2.0, 0.5]) + torch.tensor([1.0, 0.0, 2.0])
    var_a, var_b = a.double().var(dim=0), b.double().var(dim=0)
    assert torch.count_nonzero(torch.cov(a.T.double()) - torch.diag(var_a)) == 0
    expected = (a.mean(0) - b.mean(0)).pow(2).sum().item() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum().item()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(torch.randn(10), torch.randn(10))
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(torch.randn(1, 3), torch.randn(10, 3))


def test_class_coverage_counts_fractions():
    coverage = class_coverage(torch.tensor([0, 0, 1, 3]), num_classes=4)
    assert coverage.tolist() == [0.5, 0.25, 0.0, 0.25]
    with pytest.raises(ValueError, match="0..3"):
        class_coverage(torch.tensor([4]), num_classes=4)
    with pytest.raises(ValueError, match="non-empty"):
        class_coverage(torch.tensor([], dtype=torch.long))


def test_save_for_lesson_07_refuses_weights_lesson_07_could_not_load_and_says_when_it_replaces(tmp_path,
                                                                                             monkeypatch, capsys):
    import pytest

    from shared import generative

    monkeypatch.chdir(tmp_path)  # CHECKPOINTS is relative: next to the notebook that runs
    weights = generative.MLPGenerator(latent_dim=8).state_dict()
    path = generative.save_for_lesson_07(generative.MLPGenerator(latent_dim=8), weights, "g.pt", "the generator")
    assert path.resolve() == tmp_path / "checkpoints" / "g.pt" and path.exists()
    assert capsys.readouterr().out.strip() == "Saved the generator's weights to checkpoints/g.pt for lesson 07."
    generative.save_for_lesson_07(generative.MLPGenerator(latent_dim=8), weights, "g.pt", "the generator")
    assert "replacing the file an earlier run had left there" in capsys.readouterr().out
    with pytest.raises(RuntimeError):  # another latent size: lesson 07 could not load it, so it is not saved
        generative.save_for_lesson_07(generative.MLPGenerator(latent_dim=4), weights, "other.pt", "the generator")
    assert not (tmp_path / "checkpoints" / "other.pt").exists()
