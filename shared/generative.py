"""The generative networks of week 5, for lesson 07 and bench/week5_generative.py to reuse.

Lessons 04 to 06 build these networks inline, step by step; lesson 07 and the benchmark import the same
architectures from here to judge them side by side. Images are MNIST-sized (N, 1, 28, 28): the VAE works
in [0, 1], the GANs in [-1, 1] (Tanh output). ``DigitFeatures`` is the small MNIST classifier whose
penultimate activations stand in for Inception's in the Fréchet distance (``shared.metrics``).
Lessons 04 to 06 hand their trained generators to lesson 07 with ``save_for_lesson_07``, in
``CHECKPOINTS`` next to the notebooks.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from shared.data import CHANNEL_STATS

# Next to week 5's notebooks: lessons 04 to 06 save their trained generators here, and lesson 07 judges them.
CHECKPOINTS = Path("checkpoints")


def save_for_lesson_07(network: nn.Module, weights: dict[str, torch.Tensor], file_name: str, what: str) -> Path:
    """Save ``weights`` as ``CHECKPOINTS / file_name`` for lesson 07, saying so; return the file's path.

    ``network`` is this module's class that lesson 07 builds: the weights are loaded into it first, so that
    weights lesson 07 could not load fail here, in the lesson that trained them.
    """
    network.load_state_dict(weights)
    CHECKPOINTS.mkdir(exist_ok=True)
    path = CHECKPOINTS / file_name
    replaced = path.exists()
    torch.save(weights, path)
    print(f"Saved {what}'s weights to {path} for lesson 07"
          + (", replacing the file an earlier run had left there." if replaced else "."))
    return path


class ConvVAE(nn.Module):
    """A convolutional VAE (Kingma & Welling 2014): 28x28 -> 7x7x64 -> (mu, logvar) and back to logits."""

    def __init__(self, latent_dim: int = 16):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean and log-variance of q(z | x), each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return pixel logits (N, 1, 28, 28); the sigmoid of them is the image."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (logits, mu, logvar) for a batch, with z drawn by the reparameterisation trick."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # noise outside the graph, so gradients reach mu
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return n new images (n, 1, 28, 28) in [0, 1], decoded from z ~ N(0, I)."""
        z = torch.randn(n, self.latent_dim, generator=generator)  # on the CPU, so a CPU generator works
        return torch.sigmoid(self.decode(z.to(next(self.parameters()).device)))


class MLPGenerator(nn.Module):
    """The fully connected GAN generator of lesson 05: z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim: int = 64, hidden: int = 256):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 28 * 28), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return images (N, 1, 28, 28) in [-1, 1]."""
        return self.net(z).view(-1, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """The fully connected GAN discriminator of lesson 05: images (N, 1, 28, 28) -> one logit each."""

    def __init__(self, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(28 * 28, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (N, 1): high means "real" (use BCEWithLogitsLoss)."""
        return self.net(x)


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2015); with num_classes > 0 it is conditional (Mirza & Osindero 2014)."""

    def __init__(self, latent_dim: int = 64, width: int = 64, num_classes: int = 0):
        super().__init__()
        self.latent_dim, self.width, self.num_classes = latent_dim, width, num_classes
        # Bias off before batch norm: its shift (beta) would cancel the bias anyway.
        self.project = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Return images (N, 1, 28, 28) in [-1, 1]; a conditional generator needs the labels (N,) too."""
        z = torch.cat([z, _one_hot(labels, self.num_classes, len(z))], dim=1) if self.num_classes else z
        return self.upsample(self.project(z).view(-1, 2 * self.width, 7, 7))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: images (N, 1, 28, 28) (+ labels if conditional) -> one logit each."""

    def __init__(self, width: int = 64, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        # No batch norm on the first layer, as the DCGAN paper advises: it would normalise the raw images.
        self.net = nn.Sequential(
            nn.Conv2d(1 + num_classes, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (N, 1); a conditional discriminator sees the label as constant one-hot planes."""
        if self.num_classes:
            planes = _one_hot(labels, self.num_classes, len(x)).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        return self.net(x)


def _one_hot(labels: torch.Tensor | None, num_classes: int, n: int) -> torch.Tensor:
    if labels is None or labels.shape != (n,):
        raise ValueError(f"This network is conditional ({num_classes} classes): pass labels of shape ({n},), "
                         f"got {None if labels is None else tuple(labels.shape)}.")
    return F.one_hot(labels.long(), num_classes).float()


def dcgan_init(module: nn.Module) -> nn.Module:
    """Re-initialise module and its submodules as the DCGAN paper does, in place; return the module."""
    for m in module.modules():  # also fine under model.apply(dcgan_init): it only draws again
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)  # gammas near 1: batch norm starts close to plain normalisation
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)) \
                and m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


class DigitFeatures(nn.Module):
    """A small MNIST classifier (LeNet-like, batch norm) whose 128 penultimate activations feed the FID."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the penultimate activations (N, 128) of images (N, 1, 28, 28) in [0, 1]."""
        (mean,), (std,) = CHANNEL_STATS["mnist"]  # normalised inside: inputs in [0, 1], like the VAE's
        return self.body((x - mean) / std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits (N, num_classes) for images in [0, 1]."""
        return self.head(self.features(x))
