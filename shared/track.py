"""Experiment tracking: a run's settings, numbers per epoch, pictures and final model, in TensorBoard.

``fit(..., on_epoch_end=logger)`` hands the logger each epoch's record; nothing else in the loop changes.
TensorBoard works offline: open the runs with ``tensorboard --logdir runs`` or inside JupyterLab. A
hosted tracker (wandb, Comet) takes the same three calls; see hackathons/to_production/01.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

Setting = int | float | str | bool


class TensorBoardLogger:
    """Log one training run to ``log_dir``: pass it as ``fit``'s ``on_epoch_end``, then ``close`` it."""

    def __init__(self, log_dir: str | Path, settings: Mapping[str, object] | None = None):
        # Imported here so that `import shared` does not load TensorBoard for the lessons that never track.
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        if self.log_dir.exists() and any(self.log_dir.iterdir()):
            raise FileExistsError(f"{self.log_dir} already holds a run; TensorBoard would mix the two curves. "
                                  "Give each run a folder of its own (runs/<name>), or delete the old one.")
        self.settings = {name: _as_setting(value) for name, value in (settings or {}).items()}
        self.last_record: dict[str, float] = {}
        self.writer = SummaryWriter(str(self.log_dir))
        if self.settings:
            table = "\n".join(f"| {name} | {value} |" for name, value in self.settings.items())
            self.writer.add_text("settings", "| setting | value |\n| --- | --- |\n" + table)

    def __call__(self, epoch: int, record: Mapping[str, float], model: nn.Module) -> None:
        """Write the epoch's numbers as scalars: ``train_loss`` becomes ``loss/train``, so curves pair up."""
        for key, value in record.items():
            split, _, name = key.partition("_")
            tag = f"{name}/{split}" if split in ("train", "val") and name else key
            self.writer.add_scalar(tag, value, epoch)
        self.last_record = dict(record)
        self.writer.flush()  # so that a TensorBoard already open shows the epoch now, not minutes later

    def log_figure(self, tag: str, figure, epoch: int = 0) -> None:
        """Add a matplotlib figure (sample predictions, a confusion matrix) to the run's images."""
        self.writer.add_figure(tag, figure, epoch)

    def close(self, model: nn.Module | None = None) -> Path | None:
        """Record the settings beside the final numbers, save the model's weights; return their path."""
        final = {f"final/{key}": value for key, value in self.last_record.items() if key != "seconds"}
        if self.settings:
            # run_name="." keeps the settings in this run's folder instead of a new sub-run.
            self.writer.add_hparams(self.settings, final, run_name=".")
        path = None
        if model is not None:
            path = self.log_dir / "model.pt"
            torch.save(model.state_dict(), path)
        self.writer.close()
        return path


def _as_setting(value: object) -> Setting:
    # TensorBoard's settings table takes numbers, text and booleans; anything else is shown as text.
    return value if isinstance(value, int | float | str | bool) else str(value)
