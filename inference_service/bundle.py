"""A model bundle: everything the service needs to answer, in one folder, loadable without the training code.

    bundle/
      model.pt2             the network, exported with torch.export (graph and weights together)
      classes.json          the class names, in label order
      preprocessing.json    image size, channels, per-channel mean and std, how an image is resized
      reference_stats.json  input statistics, confidences and class probabilities on the validation set (the
                            drift checks' baseline)
      manifest.json         name, version, creation time, library versions, input shape, SHA-256 of every file

The bundle's identity is the SHA-256 of manifest.json (``inference_service.identity`` defines it): it
covers every file, since the manifest records their hashes and ``check_bundle`` holds them to it.

The preprocessing is the training preprocessing, not a copy of it: ``Preprocessing.pixels`` is
``shared.readers.square_image`` (how the bird loader makes its training images) and ``to_input`` is
``shared.augment.BatchTransform(mean, std)`` (what the lessons' validation loaders apply).

Why ``torch.export`` (a ``.pt2`` file): the saved program holds the graph and the weights, so the service
loads it with ``torch.export.load`` and never imports the notebook's class. TorchScript would do the same,
but on torch 2.14 ``torch.jit.script``, ``trace``, ``save`` and ``load`` each warn that they are deprecated
in favour of ``torch.export``; a plain ``state_dict`` would need the class code at serving time.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from inference_service.identity import ModelIdentity, bundle_identity
from inference_service.monitoring import FEATURES, image_statistics
from shared.augment import BatchTransform
from shared.readers import square_image

MODEL_FILE = "model.pt2"
FILES = (MODEL_FILE, "classes.json", "preprocessing.json", "reference_stats.json", "manifest.json")
FORMAT_VERSION = 1
# The drift check compares distributions; a few thousand reference values pin them down well enough,
# and keep reference_stats.json small.
MAX_REFERENCE = 5000
PROBABILITY_DECIMALS = 5  # the reference's and the log's class probabilities: plenty for a KS test
HOW_TO_MAKE_ONE = ("Make one with inference_service.bundle.save_bundle(model, class_names, preprocessing, "
                   "directory, reference_images=...) (hackathons/to_production/03_deploy.ipynb does).")


class BundleError(RuntimeError):
    """A bundle folder is missing, incomplete or damaged; the message says what and how to fix it."""


@dataclass(frozen=True)
class Preprocessing:
    """How a picture becomes the network's input: size, channels and per-channel normalisation."""

    image_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_dict(cls, values: Mapping) -> Preprocessing:
        """Return the checked preprocessing from a dict with image_size, channels, mean and std."""
        missing = sorted({"image_size", "channels", "mean", "std"} - set(values))
        if missing:
            raise ValueError(f"preprocessing lacks {missing}: give image_size (pixels per side), channels "
                             "(1 or 3), and one mean and one std per channel, for pixels scaled to 0..1.")
        size, channels = int(values["image_size"]), int(values["channels"])
        mean, std = tuple(float(m) for m in values["mean"]), tuple(float(s) for s in values["std"])
        if channels not in (1, 3) or size < 1:
            raise ValueError(f"preprocessing: channels must be 1 or 3 and image_size positive, got {channels}, {size}.")
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise ValueError(f"preprocessing: {channels} channels need {channels} means and {channels} positive stds, "
                             f"got {mean} and {std}.")
        return cls(size, channels, mean, std)

    def as_dict(self) -> dict:
        """Return the JSON form written to preprocessing.json."""
        return {"image_size": self.image_size, "channels": self.channels, "mean": list(self.mean),
                "std": list(self.std), "pixels": "0..255 divided by 255, then (x - mean) / std per channel",
                "resize": "centre crop to a square, then bicubic resize to image_size (skipped at that size)"}

    def pixels(self, image: Image.Image) -> np.ndarray:
        """Return the picture as uint8 pixels (H, W, C) at the network's size and channel count."""
        # Any mode becomes the bundle's: RGBA loses its alpha, grey is copied into three channels.
        image = square_image(image.convert("RGB" if self.channels == 3 else "L"), self.image_size)
        pixels = np.array(image, dtype=np.uint8)  # a writable copy: torch warns about read-only arrays
        return pixels[:, :, None] if pixels.ndim == 2 else pixels

    def to_input(self, pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Return the normalised float batch (N, C, H, W) for uint8 pixels (H, W, C) or a batch (N, C, H, W)."""
        x = torch.as_tensor(pixels)
        if x.ndim == 3:  # one picture, channels last as PIL gives it
            x = x.permute(2, 0, 1).unsqueeze(0)
        # The training code's own transform (no crop, no flip: what validation sees), so the service cannot
        # drift away from the numbers the network was trained on.
        return BatchTransform(self.mean, self.std)(x)


@dataclass
class Bundle:
    """A loaded bundle: the exported network, its class names, preprocessing, reference stats and manifest."""

    directory: Path
    name: str
    model: Callable[[torch.Tensor], torch.Tensor]
    classes: list[str]
    preprocessing: Preprocessing
    reference: dict
    manifest: dict
    identity: ModelIdentity

    @property
    def sha256(self) -> str:
        """Return the bundle's SHA-256 (of its manifest, which hashes every other file)."""
        return self.identity.sha256

    @property
    def version(self) -> str:
        """Return the bundle's version label."""
        return self.identity.version

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Return the class probabilities (one row per picture) for uint8 pixels (H, W, C) or (N, C, H, W)."""
        # No model.eval() here: the exported program recorded the network in evaluation mode (batch norm
        # with its running statistics, no dropout), and has no training mode to switch from.
        with torch.inference_mode():
            logits = self.model(self.preprocessing.to_input(pixels))
            return torch.softmax(logits.float(), dim=1).numpy()


def save_bundle(model: nn.Module, class_names: Sequence[str], preprocessing: Mapping, directory: str | Path, *,
                reference_images: torch.Tensor, reference_labels: torch.Tensor | None = None,
                name: str | None = None, version: str | None = None, notes: str = "") -> Path:
    """Export ``model`` with everything needed to serve it into ``directory``; return the folder's path.

    ``reference_images`` are uint8 validation images (N, C, H, W) at the bundle's size: their input
    statistics and the model's confidences on them are the drift check's baseline. With
    ``reference_labels`` the manifest also records the model's accuracy on them. ``version`` labels the
    bundle (default: the time it is saved); its SHA-256 identifies it in any case. The folder is written
    beside its final place and renamed into it, so a reader never finds half a bundle.
    """
    directory = Path(directory)
    prep = Preprocessing.from_dict(preprocessing)
    classes = [str(c) for c in class_names]
    expected = (prep.channels, prep.image_size, prep.image_size)
    if reference_images.dtype != torch.uint8 or tuple(reference_images.shape[1:]) != expected:
        raise ValueError(f"reference_images should be uint8 images shaped (N, {', '.join(map(str, expected))}), "
                         f"got {reference_images.dtype} {tuple(reference_images.shape)}.")
    # A CPU copy in eval mode: the caller's model keeps its device and mode, and batch norm and dropout are
    # exported as they behave at inference (the exported program has no train/eval switch).
    model = copy.deepcopy(model).cpu().eval()
    example = prep.to_input(reference_images[:2])
    with torch.no_grad():
        logits = model(example)
    if logits.shape != (len(example), len(classes)):
        raise ValueError(f"The model returns {tuple(logits.shape)} for a batch of {len(example)}, but there are "
                         f"{len(classes)} class names: they must match.")
    # Batch size 2 in the example and a dynamic batch dimension: the program then takes any batch size
    # (an example of 1 would make torch.export specialise the graph to batches of one).
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))

    reference = reference_statistics(model, prep, reference_images, reference_labels)
    temporary = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    torch.export.save(program, temporary / MODEL_FILE)
    _write_json(temporary / "classes.json", classes)
    _write_json(temporary / "preprocessing.json", prep.as_dict())
    _write_json(temporary / "reference_stats.json", reference)
    created = datetime.datetime.now(datetime.UTC)
    manifest = {
        "format": "deep-into-cnns inference bundle", "format_version": FORMAT_VERSION,
        "name": name or directory.name, "version": version or created.strftime("%Y%m%d-%H%M%S"), "notes": notes,
        "created": created.isoformat(timespec="seconds"),
        "export": "torch.export program with a dynamic batch dimension (torch.export.load(...).module())",
        "input_shape": list(expected), "num_classes": len(classes),
        "parameters": sum(p.numel() for p in model.parameters()),
        "reference_accuracy": reference.get("accuracy"),
        "versions": {"torch": torch.__version__, "python": platform.python_version(), "numpy": np.__version__,
                     "pillow": Image.__version__},
        "files": {file: _sha256(temporary / file) for file in FILES if file != "manifest.json"},
    }
    _write_json(temporary / "manifest.json", manifest)
    _replace_directory(temporary, directory)
    return directory


def reference_statistics(model: nn.Module, prep: Preprocessing, images: torch.Tensor,
                         labels: torch.Tensor | None = None) -> dict:
    """Return the drift checks' baseline: input statistics, confidences and class probabilities on ``images``."""
    if len(images) > MAX_REFERENCE:
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:MAX_REFERENCE]
        images = images[keep]
        labels = labels[keep] if labels is not None else None
    probabilities = []
    with torch.inference_mode():
        for start in range(0, len(images), 256):
            logits = model(prep.to_input(images[start:start + 256]))
            probabilities.append(torch.softmax(logits.float(), dim=1))
    probabilities = torch.cat(probabilities)
    confidence, predicted = probabilities.max(dim=1)
    stats = image_statistics(images.permute(0, 2, 3, 1).numpy())
    stats["confidence"] = confidence.numpy()
    reference = {
        "source": "the validation images given to save_bundle", "count": len(images),
        "features": {feature: [round(float(v), 6) for v in stats[feature]] for feature in FEATURES},
        "predicted_class_counts": torch.bincount(predicted, minlength=probabilities.shape[1]).tolist(),
        # The model's outputs on data it works on: the content drift check compares live outputs with them.
        "probabilities": probabilities.numpy().round(PROBABILITY_DECIMALS).tolist(),
    }
    if labels is not None:
        reference["accuracy"] = round(float((predicted == labels).float().mean()), 6)
    return reference


def check_bundle(directory: str | Path) -> dict:
    """Return the bundle's manifest after checking that every file is there and unchanged."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"No bundle at {directory}: the folder does not exist. {HOW_TO_MAKE_ONE}")
    missing = [file for file in FILES if not (directory / file).is_file()]
    if missing:
        raise BundleError(f"The bundle at {directory} is incomplete: {', '.join(missing)} missing. "
                          f"{HOW_TO_MAKE_ONE}")
    manifest = _read_json(directory / "manifest.json")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{directory}/manifest.json is format version {manifest.get('format_version')}, this "
                          f"service reads version {FORMAT_VERSION}. Save the bundle again with this version.")
    for file, digest in manifest.get("files", {}).items():
        if _sha256(directory / file) != digest:
            raise BundleError(f"{directory / file} differs from the file the manifest records (a partial copy, "
                              f"or edited by hand?). Copy the whole bundle folder again, or save it again.")
    return manifest


def load_bundle(directory: str | Path) -> Bundle:
    """Return the bundle in ``directory``, with its exported network ready to predict."""
    directory = Path(directory)
    manifest = check_bundle(directory)
    classes = _read_json(directory / "classes.json")
    try:
        prep = Preprocessing.from_dict(_read_json(directory / "preprocessing.json"))
    except ValueError as err:
        raise BundleError(f"{directory}/preprocessing.json: {err}") from err
    try:
        model = torch.export.load(directory / MODEL_FILE).module()
    except Exception as err:  # the serialised format changes between torch versions; say which ones
        saved_with = manifest.get("versions", {}).get("torch", "an unknown version")
        raise BundleError(f"{directory / MODEL_FILE} could not be loaded by torch {torch.__version__} (saved with "
                          f"torch {saved_with}): {err}. Export the model again with save_bundle.") from err
    bundle = Bundle(directory, manifest.get("name", directory.name), model, list(classes), prep,
                    _read_json(directory / "reference_stats.json"), manifest, bundle_identity(directory))
    # One prediction now: it checks the output shape and pays the first call's set-up cost at start-up,
    # not on the first client's request.
    blank = np.zeros((prep.image_size, prep.image_size, prep.channels), dtype=np.uint8)
    probabilities = bundle.predict(blank)
    if probabilities.shape != (1, len(classes)):
        raise BundleError(f"{directory / MODEL_FILE} returns {probabilities.shape[1]} scores per image but "
                          f"classes.json names {len(classes)} classes. Save the bundle again.")
    return bundle


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path} could not be read as JSON ({err}). Save the bundle again.") from err


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _replace_directory(new: Path, target: Path) -> None:
    """Put ``new`` where ``target`` is, replacing an older bundle there."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
