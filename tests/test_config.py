from pathlib import Path

import numpy as np
import pytest
import torch

from shared import config


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False), ("no", False)])
def test_is_tiny_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("DIC_TINY", value)
    assert config.is_tiny() is expected


def test_is_tiny_rejects_unclear_values(monkeypatch):
    monkeypatch.setenv("DIC_TINY", "maybe")
    with pytest.raises(ValueError, match="DIC_TINY='maybe'"):
        config.is_tiny()


def test_by_mode_picks_the_size_for_the_mode(monkeypatch):
    monkeypatch.setenv("DIC_TINY", "1")
    assert config.by_mode(full=10, tiny=1) == 1
    monkeypatch.delenv("DIC_TINY")
    assert config.by_mode(full=10, tiny=1) == 10


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIC_DATA_DIR", str(tmp_path))
    assert config.data_dir() == tmp_path.resolve()


def test_data_dir_defaults_to_a_user_cache_folder(monkeypatch):
    monkeypatch.delenv("DIC_DATA_DIR", raising=False)
    folder = config.data_dir()
    assert folder.is_absolute()
    assert "deep-into-cnns" in folder.parts
    assert Path.cwd() not in folder.parents


def test_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.delenv("DIC_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.get_device() == torch.device("cpu")


def test_device_prefers_cuda_when_present(monkeypatch):
    monkeypatch.delenv("DIC_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device() == torch.device("cuda")


def test_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("DIC_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device() == torch.device("cpu")


def test_asking_for_a_missing_gpu_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        config.get_device("cuda")


def test_seed_everything_repeats_random_draws():
    config.seed_everything(7)
    first = (torch.rand(3), np.random.rand(3))
    config.seed_everything(7)
    second = (torch.rand(3), np.random.rand(3))
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    config.seed_everything(8)
    assert not torch.equal(first[0], torch.rand(3))


def test_cpu_flags_are_read_from_x86_and_arm_cpuinfo(tmp_path):
    x86, arm = tmp_path / "x86", tmp_path / "arm"
    x86.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\nprocessor\t: 1\n")
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert config.cpu_flags(x86) == {"fpu", "sse2", "avx2", "avx512_bf16"}
    assert config.cpu_flags(arm) == {"fp", "asimd", "bf16"}
    assert config.cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize("flags, native", [({"avx2", "fma"}, False), ({"avx512f", "avx512_bf16"}, True),
                                           ({"amx_bf16"}, True), (set(), False)])
def test_bfloat16_counts_as_native_on_a_cpu_only_with_its_instructions(monkeypatch, flags, native):
    monkeypatch.setattr(config, "cpu_flags", lambda: flags)
    assert config.has_native_bfloat16("cpu") is native


def test_the_speed_run_computes_in_float32_where_bfloat16_is_emulated_unless_told(monkeypatch):
    from bench import cifar_speedrun
    from bench.common import cpu_flags_line

    class Args:
        fp32 = bf16 = False

    monkeypatch.setattr(config, "cpu_flags", lambda: {"sse2", "avx2", "fma"})
    bf16, why = cifar_speedrun.precision_choice(Args())
    assert not bf16 and "none of avx512_bf16, amx_bf16" in why and "--bf16 forces it" in why
    assert cpu_flags_line() == "avx2 fma; no avx512f, avx512_bf16, amx_bf16"
    Args.bf16 = True
    assert cifar_speedrun.precision_choice(Args()) == (True, "asked for")
    monkeypatch.setattr(config, "cpu_flags", lambda: {"sse2", "avx2", "avx512f", "avx512_bf16"})
    Args.bf16 = False
    assert cifar_speedrun.precision_choice(Args())[0]
    Args.fp32 = True
    assert cifar_speedrun.precision_choice(Args()) == (False, "asked for")
