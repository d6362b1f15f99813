"""Scores computed from model outputs: accuracy, the confusion matrix and the most confused examples."""

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
