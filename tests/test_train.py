import math

import pytest
import torch
from torch import nn

from shared.data import BatchLoader
from shared.metrics import accuracy
from shared.train import (
    CheckpointError,
    TrainingDiverged,
    evaluate,
    fit,
    load_checkpoint,
    predict,
    train_one_epoch,
)


def _blobs(n=200, seed=0):
    """Two well-separated Gaussian blobs: any working training loop gets them right."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 2, generator=g) + (y[:, None] * 4.0 - 2.0)
    return x, y


def _loaders(seed=0, shuffle=True):
    x, y = _blobs(seed=seed)
    return BatchLoader(x[:160], y[:160], 16, shuffle=shuffle, seed=seed), BatchLoader(x[160:], y[160:], 16)


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))


def test_fit_learns_and_records_history():
    train, val = _loaders()
    model = _model()
    history = fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 10,
                  val_loader=val, metrics={"acc": accuracy}, progress=False, device="cpu")
    assert set(history) == {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert all(len(values) == 10 for values in history.values())
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_acc"][-1] >= 0.9  # a few validation points sit on the wrong side of the boundary
    assert (evaluate(model, val, nn.CrossEntropyLoss(), {"acc": accuracy})["acc"]
            == pytest.approx(history["val_acc"][-1]))


def test_fit_stops_on_nan_loss_before_touching_the_weights():
    train, _ = _loaders()
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    calls = {"n": 0}

    def loss_that_breaks(outputs, targets):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(outputs, targets)
        return loss * math.nan if calls["n"] == 1 else loss

    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, batch 1.*learning rate"):
        fit(model, train, loss_that_breaks, torch.optim.SGD(model.parameters(), lr=0.1), 2,
            progress=False, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_fit_stops_on_infinite_loss_with_a_huge_learning_rate():
    x, y = _blobs()
    model = nn.Linear(2, 1)
    loader = BatchLoader(x, (y.float() * 1e6)[:, None], 200)
    with pytest.raises(TrainingDiverged, match="became (inf|nan)"):
        fit(model, loader, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=10.0), 50,
            progress=False, device="cpu")


def test_scheduler_is_stepped_every_epoch():
    train, val = _loaders()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, train, nn.CrossEntropyLoss(), optimizer, 3, val_loader=val, scheduler=scheduler,
                  progress=False, device="cpu")
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])


def test_plateau_scheduler_gets_the_validation_loss():
    train, val = _loaders()
    model = _model()
    # The optimizer holds a parameter outside the model, so the model never changes: a plateau.
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    history = fit(model, train, nn.CrossEntropyLoss(), optimizer, 4, val_loader=val, scheduler=scheduler,
                  progress=False, device="cpu")
    assert history["lr"][-1] < history["lr"][0]


def test_early_stopping_keeps_the_best_weights():
    x, y = _blobs()
    train = BatchLoader(x, y, 20, shuffle=True, seed=0)
    # The validation labels are the opposite of the training labels, so learning makes them worse.
    val = BatchLoader(x, 1 - y, 50)
    model = _model()
    history = fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 30,
                  val_loader=val, patience=2, progress=False, device="cpu")
    best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
    assert len(history["val_loss"]) == best + 1 + 2
    assert evaluate(model, val, nn.CrossEntropyLoss())["loss"] == pytest.approx(history["val_loss"][best])


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    def run(epochs, checkpoint=None, resume=False):
        train, val = _loaders(shuffle=False)
        model = _model()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        history = fit(model, train, nn.CrossEntropyLoss(), optimizer, epochs, val_loader=val,
                      checkpoint=checkpoint, resume=resume, progress=False, device="cpu")
        return model, history

    straight, straight_history = run(4)
    path = tmp_path / "ckpt" / "run.pt"
    run(2, path)
    resumed, history = run(4, path, resume=True)
    assert len(history["train_loss"]) == 4
    assert history["train_loss"] == pytest.approx(straight_history["train_loss"])
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert load_checkpoint(path, _model())["epoch"] == 4


def test_an_existing_checkpoint_is_never_overwritten_without_resume(tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"earlier work")
    model = _model()
    train, _ = _loaders()
    with pytest.raises(CheckpointError, match="resume=True"):
        fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 1,
            checkpoint=path, progress=False, device="cpu")
    assert path.read_bytes() == b"earlier work"


def test_checkpoint_of_another_architecture_is_explained(tmp_path):
    path = tmp_path / "run.pt"
    model = _model()
    train, _ = _loaders()
    fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 1,
        checkpoint=path, progress=False, device="cpu")
    wider = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    with pytest.raises(CheckpointError, match="different architecture"):
        fit(wider, train, nn.CrossEntropyLoss(), torch.optim.SGD(wider.parameters(), lr=0.1), 2,
            checkpoint=path, resume=True, progress=False, device="cpu")


def test_damaged_checkpoint_is_reported(tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(path, _model())


def test_fit_trains_an_autoencoder_with_a_reconstruction_loss():
    x, _ = _blobs()
    loader = BatchLoader(x, x, 20, shuffle=True, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 1), nn.Linear(1, 2))
    history = fit(model, loader, nn.MSELoss(), torch.optim.Adam(model.parameters(), lr=0.02), 10,
                  progress=False, device="cpu")
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]


def test_predict_accepts_tensors_and_loaders():
    model = _model()
    x, y = _blobs(n=50)
    from_tensor = predict(model, x, batch_size=7)
    from_loader = predict(model, BatchLoader(x, y, 16))
    assert from_tensor.shape == (50, 2)
    assert torch.allclose(from_tensor, from_loader)
    with pytest.raises(ValueError, match="nothing to predict"):
        predict(model, torch.zeros(0, 2))


def test_evaluate_on_an_empty_loader_is_reported():
    with pytest.raises(ValueError, match="no batches"):
        evaluate(_model(), [], nn.CrossEntropyLoss())


def test_progress_bar_shows_live_loss(capsys):
    train, _ = _loaders()
    model = _model()
    fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 1,
        metrics={"acc": accuracy}, device="cpu")
    shown = capsys.readouterr()
    assert "epoch 1/1" in shown.err and "loss=" in shown.err  # the bar, with the running loss
    assert "epoch 1/1: train_loss" in shown.out and "train_acc" in shown.out  # one summary line per epoch


def test_one_cycle_scheduler_steps_every_batch():
    train, _ = _loaders()  # 10 batches per epoch
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=2, steps_per_epoch=len(train))
    fit(model, train, nn.CrossEntropyLoss(), optimizer, 2, scheduler=scheduler, scheduler_interval="batch",
        progress=False, device="cpu")
    assert scheduler.last_epoch == 20  # OneCycleLR raises if stepped past its total
    with pytest.raises(ValueError, match="'epoch' or 'batch'"):
        fit(model, train, nn.CrossEntropyLoss(), optimizer, 1, scheduler=scheduler, scheduler_interval="step")


def test_combinations_that_cannot_work_are_refused_not_ignored():
    model = _model()
    train, val = _loaders()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(sgd)
    cases = [
        (dict(optimizer={"g": sgd, "d": sgd}), TypeError, "several optimizers"),
        (dict(optimizer=None), TypeError, "torch.optim.Optimizer"),
        (dict(patience=2), ValueError, "pass a val_loader"),
        (dict(scheduler_interval="batch"), ValueError, "without a scheduler"),
        (dict(scheduler=plateau, scheduler_interval="batch", val_loader=val), ValueError, "per epoch"),
    ]
    for options, error, message in cases:
        arguments = {"optimizer": sgd, **options}
        optimizer = arguments.pop("optimizer")
        with pytest.raises(error, match=message):
            fit(model, train, nn.CrossEntropyLoss(), optimizer, 1, progress=False, device="cpu", **arguments)


class _ModeRecorder(nn.Module):
    """A linear layer that records whether it ran in training mode, batch by batch."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.modes: list[bool] = []

    def forward(self, x):
        self.modes.append(self.training)
        return self.linear(x)


def test_fit_trains_in_training_mode_and_validates_in_evaluation_mode():
    train, val = _loaders()
    model = _ModeRecorder()
    model.eval()  # as a notebook leaves it after looking at predictions
    fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 1, val_loader=val,
        progress=False, device="cpu")
    assert model.modes == [True] * len(train) + [False] * len(val)


def test_evaluate_and_predict_switch_to_evaluation_mode():
    _, val = _loaders()
    model = _ModeRecorder()
    model.train()
    evaluate(model, val, nn.CrossEntropyLoss())
    model.train()
    predict(model, torch.zeros(5, 2))
    assert model.modes == [False] * (len(val) + 1)


def _label_mean_loss(outputs, targets):
    """A loss equal to the batch's mean label (plus 0 x outputs, so it has a gradient)."""
    return (outputs * 0).sum() + targets.float().mean()


def test_losses_are_averaged_per_sample_not_per_batch():
    # 10 samples in batches of 4, 4 and 2: the per-batch average of the batch means differs.
    x = torch.zeros(10, 2)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    loader = BatchLoader(x, y, 4)
    model = _model()
    per_sample = y.float().mean().item()  # 0.6; averaging the batch means would give (0 + 1 + 1) / 3
    assert evaluate(model, loader, _label_mean_loss)["loss"] == pytest.approx(per_sample)
    trained = train_one_epoch(model, loader, _label_mean_loss, torch.optim.SGD(model.parameters(), lr=0.0))
    assert trained["loss"] == pytest.approx(per_sample)


def test_train_one_epoch_is_the_week_2_loop():
    # The loop mentees write in week 2 lesson 03, by hand; the shared one must take the very same steps.
    def by_hand(model, loader, loss_fn, optimizer):
        model.train()
        total, seen = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            seen += len(x)
        return total / seen

    train, _ = _loaders(shuffle=False)
    ours, theirs = _model(), _model()
    ours_loss = train_one_epoch(ours, train, nn.CrossEntropyLoss(), torch.optim.SGD(ours.parameters(), lr=0.1,
                                                                                     momentum=0.9))["loss"]
    their_loss = by_hand(theirs, train, nn.CrossEntropyLoss(), torch.optim.SGD(theirs.parameters(), lr=0.1,
                                                                                momentum=0.9))
    assert ours_loss == pytest.approx(their_loss)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))


def test_fit_runs_a_train_step_of_its_own_with_two_optimizers():
    # A GAN-like step: two networks, two optimizers, two losses. fit keeps epochs, averages and history.
    torch.manual_seed(0)
    first, second = nn.Linear(4, 1), nn.Linear(4, 1)
    both = nn.ModuleDict({"first": first, "second": second})
    opt_first = torch.optim.SGD(first.parameters(), lr=0.1)
    opt_second = torch.optim.SGD(second.parameters(), lr=0.1)
    calls = []

    def train_step(x, y):
        calls.append(len(x))
        losses = {}
        for name, net, opt in (("first_loss", first, opt_first), ("second_loss", second, opt_second)):
            opt.zero_grad()
            loss = ((net(x).squeeze(1) - y.float()) ** 2).mean()
            loss.backward()
            opt.step()
            losses[name] = loss.item()
        return losses

    x, y = torch.randn(30, 4), torch.randint(0, 2, (30,))
    loader = BatchLoader(x, y, 10)
    before = [p.detach().clone() for p in both.parameters()]
    history = fit(both, loader, None, None, 3, train_step=train_step, progress=False, device="cpu")
    assert calls == [10] * 9
    assert set(history) == {"train_first_loss", "train_second_loss", "seconds"}
    assert history["train_first_loss"][-1] < history["train_first_loss"][0]
    assert all(not torch.equal(a, b) for a, b in zip(before, both.parameters(), strict=True))


def test_a_train_step_that_returns_nan_stops_training():
    loader = BatchLoader(torch.randn(20, 4), torch.zeros(20), 10)
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1"):
        fit(nn.Linear(4, 1), loader, None, None, 2, train_step=lambda x, y: {"loss": float("nan")},
            progress=False, device="cpu")


def test_missing_pieces_without_a_train_step_are_explained(tmp_path):
    model = _model()
    train, val = _loaders()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    step = lambda x, y: {"loss": 0.0}  # noqa: E731
    with pytest.raises(ValueError, match="loss_fn is None"):
        fit(model, train, None, sgd, 1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="Validation computes loss_fn"):
        fit(model, train, None, None, 1, val_loader=val, train_step=step, progress=False, device="cpu")
    with pytest.raises(ValueError, match="save them yourself"):
        fit(model, train, None, None, 1, checkpoint=tmp_path / "gan.pt", train_step=step, progress=False,
            device="cpu")
    assert not (tmp_path / "gan.pt").exists()


# ---------------------------------------------------------------------------------------------
# Mixed precision (issue 31): one switch, and only where the hardware computes the lower precision natively


def _dtype_seen(seen: list):
    """A metric that records the dtype the model's outputs had in training."""
    def metric(outputs, targets):
        seen.append(outputs.dtype)
        return 0.0
    return metric


def test_mixed_precision_trains_in_bfloat16_where_the_cpu_has_it(monkeypatch, capsys):
    monkeypatch.setattr("shared.train.has_native_bfloat16", lambda device: True)
    train, val = _loaders()
    model, seen = _model(), []
    history = fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 5,
                  val_loader=val, metrics={"dtype": _dtype_seen(seen)}, device="cpu", mixed_precision=True,
                  progress=True)
    assert "bfloat16 on cpu" in capsys.readouterr().out
    assert set(seen[:len(train)]) == {torch.bfloat16}  # the forward pass of every training batch
    assert seen[-1] == torch.float32  # validation stays in float32
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights themselves stay float32


def test_mixed_precision_stays_in_float32_where_bfloat16_would_be_emulated(monkeypatch, capsys):
    monkeypatch.setattr("shared.train.has_native_bfloat16", lambda device: False)
    weights = []
    for switch in (False, True):
        train, _ = _loaders()
        model = _model()
        fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 3, device="cpu",
            mixed_precision=switch)
        weights.append([p.detach().clone() for p in model.parameters()])
    assert "float32 on cpu, which has no native bfloat16" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_mixed_precision_chooses_float16_with_a_scaler_on_a_gpu_without_bfloat16(monkeypatch):
    from shared.train import mixed_precision_choice

    monkeypatch.setattr("shared.train.has_native_bfloat16", lambda device: False)
    assert mixed_precision_choice("cuda")[0] == torch.float16
    assert mixed_precision_choice("mps")[0] is None
    monkeypatch.setattr("shared.train.has_native_bfloat16", lambda device: True)
    assert mixed_precision_choice("cuda")[0] == torch.bfloat16


def test_float16_steps_go_through_the_gradient_scaler():
    # The CUDA path's loop, run on the CPU (autocast and GradScaler both have CPU versions).
    train, _ = _loaders()
    model, seen = _model(), []
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=1)  # doubles after each good step
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = train_one_epoch(model, train, nn.CrossEntropyLoss(), optimizer, {"dtype": _dtype_seen(seen)},
                            device="cpu", autocast_dtype=torch.float16, scaler=scaler)
    later = [train_one_epoch(model, train, nn.CrossEntropyLoss(), optimizer, device="cpu",
                             autocast_dtype=torch.float16, scaler=scaler)["loss"] for _ in range(4)]
    assert set(seen) == {torch.float16}
    assert later[-1] < first["loss"]
    assert scaler.get_scale() > 2.0 ** 8  # updated: the steps went through the scaler


def test_mixed_precision_with_a_train_step_of_ones_own_is_refused():
    train, _ = _loaders()
    with pytest.raises(ValueError, match="chooses its precision itself"):
        fit(_model(), train, None, None, 1, train_step=lambda x, y: {"loss": 0.0}, mixed_precision=True,
            device="cpu")


def test_the_loss_scale_is_checkpointed_and_resumed(monkeypatch, tmp_path):
    # float16 with a scaler is the CUDA path; here it is chosen on the CPU to test what fit keeps of it.
    monkeypatch.setattr("shared.train.mixed_precision_choice", lambda device: (torch.float16, ""))
    path = tmp_path / "run.pt"
    train, _ = _loaders()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, train, nn.CrossEntropyLoss(), optimizer, 1, checkpoint=path, device="cpu", mixed_precision=True)
    saved = load_checkpoint(path, _model())["scaler"]
    assert saved["scale"] == 2.0 ** 16
    saved["scale"] = 2.0 ** 10  # as if overflows had lowered it before the run stopped
    payload = torch.load(path, weights_only=True)
    payload["state"]["scaler"] = saved
    torch.save(payload, path)
    scales, update = [], torch.amp.GradScaler.update

    def record_then_update(self, *args):
        scales.append(self.get_scale())
        update(self, *args)

    monkeypatch.setattr(torch.amp.GradScaler, "update", record_then_update)
    fit(model, train, nn.CrossEntropyLoss(), optimizer, 2, checkpoint=path, resume=True, device="cpu",
        mixed_precision=True)
    assert scales and set(scales) == {2.0 ** 10}
