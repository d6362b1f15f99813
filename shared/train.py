"""Train, evaluate and predict: the loop you wrote by hand in week 2, with a few optional extras.

``fit`` runs the same steps as the hand-written loop (zero the gradients, forward, loss, backward,
step) and adds, each only when asked for: a progress bar, a validation pass and history, a learning-rate
scheduler, gradient clipping, early stopping and checkpoints you can resume from.

The caller gives the loss, so the same loop trains classifiers (``nn.CrossEntropyLoss()``) and
autoencoders (``nn.MSELoss()`` on batches of ``(x, x)``). Models with their own update rule, such as a
GAN with two optimizers, pass ``train_step`` and keep the rest (progress, history, checkpoints).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from shared.config import get_device

Metric = Callable[[torch.Tensor, torch.Tensor], float]
History = dict[str, list[float]]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite, so training was stopped."""


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: it belongs to another model, or would overwrite earlier work."""


def fit(
    model: nn.Module,
    train_loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    optimizer: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer] | None,
    epochs: int,
    *,
    val_loader: Iterable | None = None,
    metrics: Mapping[str, Metric] | None = None,
    scheduler=None,
    scheduler_interval: str = "epoch",
    clip_grad_norm: float | None = None,
    patience: int | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    train_step: Callable[[torch.Tensor, torch.Tensor], Mapping[str, float]] | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the history: a list of values per epoch for each key.

    Keys: ``train_loss``, ``train_<metric>``, and with ``val_loader`` ``val_loss`` and ``val_<metric>``,
    plus ``lr`` and ``seconds``. The scheduler steps once per epoch, or after every batch with
    ``scheduler_interval="batch"`` (for ``OneCycleLR``). ``patience`` stops after that many epochs without a better validation
    loss and puts back the best weights. ``checkpoint`` saves everything after every epoch;
    ``resume=True`` continues from it.
    """
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    metrics = dict(metrics or {})
    optimizers = _as_dict(optimizer)
    if train_step is None and (loss_fn is None or not optimizers):
        raise ValueError("fit needs a loss_fn and an optimizer (or a train_step that does the update itself).")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}.")
    step_per_batch = scheduler is not None and scheduler_interval == "batch"
    state = {"epoch": 0, "history": {}, "best_loss": math.inf, "best_epoch": 0, "best_weights": None}
    if checkpoint is not None:
        state = _start_from_checkpoint(Path(checkpoint), resume, model, optimizers, scheduler, device, state)
    history: History = state["history"]

    for epoch in range(state["epoch"], epochs):
        started = time.perf_counter()
        model.train()
        totals: dict[str, float] = {}
        seen = 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=True)
        for batch, (x, y) in enumerate(bar):
            x, y = x.to(device), y.to(device)
            if train_step is None:
                values = _supervised_step(model, x, y, loss_fn, optimizers, clip_grad_norm, metrics)
            else:
                values = {name: float(value) for name, value in train_step(x, y).items()}
            _stop_if_not_finite(values, epoch, batch)
            if step_per_batch:
                scheduler.step()
            for name, value in values.items():
                totals[name] = totals.get(name, 0.0) + value * len(x)
            seen += len(x)
            bar.set_postfix({name: f"{total / seen:.4g}" for name, total in totals.items()}, refresh=False)

        record = {f"train_{name}": total / max(seen, 1) for name, total in totals.items()}
        if val_loader is not None and loss_fn is not None:
            val = evaluate(model, val_loader, loss_fn, metrics, device=device)
            record.update({f"val_{name}": value for name, value in val.items()})
        record["lr"] = _first_lr(optimizers)
        record["seconds"] = time.perf_counter() - started
        for key, value in record.items():
            history.setdefault(key, []).append(value)
        bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("lr", "seconds")})
        bar.close()

        if scheduler is not None and not step_per_batch:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(record.get("val_loss", record.get("train_loss")))
            else:
                scheduler.step()

        # Early stopping watches the validation loss when there is one, else the training loss.
        watched = record.get("val_loss", record.get("train_loss", math.nan))
        if watched < state["best_loss"]:
            state.update(best_loss=watched, best_epoch=epoch + 1,
                         best_weights=copy.deepcopy(model.state_dict()) if patience is not None else None)
        state["epoch"] = epoch + 1
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizers, scheduler, state)
        if patience is not None and epoch + 1 - state["best_epoch"] >= patience:
            if progress:
                print(f"Early stopping: no better loss for {patience} epochs; "
                      f"keeping the weights of epoch {state['best_epoch']}.")
            break

    if patience is not None and state["best_weights"] is not None:
        model.load_state_dict(state["best_weights"])
    return history


def _supervised_step(model, x, y, loss_fn, optimizers, clip_grad_norm, metrics) -> dict[str, float]:
    """One gradient step on one batch; return the batch's loss and metrics."""
    optimizer = next(iter(optimizers.values()))
    optimizer.zero_grad()
    outputs = model(x)
    loss = loss_fn(outputs, y)
    loss_value = loss.item()
    if not math.isfinite(loss_value):
        # Stop before backward: the weights are still those of the last good step.
        return {"loss": loss_value}
    loss.backward()
    if clip_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()
    values = {"loss": loss_value}
    with torch.no_grad():
        for name, metric in metrics.items():
            values[name] = float(metric(outputs, y))
    return values


def _stop_if_not_finite(values: Mapping[str, float], epoch: int, batch: int) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"The {name} became {value} at epoch {epoch + 1}, batch {batch + 1}, so training stopped. "
                "Usual causes: a learning rate too high (try 10x lower), inputs that are not normalised, "
                "or a log/division of zero in a hand-written loss. Gradient clipping (clip_grad_norm=1.0) "
                "can also help."
            )


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable, metrics: Mapping[str, Metric] | None = None,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Return the mean loss and metrics of ``model`` over ``loader``, in eval mode and without gradients."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    totals: dict[str, float] = {}
    seen = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        outputs = model(x)
        values = {"loss": loss_fn(outputs, y).item()}
        values.update({name: float(metric(outputs, y)) for name, metric in (metrics or {}).items()})
        for name, value in values.items():
            totals[name] = totals.get(name, 0.0) + value * len(x)
        seen += len(x)
    if seen == 0:
        raise ValueError("The loader gave no batches to evaluate on: is the dataset empty?")
    return {name: total / seen for name, total in totals.items()}


@torch.no_grad()
def predict(model: nn.Module, data: Iterable | torch.Tensor, device: torch.device | str | None = None,
            batch_size: int = 256) -> torch.Tensor:
    """Return the model's outputs for every sample (on the CPU), from a tensor of inputs or a loader."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    if isinstance(data, torch.Tensor):
        batches = (data[i:i + batch_size] for i in range(0, len(data), batch_size))
    else:
        batches = (batch[0] if isinstance(batch, (tuple, list)) else batch for batch in data)
    outputs = [model(x.to(device)).cpu() for x in batches]
    if not outputs:
        raise ValueError("There was nothing to predict on: the data is empty.")
    return torch.cat(outputs)


# ---------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(path: str | Path, model: nn.Module, optimizers: Mapping[str, torch.optim.Optimizer],
                    scheduler=None, state: Mapping | None = None) -> None:
    """Save model, optimizer(s), scheduler and training state to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "model_class": type(model).__name__,
        "optimizers": {name: opt.state_dict() for name, opt in _as_dict(optimizers).items()},
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "state": dict(state or {}),
    }
    # Write next to the target, then rename: a crash mid-save never leaves a half-written checkpoint.
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, model: nn.Module,
                    optimizers: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer] | None = None,
                    scheduler=None, device: torch.device | str = "cpu") -> dict:
    """Load a checkpoint written by ``fit``/``save_checkpoint`` into model (and optimizers); return its state."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises several types for a damaged file
        raise CheckpointError(f"{path} could not be read as a checkpoint ({err}). It may be damaged or "
                              "written by another program; start afresh with another checkpoint path.") from err
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path} holds weights that do not fit this model: the layer names or shapes differ from those "
            f"saved (a different architecture; saved from a {payload.get('model_class')}, loading into a "
            f"{type(model).__name__}). Build the model exactly as when the checkpoint was saved, or start "
            f"afresh with another checkpoint path.\n"
            f"PyTorch said: {err}") from err
    for name, optimizer in _as_dict(optimizers).items():
        if name in payload["optimizers"]:
            optimizer.load_state_dict(payload["optimizers"][name])
    if scheduler is not None and payload.get("scheduler") is not None:
        scheduler.load_state_dict(payload["scheduler"])
    return payload["state"]


def _start_from_checkpoint(path: Path, resume: bool, model, optimizers, scheduler, device, fresh: dict) -> dict:
    if not path.exists():
        return fresh
    if not resume:
        raise CheckpointError(f"A checkpoint already exists at {path}. Pass resume=True to continue from it, or "
                              "choose another checkpoint path to start afresh (this one is kept untouched).")
    state = {**fresh, **load_checkpoint(path, model, optimizers, scheduler, device)}
    print(f"Resuming from {path}: {state['epoch']} epoch(s) already done.")
    return state


def _as_dict(optimizer) -> dict[str, torch.optim.Optimizer]:
    if optimizer is None:
        return {}
    if isinstance(optimizer, torch.optim.Optimizer):
        return {"optimizer": optimizer}
    return dict(optimizer)


def _first_lr(optimizers: Mapping[str, torch.optim.Optimizer]) -> float:
    for optimizer in optimizers.values():
        return float(optimizer.param_groups[0]["lr"])
    return math.nan
