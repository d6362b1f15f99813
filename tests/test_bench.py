"""The benchmarks still run (in a small setting): a benchmark that has rotted cannot back a claim."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module, extra", [
    ("bench.data_pipeline", ["--samples", "300"]),
    ("bench.trainer_overhead", ["--samples", "256", "--epochs", "1", "--repeats", "1"]),
    ("bench.lenet_mnist", ["--epochs", "1"]),
    ("bench.mlp_mnist", ["--epochs", "1"]),
    ("bench.cifar_cnn", ["--epochs", "1"]),
])
def test_benchmark_runs_and_reports(module, extra, pack_dir):
    done = subprocess.run([sys.executable, "-m", module, "--data-dir", str(pack_dir), "--tiny", *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"python -m {module}" in done.stdout
    assert "RESULT" in done.stdout
