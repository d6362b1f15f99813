"""The fastest CIFAR-10 recipe in the course: test accuracy against wall time on this CPU.

The network and the recipe follow the public speed-run line of work on CIFAR-10 (Page's "How to train
your ResNet" series, 2018; tysam-code's hlb-CIFAR10; Keller Jordan's airbench, "94% on CIFAR-10 in 3.29
seconds on a single GPU", 2024), rewritten here in the course's words and sized for a laptop CPU:

- a VGG-like network of three conv groups (conv, max-pool, batch norm, GELU, conv, batch norm, GELU);
- a first 2x2 convolution fixed to whiten the image patches (its filters are the eigenvectors of the
  training patches' covariance, scaled to unit variance), and identity (Dirac) initialisation for the
  other convolutions, so the network starts close to passing its input through;
- batch norm without a trained scale, with a high momentum, and its shifts learning 64x faster;
- Nesterov SGD on the summed loss, a triangular learning-rate schedule, label smoothing 0.2;
- flip and 2-pixel translate augmentation, with each image flipped on alternate epochs;
- an exponential moving average of the weights ("lookahead") every few steps;
- test-time augmentation: the average of the logits for the image, its mirror and 1-pixel shifts;
- channels-last memory, which speeds up convolutions on a CPU;
- bfloat16 autocast where the CPU computes in bfloat16 natively (AVX-512 BF16 or AMX): the convolutions
  run in 16-bit floats (weights and optimizer stay 32-bit), about twice as fast there. Elsewhere PyTorch
  emulates bfloat16, 13 times slower than float32 on a 2-core AVX2 CPU, so the run computes in float32 and
  says so; ``--fp32`` and ``--bf16`` force either choice.

The budget is the number of training images seen (``--kimages``, in thousands), not epochs, so a run on
the development copy (40,000 photos: 5 epochs for 200k images) and one on the official set (50,000: 4
epochs) cost the same time. Wall time counts everything after the data are loaded: whitening, training
and the test with its test-time augmentation.

    python -m bench.cifar_speedrun --data-dir /tmp/cifar_dev --kimages 400 --seeds 0 1   # the headline
    python -m bench.cifar_speedrun --data-dir ../shared/data --tiny --kimages 4   # a smoke run

The development copy is written by ``../shared/data/tools/make_cifar10_dev.py DIR``; its "test" split is
10,000 photos held out from the official training set, and figures on it say so. Choices were tuned with
``--validation 5000``, which holds the last 5,000 training photos out and reports on them instead.
``--jpeg-quality Q`` compresses every photo once more before training, to measure what compression costs
(the data pack's CIFAR-10 photos are JPEG files at quality 75 already).
"""

from __future__ import annotations

import argparse
import io
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from bench.common import add_data_dir, apply_data_dir, header
from shared import config, data
from shared.augment import BatchTransform


@dataclass
class Recipe:
    """The hyperparameters of a run; the defaults are the tuned ones."""

    kimages: float = 400.0     # the budget: thousands of training images seen (90% in under 20 minutes)
    widths: tuple[int, int, int] = (64, 256, 256)
    batch_size: int = 1024
    lr: float = 11.5            # per 1,024 images of summed loss, before the momentum correction
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_lr_scale: float = 64.0
    label_smoothing: float = 0.2
    translate: int = 2
    ema_every: int = 5
    tta: bool = True
    bf16: bool = False         # autocast the forward pass to bfloat16 (main() turns it on where it is native)


class GhostlessBatchNorm(nn.BatchNorm2d):
    """Batch norm whose scale stays 1 (only the shift learns), with a fast-moving running average."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=1e-12, momentum=0.4)
        self.weight.requires_grad = False


def conv_group(in_channels: int, out_channels: int) -> nn.Sequential:
    """Return conv, max-pool, batch norm, GELU, conv, batch norm, GELU: one resolution step."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.MaxPool2d(2), GhostlessBatchNorm(out_channels), nn.GELU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        GhostlessBatchNorm(out_channels), nn.GELU(),
    )


class SpeedNet(nn.Module):
    """The speed-run network: a whitening layer, three conv groups, max-pool and a scaled linear layer."""

    def __init__(self, widths: tuple[int, int, int] = (64, 256, 256)):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, kernel_size=2, padding=0, bias=True)  # 12 eigenvectors, +/- each
        self.whiten.weight.requires_grad = False
        self.groups = nn.Sequential(conv_group(24, widths[0]), conv_group(widths[0], widths[1]),
                                    conv_group(widths[1], widths[2]))
        self.head = nn.Linear(widths[2], 10, bias=False)
        for module in self.groups.modules():
            if isinstance(module, nn.Conv2d):
                # Identity on the first in_channels filters: the group starts by passing its input on.
                weight = module.weight.data
                nn.init.dirac_(weight[:weight.size(1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.whiten(x))
        x = self.groups(x)
        x = F.adaptive_max_pool2d(x, 1).flatten(1)
        return self.head(x) / 9  # small logits at the start keep the first steps stable


def whitening_filters(images: torch.Tensor, eps: float = 5e-4) -> torch.Tensor:
    """Return 24 2x2 filters: the whitened principal directions of the images' 2x2 patches, and their negatives."""
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1)                       # N, C, H', W', 2, 2
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()  # one row per patch
    patches = patches - patches.mean(0)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).reshape(12, 3, 2, 2)
    return torch.cat([filters, -filters]).float()


def augment(images: torch.Tensor, epoch: int, flip_mask: torch.Tensor, translate: int,
            generator: torch.Generator) -> torch.Tensor:
    """Return the epoch's training images: mirrored on alternate epochs, shifted by up to `translate` pixels."""
    flip = flip_mask if epoch % 2 == 0 else ~flip_mask
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    if translate == 0:
        return images
    padded = F.pad(images, (translate,) * 4, mode="reflect")
    n, size = len(images), images.shape[-1]
    shifts = torch.randint(0, 2 * translate + 1, (2, n), generator=generator)
    out = torch.empty_like(images)
    for dy in range(2 * translate + 1):
        for dx in range(2 * translate + 1):
            chosen = (shifts[0] == dy) & (shifts[1] == dx)
            out[chosen] = padded[chosen, :, dy:dy + size, dx:dx + size]
    return out


def triangle(step: int, total: int, start: float = 0.2, peak_at: float = 0.23, end: float = 0.07) -> float:
    """Return the learning-rate factor: up linearly from `start` to 1, then down to `end`."""
    top = peak_at * total
    if step < top:
        return start + (1 - start) * step / top
    return 1 + (end - 1) * (step - top) / max(total - top, 1)


@torch.no_grad()
def predict_with_tta(model: nn.Module, images: torch.Tensor, tta: bool, bf16: bool = False,
                     batch_size: int = 1000) -> dict[str, torch.Tensor]:
    """Return the logits at each level of test-time augmentation: the plain image ("none"), averaged with
    its mirror ("mirror"), and (with `tta`) with four 1-pixel shifts of both as well ("mirror+shift")."""
    model.eval()
    levels = ("none", "mirror", "mirror+shift") if tta else ("none", "mirror")
    outputs = {level: [] for level in levels}
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            plain = model(x).float()
            mirror = 0.5 * (plain + model(x.flip(3)).float())
            outputs["none"].append(plain)
            outputs["mirror"].append(mirror)
            if tta:
                padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
                shifted = [padded[:, :, 0:32, 0:32], padded[:, :, 2:34, 2:34]]
                shifts = sum(0.25 * (model(s).float() + model(s.flip(3)).float()) for s in shifted)
                outputs["mirror+shift"].append(0.5 * mirror + 0.5 * shifts)
    return {level: torch.cat(chunks) for level, chunks in outputs.items()}


def recompress(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Return uint8 images (N, 3, H, W) after one more JPEG round trip at `quality` (Pillow's 4:2:0 colour)."""
    out = torch.empty_like(images)
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        out[i] = torch.from_numpy(np.array(Image.open(buffer).convert("RGB"))).permute(2, 0, 1)
    return out


def mean_change(before: torch.Tensor, after: torch.Tensor) -> float:
    """Return the mean absolute difference of two uint8 image batches, in grey levels."""
    return (after.int() - before.int()).abs().float().mean().item()


def train_and_test(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                   recipe: Recipe, seed: int) -> dict:
    """Train one network with the recipe and return its test accuracy, wall time and images per second."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    model = SpeedNet(recipe.widths)
    model.whiten.weight.data.copy_(whitening_filters(x_train[:5000]))
    model = model.to(memory_format=torch.channels_last)

    # Decoupled hyperparameters (airbench): the step size per image stays put when batch size or momentum change.
    kilostep = recipe.batch_size * (1 + 1 / (1 - recipe.momentum))
    lr = recipe.lr / kilostep
    decay = recipe.weight_decay * recipe.batch_size / kilostep
    # Only batch norm's shifts learn 64x faster; the whitening layer's bias learns at the base rate.
    norm_biases = {id(m.bias) for m in model.modules() if isinstance(m, GhostlessBatchNorm)}
    biases = [p for p in model.parameters() if p.requires_grad and id(p) in norm_biases]
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in norm_biases]
    bias_lr = lr * recipe.bias_lr_scale
    optimizer = torch.optim.SGD([dict(params=biases, lr=bias_lr, weight_decay=decay / bias_lr),
                                 dict(params=others, lr=lr, weight_decay=decay / lr)],
                                momentum=recipe.momentum, nesterov=True)
    steps_per_epoch = len(x_train) // recipe.batch_size
    total_steps = max(1, round(recipe.kimages * 1000 / recipe.batch_size))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: triangle(s, total_steps))
    average = [p.detach().clone() for p in model.state_dict().values()]
    flip_mask = torch.rand(len(x_train), generator=generator) < 0.5

    step, epoch = 0, 0
    while step < total_steps:
        images = augment(x_train, epoch, flip_mask, recipe.translate, generator)
        order = torch.randperm(len(x_train), generator=generator)
        model.train()
        for i in range(steps_per_epoch):
            if step == total_steps:
                break
            idx = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            x = images[idx].contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
                loss = F.cross_entropy(model(x), y_train[idx], label_smoothing=recipe.label_smoothing,
                                       reduction="sum")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if recipe.ema_every and (step % recipe.ema_every == 0 or step == total_steps):
                # Lookahead: pull the weights towards their running average, harder as training goes
                # on; after the last step the network is the average itself.
                keep = 1.0 if step == total_steps else 0.95 ** recipe.ema_every * (step / total_steps) ** 3
                with torch.no_grad():
                    for mine, avg in zip(model.state_dict().values(), average, strict=True):
                        if mine.dtype.is_floating_point:
                            avg.lerp_(mine, 1 - keep)
                            mine.copy_(avg)
        epoch += 1
    train_seconds = time.perf_counter() - start
    logits = predict_with_tta(model, x_test, recipe.tta, recipe.bf16)
    # The headline is the last level; the others come free from the same passes (what TTA buys).
    by_level = {level: (out.argmax(1) == y_test).float().mean().item() for level, out in logits.items()}
    seconds = time.perf_counter() - start
    return {"seed": seed, "accuracy": list(by_level.values())[-1], "by_level": by_level, "seconds": seconds,
            "train_seconds": train_seconds, "images_per_second": total_steps * recipe.batch_size / train_seconds}


def precision_choice(args) -> tuple[bool, str]:
    """Return whether to autocast to bfloat16, and why: what was asked for, else what the CPU computes natively."""
    if args.fp32 or args.bf16:
        return args.bf16, "asked for"
    if config.has_native_bfloat16("cpu"):
        return True, "this CPU computes in bfloat16 natively"
    return False, (f"this CPU has none of {', '.join(config.NATIVE_BFLOAT16_FLAGS)}, so bfloat16 would be "
                   "emulated and slower; --bf16 forces it")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir(parser)
    parser.add_argument("--kimages", type=float, nargs="+", default=[Recipe.kimages],
                        help="training budgets in thousands of images seen (several give a curve)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--widths", type=int, nargs=3, default=list(Recipe.widths))
    parser.add_argument("--lr", type=float, default=Recipe.lr,
                        help="learning rate per 1,024 images (airbench95 takes 10 for widths 128 384 384)")
    parser.add_argument("--no-tta", action="store_true", help="test on the plain image and its mirror only")
    parser.add_argument("--no-ema", action="store_true", help="train without the weight average")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp32", action="store_true", help="compute in 32-bit floats (no bfloat16 autocast)")
    precision.add_argument("--bf16", action="store_true",
                           help="autocast to bfloat16 even where the CPU has no native bfloat16 (slow there)")
    parser.add_argument("--validation", type=int, default=0,
                        help="hold out the last N training photos and report on them (for tuning)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--jpeg-quality", type=int, default=None,
                        help="compress every photo (training and test) once more as JPEG at this quality (1-95) "
                             "before training: what the photos' compression costs")
    args = parser.parse_args(argv)
    if args.jpeg_quality is not None and not 1 <= args.jpeg_quality <= 95:
        parser.error(f"--jpeg-quality {args.jpeg_quality}: give a JPEG quality from 1 to 95 (Pillow's range; "
                     "75 is its default), or leave it out to train on the photos as they are")
    apply_data_dir(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(header())
    cifar = data.load_cifar10()
    photos_train, photos_test = cifar.x_train, cifar.x_test
    if args.jpeg_quality is not None:
        photos_train, photos_test = (recompress(photos_train, args.jpeg_quality),
                                     recompress(photos_test, args.jpeg_quality))
        change = mean_change(cifar.x_train, photos_train)
        print(f"photos  : compressed once more as JPEG at quality {args.jpeg_quality} (training and test); "
              f"a training pixel moved by {change:.2f} grey levels on average")
    # The whole set normalised once: augmentation then works on floats, epoch by epoch.
    to_input = BatchTransform(*data.CHANNEL_STATS["cifar10"])
    x_train, y_train, x_test, y_test = to_input(photos_train), cifar.y_train, to_input(photos_test), cifar.y_test
    split = "test split of the file"
    if args.validation:
        x_train, x_test = x_train[:-args.validation], x_train[-args.validation:]
        y_train, y_test = y_train[:-args.validation], y_train[-args.validation:]
        split = f"the last {args.validation} training photos (validation)"
    print(f"data    : {data.dataset_path('cifar10')} | train {len(y_train)}, reported on {len(y_test)}: {split}")
    bf16, why = precision_choice(args)
    print(f"recipe  : widths {'/'.join(map(str, args.widths))}, lr {args.lr:g}, "
          f"{'bfloat16' if bf16 else 'float32'} ({why}), weight average {'off' if args.no_ema else 'on'}")
    print(f"{'kimages':>7} {'epochs':>6} {'seed':>5} {'accuracy':>9} {'seconds':>8} {'train s':>8} {'images/s':>9}"
          f" {'no TTA':>7} {'mirror':>7}")
    results = []
    for kimages in args.kimages:
        recipe = Recipe(kimages=kimages, widths=tuple(args.widths), lr=args.lr, tta=not args.no_tta,
                        ema_every=0 if args.no_ema else Recipe.ema_every, bf16=bf16)
        for seed in args.seeds:
            r = train_and_test(x_train, y_train, x_test, y_test, recipe, seed)
            results.append((kimages, r))
            print(f"{kimages:7g} {kimages * 1000 / len(y_train):6.2f} {seed:5d} {r['accuracy']:9.2%} "
                  f"{r['seconds']:8.1f} {r['train_seconds']:8.1f} {r['images_per_second']:9.0f} "
                  f"{r['by_level']['none']:7.2%} {r['by_level']['mirror']:7.2%}", flush=True)
    for kimages in args.kimages:
        runs = [r for k, r in results if k == kimages]
        mean_acc = sum(r["accuracy"] for r in runs) / len(runs)
        worst = max(r["seconds"] for r in runs)
        epochs = kimages * 1000 / len(y_train)
        print(f"summary : {kimages:g}k images ({epochs:.2f} epochs), {len(runs)} seed(s): "
              f"mean accuracy {mean_acc:.2%}, min {min(r['accuracy'] for r in runs):.2%}, "
              f"slowest run {worst:.0f} s ({worst / 60:.1f} min)")


if __name__ == "__main__":
    main()
