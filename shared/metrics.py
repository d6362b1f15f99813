"""Scores computed from model outputs: accuracy, the confusion matrix and the most confused examples.

For generated images (week 5): PSNR, the Fréchet distance between two sets of features and the class
coverage of a set of predicted labels.
"""

from __future__ import annotations

import torch


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Return the fraction of samples whose highest-scoring class is the target class."""
    if outputs.ndim != 2 or outputs.shape[0] != targets.shape[0]:
        raise ValueError(f"accuracy expects outputs (N, classes) and targets (N,), got {tuple(outputs.shape)} "
                         f"and {tuple(targets.shape)}.")
    return (outputs.argmax(dim=1) == targets).float().mean().item()


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Return a (num_classes, num_classes) int64 matrix: row = true class, column = predicted class."""
    y_true, y_pred = torch.as_tensor(y_true).long().flatten(), torch.as_tensor(y_pred).long().flatten()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}.")
    counts = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def most_confused(outputs: torch.Tensor, targets: torch.Tensor, k: int = 16) -> torch.Tensor:
    """Return the indices of the k wrong predictions the model was most sure of, most confident first."""
    probs = outputs.softmax(dim=1)
    confidence, predicted = probs.max(dim=1)
    wrong = torch.nonzero(predicted != targets).flatten()
    order = confidence[wrong].argsort(descending=True)
    return wrong[order[:k]]


def psnr(prediction: torch.Tensor, target: torch.Tensor, max_value: float = 1.0) -> float:
    """Return the peak signal-to-noise ratio in dB, averaged over images (dim 0); inf if all are identical."""
    if prediction.shape != target.shape or prediction.ndim < 2 or len(prediction) == 0:
        raise ValueError(f"psnr expects two batches of images of the same shape (N, ...), got "
                         f"{tuple(prediction.shape)} and {tuple(target.shape)}.")
    # Per image, then the mean: one average over the whole batch would let the worst images hide.
    mse = (prediction.double() - target.double()).pow(2).flatten(1).mean(dim=1)
    return (10 * torch.log10(max_value**2 / mse)).mean().item()  # mse 0 gives inf, as it should


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D).

    ||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)), the FID of Heusel et al. (2017) when the
    features come from Inception; computed in float64.
    """
    if features_a.ndim != 2 or features_b.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"frechet_distance expects features (N, D) and (M, D) with the same D, got "
                         f"{tuple(features_a.shape)} and {tuple(features_b.shape)}.")
    if len(features_a) < 2 or len(features_b) < 2:
        raise ValueError(f"A covariance needs at least 2 samples per set, got {len(features_a)} and "
                         f"{len(features_b)} (and far more than D={features_a.shape[1]} for a good estimate).")
    a, b = features_a.double(), features_b.double()
    mu_a, mu_b = a.mean(dim=0), b.mean(dim=0)
    cov_a, cov_b = torch.atleast_2d(torch.cov(a.T)), torch.atleast_2d(torch.cov(b.T))
    # Tr((C_a C_b)^(1/2)) = Tr((sqrt(C_a) C_b sqrt(C_a))^(1/2)): that matrix is similar to C_a C_b but
    # symmetric, so eigvalsh applies. Rounding makes eigenvalues of ~0 slightly negative: clamp them.
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return max(distance.item(), 0.0)


def class_coverage(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Return the fraction of labels in each class, a (num_classes,) float tensor summing to 1."""
    labels = torch.as_tensor(labels).long().flatten()
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"class_coverage expects a non-empty set of labels in 0..{num_classes - 1}, got "
                         f"{len(labels)} labels" + (f" from {labels.min()} to {labels.max()}." if len(labels) else "."))
    return torch.bincount(labels, minlength=num_classes).float() / len(labels)
