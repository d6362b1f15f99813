import dataclasses
import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from shared import config, data, download
from shared.data import DATASETS, BatchLoader, CorruptDataError, DataNotFoundError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("loader, shape", [
    (data.load_mnist, (1, 28, 28)),
    (data.load_fashion_mnist, (1, 28, 28)),
    (data.load_cifar10, (3, 32, 32)),
])
def test_tiny_image_sets_load_as_uint8_tensors(tiny_env, loader, shape):
    images = loader()
    assert images.x_train.shape == (2000, *shape)
    assert images.x_test.shape == (500, *shape)
    assert images.x_train.dtype == torch.uint8
    assert images.y_train.dtype == torch.int64
    assert len(images.classes) == 10
    assert torch.bincount(images.y_train).tolist() == [200] * 10
    assert images.x_train.float().mean() > 10  # real pixels, not zeros


# ---------------------------------------------------------------------------------------------
# One record per dataset


def test_every_dataset_has_one_read_only_record():
    assert list(DATASETS) == ["mnist", "fashion_mnist", "cifar10", "birds", "tabular"]
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.get_it == f"python -m shared.download {name}"
        assert bool(info.torchvision_class) + bool(info.kaggle_dataset) + bool(info.kaggle_competition) == 1
    with pytest.raises(TypeError):
        DATASETS["mnist"] = DATASETS["cifar10"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS["mnist"].mean = (0.5,)
    with pytest.raises(TypeError):
        DATASETS["mnist"].sha256["mnist.npz"] = "0" * 64
    with pytest.raises(ValueError, match="one mean and one std"):
        dataclasses.replace(DATASETS["cifar10"], std=(0.2,))


def test_old_names_are_views_of_the_records():
    """Notebooks use CHANNEL_STATS and the download module's constants; they must say what the records say."""
    for name, info in DATASETS.items():
        if info.mean is None:
            assert name not in data.CHANNEL_STATS
        else:
            assert data.CHANNEL_STATS[name] == (info.mean, info.std) == info.channel_stats
        for file, digest in info.sha256.items():
            assert data.KNOWN_SHA256[file] == data.known_sha256(file) == digest
    assert len(data.KNOWN_SHA256) == sum(len(info.sha256) for info in DATASETS.values())
    assert download.TORCHVISION_CLASSES == {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
    assert download.KAGGLE_BIRDS == DATASETS["birds"].kaggle_dataset
    assert download.KAGGLE_OTTO == DATASETS["tabular"].kaggle_competition
    with pytest.raises(ValueError, match="no channel statistics"):
        _ = DATASETS["tabular"].channel_stats


def _facts(info):
    """The literal facts of one record, as they would be spelled in code."""
    facts = [f'"{digest}"' for digest in info.sha256.values()]
    facts += [f'"{value}"' for value in (info.torchvision_class, info.kaggle_dataset, info.kaggle_competition)
              if value and value != info.title]  # torchvision's "MNIST" is also the title
    facts += [str(v) for v in (*(info.mean or ()), *(info.std or ()))]
    facts += [f'"{c}"' for c in info.classes if not c.isdigit() and not c.startswith("Class_")]
    return facts


def test_dataset_facts_are_written_down_once():
    """A checksum, a statistic, a class name or a source written twice will one day disagree with itself."""
    sources = {path: path.read_text() for folder in ("shared", "bench", "tiny_data")
               for path in (REPO / folder).glob("*.py")}
    for info in DATASETS.values():
        for fact in _facts(info):
            pattern = re.compile(re.escape(fact) + (r"0*(?![0-9])" if fact[0].isdigit() else ""))
            where = {path.relative_to(REPO).as_posix(): len(pattern.findall(text))
                     for path, text in sources.items() if pattern.search(text)}
            assert where == {"shared/datasets.py": 1}, f"{info.name}: {fact} appears in {where}"


def test_every_tiny_file_matches_the_sha256_its_readme_gives(tiny_dir):
    """tiny_data/README.md lists every data file with its SHA-256; the files, the list and the records agree."""
    listed = dict(line.split("  ", 1)[::-1] for line in (tiny_dir / "README.md").read_text().splitlines()
                  if re.fullmatch(r"[0-9a-f]{64}  \S.*", line))
    present = {p.relative_to(tiny_dir).as_posix() for p in tiny_dir.rglob("*")
               if p.is_file() and p.suffix not in (".md", ".py") and "__pycache__" not in p.parts}
    assert set(listed) == present, f"listed but missing: {set(listed) - present}; unlisted: {present - set(listed)}"
    for name, digest in listed.items():
        assert data.sha256_of(tiny_dir / name) == digest, f"tiny_data/{name} does not match its README"
    for info in DATASETS.values():
        if info.tiny in listed:
            assert info.sha256[info.tiny] == listed[info.tiny], f"{info.name}: the record and the README disagree"


def test_published_statistics_fit_the_full_training_sets(full_env):
    for name in ("mnist", "fashion_mnist"):  # full training sets: the published figures to 4 digits
        x = getattr(data, f"load_{name}")(tiny=False).x_train.double() / 255
        assert x.mean().item() == pytest.approx(DATASETS[name].mean[0], abs=6e-5)
        assert x.std().item() == pytest.approx(DATASETS[name].std[0], abs=6e-5)


def test_published_statistics_fit_the_tiny_cifar_sample(tiny_env):
    x = data.load_cifar10().x_train.double() / 255  # a 2,000-photo sample of a JPEG copy: close, not exact
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.tensor(DATASETS["cifar10"].mean, dtype=torch.double), atol=0.01)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.tensor(DATASETS["cifar10"].std, dtype=torch.double), atol=0.01)


def test_class_names_come_from_the_records(tiny_env):
    for name in ("mnist", "fashion_mnist", "cifar10"):
        assert tuple(getattr(data, f"load_{name}")().classes) == DATASETS[name].classes
    assert set(data.load_tabular()["target"]) == set(DATASETS["tabular"].classes)


def test_a_file_of_another_dataset_is_caught(tiny_dir, tmp_path):
    path = tmp_path / "some.npz"
    shutil.copy(tiny_dir / "fashion_mnist_tiny.npz", path)
    assert data.read_image_npz(path, "fashion_mnist").classes[0] == "T-shirt/top"
    with pytest.raises(CorruptDataError, match="not MNIST's"):
        data.read_image_npz(path, "mnist")
    np.savez(path, x_train=np.zeros((2, 32, 32), np.uint8), y_train=np.zeros(2, np.int64),
             x_test=np.zeros((1, 32, 32), np.uint8), y_test=np.zeros(1, np.int64), classes=np.arange(10).astype(str))
    with pytest.raises(CorruptDataError, match=r"shaped \(1, 32, 32\)"):
        data.read_image_npz(path, "mnist")


def test_table_with_other_classes_is_reported(empty_data_dir):
    (empty_data_dir / "tabular.csv").write_text("id,feat_1,target\n1,0,Class_1\n2,3,Class_10\n")
    with pytest.raises(CorruptDataError, match="Class_10"):
        data.load_tabular(tiny=False)


def test_sha256_of_reads_the_whole_file(tmp_path):
    path = tmp_path / "blob"
    blob = bytes(range(256)) * 20_000  # 5 MB: more than one read
    path.write_bytes(blob)
    assert data.sha256_of(path) == hashlib.sha256(blob).hexdigest()


# ---------------------------------------------------------------------------------------------
# Loading


def test_cifar_channels_are_rgb_in_order(tiny_env):
    cifar = data.load_cifar10()
    means = cifar.x_train.float().mean(dim=(0, 2, 3)) / 255
    # The published CIFAR-10 means: red > green > blue.
    assert torch.allclose(means, torch.tensor([0.4914, 0.4822, 0.4465]), atol=0.02)


def test_full_mode_reads_the_full_files(full_env):
    mnist = data.load_mnist()
    assert mnist.x_train.shape == (60000, 1, 28, 28)
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.classes == [str(i) for i in range(10)]


def test_birds_load_with_a_validation_split(tiny_env):
    birds = data.load_birds()
    assert birds.x_train.shape == (30, 3, 96, 96)
    assert birds.x_valid.shape == (10, 3, 96, 96)
    assert birds.x_test.shape == (10, 3, 96, 96)
    assert len(birds.classes) == 10 and birds.classes == sorted(birds.classes)
    assert birds.y_valid.tolist() == list(range(10))
    assert "valid (10, 3, 96, 96)" in repr(birds)


def test_birds_resize_on_load(tiny_env):
    assert data.load_birds(image_size=48).x_train.shape == (30, 3, 48, 48)


def test_tabular_loads_as_a_dataframe(tiny_env):
    frame = data.load_tabular()
    assert frame.shape == (5000, 95)
    assert frame["target"].nunique() == 9


def test_the_tiny_table_says_it_is_a_stand_in(tiny_env, capsys):
    frame = data.load_tabular()
    assert "stand-in" in frame.attrs["note"] and "not Otto's data" in frame.attrs["note"]
    assert "stand-in" in capsys.readouterr().out
    assert "stand-in" in data.dataset_status().set_index("name").loc["tabular", "note"]


def test_missing_full_data_says_how_to_download(empty_data_dir, monkeypatch):
    monkeypatch.setenv("DIC_TINY", "0")
    with pytest.raises(DataNotFoundError) as info:
        data.load_cifar10()
    message = str(info.value)
    assert "CIFAR-10" in message
    assert str(empty_data_dir / "cifar10.npz") in message
    assert "python -m shared.download cifar10" in message


def test_tiny_mode_reads_the_repositorys_own_files_with_no_data_folder(monkeypatch, tmp_path):
    # As on a stranger's machine: no DIC_DATA_DIR, nothing in the per-user cache, only the clone.
    monkeypatch.delenv("DIC_DATA_DIR", raising=False)
    monkeypatch.setattr(config.platformdirs, "user_cache_dir", lambda app: str(tmp_path / "cache"))
    monkeypatch.setenv("DIC_TINY", "1")
    assert data.dataset_path("mnist") == REPO / "tiny_data" / "mnist_tiny.npz"
    assert len(data.load_mnist().x_train) == 2000
    assert data.dataset_status().set_index("name")["found"].all()


def test_a_tiny_file_in_the_data_folder_is_read_first_and_checked(tiny_dir, empty_data_dir, monkeypatch):
    monkeypatch.setenv("DIC_TINY", "1")
    shutil.copy(tiny_dir / "fashion_mnist_tiny.npz", empty_data_dir / "mnist_tiny.npz")
    assert data.dataset_path("mnist") == empty_data_dir / "mnist_tiny.npz"
    with pytest.raises(CorruptDataError, match="damaged or incomplete"):  # its checksum is not MNIST's
        data.load_mnist()


def test_missing_tiny_data_says_how_to_restore_it(empty_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DIC_TINY", "1")
    monkeypatch.setattr(config, "tiny_data_dir", lambda: tmp_path / "deleted")
    with pytest.raises(DataNotFoundError, match="git checkout -- tiny_data") as info:
        data.load_mnist()
    assert str(tmp_path / "deleted" / "mnist_tiny.npz") in str(info.value)
    assert str(empty_data_dir / "mnist_tiny.npz") in str(info.value)


def test_unknown_dataset_name_is_reported():
    with pytest.raises(ValueError, match="Known datasets"):
        data.dataset_path("imagenet")


def test_truncated_file_is_detected(tiny_dir, empty_data_dir, monkeypatch):
    monkeypatch.setenv("DIC_TINY", "1")
    blob = (tiny_dir / "mnist_tiny.npz").read_bytes()
    (empty_data_dir / "mnist_tiny.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CorruptDataError, match="damaged or incomplete"):
        data.load_mnist()


def test_file_not_matching_its_sidecar_checksum_is_detected(tiny_dir, tmp_path):
    path = tmp_path / "cifar10.npz"
    shutil.copy(tiny_dir / "cifar10_tiny.npz", path)
    (tmp_path / "cifar10.npz.sha256").write_text("0" * 64 + "  cifar10.npz\n")
    with pytest.raises(CorruptDataError, match="Delete it"):
        data.read_image_npz(path)


def test_unreadable_file_without_checksum_is_reported(tmp_path):
    path = tmp_path / "cifar10.npz"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(CorruptDataError, match="could not be read"):
        data.read_image_npz(path)


def test_npz_with_wrong_contents_is_reported(tmp_path):
    path = tmp_path / "cifar10.npz"
    np.savez(path, x_train=np.zeros((2, 4, 4), np.float32), y_train=np.zeros(2, np.int64),
             x_test=np.zeros((1, 4, 4), np.uint8), y_test=np.zeros(1, np.int64), classes=np.array(["a"]))
    with pytest.raises(CorruptDataError, match="should be uint8"):
        data.read_image_npz(path)
    np.savez(path, x_train=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(CorruptDataError, match="lacks the arrays"):
        data.read_image_npz(path)


def test_labels_out_of_range_are_reported(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.array([0, 5]),
             x_test=np.zeros((1, 4, 4), np.uint8), y_test=np.zeros(1, np.int64), classes=np.array(["a", "b"]))
    with pytest.raises(CorruptDataError, match="outside 0..1"):
        data.read_image_npz(path)


def test_broken_bird_photo_is_named(tiny_dir, tmp_path, monkeypatch):
    shutil.copytree(tiny_dir / "birds_tiny", tmp_path / "birds_tiny")
    victim = next((tmp_path / "birds_tiny" / "test").glob("*/*.jpg"))
    victim.write_bytes(b"not a jpeg")
    monkeypatch.setenv("DIC_DATA_DIR", str(tmp_path))
    with pytest.raises(CorruptDataError, match=victim.name):
        data.load_birds(tiny=True)


def test_birds_without_train_folder_is_reported(empty_data_dir):
    (empty_data_dir / "birds").mkdir()
    with pytest.raises(CorruptDataError, match="train/<SPECIES>"):
        data.load_birds(tiny=False)


def test_csv_without_target_is_reported(empty_data_dir):
    (empty_data_dir / "tabular.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CorruptDataError, match="target column"):
        data.load_tabular(tiny=False)


def test_dataset_status_lists_what_is_missing(empty_data_dir):
    (empty_data_dir / "mnist.npz").write_bytes(b"")
    status = data.dataset_status(tiny=False).set_index("name")
    assert bool(status.loc["mnist", "found"]) is True
    assert bool(status.loc["cifar10", "found"]) is False
    assert status.loc["cifar10", "get it with"] == "python -m shared.download cifar10"


def test_train_val_split_is_seeded_stratified_and_complete():
    x = torch.arange(1000)
    y = torch.arange(1000) % 4
    x_tr, y_tr, x_val, y_val = data.train_val_split(x, y, val_fraction=0.2, seed=1)
    assert len(x_val) == 200 and len(x_tr) == 800
    assert torch.bincount(y_val).tolist() == [50] * 4
    assert sorted(torch.cat([x_tr, x_val]).tolist()) == list(range(1000))
    again = data.train_val_split(x, y, val_fraction=0.2, seed=1)
    assert torch.equal(again[2], x_val)
    other = data.train_val_split(x, y, val_fraction=0.2, seed=2)
    assert not torch.equal(other[2], x_val)


def test_train_val_split_rejects_bad_input():
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.train_val_split(torch.zeros(4), torch.zeros(4), val_fraction=1.5)
    with pytest.raises(ValueError, match="must match"):
        data.train_val_split(torch.zeros(4), torch.zeros(3))


def test_batch_loader_covers_every_sample_once_per_epoch():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    y = torch.arange(10)
    loader = BatchLoader(x, y, batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 3
    epoch1 = torch.cat([yb for _, yb in loader])
    epoch2 = torch.cat([yb for _, yb in loader])
    assert sorted(epoch1.tolist()) == list(range(10))
    assert not torch.equal(epoch1, epoch2)  # reshuffled each epoch
    xb, yb = next(iter(BatchLoader(x, y, batch_size=10)))
    assert xb.dtype == torch.float32 and torch.allclose(xb.flatten() * 255, y.float())


def test_batch_loader_is_repeatable_with_a_seed_and_can_drop_the_last_batch():
    x, y = torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10)
    first = [yb.tolist() for _, yb in BatchLoader(x, y, 3, shuffle=True, seed=5)]
    second = [yb.tolist() for _, yb in BatchLoader(x, y, 3, shuffle=True, seed=5)]
    assert first == second
    assert [len(yb) for _, yb in BatchLoader(x, y, 3, drop_last=True)] == [3, 3, 3]


def test_unseeded_batch_loader_follows_seed_everything():
    x, y = torch.zeros(50, 1, 2, 2, dtype=torch.uint8), torch.arange(50)

    def order(seed):
        config.seed_everything(seed)
        return [yb.tolist() for _, yb in BatchLoader(x, y, 8, shuffle=True)]

    assert order(0) == order(0)
    assert order(0) != order(1)


def test_batch_loader_rejects_bad_input():
    with pytest.raises(ValueError, match="must match"):
        BatchLoader(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="at least 1"):
        BatchLoader(torch.zeros(3), torch.zeros(3), batch_size=0)

