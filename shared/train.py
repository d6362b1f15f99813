"""Train, evaluate and predict: the loop you wrote by hand in week 2, with a few optional extras.

``train_one_epoch`` is that loop, step for step (zero the gradients, forward, loss, backward, step); see
week 2 lesson 03. ``fit`` calls it once per epoch and adds, each only when asked for: a progress bar, a
validation pass and history, a learning-rate scheduler, early stopping and checkpoints you can resume
from. The caller gives the loss, so the same loop trains classifiers (``nn.CrossEntropyLoss()``) and
autoencoders (``nn.MSELoss()`` on batches of ``(x, x)``). Networks with another kind of step, such as a
GAN's two players, pass their own ``train_step(x, y)``: it does the updates for one batch and returns the
numbers to record, and ``fit`` keeps the rest (epochs, averages, progress bar, history).
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

from shared.config import get_device, has_native_bfloat16

Metric = Callable[[torch.Tensor, torch.Tensor], float]
History = dict[str, list[float]]
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
TrainStep = Callable[[torch.Tensor, torch.Tensor], Mapping[str, float]]
EpochHook = Callable[[int, Mapping[str, float], nn.Module], None]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite, so training was stopped."""

    def __init__(self, loss: float, batch: int, epoch: int | None = None):
        where = f"epoch {epoch}, batch {batch}" if epoch is not None else f"batch {batch}"
        super().__init__(f"The loss became {loss} at {where}, so training stopped. Usual causes: a learning "
                         "rate too high (try 10x lower), inputs that are not normalised, or a log/division "
                         "of zero in a hand-written loss.")
        self.loss, self.batch, self.epoch = loss, batch, epoch


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: it belongs to another model, or would overwrite earlier work."""


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: LossFunction | None,
                    optimizer: torch.optim.Optimizer | None, metrics: Mapping[str, Metric] | None = None,
                    scheduler=None, device: torch.device | str | None = None,
                    train_step: TrainStep | None = None, autocast_dtype: torch.dtype | None = None,
                    scaler: torch.amp.GradScaler | None = None) -> dict[str, float]:
    """Train ``model`` for one pass over ``loader``; return the mean loss (and metrics) per sample.

    ``scheduler``, if given, steps after every batch (for schedules such as ``OneCycleLR``). Batches go
    to ``device``, by default the one the model is on. ``train_step(x, y)``, if given, replaces the five
    steps below for each batch and returns its own numbers to average (a GAN's two losses, say).
    ``autocast_dtype`` (see ``mixed_precision_choice``) computes the forward pass and the loss in that
    precision; ``scaler`` scales the loss for float16, whose small gradients would otherwise underflow.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.train()  # dropout and batch norm behave as in training
    totals, seen = {}, 0
    for batch, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        if train_step is not None:
            values = {name: float(value) for name, value in train_step(x, y).items()}
            for value in values.values():
                if not math.isfinite(value):
                    raise TrainingDiverged(value, batch + 1)
        else:
            optimizer.zero_grad()
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                outputs = model(x)
                loss = loss_fn(outputs, y)
            if not math.isfinite(loss.item()):  # stop before backward: the weights stay those of the last good step
                raise TrainingDiverged(loss.item(), batch + 1)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:  # skips the step when the scaled gradients overflowed, and adapts the scale
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            values = {"loss": loss.item(), **{name: float(metric(outputs.detach(), y))
                                              for name, metric in (metrics or {}).items()}}
        if scheduler is not None:
            scheduler.step()
        for name, value in values.items():  # weighted by batch size: the last batch may be smaller
            totals[name] = totals.get(name, 0.0) + value * len(x)
        seen += len(x)
        if isinstance(loader, tqdm):  # a progress bar: show the running losses
            loader.set_postfix({name: f"{total / seen:.4g}" for name, total in totals.items() if "loss" in name},
                               refresh=False)
    if seen == 0:
        raise ValueError("The loader gave no batches to train on: is the dataset empty?")
    return {name: total / seen for name, total in totals.items()}


def fit(model: nn.Module, train_loader: Iterable, loss_fn: LossFunction | None,
        optimizer: torch.optim.Optimizer | None, epochs: int, *, val_loader: Iterable | None = None,
        metrics: Mapping[str, Metric] | None = None, scheduler=None, scheduler_interval: str = "epoch",
        patience: int | None = None, checkpoint: str | Path | None = None, resume: bool = False,
        device: torch.device | str | None = None, progress: bool = True,
        train_step: TrainStep | None = None, on_epoch_end: EpochHook | None = None,
        mixed_precision: bool = False) -> History:
    """Train for ``epochs`` epochs; return the history, a list of values per epoch for each key.

    Keys: ``train_loss``, ``train_<metric>``, with ``val_loader`` also ``val_loss`` and ``val_<metric>``,
    plus ``lr`` and ``seconds``. The scheduler steps once per epoch, or after every batch with
    ``scheduler_interval="batch"``. ``patience`` stops after that many epochs without a better validation
    loss and puts back the best weights. ``checkpoint`` saves everything after every epoch;
    ``resume=True`` continues from it. ``train_step(x, y)`` trains on one batch your own way (see
    ``train_one_epoch``); its keys are recorded as ``train_<key>``, and ``loss_fn`` and ``optimizer`` may
    then be None. ``on_epoch_end(epoch, record, model)``, if given, is called after every epoch with
    that epoch's numbers, for example to log them to TensorBoard (``shared.track.TensorBoardLogger``).
    ``mixed_precision=True`` trains in the lower precision the device computes natively, where there is one
    (``mixed_precision_choice``); validation stays in float32.
    """
    _check_fit_arguments(loss_fn, optimizer, val_loader, scheduler, scheduler_interval, patience, checkpoint,
                         train_step)
    if mixed_precision and train_step is not None:
        raise ValueError("mixed_precision applies to fit's own step; a train_step of your own chooses its "
                         "precision itself (wrap its forward pass and loss in torch.autocast).")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    autocast_dtype, note = mixed_precision_choice(device) if mixed_precision else (None, "")
    if note and progress:
        print(note)
    scaler = torch.amp.GradScaler(device.type) if autocast_dtype == torch.float16 else None
    state = {"epoch": 0, "history": {}, "best_loss": math.inf, "best_epoch": 0, "best_weights": None}
    if checkpoint is not None:
        state = _start_from_checkpoint(Path(checkpoint), resume, model, optimizer, scheduler, device, state)
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
    history: History = state["history"]
    per_batch = scheduler if scheduler_interval == "batch" else None

    for epoch in range(state["epoch"], epochs):
        started = time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress)
        try:
            train = train_one_epoch(model, bar, loss_fn, optimizer, metrics, per_batch, device, train_step,
                                    autocast_dtype, scaler)
        except TrainingDiverged as err:
            raise TrainingDiverged(err.loss, err.batch, epoch + 1) from None
        record = {f"train_{name}": value for name, value in train.items()}
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn, metrics, device=device)
            record.update({f"val_{name}": value for name, value in val.items()})
        if optimizer is not None:
            record["lr"] = optimizer.param_groups[0]["lr"]
        record["seconds"] = time.perf_counter() - started
        for key, value in record.items():
            history.setdefault(key, []).append(value)
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{epochs}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in record.items() if k not in ("lr", "seconds")))
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record, model)
        if scheduler is not None and per_batch is None:
            _step_per_epoch(scheduler, record)
        if record.get("val_loss", math.inf) < state["best_loss"]:
            state.update(best_loss=record["val_loss"], best_epoch=epoch + 1,
                         best_weights=copy.deepcopy(model.state_dict()) if patience is not None else None)
        state["epoch"] = epoch + 1
        if scaler is not None:  # its loss scale goes on where it was when a run resumes
            state["scaler"] = scaler.state_dict()
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, state)
        if patience is not None and epoch + 1 - state["best_epoch"] >= patience:
            if progress:
                print(f"Early stopping: no better validation loss for {patience} epochs; "
                      f"keeping the weights of epoch {state['best_epoch']}.")
            break

    if patience is not None and state["best_weights"] is not None:
        model.load_state_dict(state["best_weights"])
    return history


def mixed_precision_choice(device: torch.device | str) -> tuple[torch.dtype | None, str]:
    """Return the autocast dtype for training on ``device`` (None: float32) and a note saying why.

    bfloat16 where the device computes it natively (recent GPUs; CPUs with AVX-512 BF16 or AMX), float16 with
    a gradient scaler on other CUDA GPUs, float32 everywhere else: emulated bfloat16 on a CPU without those
    instructions is many times slower than float32 (bench/RESULTS.md, the speed run).
    """
    device = torch.device(device)
    if has_native_bfloat16(device):
        return torch.bfloat16, f"mixed precision: bfloat16 on {device.type} (native on this device)"
    if device.type == "cuda":
        return torch.float16, "mixed precision: float16 on cuda, with a gradient scaler (no bfloat16 on this GPU)"
    return None, (f"mixed precision: float32 on {device.type}, which has no native bfloat16 (on a CPU: no "
                  "avx512_bf16 or amx_bf16 flag); emulated bfloat16 would be slower than float32")


def _check_fit_arguments(loss_fn, optimizer, val_loader, scheduler, scheduler_interval, patience, checkpoint,
                         train_step) -> None:
    """Refuse combinations that cannot work, rather than ignore part of them."""
    if train_step is None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
                        "For several optimizers (a GAN), pass optimizer=None and a train_step(x, y) that "
                        "uses them.")
    if train_step is None and loss_fn is None:
        raise ValueError("loss_fn is None: give a loss (nn.CrossEntropyLoss(), say), or a train_step of your own.")
    if val_loader is not None and loss_fn is None:
        raise ValueError("Validation computes loss_fn on val_loader, but loss_fn is None: pass one, or no val_loader.")
    if checkpoint is not None and optimizer is None:
        raise ValueError("A checkpoint keeps the optimizer's state too, but optimizer is None. With several "
                         "optimizers, save them yourself with torch.save after fit, or train without checkpoint.")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}.")
    if scheduler_interval == "batch" and scheduler is None:
        raise ValueError("scheduler_interval='batch' was given without a scheduler.")
    if scheduler_interval == "batch" and isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("ReduceLROnPlateau watches a loss per epoch: use scheduler_interval='epoch'.")
    if patience is not None and val_loader is None:
        raise ValueError("Early stopping (patience) watches the validation loss: pass a val_loader too.")


def _step_per_epoch(scheduler, record: Mapping[str, float]) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(record.get("val_loss", record["train_loss"]))
    else:
        scheduler.step()


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


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, state: Mapping | None = None) -> None:
    """Save model, optimizer, scheduler and training state to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "model_class": type(model).__name__,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "state": dict(state or {}),
    }
    # Write next to the target, then rename: a crash mid-save never leaves a half-written checkpoint.
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, device: torch.device | str = "cpu") -> dict:
    """Load a checkpoint written by ``fit``/``save_checkpoint`` into model (and optimizer); return its state."""
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
    if optimizer is not None and payload.get("optimizer") is not None:
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload.get("scheduler") is not None:
        scheduler.load_state_dict(payload["scheduler"])
    return payload["state"]


def _start_from_checkpoint(path: Path, resume: bool, model, optimizer, scheduler, device, fresh: dict) -> dict:
    if not path.exists():
        return fresh
    if not resume:
        raise CheckpointError(f"A checkpoint already exists at {path}. Pass resume=True to continue from it, or "
                              "choose another checkpoint path to start afresh (this one is kept untouched).")
    state = {**fresh, **load_checkpoint(path, model, optimizer, scheduler, device)}
    print(f"Resuming from {path}: {state['epoch']} epoch(s) already done.")
    return state
