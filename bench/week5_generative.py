"""Week 5 on full MNIST: how well the autoencoders reconstruct, and how good the generated digits are.

Every figure is measured on the TEST split of the file; the models train on the training split only.

- Reconstruction (lessons 01, 02, 04): mean squared error and PSNR of test images passed through a fully
  connected and a convolutional autoencoder with a 32-number code, on MNIST and Fashion-MNIST, and
  through the ``ConvVAE`` (decoded from the mean code, no sampling).
- Denoising (lesson 03): PSNR of test images with Gaussian noise (sigma 0.5, clipped to [0, 1]) before
  and after a convolutional autoencoder trained on noisy/clean pairs.
- Generation (lessons 05 to 07): ``DigitFeatures``, a small MNIST classifier, is trained first; its
  penultimate activations give a Fréchet distance (the FID of Heusel et al. 2017 with that network in
  place of Inception) between generated digits and the test set, and its predictions give the class
  coverage (fraction of samples per predicted digit: a collapsed generator piles into few classes; the
  goal is every class between 5% and 15%). The coverage is a committee's (``--judges``, default 5: the
  same classifier trained with the seeds ``--judge-seed`` + 0, 1000, 2000, ..., the same committee
  whatever the run's ``--seed``, as FID keeps one Inception network; probabilities averaged), because one
  judge's histogram of generated digits moves by several points with the judge alone; each judge's own
  range and the share of samples the committee is unsure of are printed with it. Judged: the DCGAN trained
  for ``--gan-minutes`` of wall time (its generator is DCGAN's; its discriminator, by default, swaps batch
  norm for spectral normalisation, Miyato et al. 2018, which lowered the Fréchet distance and brought
  9 of the 10 digits within 5-15% where the paper's batch-norm discriminator left 4 outside;
  ``--gan-discriminator batchnorm`` measures that one; and it trains with the hinge loss of Lim & Ye 2017,
  which drew the over-drawn 7s a little closer to 15% in three runs; ``--gan-loss bce`` gives the paper's
  non-saturating loss; ``--gan-pack 4`` makes the discriminator judge packs of 4 images, all real or all
  generated (PacGAN, Lin et al. 2018: a pack can show a digit drawn too often, one image cannot), which
  narrowed the range in one exploratory run but not in the benchmark's runs on two seeds, so the default
  judges one image at a time), the fully connected GAN for ``--mlp-gan-minutes``, the VAE's samples, and, as
  the floor (what real digits score), the test set against as many training images as there are samples.

The generative networks come from ``shared.generative`` (the ones lesson 07 judges). The two plain
autoencoders are this benchmark's own, of the lessons' kind (encoder and decoder mirrored, sigmoid
output); a lesson's own figures come from running it with ``bench/full_notebooks.py``. All training
goes through ``shared.train.fit``: the VAE and the GANs pass their own ``train_step``. Adam throughout,
batches of 128; epochs: DigitFeatures 3, MLP autoencoders 15, conv autoencoders and the denoiser 5, the
VAE 10 (one each in the tiny smoke run). Each generator draws 10,000 samples (500 in tiny mode).

    python -m bench.week5_generative --data-dir ../shared/data
    python -m bench.week5_generative --data-dir ../shared/data --tiny --gan-minutes 0.05   # a smoke run
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from bench.common import add_data_dir, apply_data_dir, header
from shared import config, data
from shared.generative import (
    ConvVAE,
    DCGANDiscriminator,
    DCGANGenerator,
    DigitFeatures,
    MLPDiscriminator,
    MLPGenerator,
    dcgan_init,
)
from shared.metrics import accuracy, class_coverage, frechet_distance, psnr
from shared.train import fit, predict

CODE_SIZE = 32
SIGMA = 0.5
BATCH = 128
COLUMNS = (f"{'model':<38} {'data':<8} {'train s':>8} {'test MSE':>9} {'PSNR dB':>8} {'FD':>8} {'min cls':>8} "
           f"{'max cls':>8} {'5-15%':>5}  note")


def epochs(full: int) -> int:
    """Return the number of epochs: as given in full mode, one in the tiny smoke run."""
    return config.by_mode(full=full, tiny=1)


def images(x: torch.Tensor) -> torch.Tensor:
    """Return uint8 images as floats in [0, 1]."""
    return x.float() / 255


def row(model: str, dataset: str, seconds: float | None = None, mse: float | None = None,
        psnr_db: float | None = None, fd: float | None = None, coverage: torch.Tensor | None = None,
        note: str = "") -> None:
    """Print one line of the results table; a dash where a figure does not apply."""
    def cell(value, width, form, unit=""):
        return f"{'-':>{width + len(unit)}}" if value is None else f"{value:>{width}{form}}{unit}"
    low = high = ok = None
    if coverage is not None:
        low, high = 100 * coverage.min().item(), 100 * coverage.max().item()
        ok = "yes" if low >= 5 and high <= 15 else "no"
    print(f"{model:<38} {dataset:<8} {cell(seconds, 8, '.1f')} {cell(mse, 9, '.5f')} {cell(psnr_db, 8, '.2f')} "
          f"{cell(fd, 8, '.3f')} {cell(low, 7, '.1f', '%')} {cell(high, 7, '.1f', '%')} {cell(ok, 5, '')}  {note}",
          flush=True)


# ---------------------------------------------------------------------------------------------
# Autoencoders (the benchmark's own, sigmoid outputs in [0, 1])


def mlp_autoencoder(code: int) -> nn.Module:
    """Return a fully connected autoencoder 784-256-code-256-784."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, code), nn.ReLU(),
                         nn.Linear(code, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid(),
                         nn.Unflatten(1, (1, 28, 28)))


def conv_autoencoder(code: int) -> nn.Module:
    """Return a conv autoencoder with the ConvVAE's layers: 28x28 -> 7x7x64 -> code and back."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 7 * 7, code), nn.ReLU(), nn.Linear(code, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Sigmoid())


def add_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return x plus Gaussian noise of std sigma, clipped to [0, 1] as a stored image would be."""
    return (x + sigma * torch.randn(x.shape, generator=generator)).clamp(0, 1)


class NoisyPairs:
    """Batches of (noisy, clean) with fresh noise every epoch, so the denoiser never sees the same noise twice."""

    def __init__(self, loader: data.BatchLoader, sigma: float):
        self.loader, self.sigma = loader, sigma

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for x, _ in self.loader:
            yield add_noise(x, self.sigma), x


def train_autoencoder(model: nn.Module, x_train: torch.Tensor, n_epochs: int, seed: int,
                      sigma: float = 0.0) -> float:
    """Train on (x, x) pairs (or (noisy, clean) with sigma > 0) with Adam; return the seconds it took.

    x_train holds floats in [0, 1]: BatchLoader scales only its inputs, so uint8 targets would stay 0..255.
    """
    loader = data.BatchLoader(x_train, x_train, BATCH, shuffle=True, seed=seed)
    pairs = NoisyPairs(loader, sigma) if sigma else loader
    history = fit(model, pairs, nn.MSELoss(), torch.optim.Adam(model.parameters(), 1e-3), n_epochs, progress=False)
    return sum(history["seconds"])


def reconstruction_row(name: str, dataset: str, seconds: float, output: torch.Tensor, target: torch.Tensor,
                       note: str = "") -> None:
    """Print the MSE and PSNR of reconstructions of the test images."""
    row(name, dataset, seconds, F.mse_loss(output, target).item(), psnr(output, target), note=note)


# ---------------------------------------------------------------------------------------------
# The VAE and the GANs, each with its own train_step for fit


def vae_step(vae: ConvVAE, optimizer: torch.optim.Optimizer) -> Callable:
    """Return a train_step: binary cross-entropy summed per image plus the KL term, averaged over the batch."""
    def step(x, _):
        logits, mu, logvar = vae(x)
        reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
        optimizer.zero_grad()
        (reconstruction + kl).backward()
        optimizer.step()
        return {"loss": reconstruction.item() + kl.item(), "kl": kl.item()}
    return step


def gan_step(generator: nn.Module, discriminator: nn.Module, latent_dim: int, counter: list[int],
             loss: str = "bce") -> Callable:
    """Return a train_step: one discriminator update, then one generator update, with the loss asked for."""
    # Adam with lr 2e-4 and beta1 0.5, as in the DCGAN paper: a high momentum makes the two players oscillate.
    opt_g = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()

    def step(x, _):
        real = x * 2 - 1  # the generators end in tanh: [-1, 1]
        fake = generator(torch.randn(len(x), latent_dim, device=x.device))
        opt_d.zero_grad()
        # detach: the discriminator's loss must not push gradients into the generator
        d_real, d_fake = discriminator(real), discriminator(fake.detach())
        if loss == "hinge":
            # Lim & Ye 2017, as Miyato et al. use it with spectral norm: D only learns from images it
            # judges with a margin under 1, so it stops pushing on digits it already tells apart.
            d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        else:
            d_loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        d_fake = discriminator(fake)  # this time not detached: the generator learns through D's verdict
        if loss == "hinge":
            g_loss = -d_fake.mean()
        else:
            g_loss = bce(d_fake, torch.ones_like(d_fake))  # "fool D": log D(G(z)) up, stronger gradients early on
        g_loss.backward()
        opt_g.step()
        counter[0] += len(x)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
    return step


class UntilDeadline:
    """The loader's batches until a wall-clock deadline (always at least one), so fit trains for a time budget."""

    def __init__(self, loader: Iterable, deadline: float):
        self.loader, self.deadline = loader, deadline

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i and time.perf_counter() >= self.deadline:
                return
            yield batch


class Pack(nn.Module):
    """Stack each run of `pack` consecutive images as the channels of one input:
    (N, 1, H, W) -> (N/pack, pack, H, W)."""

    def __init__(self, pack: int):
        super().__init__()
        self.pack = pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) % self.pack:
            raise ValueError(f"a packed discriminator judges {self.pack} images at a time, so the batch size must "
                             f"be a multiple of {self.pack}; got {len(x)} images")
        return x.reshape(len(x) // self.pack, self.pack, *x.shape[2:])


def spectral_norm_discriminator(width: int = 64, pack: int = 1) -> nn.Module:
    """Return DCGAN's discriminator with spectral normalisation (Miyato et al. 2018) in place of batch norm.

    With pack > 1 it gives one verdict per `pack` images, all real or all generated (PacGAN, Lin et al. 2018).
    """
    # Dividing each weight by its largest singular value bounds how fast the verdict can change from one
    # image to a nearby one (a Lipschitz bound), which Miyato et al. found steadies training and widens
    # what the generator draws. PyTorch's default initialisation: N(0, 0.02) is the batch-norm DCGAN's rule.
    # Packing: one image cannot show that a digit is drawn too often, but a pack of them can (two 3s
    # together are likelier from a generator that over-draws 3s), so the discriminator can punish it.
    sn = nn.utils.parametrizations.spectral_norm
    return nn.Sequential(
        Pack(pack), sn(nn.Conv2d(pack, width, 4, 2, 1)), nn.LeakyReLU(0.2),
        sn(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
        nn.Flatten(), sn(nn.Linear(2 * width * 7 * 7, 1)))


def dcgan_pair(discriminator: str, pack: int = 1) -> tuple[nn.Module, nn.Module]:
    """Return DCGAN's generator (paper's initialisation) and the discriminator asked for."""
    generator = dcgan_init(DCGANGenerator())
    if discriminator == "batchnorm":
        return generator, dcgan_init(DCGANDiscriminator())
    return generator, spectral_norm_discriminator(pack=pack)


def train_gan(generator: nn.Module, discriminator: nn.Module, x_train: torch.Tensor, minutes: float,
              seed: int, loss: str = "bce") -> tuple[float, float]:
    """Train for a wall-time budget; return the seconds taken and the epochs done."""
    gan = nn.ModuleDict({"generator": generator, "discriminator": discriminator})
    seen = [0]
    step = gan_step(generator, discriminator, generator.latent_dim, seen, loss)
    loader = data.BatchLoader(x_train, x_train, BATCH, shuffle=True, seed=seed, drop_last=True)
    started = time.perf_counter()
    deadline = started + 60 * minutes
    while time.perf_counter() < deadline:  # one fit call per (possibly cut) epoch
        fit(gan, UntilDeadline(loader, deadline), None, None, 1, train_step=step, progress=False)
    return time.perf_counter() - started, seen[0] / len(x_train)


@torch.no_grad()  # 10,000 samples: no autograd graph to build and keep
def gan_samples(generator: nn.Module, n: int, seed: int) -> torch.Tensor:
    """Return n samples in [0, 1] (batch norm in eval mode), from a seeded draw of z."""
    generator.eval()
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([(generator(chunk) + 1) / 2 for chunk in z.split(500)]).clamp(0, 1)


@torch.no_grad()
def judge(classifier: DigitFeatures, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the classifier's features and class probabilities for images in [0, 1]."""
    classifier.eval()
    features = torch.cat([classifier.features(chunk) for chunk in x.split(500)])
    return features, F.softmax(classifier.head(features), dim=1)


def train_judge(mnist: data.ImageSet, seed: int) -> tuple[DigitFeatures, float]:
    """Return a DigitFeatures classifier trained on the MNIST training digits, and its training seconds."""
    config.seed_everything(seed)
    classifier = DigitFeatures()
    history = fit(classifier, data.BatchLoader(mnist.x_train, mnist.y_train, BATCH, shuffle=True, seed=seed),
                  nn.CrossEntropyLoss(), torch.optim.Adam(classifier.parameters(), 1e-3), epochs(3), progress=False)
    return classifier, sum(history["seconds"])


class Verdict:
    """Class coverage of one set of images under a committee of judges.

    A single judge's histogram is fragile on generated digits: an ambiguous stroke that no class owns lands
    wherever that judge's arbitrary boundary puts it (two judges of 98% disagreed by 11 points per class on
    the same samples). The committee averages its judges' probabilities before taking the class, so such a
    sample counts for the class the judges lean to together; ``unsure`` is the share whose averaged top
    probability stays under 0.5, and ``each`` keeps every judge's own histogram for the record.
    """

    def __init__(self, probabilities: list[torch.Tensor]):
        mean = torch.stack(probabilities).mean(dim=0)
        self.coverage = class_coverage(mean.argmax(dim=1))
        self.unsure = (mean.max(dim=1).values < 0.5).float().mean().item()
        self.each = [class_coverage(p.argmax(dim=1)) for p in probabilities]

    def note(self) -> str:
        """Return each judge's smallest-largest share and the unsure share, for the table's note."""
        ranges = ", ".join(f"{100 * c.min():.1f}-{100 * c.max():.1f}%" for c in self.each)
        return f"judges alone {ranges}; unsure {100 * self.unsure:.1f}%"


def verdict(judges: list[DigitFeatures], x: torch.Tensor) -> tuple[torch.Tensor, Verdict]:
    """Return the first judge's features of x (for the Fréchet distance) and the committee's verdict."""
    features, probabilities = judge(judges[0], x)
    return features, Verdict([probabilities] + [judge(other, x)[1] for other in judges[1:]])


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--gan-minutes", type=float, default=12.0, help="wall-time budget of the DCGAN")
    parser.add_argument("--gan-discriminator", choices=("spectral", "batchnorm"), default="spectral",
                        help="the DCGAN's discriminator: spectral normalisation (default) or the paper's batch norm")
    parser.add_argument("--gan-loss", choices=("hinge", "bce"), default="hinge",
                        help="the DCGAN's loss: hinge (default) or the paper's non-saturating cross-entropy")
    parser.add_argument("--gan-pack", type=int, default=1,
                        help="images the spectral-norm discriminator judges together, all real or all generated "
                             "(PacGAN; default 1: one at a time, as in the paper)")
    parser.add_argument("--mlp-gan-minutes", type=float, default=3.0,
                        help="wall-time budget of the fully connected GAN")
    parser.add_argument("--judge-seed", type=int, default=0,
                        help="seed of the first judge (judge k: this + 1000 k); fixed, so that runs with different "
                             "--seed are judged by the same committee")
    parser.add_argument("--judges", type=int, default=5,
                        help="classifiers trained with different seeds that judge the class coverage together "
                             "(the first also gives the Fréchet distance)")
    parser.add_argument("--parts", nargs="+", choices=("reconstruction", "generation"),
                        default=["reconstruction", "generation"],
                        help="what to measure: the autoencoders and the denoiser (a, b), the VAE and GANs (c, d)")
    args = parser.parse_args(argv)
    if args.judges < 1:
        parser.error(f"--judges must be at least 1, got {args.judges}")
    if args.gan_pack < 1 or BATCH % args.gan_pack:
        parser.error(f"--gan-pack must divide the batch of {BATCH} images into whole packs (1, 2, 4, 8, ...), "
                     f"got {args.gan_pack}")
    if args.gan_pack > 1 and args.gan_discriminator != "spectral":
        parser.error("--gan-pack applies to the spectral-norm discriminator only; with --gan-discriminator "
                     "batchnorm, leave it at 1")
    apply_data_dir(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(header())
    started = time.perf_counter()
    mnist, fashion = data.load_mnist(), data.load_fashion_mnist()
    for name, dataset in (("mnist", mnist), ("fashion_mnist", fashion)):
        print(f"data    : {data.dataset_path(name)} | train {len(dataset.y_train)}, reported on "
              f"{len(dataset.y_test)}: test split of the file")
    n_samples = config.by_mode(full=10_000, tiny=500)
    seed = args.seed
    print(f"parts   : {', '.join(args.parts)}")
    print(f"settings: seed {seed}, code size {CODE_SIZE}, batch {BATCH}, Adam; denoising sigma {SIGMA}; "
          f"{n_samples} samples per generator; {args.judges} judge(s) seeded {args.judge_seed} + 1000 k")
    print()
    print(COLUMNS)
    print("-" * len(COLUMNS))

    x_test, x_train = images(mnist.x_test), images(mnist.x_train)
    if "generation" in args.parts:  # (c) first: the judges of the generators
        judges, test_probabilities = [], []
        for number in range(args.judges):
            # Not the run's seed: three judges seeded from each run's seed read the same samples 7 points apart
            # in one class (bench/RESULTS.md), so every run gets one committee, as FID uses one Inception.
            classifier, seconds = train_judge(mnist, args.judge_seed + 1000 * number)
            features, probabilities = judge(classifier, x_test)
            if number == 0:  # the Fréchet distance uses judge 1's features
                test_features = features
            row(f"DigitFeatures (judge {number + 1}, 128 features)", "MNIST", seconds,
                note=f"test accuracy {accuracy(probabilities, mnist.y_test):.2%}")
            judges.append(classifier)
            test_probabilities.append(probabilities)
        test_verdict = Verdict(test_probabilities)

    # (a) reconstruction at code size 32.
    for label, dataset in (("MNIST", mnist), ("Fashion", fashion)) if "reconstruction" in args.parts else ():
        train, target = images(dataset.x_train), images(dataset.x_test)
        for name, build, n_epochs in (("MLP autoencoder", mlp_autoencoder, 15),
                                      ("conv autoencoder", conv_autoencoder, 5)):
            config.seed_everything(seed)
            model = build(CODE_SIZE)
            seconds = train_autoencoder(model, train, epochs(n_epochs), seed)
            reconstruction_row(f"{name}, code {CODE_SIZE}", label, seconds, predict(model, target), target,
                               f"{epochs(n_epochs)} epoch(s)")
        del train

    # (b) denoising, on test images with seeded noise.
    if "reconstruction" in args.parts:
        config.seed_everything(seed)
        noisy = add_noise(x_test, SIGMA, torch.Generator().manual_seed(seed + 1))
        reconstruction_row(f"noisy input, sigma {SIGMA} (no model)", "MNIST", None, noisy, x_test, "before denoising")
        denoiser = conv_autoencoder(CODE_SIZE)
        seconds = train_autoencoder(denoiser, x_train, epochs(5), seed, sigma=SIGMA)
        reconstruction_row(f"denoiser (conv AE, code {CODE_SIZE})", "MNIST", seconds, predict(denoiser, noisy),
                           x_test, f"after denoising, {epochs(5)} epoch(s)")
    if "generation" not in args.parts:
        print(f"total   : {time.perf_counter() - started:.0f} s")
        return

    # The VAE: reconstruction through the mean code, then its samples.
    config.seed_everything(seed)
    vae = ConvVAE(latent_dim=16)
    loader = data.BatchLoader(x_train, x_train, BATCH, shuffle=True, seed=seed)
    history = fit(vae, loader, None, None, epochs(10), progress=False,
                  train_step=vae_step(vae, torch.optim.Adam(vae.parameters(), 1e-3)))
    with torch.no_grad():
        vae.eval()
        means = torch.cat([torch.sigmoid(vae.decode(vae.encode(chunk)[0])) for chunk in x_test.split(500)])
        draws = torch.Generator().manual_seed(seed)
        samples = torch.cat([vae.sample(len(chunk), draws) for chunk in torch.arange(n_samples).split(500)])
    features, vae_verdict = verdict(judges, samples)
    verdicts = {"VAE samples": vae_verdict}
    row("ConvVAE, latent 16", "MNIST", sum(history["seconds"]), F.mse_loss(means, x_test).item(),
        psnr(means, x_test), frechet_distance(features, test_features), verdicts["VAE samples"].coverage,
        f"{epochs(10)} epoch(s); MSE/PSNR via the mean code")

    # (d) the GANs, each for a wall-time budget.
    dcgan_note = "spectral-norm D" if args.gan_discriminator == "spectral" else "batch-norm D"
    if args.gan_pack > 1:
        dcgan_note += f" on packs of {args.gan_pack}"
    for name, build, minutes, loss, note in (
            ("DCGAN", lambda: dcgan_pair(args.gan_discriminator, args.gan_pack), args.gan_minutes, args.gan_loss,
             f"{dcgan_note}, {args.gan_loss} loss, "),
            ("MLP GAN", lambda: (MLPGenerator(), MLPDiscriminator()), args.mlp_gan_minutes, "bce", "")):
        config.seed_everything(seed)
        generator, discriminator = build()
        seconds, epochs_done = train_gan(generator, discriminator, x_train, minutes, seed, loss)
        features, verdicts[name] = verdict(judges, gan_samples(generator, n_samples, seed))
        row(f"{name}, {minutes:g} min budget", "MNIST", seconds, fd=frechet_distance(features, test_features),
            coverage=verdicts[name].coverage, note=f"{note}{epochs_done:.2f} epochs")

    # The floor: real test digits against as many real training digits as there are samples (the
    # Fréchet distance of a finite sample is biased upwards, the more so the fewer the images).
    subset = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:n_samples]
    train_features, _ = judge(judges[0], x_train[subset])
    verdicts["test set (real digits)"] = test_verdict
    row("floor: test set vs training set", "MNIST", fd=frechet_distance(test_features, train_features),
        coverage=test_verdict.coverage, note=f"{len(x_test)} test vs {len(subset)} random training images")

    print()
    print(f"coverage: % of samples per predicted digit, by the committee of {len(judges)} judge(s) (goal: every "
          "digit between 5% and 15%)")
    print(f"{'':<24}" + "".join(f"{digit:>6}" for digit in range(10)))
    for name, judged in verdicts.items():
        print(f"{name:<24}" + "".join(f"{100 * f:6.1f}" for f in judged.coverage.tolist()))
    print("each judge alone (smallest-largest share), and the share of samples whose averaged top probability "
          "is under 0.5 (unsure):")
    for name, judged in verdicts.items():
        print(f"{name:<24}{judged.note()}")
    print("FD: Fréchet distance to the MNIST test set in DigitFeatures space (lower is better; the floor "
          "row is what real digits score)")
    print(f"total   : {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
