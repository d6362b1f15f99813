"""Pictures of training and of what models see: curves, image grids, confusion matrices, filters, maps.

Every function draws one matplotlib figure and returns it, so a notebook shows it and a script can
``fig.savefig(...)`` it. Images may be uint8 (0..255) or floats; floats are rescaled to 0..1 for display,
or un-normalised first when you pass the ``mean`` and ``std`` used to normalise them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from shared.metrics import confusion_matrix, most_confused


def plot_history(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None) -> Figure:
    """Return a figure with one panel per quantity (loss, accuracy, ...), train and validation together."""
    names = list(keys) if keys is not None else sorted(
        {k.split("_", 1)[1] for k in history if k.startswith(("train_", "val_"))},
        key=lambda n: (n != "loss", n))
    if not names:
        raise ValueError(f"Nothing to plot: the history has no train_*/val_* keys (it has {list(history)}).")
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for prefix, style in (("train", "-o"), ("val", "-s")):
            values = history.get(f"{prefix}_{name}")
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=prefix, markersize=3)
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _to_display(images: torch.Tensor, mean: Sequence[float] | None = None,
                std: Sequence[float] | None = None) -> np.ndarray:
    """Return images (N, C, H, W) or (N, H, W) as a float array (N, H, W[, 3]) in 0..1 for imshow."""
    x = torch.as_tensor(images).detach().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ValueError(f"Expected images shaped (N, C, H, W) or (N, H, W), got {tuple(x.shape)}.")
    if len(x) == 0:
        raise ValueError("No images to show.")
    if x.dtype == torch.uint8:
        x = x.float() / 255
    else:
        x = x.float()
        if mean is not None and std is not None:
            x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
        elif x.min() < 0 or x.max() > 1:
            low = x.amin(dim=(1, 2, 3), keepdim=True)
            high = x.amax(dim=(1, 2, 3), keepdim=True)
            x = (x - low) / (high - low).clamp_min(1e-8)
    x = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return x[..., 0] if x.shape[-1] == 1 else x


def show_images(images: torch.Tensor, labels: Sequence[int] | torch.Tensor | None = None,
                classes: Sequence[str] | None = None, predictions: Sequence[int] | torch.Tensor | None = None,
                ncols: int = 8, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                title: str | None = None) -> Figure:
    """Return a grid of images, each titled with its label (and prediction, red when wrong)."""
    pictures = _to_display(images, mean, std)
    n = len(pictures)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.8 * nrows), squeeze=False)

    def name(label) -> str:
        return classes[int(label)] if classes is not None else str(int(label))

    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(pictures[i], cmap="gray" if pictures[i].ndim == 2 else None)
        text, color = "", "black"
        if labels is not None:
            text = name(labels[i])
        if predictions is not None:
            text = f"{text}\npred: {name(predictions[i])}" if text else f"pred: {name(predictions[i])}"
            if labels is not None and int(predictions[i]) != int(labels[i]):
                color = "red"
        ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, classes: Sequence[str],
                          normalize: bool = False) -> Figure:
    """Return a heat map of the confusion matrix: rows are true classes, columns predictions."""
    matrix = confusion_matrix(y_true, y_pred, len(classes)).numpy().astype(float)
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    threshold = matrix.max() / 2
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{matrix[i, j]:.2f}" if normalize else f"{int(matrix[i, j])}", ha="center",
                    va="center", fontsize=7, color="white" if matrix[i, j] > threshold else "black")
    fig.tight_layout()
    return fig


def plot_most_confused(images: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor,
                       classes: Sequence[str], k: int = 16, **kwargs) -> Figure:
    """Return a grid of the k wrong predictions the model was most sure of."""
    worst = most_confused(outputs, targets, k)
    if len(worst) == 0:
        raise ValueError("The model made no mistakes on these samples, so there is nothing to show.")
    return show_images(images[worst], targets[worst], classes, outputs[worst].argmax(1),
                       title="Most confident mistakes", **kwargs)


def plot_filters(weight: torch.Tensor, ncols: int = 8) -> Figure:
    """Return a grid of convolution filters from a weight tensor (out, in, kH, kW); RGB when in == 3."""
    w = weight.detach().cpu().float()
    if w.ndim != 4:
        raise ValueError(f"Expected a conv weight shaped (out, in, kH, kW), got {tuple(w.shape)}.")
    # Colour filters stay RGB; otherwise show the first input channel of each filter.
    w = w if w.shape[1] == 3 else w[:, :1]
    return show_images(w, ncols=ncols, title=f"{weight.shape[0]} filters of size {tuple(weight.shape[2:])}")


def plot_feature_maps(maps: torch.Tensor, ncols: int = 8, max_maps: int = 32) -> Figure:
    """Return a grid of the activation maps (C, H, W) of one image, one panel per channel."""
    m = maps.detach().cpu().float()
    if m.ndim == 4:
        if m.shape[0] != 1:
            raise ValueError(f"Pass the maps of one image: got a batch of {m.shape[0]}.")
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"Expected feature maps shaped (C, H, W), got {tuple(m.shape)}.")
    m = m[:max_maps].unsqueeze(1)
    return show_images(m, labels=list(range(len(m))), ncols=ncols,
                       title=f"{min(maps.shape[-3], max_maps)} of {maps.shape[-3]} channels")


def plot_reconstructions(originals: torch.Tensor, reconstructions: torch.Tensor, n: int = 8,
                         mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> Figure:
    """Return a two-row figure: inputs on top, their reconstructions below."""
    if originals.shape != reconstructions.shape:
        raise ValueError(f"originals {tuple(originals.shape)} and reconstructions {tuple(reconstructions.shape)} "
                         "must have the same shape.")
    n = min(n, len(originals))
    top, bottom = _to_display(originals[:n], mean, std), _to_display(reconstructions[:n], mean, std)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.2), squeeze=False)
    for j in range(n):
        for row, pictures in enumerate((top, bottom)):
            axes[row, j].imshow(pictures[j], cmap="gray" if pictures[j].ndim == 2 else None)
            axes[row, j].axis("off")
    axes[0, 0].set_title("input", fontsize=9, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def show_scenes(images: torch.Tensor, boxes: Sequence[torch.Tensor] | None = None,
                labels: Sequence[torch.Tensor] | None = None, masks: torch.Tensor | None = None,
                scores: Sequence[torch.Tensor] | None = None, ncols: int = 4, zoom: int = 4) -> Figure:
    """Draw scenes (N, 1, H, W) with their class masks and labelled boxes (scores if given); return the figure.

    Boxes are (k, 4) x1, y1, x2, y2 in pixels per scene; a mask gives each pixel 0 (background) or 1 + digit.
    Each digit keeps one colour in boxes and masks. ``zoom`` enlarges the small scenes so the labels are legible.
    """
    from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

    if boxes is not None and labels is None:
        raise ValueError("show_scenes needs the labels that go with the boxes (one tensor of digits per scene).")
    colours = [tuple(int(255 * c) for c in plt.cm.tab10(digit)[:3]) for digit in range(10)]
    n = len(images)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.4 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        grey = images[i].detach().cpu().float().clamp(0, 1)
        picture = (grey * 255).to(torch.uint8).expand(3, -1, -1)
        picture = picture.repeat_interleave(zoom, dim=1).repeat_interleave(zoom, dim=2)
        if masks is not None:
            mask = masks[i].detach().cpu().repeat_interleave(zoom, dim=0).repeat_interleave(zoom, dim=1)
            picture = draw_segmentation_masks(picture, torch.stack([mask == 1 + d for d in range(10)]), alpha=0.5,
                                              colors=colours)
        if boxes is not None and len(boxes[i]):
            digits = [int(d) for d in labels[i]]
            if scores is None:
                names = [str(d) for d in digits]
            else:
                names = [f"{d} {float(s):.2f}" for d, s in zip(digits, scores[i], strict=True)]
            picture = draw_bounding_boxes(picture, boxes[i].detach().cpu().float() * zoom, labels=names,
                                          colors=[colours[d] for d in digits], width=2)
        ax.imshow(picture.permute(1, 2, 0).numpy())
    fig.tight_layout()
    return fig
