"""The benchmarks run and report what they measured: a benchmark that has rotted cannot back a claim.

bench.full_notebooks is checked on notebooks written here, whose printed accuracy, wall time and errors
are known in advance; the other benchmarks run in their smallest setting on the data pack.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from bench import full_notebooks
from shared import config

REPO = Path(__file__).resolve().parents[1]
# A benchmark's smoke run trains for real (10-40 s): `make test` runs them all, `make quick` leaves them out.
SMOKE_RUN = pytest.mark.slow
ROW = re.compile(r"^(\S.*?)\s+([\d,]+) samples/s$", re.MULTILINE)


def _run(module, *arguments, env=None, timeout=300):
    done = subprocess.run([sys.executable, "-m", module, *map(str, arguments)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env)
    return done


def _refusal(main, capsys, *arguments) -> str:
    """Return what a benchmark's command line says on stderr when it refuses its arguments (exit status 2).

    Called in this process: a refusal comes before any run, and a new interpreter would spend 3 s importing
    PyTorch to print one line.
    """
    with pytest.raises(SystemExit) as stopped:
        main([str(argument) for argument in arguments])
    assert stopped.value.code == 2
    return capsys.readouterr().err


@SMOKE_RUN
def test_data_pipeline_reports_every_pipeline(tiny_dir):
    done = _run("bench.data_pipeline", "--data-dir", tiny_dir, "--tiny", "--samples", "300", "--workers", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "python -m bench.data_pipeline" in done.stdout and "date    : " in done.stdout
    rates = {name: float(rate.replace(",", "")) for name, rate in ROW.findall(done.stdout)}
    assert list(rates) == ["torchvision PIL pipeline, DataLoader num_workers=0",
                           "torchvision v2 on uint8 tensors, DataLoader num_workers=0",
                           "shared BatchLoader + BatchTransform (one process)"]
    assert all(rate > 0 for rate in rates.values())
    speedup = float(re.search(r"RESULT  : ([\d.]+)x", done.stdout).group(1))
    expected = rates["shared BatchLoader + BatchTransform (one process)"] / max(list(rates.values())[:2])
    assert speedup == pytest.approx(expected, abs=0.051)


@SMOKE_RUN
def test_trainer_overhead_reports_all_three_loops(tiny_dir):
    done = _run("bench.trainer_overhead", "--data-dir", tiny_dir, "--tiny", "--samples", "256", "--epochs", "1",
                "--repeats", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "timing_cnn" in done.stdout
    loops = ("hand-written loop", "fit (progress bar + accuracy)", "fit + TensorBoardLogger")
    medians = {name: float(m) for name, m in re.findall(
        r"^(hand-written loop|fit \(progress bar \+ accuracy\)|fit \+ TensorBoardLogger)\s+wall median\s+([\d.]+) s",
        done.stdout, re.MULTILINE)}
    assert set(medians) == set(loops) and all(m > 0 for m in medians.values()), done.stdout
    overhead, tracking = (float(v) for v in re.search(
        r"wall time: fit overhead ([+-][\d.]+)% .* tracking adds ([+-][\d.]+)%", done.stdout).groups())
    base, ours, tracked = (medians[name] for name in loops)
    # The printed medians are rounded to 0.01 s, so percentages computed from them are only that exact.
    rounding = 100 * (0.005 / base + 0.005 * ours / base ** 2) + 0.1
    assert overhead == pytest.approx(100 * (ours - base) / base, abs=rounding)
    rounding = 100 * (0.005 / ours + 0.005 * tracked / ours ** 2) + 0.1
    assert tracking == pytest.approx(100 * (tracked - ours) / ours, abs=rounding)
    assert "CPU time: fit overhead" in done.stdout


def test_benchmarks_hold_no_copies_of_lesson_models():
    """A lesson's claim is measured by running the lesson; a copy of its model drifts away from it."""
    for path in (REPO / "bench").glob("*.py"):
        text = path.read_text()
        assert "LeNet5" not in text and "def cifar_cnn" not in text and "def make_mlp" not in text, path.name
    for removed in ("cifar_cnn.py", "lenet_mnist.py", "mlp_mnist.py"):
        assert not (REPO / "bench" / removed).exists()


# ---------------------------------------------------------------------------------------------
# bench.full_notebooks


def _notebook(path, *sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def data_folder(tmp_path):
    """A data folder with a small cifar10.npz, so the record of the run has something to describe."""
    folder = tmp_path / "data"
    folder.mkdir()
    np.savez(folder / "cifar10.npz", x_train=np.zeros((3, 32, 32, 3), np.uint8), y_train=np.zeros(3, np.int64),
             x_test=np.zeros((2, 32, 32, 3), np.uint8), y_test=np.zeros(2, np.int64), classes=np.array(["a"]))
    return folder


def test_full_notebooks_records_time_accuracy_and_data(tmp_path, data_folder, monkeypatch):
    lesson = _notebook(
        tmp_path / "lesson.ipynb",
        "import os, time\nQUICK = True  # the lesson's own switch",
        # Full mode, and the data folder the benchmark was pointed at:
        f"assert 'DIC_TINY' not in os.environ\nassert os.environ['DIC_DATA_DIR'] == {str(data_folder)!r}",
        "time.sleep(1.5)\nprint('loss 0.25')\nprint('warming up')",
        "print(f\"test accuracy {'61.0%' if QUICK else '73.5%'}\")\nprint('Validation Accuracy: 0.70')",
    )
    env = {**os.environ, "DIC_TINY": "1"}  # the benchmark must switch tiny mode off itself
    done = _run("bench.full_notebooks", "--data-dir", data_folder, "--set", "QUICK=False", lesson, env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    out = done.stdout
    assert f"data dir: {data_folder} (from --data-dir)" in out
    assert re.search(r"cifar10\.npz: [\d,]+ bytes, 3 train / 2 test images, sha256 [0-9a-f]{16}\n", out)
    assert "mode    : full (DIC_TINY unset); --set QUICK=False" in out
    seconds = float(re.search(r"lesson\.ipynb: ([\d.]+) s, ran cleanly", out).group(1))
    assert 1.5 <= seconds < 120
    printed = re.findall(r"^    (.*)$", out[out.index("lesson.ipynb: "):], re.MULTILINE)
    assert printed == ["test accuracy 73.5%", "Validation Accuracy: 0.70"]
    assert "RESULT  : 1 notebook(s) ran cleanly in full mode" in out


def test_full_notebooks_fails_on_a_notebook_with_an_error(tmp_path, data_folder):
    broken = _notebook(tmp_path / "broken.ipynb", "print('test accuracy 10%')", "1 / 0", "print('after')")
    done = _run("bench.full_notebooks", "--data-dir", data_folder, "--keep", tmp_path / "executed", broken)
    assert done.returncode == 1
    assert re.search(r"broken\.ipynb: [\d.]+ s, 1 error\(s\)\n    ERROR: ZeroDivisionError: division by zero\n"
                     r"    test accuracy 10%\n", done.stdout), done.stdout
    assert "RESULT  : 1 notebook(s) with errors in full mode" in done.stdout
    # --keep wrote the executed copy, outputs and error included; the lesson itself stays without outputs.
    kept = nbformat.read(tmp_path / "executed" / "broken.ipynb", 4)
    assert kept.cells[0].outputs[0]["text"] == "test accuracy 10%\n"
    assert kept.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert not any(c.outputs for c in nbformat.read(broken, 4).cells)


def test_full_notebooks_will_not_keep_outputs_beside_the_lessons(tmp_path):
    lesson = _notebook(tmp_path / "lesson.ipynb", "print('never run')")
    done = _run("bench.full_notebooks", "--keep", tmp_path, lesson)
    assert done.returncode != 0 and "choose a folder outside the lessons" in done.stderr


def test_full_notebooks_set_must_hit_exactly_one_assignment(tmp_path):
    lesson = _notebook(tmp_path / "lesson.ipynb", "QUICK = True\nif QUICK == True:\n    QUICK = 1", "EPOCHS: int = 3")
    notebook = nbformat.read(lesson, as_version=4)
    full_notebooks.apply_overrides(notebook, {"QUICK": "False", "EPOCHS": "15"})
    assert notebook.cells[0].source.startswith("QUICK = False  # set by bench.full_notebooks --set\nif QUICK == True:")
    assert notebook.cells[1].source.startswith("EPOCHS = 15")
    with pytest.raises(SystemExit, match="0 top-level assignments to SIZE"):
        full_notebooks.apply_overrides(notebook, {"SIZE": "1"})
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        full_notebooks.parse_overrides(["QUICK"])
    # The command line refuses before it starts any kernel or prints a record.
    with pytest.raises(SystemExit, match="0 top-level assignments to SIZE"):
        full_notebooks.main(["--set", "SIZE=1", str(lesson)])


# bench.cifar_speedrun: its parts are checked on small tensors (a real run takes minutes).

def test_speedrun_whitening_filters_whiten_the_patches():
    from bench.cifar_speedrun import whitening_filters

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    # Correlated channels and neighbouring pixels, as in photos.
    base = torch.randn(200, 1, 17, 17).repeat(1, 3, 1, 1) + 0.3 * torch.randn(200, 3, 17, 17)
    images = base + torch.roll(base, 1, dims=3)
    filters = whitening_filters(images, eps=1e-6)
    assert filters.shape == (24, 3, 2, 2)
    assert torch.allclose(filters[:12], -filters[12:])
    out = torch.nn.functional.conv2d(images, filters[:12]).permute(0, 2, 3, 1).reshape(-1, 12).double()
    covariance = torch.cov(out.T)
    assert torch.allclose(covariance, torch.eye(12, dtype=torch.float64), atol=0.02)


def test_speedrun_schedule_and_augmentation():
    import torch

    from bench.cifar_speedrun import augment, triangle

    assert triangle(0, 100) == pytest.approx(0.2)
    assert triangle(23, 100) == pytest.approx(1.0)
    assert triangle(100, 100) == pytest.approx(0.07)
    assert triangle(10, 100) < triangle(20, 100) and triangle(50, 100) > triangle(90, 100)
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    flip = torch.tensor([True, False])
    generator = torch.Generator().manual_seed(0)
    even, odd = augment(images, 0, flip, 0, generator), augment(images, 1, flip, 0, generator)
    assert torch.equal(even[0], images[0].flip(2)) and torch.equal(even[1], images[1])
    assert torch.equal(odd[0], images[0]) and torch.equal(odd[1], images[1].flip(2))  # flips alternate
    shifted = augment(images, 0, torch.tensor([False, False]), 2, generator)
    assert shifted.shape == images.shape
    # A shift by up to 2 pixels keeps the middle of each image somewhere in the output.
    assert all(torch.isin(images[i, 0, 4, 4], shifted[i]) for i in range(2))


@SMOKE_RUN
def test_speedrun_runs_end_to_end_reports_its_split_and_says_when_its_photos_were_recompressed(tiny_dir):
    # One run for both facts (a speed run is the suite's slowest bench): the report, and --jpeg-quality's line.
    done = _run("bench.cifar_speedrun", "--data-dir", tiny_dir, "--tiny", "--kimages", "1", "--widths", "8", "16",
                "16", "--lr", "10", "--jpeg-quality", "50", "--threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reported on 500: test split of the file" in done.stdout
    # bfloat16 only where the CPU computes in it natively (this test passes on either kind of CPU).
    native = config.has_native_bfloat16("cpu")
    assert f"recipe  : widths 8/16/16, lr 10, {'bfloat16' if native else 'float32'} (" in done.stdout
    assert re.search(r"^cpu     : \S", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"accuracy\s+seconds\s+train s\s+images/s\s+no TTA\s+mirror$", done.stdout, re.MULTILINE)
    row = re.search(r"^\s+1\s+0\.\d+\s+0\s+([\d.]+)%\s+[\d.]+\s+[\d.]+\s+\d+\s+([\d.]+)%\s+([\d.]+)%$",
                    done.stdout, re.MULTILINE)
    assert row and all(0 <= float(row.group(i)) <= 100 for i in (1, 2, 3)), done.stdout
    assert "summary : 1k images" in done.stdout
    moved = re.search(r"^photos  : compressed once more as JPEG at quality 50 \(training and test\); a training "
                      r"pixel moved by ([\d.]+) grey levels on average$", done.stdout, re.MULTILINE)
    assert moved and float(moved.group(1)) > 0.5, done.stdout


def test_speedrun_recompress_keeps_the_photos_shape_and_loses_more_at_low_quality():
    import torch

    from bench.cifar_speedrun import mean_change, recompress

    gradient = torch.arange(32, dtype=torch.uint8).repeat(32, 1) * 8
    images = torch.stack([torch.stack([gradient, gradient.T, 255 - gradient])] * 2)
    images[1, :, ::2, ::2] = 0  # fine texture, which JPEG quantises away first
    changes = {}
    for quality in (95, 10):
        out = recompress(images, quality)
        assert out.shape == images.shape and out.dtype == torch.uint8
        changes[quality] = mean_change(images, out)
    assert 0 < changes[95] < changes[10], changes


@pytest.mark.parametrize("quality", ["0", "96"])
def test_speedrun_refuses_a_jpeg_quality_outside_pillows_range(tiny_dir, quality, capsys):
    from bench.cifar_speedrun import main

    said = _refusal(main, capsys, "--data-dir", tiny_dir, "--tiny", "--jpeg-quality", quality)
    assert f"--jpeg-quality {quality}: give a JPEG quality from 1 to 95" in said


def test_jpeg_distortion_measures_both_photo_sets(tiny_dir):
    done = _run("bench.jpeg_distortion", "--data-dir", tiny_dir, "--tiny", "--qualities", "75", "25")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(its 500 test-split photos); 50 bird photos of the pack at 32x32" in done.stdout
    rows = {int(q): [float(v) for v in values] for q, *values in
            re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", done.stdout, re.MULTILINE)}
    assert sorted(rows) == [25, 75], done.stdout
    # Compressing photos already at quality 75 at 75 again barely moves them; a first compression does.
    assert rows[75][0] < 1 and rows[75][2] < 1 and rows[75][1] > 2, rows
    assert all(rows[25][i] > rows[75][i] for i in range(3)), rows


@SMOKE_RUN
def test_week5_generative_runs_end_to_end_and_reports_its_split(tiny_dir):
    # Two judges instead of the default committee of five: the same code path, 9 s less.
    done = _run("bench.week5_generative", "--data-dir", tiny_dir, "--tiny", "--threads", "1", "--gan-minutes", "0.02",
                "--mlp-gan-minutes", "0.02", "--gan-pack", "4", "--judges", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "python -m bench.week5_generative" in out and "date    : " in out
    assert out.count("reported on 500: test split of the file") == 2  # MNIST and Fashion-MNIST
    assert re.search(r"^model\s+data\s+train s\s+test MSE\s+PSNR dB\s+FD\s+min cls\s+max cls", out, re.MULTILINE)
    accuracies = re.findall(r"^DigitFeatures \(judge (\d), .*test accuracy ([\d.]+)%$", out, re.MULTILINE)
    assert [number for number, _ in accuracies] == ["1", "2"], out
    assert all(0 <= float(value) <= 100 for _, value in accuracies), out
    for name in ("MLP autoencoder, code 32", "conv autoencoder, code 32"):
        rows = re.findall(rf"^{name}\s+(MNIST|Fashion)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)\s", out, re.MULTILINE)
        assert [r[0] for r in rows] == ["MNIST", "Fashion"], out
        assert all(0 <= float(mse) <= 1 for _, mse, _ in rows)
    for name in ("noisy input, sigma 0.5", "denoiser"):  # MSE and PSNR, no generation figures
        match = re.search(rf"^{re.escape(name)}.*\s([\d.]+)\s+([\d.]+)\s+-\s+-\s+-\s+-\s+(before|after) denoising",
                          out, re.MULTILINE)
        assert match and 0 <= float(match.group(1)) <= 1 and float(match.group(2)) > 0, out
    for name in ("ConvVAE, latent 16", "DCGAN, 0.02 min budget", "MLP GAN, 0.02 min budget",
                 "floor: test set vs training set"):
        match = re.search(rf"^{re.escape(name)}\s+MNIST\s.*?([\d.]+)\s+([\d.]+)%\s+([\d.]+)%\s+(yes|no)\s", out,
                          re.MULTILINE)
        assert match, f"no row for {name}:\n{out}"
        fd, low, high, ok = float(match.group(1)), float(match.group(2)), float(match.group(3)), match.group(4)
        assert fd >= 0 and 0 <= low <= high <= 100 and ok == ("yes" if low >= 5 and high <= 15 else "no")
    assert re.search(r"^DCGAN, 0\.02 min budget .*spectral-norm D on packs of 4, hinge loss, [\d.]+ epochs$", out,
                     re.MULTILINE), out
    coverage = re.findall(r"^(VAE samples|DCGAN|MLP GAN|test set \(real digits\))\s+((?:[\d.]+\s*){10})$", out,
                          re.MULTILINE)
    assert len(coverage) == 4, out
    assert all(sum(map(float, row.split())) == pytest.approx(100, abs=0.6) for _, row in coverage)
    alone = re.findall(r"^(VAE samples|DCGAN|MLP GAN|test set \(real digits\))\s+judges alone "
                       r"((?:[\d.]+-[\d.]+%(?:, )?){2}); unsure ([\d.]+)%$", out, re.MULTILINE)
    assert len(alone) == 4 and all(0 <= float(unsure) <= 100 for *_, unsure in alone), out
    assert re.search(r"^total   : \d+ s$", out, re.MULTILINE)


def test_week5_generative_refuses_a_committee_without_judges(tiny_dir, capsys):
    from bench.week5_generative import main

    said = _refusal(main, capsys, "--data-dir", tiny_dir, "--tiny", "--judges", "0")
    assert "--judges must be at least 1, got 0" in said, said


@pytest.mark.parametrize("flags, message", [
    (["--gan-pack", "3"], "--gan-pack must divide the batch of 128 images into whole packs (1, 2, 4, 8, ...), got 3"),
    (["--gan-pack", "0"], "--gan-pack must divide the batch of 128 images into whole packs (1, 2, 4, 8, ...), got 0"),
    (["--gan-pack", "2", "--gan-discriminator", "batchnorm"], "--gan-pack applies to the spectral-norm "
                                                              "discriminator only"),
])
def test_week5_generative_refuses_a_pack_it_cannot_form(tiny_dir, flags, message, capsys):
    from bench.week5_generative import main

    said = _refusal(main, capsys, "--data-dir", tiny_dir, "--tiny", *flags)
    assert message in said, said


def test_packed_discriminator_gives_one_verdict_per_pack_of_consecutive_images():
    import torch

    from bench.week5_generative import Pack, spectral_norm_discriminator

    images = torch.arange(4 * 28 * 28, dtype=torch.float32).reshape(4, 1, 28, 28)
    packs = Pack(2)(images)
    assert packs.shape == (2, 2, 28, 28)
    assert torch.equal(packs[1, 0], images[2, 0]) and torch.equal(packs[1, 1], images[3, 0])
    assert spectral_norm_discriminator(pack=4)(torch.zeros(8, 1, 28, 28)).shape == (2, 1)
    with pytest.raises(ValueError, match="batch size must be a multiple of 4; got 6 images"):
        spectral_norm_discriminator(pack=4)(torch.zeros(6, 1, 28, 28))


@SMOKE_RUN
def test_week5_generative_measures_only_the_parts_asked_for(tiny_dir):
    done = _run("bench.week5_generative", "--data-dir", tiny_dir, "--tiny", "--threads", "1", "--parts",
                "reconstruction")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "parts   : reconstruction" in out
    assert re.search(r"^conv autoencoder, code 32\s+Fashion", out, re.MULTILINE) and "denoiser" in out, out
    for absent in ("DigitFeatures", "ConvVAE", "DCGAN", "floor:", "coverage:"):
        assert absent not in out, f"{absent} measured although only reconstruction was asked for:\n{out}"
    assert re.search(r"^total   : \d+ s$", out, re.MULTILINE)


@SMOKE_RUN
def test_tabular_contest_trains_on_one_csv_and_writes_a_valid_submission_for_another(tmp_path, tiny_dir):
    """The kit's promise: train on one table, predict another (here a contest made from the tiny table)."""
    from mentor_tools.leaderboard import check_submission, prepare_tabular_contest, update_leaderboard

    contest = prepare_tabular_contest(Path(tiny_dir) / "tabular_tiny_standin.csv", tmp_path / "contest")
    out = tmp_path / "submission.csv"
    done = _run("bench.tabular_contest", "--train", contest / "public" / "train.csv", "--predict",
                contest / "public" / "test.csv", "--out", out, "--tiny", "--threads", "1", timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "python -m bench.tabular_contest" in done.stdout and "date    : " in done.stdout
    check_submission(out, contest / "public")  # raises with the reason if the file is malformed
    (contest / "submissions" / "kit").mkdir(parents=True)
    out.rename(contest / "submissions" / "kit" / "submission.csv")
    board = update_leaderboard(contest)
    assert len(board) == 1 and 0 < float(board.iloc[0]["public_log_loss"]) < 2.2, board  # uniform: ln 9 = 2.2


# ---------------------------------------------------------------------------------------------
# bench.full_notebooks: the record of runs (bench/notebook_runs.json), and its seed from RESULTS.md


def _clean(key, seconds=12.5, headline="test accuracy 90%", overrides=None, date="2026-12-01T10:00:00+00:00"):
    return {"seconds": seconds, "headline": headline, "lines": [headline], "errors": [], "date": date,
            "machine": {"cores": 2}, "data": [], "overrides": overrides or {}, "command": f"python -m ... {key}",
            "source": "bench.full_notebooks"}


def test_full_notebooks_records_the_run_and_keeps_the_other_notebooks(tmp_path, data_folder):
    import datetime
    import json

    record = tmp_path / "runs.json"
    record.write_text(json.dumps({"week9/01_other.ipynb": _clean("week9/01_other.ipynb")}))
    lesson = _notebook(tmp_path / "lesson.ipynb", "print('validation accuracy 70%')\nprint('test accuracy 71.5%')",
                       "print('Headline: 71.5% on the test set, as the lesson says')\nprint('parameters: 1,000')")
    done = _run("bench.full_notebooks", "--data-dir", data_folder, "--record", record, lesson)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    key = lesson.resolve().as_posix()  # outside the repository: keyed by its absolute path
    assert f"record  : {key}: recorded in {record}" in done.stdout
    runs = full_notebooks.load_runs(record)
    assert set(runs) == {"week9/01_other.ipynb", key}
    assert runs["week9/01_other.ipynb"] == _clean("week9/01_other.ipynb")
    entry = runs[key]
    assert entry["headline"] == "71.5% on the test set, as the lesson says"
    assert entry["lines"] == ["validation accuracy 70%", "test accuracy 71.5%",
                              "Headline: 71.5% on the test set, as the lesson says", "parameters: 1,000"]
    assert isinstance(entry["seconds"], float) and 0 < entry["seconds"] < 120
    assert entry["errors"] == [] and entry["overrides"] == {} and entry["source"] == "bench.full_notebooks"
    assert datetime.datetime.fromisoformat(entry["date"]).tzinfo is not None
    assert {"cpu", "cores", "torch", "threads", "cpu_capability", "settings"} <= set(entry["machine"])
    assert len(entry["data"]) == 1 and entry["data"][0].startswith("cifar10.npz: ")  # the describe_data_dir line
    assert entry["command"].startswith("python -m bench.full_notebooks --data-dir ") and str(lesson) in entry["command"]
    assert list(tmp_path.glob(".runs.json.*")) == []  # no temporary file left behind


def test_full_notebooks_keeps_a_clean_run_when_a_later_one_fails(tmp_path, data_folder, monkeypatch, capsys):
    """Driven through main() with a stand-in for the notebook run: what is recorded, not the kernel, is tested."""
    monkeypatch.setenv("DIC_DATA_DIR", str(data_folder))  # main() sets these: monkeypatch restores them
    monkeypatch.delenv("DIC_TINY", raising=False)
    lesson, record = _notebook(tmp_path / "lesson.ipynb", "QUICK = True"), tmp_path / "runs.json"
    outcomes = iter([(30.0, ["test accuracy 80%"], []), (5.0, ["test accuracy 11%"], ["ZeroDivisionError: oops"]),
                     (31.0, ["test accuracy 81%"], []), (1.0, [], ["CellTimeoutError: a cell took too long"])])

    def fake_run(path, timeout, overrides=None, keep=None):
        seconds, lines, errors = next(outcomes)
        return full_notebooks.NotebookRun(path, seconds, lines, errors)

    monkeypatch.setattr(full_notebooks, "run", fake_run)
    key = lesson.resolve().as_posix()
    arguments = ["--data-dir", str(data_folder), "--record", str(record), str(lesson)]

    assert full_notebooks.main(arguments) == 0
    first = full_notebooks.load_runs(record)[key]
    assert (first["seconds"], first["headline"], first["errors"]) == (30.0, "test accuracy 80%", [])

    assert full_notebooks.main(arguments) == 1
    out = capsys.readouterr().out
    assert f"NOT recorded: it failed, and the clean run of {first['date']} stays" in out
    kept = full_notebooks.load_runs(record)[key]
    assert {k: v for k, v in kept.items() if k != "last_failure"} == first
    assert kept["last_failure"]["errors"] == ["ZeroDivisionError: oops"] and kept["last_failure"]["seconds"] == 5.0

    assert full_notebooks.main(arguments) == 0  # a clean run replaces it, and the old failure goes
    replaced = full_notebooks.load_runs(record)[key]
    assert replaced["headline"] == "test accuracy 81%" and "last_failure" not in replaced

    full_notebooks.save_runs({}, record)  # with no clean run on record, the failure is what there is
    assert full_notebooks.main(arguments) == 1
    assert "recorded a failed run (no clean run on record)" in capsys.readouterr().out
    assert full_notebooks.load_runs(record)[key]["errors"] == ["CellTimeoutError: a cell took too long"]


def test_record_keeps_a_recipe_picked_with_set_as_a_variant():
    shipped, variant = _clean("a", 577.4), _clean("a", 2421.5, "77.6%", {"QUICK": "False"})
    entry, done = full_notebooks.merge_run(None, variant)  # only a --set run so far: it takes the top
    assert entry == variant and done == "recorded"
    entry, done = full_notebooks.merge_run(entry, shipped)  # the lesson as it ships takes the top
    assert {k: v for k, v in entry.items() if k != "variants"} == shipped
    assert entry["variants"] == {"QUICK=False": variant} and done == "recorded"
    newer = _clean("a", 2400.0, "77.9%", {"QUICK": "False"})
    entry, done = full_notebooks.merge_run(entry, newer)
    assert entry["seconds"] == 577.4 and entry["variants"]["QUICK=False"] == newer
    assert done == "recorded (variants['QUICK=False'])"


def test_record_is_replaced_atomically(tmp_path, monkeypatch):
    record = tmp_path / "runs.json"
    full_notebooks.save_runs({"a.ipynb": _clean("a")}, record)
    assert record.stat().st_mode & 0o777 == 0o644  # readable by the course's pages, unlike a fresh mkstemp file
    before = record.read_bytes()

    def interrupted(source, target):
        raise KeyboardInterrupt  # the moment between writing the new record and putting it in place

    monkeypatch.setattr(full_notebooks.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        full_notebooks.update_record(record, "b.ipynb", _clean("b"))
    assert record.read_bytes() == before and list(tmp_path.iterdir()) == [record]
    monkeypatch.undo()
    full_notebooks.update_record(record, "b.ipynb", _clean("b"))
    assert set(full_notebooks.load_runs(record)) == {"a.ipynb", "b.ipynb"}


def test_load_runs_reads_nothing_from_a_missing_file_and_refuses_a_corrupt_one(tmp_path, monkeypatch):
    assert full_notebooks.load_runs(tmp_path / "absent.json") == {}
    corrupt = tmp_path / "runs.json"
    corrupt.write_text('{"week1/01.ipynb": {"seconds": 3.')  # cut off mid-write
    with pytest.raises(full_notebooks.RecordError, match=r"runs\.json is not a record of notebook runs: invalid JSON"):
        full_notebooks.load_runs(corrupt)
    corrupt.write_text('[["week1/01.ipynb", 3.5]]')
    with pytest.raises(ValueError, match="expected a JSON object of"):
        full_notebooks.load_runs(corrupt)
    # The command line refuses before it runs anything, and leaves the file for a person to look at.
    monkeypatch.setattr(full_notebooks, "run", lambda *a, **k: pytest.fail("ran a notebook with a corrupt record"))
    lesson = _notebook(tmp_path / "lesson.ipynb", "print('test accuracy 1%')")
    with pytest.raises(SystemExit, match="--record: .* expected a JSON object"):
        full_notebooks.main(["--record", str(corrupt), str(lesson)])
    assert corrupt.read_text() == '[["week1/01.ipynb", 3.5]]'


def test_record_keys_are_paths_in_the_repository(tmp_path):
    assert full_notebooks.record_key(REPO / "week3_cnn_lenet" / "03_lenet5.ipynb") == "week3_cnn_lenet/03_lenet5.ipynb"
    with pytest.raises(ValueError):
        full_notebooks.record_key(tmp_path / "lesson.ipynb")


@pytest.mark.parametrize("lines, expected", [
    ([], ""),
    (["parameters: 60,000", "validation accuracy 97.1%"], "validation accuracy 97.1%"),  # the last line
    (["LeNet-5: test accuracy 99.26%", "validation accuracy 98.9%"], "LeNet-5: test accuracy 99.26%"),  # on test data
    (["held-out accuracy 77.3%", "images/s 1,130"], "held-out accuracy 77.3%"),
    (["test accuracy 61%", "test MSE per pixel, code size 32:"], "test accuracy 61%"),  # announces a table
    (["  Headline: 99% in 2 minutes  ", "test accuracy 98%"], "99% in 2 minutes"),  # the notebook's own choice
    (["Headline: first", "Headline: second", "test accuracy 1%"], "second"),
    (["latest accuracy 50%", "contest accuracy 40%"], "contest accuracy 40%"),  # "test" as a word only
])
def test_headline_rule(lines, expected):
    assert full_notebooks.headline(lines) == expected


SNIPPET = """# Benchmark results

Machine "box": AMD EPYC, 2 cores.

## Week 9 lessons in full mode

2026-11-22, quiet machine.

```
python -m bench.full_notebooks --data-dir ../shared/data week9/0[1-2]*.ipynb
```

| notebook | wall time | what the lesson states, as measured |
| --- | ---: | --- |
| `01_alpha` | 10.5 s | validation 90%, **91.5% test** |
| `02_beta` | 20.0 s; 18.0 s on a quiet machine | runs cleanly; its table is printed |

The wall times of 01 were taken while other jobs shared the two cores.

### Week 9 again (issue 1)

2026-11-23, this machine shared with other jobs (load average 4), `OMP_NUM_THREADS=2`.

```
python -m bench.full_notebooks --data-dir /tmp/cifar_dev week9/01_alpha.ipynb
```

| notebook | wall time (load) | what the lesson states, as measured |
| --- | ---: | --- |
| `01_alpha` | 31.0 s (4.1), 29.0 s (4.0) | **92.0% test** |
| `02_beta` | 1649.4 s (6.6: not the notebook's cost; 18 s quiet, above) | 1% |

**Quiet machine (2026-11-24 10:12 UTC)**, on the CIFAR-10 development copy (a copy):

```
python -m bench.full_notebooks --data-dir /tmp/cifar_dev --set QUICK=False week9/01_alpha.ipynb
```

2,421.5 s (40 min), ran cleanly. Best network, tested once: **77.6%** on the held-out photos.

## From an earlier script, not the lesson's recipe

```
python -m bench.full_notebooks week9/02_beta.ipynb
```

| notebook | wall time | result |
| --- | ---: | --- |
| `02_beta` | 1.0 s | 99% |
"""


def test_seed_reads_the_runs_results_md_reports_and_prefers_the_latest_quiet_one():
    from bench import seed_notebook_runs as seed

    notebooks = ["week9/01_alpha.ipynb", "week9/02_beta.ipynb", "week8/01_alpha_other.ipynb"]
    runs = seed.parse_results(SNIPPET, notebooks)
    found = sorted((r.notebook, r.seconds, bool(r.loaded), r.date) for r in runs)
    assert found == [
        ("week9/01_alpha.ipynb", 10.5, True, "2026-11-22"),  # "The wall times of 01 were taken while ... shared"
        ("week9/01_alpha.ipynb", 29.0, True, "2026-11-23"),
        ("week9/01_alpha.ipynb", 31.0, True, "2026-11-23"),
        ("week9/01_alpha.ipynb", 2421.5, False, "2026-11-24T10:12:00+00:00"),
        ("week9/02_beta.ipynb", 18.0, False, "2026-11-22"),  # the cell's own "on a quiet machine"
        ("week9/02_beta.ipynb", 20.0, False, "2026-11-22"),  # nothing said of it: the section's quiet machine
    ]  # "not the notebook's cost" and the section about an earlier script are left out
    chosen = seed.choose(runs)
    assert set(chosen) == {("week9/01_alpha.ipynb", ""), ("week9/01_alpha.ipynb", "QUICK=False"),
                           ("week9/02_beta.ipynb", "")}
    machine = seed.machine_of(SNIPPET)
    assert machine == 'Machine "box": AMD EPYC, 2 cores.'

    run, others = chosen[("week9/01_alpha.ipynb", "")]  # no quiet run: the latest loaded one, the fastest of it
    entry = seed.entry_of(run, others, machine)
    assert (entry["seconds"], entry["date"], entry["headline"]) == (29.0, "2026-11-23", "92.0% test")
    assert entry["source"] == "bench/RESULTS.md: Week 9 again (issue 1)"
    assert entry["note"].startswith("(loaded machine) load average 4.0")
    assert entry["command"] == "OMP_NUM_THREADS=2 python -m bench.full_notebooks --data-dir /tmp/cifar_dev " \
                               "week9/01_alpha.ipynb"
    assert [o["seconds"] for o in entry["other_runs"]] == [10.5, 31.0]

    run, others = chosen[("week9/02_beta.ipynb", "")]
    entry = seed.entry_of(run, others, machine)
    assert (entry["seconds"], entry["headline"]) == (18.0, "runs cleanly; its table is printed")
    assert entry["note"] == "RESULTS.md on this time: on a quiet machine"
    assert entry["lines"] == ["runs cleanly", "its table is printed"] and entry["machine"]["load"].startswith("quiet")

    run, others = chosen[("week9/01_alpha.ipynb", "QUICK=False")]
    entry = seed.entry_of(run, others, machine)
    assert entry["overrides"] == {"QUICK": "False"} and entry["note"] == "RESULTS.md on this time: (40 min)"
    assert entry["headline"] == "Best network, tested once: 77.6% on the held-out photos"
    assert entry["data"][1] == "RESULTS.md: the CIFAR-10 development copy (a copy)"


# --- bench.architectures_table: lesson 09's table is written from the record, never by hand ---------------

def test_lesson_09s_table_is_the_record_of_the_architecture_lessons_runs(capsys):
    from bench import architectures_table

    assert architectures_table.main(["--check"]) == 0, capsys.readouterr().err


def test_architectures_table_reads_a_lessons_printed_lines_and_says_what_a_run_lacks(tmp_path, capsys):
    from bench import architectures_table

    lines = ["VGG-11 at half width: 2,310,186 parameters, 77.3 MFLOPs per 32x32 photo (a multiply-add counts as 2)",
             "validation accuracy 72.6%", "training throughput 620 images/s (145 s for 5 epoch(s), validation passes "
             "included)", "test accuracy 73.3%"]
    assert architectures_table.summary(lines, "VGG-11 at half width:", "05") == {
        "parameters": 2310186, "mflops": 77.3, "images_per_s": 620, "train_seconds": 145.0,
        "val_accuracy": 0.726, "test_accuracy": 0.733}
    with pytest.raises(architectures_table.RecordGap, match="the test accuracy"):
        architectures_table.summary(lines[:-1], "VGG-11 at half width:", "05")
    record = tmp_path / "runs.json"
    record.write_text('{"week4_papers/04_alexnet.ipynb": {"overrides": {}, "errors": ["ValueError: no"],'
                      ' "lines": [], "date": "2026-12-07"}}', encoding="utf-8")
    assert architectures_table.main(["--record", str(record), "--table", str(tmp_path / "t.csv")]) == 1
    assert "04_alexnet.ipynb: no clean full-mode run" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_week6_seeds_reads_the_lessons_printed_results_and_each_lesson_offers_both_seeds():
    from bench import week6_seeds

    printed = ["validation: mAP@0.5 0.856, mAP@[.5:.95] 0.575 (1000 scenes)",
               "test (1000 scenes): mAP@0.5 0.852, mAP@[.5:.95] 0.570, mAP@0.75 0.60", "197 s of training"]
    assert week6_seeds.figures("detector", printed) == {"val mAP@0.5": 0.856, "test mAP@0.5": 0.852,
                                                        "training seconds": 197.0}
    assert week6_seeds.figures("detector", ["nothing printed"]) == {}
    printed = ["FCN                        pixel accuracy 0.968 | mean IoU: digits 0.373, all classes 0.428 | x",
               "U-Net                      pixel accuracy 0.970 | mean IoU: digits 0.353, all classes 0.41 | x",
               "560 s of training",
               "U-Net, weighted            pixel accuracy 0.990 | mean IoU: digits 0.754, all classes 0.77 | x",
               "U-Net, weighted, validation scenes pixel accuracy 0.990 | mean IoU: digits 0.754, all classes 0.7",
               "U-Net, weighted, test scenes pixel accuracy 0.989 | mean IoU: digits 0.741, all classes 0.76 | x"]
    assert week6_seeds.figures("unet", printed) == {"FCN val mean IoU, digits": 0.373,
                                                    "U-Net val mean IoU, digits": 0.353,
                                                    "weighted U-Net val mean IoU, digits": 0.754,
                                                    "chosen network's test mean IoU, digits": 0.741,
                                                    "weighted U-Net training seconds": 560.0}
    for path in week6_seeds.LESSONS.values():  # the settings the benchmark changes exist, once each
        notebook = nbformat.read(path, as_version=4)
        full_notebooks.apply_overrides(notebook, {"SEED": "1", "SCENE_SEED": "10"})


@SMOKE_RUN
def test_service_latency_measures_both_settings_and_client_counts(tiny_dir):
    done = _run("bench.service_latency", "--tiny", "--requests", 12, "--warmup", 2, "--clients", 1, 4,
                env={**os.environ, "DIC_TINY": "1", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"^\| (off|on \(2 ms, up to 16\)) \| (\d+) \| (\d+) \| .* \| (\S+) \| (\d+) \|$", done.stdout,
                      re.MULTILINE)
    assert [(setting.split()[0], clients, requests) for setting, clients, requests, _, _ in rows] == \
        [("off", "1", "12"), ("off", "4", "12"), ("on", "1", "12"), ("on", "4", "12")], done.stdout
    assert all(failed == "0" for *_, failed in rows)
    assert [batch for setting, _, _, batch, _ in rows if setting == "off"] == ["-"] * 2
    assert all(float(batch) >= 1 for setting, _, _, batch, _ in rows if setting != "off")


def test_service_latency_help_says_how_to_measure(capsys):
    from bench import service_latency

    with pytest.raises(SystemExit):
        service_latency.main(["--help"])
    text = capsys.readouterr().out
    assert "--batching" in text and "OMP_NUM_THREADS=1 python -m bench.service_latency" in text
