"""The TensorBoard logger, fed by fit's on_epoch_end hook; the runs are read back with TensorBoard's reader."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from shared.data import BatchLoader
from shared.metrics import accuracy
from shared.track import TensorBoardLogger
from shared.train import fit


def _run(log_dir, epochs=3, settings=None):
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    logger = TensorBoardLogger(log_dir, settings)
    history = fit(model, BatchLoader(x, y, 16, shuffle=True, seed=0), nn.CrossEntropyLoss(), optimizer, epochs,
                  val_loader=BatchLoader(x, y, 32), metrics={"accuracy": accuracy}, progress=False,
                  on_epoch_end=logger)
    return model, logger, history


def _events(log_dir):
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_every_epoch_of_fit_reaches_tensorboard(tmp_path):
    model, logger, history = _run(tmp_path / "run", epochs=3, settings={"lr": 0.1, "optimizer": torch.optim.SGD})
    logger.close(model)
    scalars = _events(tmp_path / "run").Scalars
    for key, tag in [("train_loss", "loss/train"), ("val_loss", "loss/val"), ("val_accuracy", "accuracy/val"),
                     ("lr", "lr")]:
        points = scalars(tag)
        assert [p.step for p in points] == [1, 2, 3]
        assert [p.value for p in points] == pytest.approx(history[key], rel=1e-6)


def test_close_saves_the_weights_and_the_settings(tmp_path):
    model, logger, _ = _run(tmp_path / "run", epochs=1, settings={"lr": 0.1, "augment": False})
    figure = plt.figure()
    plt.plot([0, 1])
    logger.log_figure("predictions", figure, 1)
    plt.close(figure)
    path = logger.close(model)
    weights = torch.load(path, weights_only=True)
    assert all(torch.equal(weights[name], value) for name, value in model.state_dict().items())
    events = _events(tmp_path / "run")
    assert "predictions" in events.Tags()["images"]
    assert "settings/text_summary" in events.Tags()["tensors"]


def test_a_run_folder_is_never_reused(tmp_path):
    _, logger, _ = _run(tmp_path / "run", epochs=1)
    logger.close()
    with pytest.raises(FileExistsError, match="folder of its own"):
        TensorBoardLogger(tmp_path / "run")
