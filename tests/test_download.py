"""The download path, offline: we write small files in torchvision's own on-disk formats and convert them."""

import dataclasses
import pickle
import struct

import numpy as np
import pytest
import torchvision

from shared import data, download
from shared.data import CorruptDataError

RNG = np.random.default_rng(0)


def _write_idx(path, array):
    """Write an array in the IDX format MNIST is distributed in (big-endian header, then uint8 data)."""
    magic = 0x0800 + array.ndim
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def _fake_mnist_raw(root, folder):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", 30), ("t10k", 12)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = RNG.integers(0, 10, n).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = (images, labels)
    return arrays


def _fake_cifar_raw(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = RNG.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
        labels = RNG.integers(0, 10, 4).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": images.reshape(4, -1), "labels": labels}, f)
        batches[name] = (images, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f)
    return batches


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_style_download_is_converted_and_loadable(tmp_path, monkeypatch, name, folder):
    raw = _fake_mnist_raw(tmp_path / "raw", folder)
    path = download.download(name, data_dir=tmp_path)
    assert path == tmp_path / f"{name}.npz"
    assert (tmp_path / f"{name}.npz.sha256").read_text().split()[0] == data.sha256_of(path)
    monkeypatch.setenv("DIC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DIC_TINY", "0")
    loaded = getattr(data, f"load_{name}")()
    assert np.array_equal(loaded.x_train[:, 0].numpy(), raw["train"][0])
    assert np.array_equal(loaded.y_test.numpy(), raw["t10k"][1])
    if name == "mnist":
        assert loaded.classes == [str(i) for i in range(10)]
    else:
        assert loaded.classes[0] == "T-shirt/top"


def test_cifar_download_is_converted_to_nchw_rgb(tmp_path, monkeypatch):
    batches = _fake_cifar_raw(tmp_path / "raw")
    # torchvision checks each file's MD5 against the real CIFAR-10; ours are stand-ins written above.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    download.download("cifar10", data_dir=tmp_path)
    loaded = data.read_image_npz(tmp_path / "cifar10.npz")
    assert loaded.x_train.shape == (20, 3, 32, 32)
    assert np.array_equal(loaded.x_train[:4].numpy(), batches["data_batch_1"][0])
    assert loaded.y_test.tolist() == batches["test_batch"][1]
    assert loaded.classes[9] == "truck"


def test_download_refuses_classes_other_than_the_record(tmp_path, monkeypatch):
    """If torchvision ever named or ordered the classes otherwise, labels would silently change meaning."""
    _fake_mnist_raw(tmp_path / "raw", "MNIST")
    records = dict(data.DATASETS)
    records["mnist"] = dataclasses.replace(records["mnist"], classes=tuple(str(i) for i in reversed(range(10))))
    monkeypatch.setattr(download, "DATASETS", records)
    with pytest.raises(CorruptDataError, match="would mean other things"):
        download.download("mnist", data_dir=tmp_path)
    assert not (tmp_path / "mnist.npz").exists()


def test_download_goes_where_the_record_says(tmp_path, monkeypatch):
    calls = []

    def fake_kaggle(arguments):  # the bird download unzips only train/ here: the check must notice
        calls.append(arguments)
        if arguments[0] == "datasets":
            (tmp_path / "birds" / "train").mkdir(parents=True)

    monkeypatch.setattr(download, "_kaggle", fake_kaggle)
    with pytest.raises(CorruptDataError, match="no valid/"):
        download.download("birds", data_dir=tmp_path)
    assert calls[-1][:3] == ["datasets", "download", data.DATASETS["birds"].kaggle_dataset]
    (tmp_path / "train.csv").write_text("id,feat_1,target\n1,0,Class_1\n")
    download.download("tabular", data_dir=tmp_path)
    assert calls[-1][:4] == ["competitions", "download", "-c", data.DATASETS["tabular"].kaggle_competition]
    assert (tmp_path / "tabular.csv").exists()


def test_damaged_download_is_detected_then_replaced(tmp_path, monkeypatch):
    _fake_mnist_raw(tmp_path / "raw", "MNIST")
    path = download.download("mnist", data_dir=tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[:-100])
    monkeypatch.setenv("DIC_DATA_DIR", str(tmp_path))
    with pytest.raises(CorruptDataError, match="damaged or incomplete"):
        data.load_mnist(tiny=False)
    download.download("mnist", data_dir=tmp_path)  # sees the damage and converts again
    assert data.load_mnist(tiny=False).x_train.shape == (30, 1, 28, 28)


def test_existing_good_file_is_not_downloaded_again(tmp_path, capsys):
    _fake_mnist_raw(tmp_path / "raw", "MNIST")
    download.download("mnist", data_dir=tmp_path)
    stamp = (tmp_path / "mnist.npz").stat().st_mtime_ns
    download.download("mnist", data_dir=tmp_path)
    assert (tmp_path / "mnist.npz").stat().st_mtime_ns == stamp
    assert "already at" in capsys.readouterr().out


def test_kaggle_datasets_explain_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.setattr(download.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="pip install kaggle"):
        download.download("birds", data_dir=tmp_path)


def test_otto_zip_is_unpacked_to_the_course_name(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "train.csv.zip", "w") as archive:
        archive.writestr("train.csv", "id,feat_1,target\n1,0,Class_1\n")
    download._unpack_competition_file(tmp_path, data.DATASETS["tabular"].kaggle_file, tmp_path / "tabular.csv")
    assert (tmp_path / "tabular.csv").read_text().startswith("id,feat_1")
    assert not (tmp_path / "train.csv.zip").exists()


def test_command_line_reports_failures_and_unknown_names(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(download.shutil, "which", lambda _: None)
    assert download.main(["tabular", "--data-dir", str(tmp_path)]) == 1
    assert "tabular: FAILED" in capsys.readouterr().err
    assert download.main(["imagenet", "--data-dir", str(tmp_path)]) == 1
    assert "Unknown dataset" in capsys.readouterr().err


def test_make_data_skips_the_kaggle_sets_with_a_note_when_kaggle_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(download.shutil, "which", lambda _: None)
    assert download.main(["birds", "tabular", "--if-kaggle", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Skipped birds, tabular" in out and "Kaggle account" in out and "pip install kaggle" in out
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Pretrained weights (the bird contest's transfer learning), through file:// URLs: no network needed.


def _weights_file(folder, name="tiny_net-00000000.pth"):
    """Write a small state dict the way torch saves weights; return (path, its SHA-256)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    torch.save({"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.ones(2)}, path)
    return path, data.sha256_of(path)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_weights_with_the_right_hash_are_downloaded_and_load(tmp_path):
    import torch

    source, digest = _weights_file(tmp_path / "server")
    dest = tmp_path / "weights"
    path = download.download_weights(source.as_uri(), sha256=digest, dest_dir=dest, progress=False)
    assert path == dest / source.name
    assert path.read_bytes() == source.read_bytes()
    assert torch.equal(torch.load(path, weights_only=True)["weight"], torch.arange(6.0).reshape(2, 3))
    assert _leftovers(dest) == [source.name]  # no temporary file left beside it
    # A hash prefix (what PyTorch puts in its file names) is enough, and another file name can be chosen.
    again = download.download_weights(source.as_uri(), "renamed.pth", hash_prefix=digest[:8], dest_dir=dest,
                                      progress=False)
    assert again.read_bytes() == source.read_bytes()


def test_weights_with_a_wrong_hash_raise_a_clear_error_and_leave_nothing(tmp_path):
    source, digest = _weights_file(tmp_path / "server")
    dest = tmp_path / "weights"
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(download.WeightsDownloadError, match="not the one expected") as caught:
        download.download_weights(source.as_uri(), sha256=wrong, dest_dir=dest, progress=False,
                                  hint='Offline? Set WEIGHTS = "cifar10".')
    assert 'WEIGHTS = "cifar10"' in str(caught.value)
    assert _leftovers(dest) == []  # neither the file nor a partial download


def test_a_failed_download_says_what_to_do_and_leaves_nothing(tmp_path):
    dest = tmp_path / "weights"
    missing = (tmp_path / "server" / "resnet18-f37072fd.pth").as_uri()
    with pytest.raises(download.WeightsDownloadError, match="Could not download") as caught:
        download.download_weights(missing, dest_dir=dest, progress=False, hint='Offline? Set WEIGHTS = "cifar10".')
    assert 'WEIGHTS = "cifar10"' in str(caught.value)
    assert _leftovers(dest) == []


def test_weights_already_there_are_not_downloaded_again(tmp_path, monkeypatch):
    import torch

    source, digest = _weights_file(tmp_path / "server")
    dest = tmp_path / "weights"
    path = download.download_weights(source.as_uri(), sha256=digest, dest_dir=dest, progress=False)
    stamp = path.stat().st_mtime_ns

    def no_network(*args, **kwargs):
        raise AssertionError("the file is there: nothing should be downloaded")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    source.unlink()  # even with the source gone, the kept file is used
    assert download.download_weights(source.as_uri(), sha256=digest, dest_dir=dest, progress=False) == path
    assert path.stat().st_mtime_ns == stamp


def test_damaged_weights_are_downloaded_again(tmp_path, capsys):
    source, digest = _weights_file(tmp_path / "server")
    dest = tmp_path / "weights"
    dest.mkdir()
    (dest / source.name).write_bytes(source.read_bytes()[:-10])  # an interrupted copy from elsewhere
    path = download.download_weights(source.as_uri(), sha256=digest, dest_dir=dest, progress=False)
    assert path.read_bytes() == source.read_bytes()
    assert "downloading it again" in capsys.readouterr().out


def test_the_hash_prefix_is_read_from_pytorch_style_names(tmp_path):
    assert download.hash_prefix_from_name("https://download.pytorch.org/models/resnet18-f37072fd.pth") == "f37072fd"
    with pytest.raises(ValueError, match="carries no hash"):
        download.hash_prefix_from_name("weights.pth")
    with pytest.raises(ValueError, match="carries no hash"):
        download.download_weights((tmp_path / "weights.pth").as_uri(), dest_dir=tmp_path, progress=False)
    # The name's prefix is checked like any other: a file whose digest does not start with it is refused.
    source, digest = _weights_file(tmp_path / "server", "net.pth")
    claimed = "0" * 8 if not digest.startswith("0" * 8) else "1" * 8
    named = source.rename(source.with_name(f"net-{claimed}.pth"))
    with pytest.raises(download.WeightsDownloadError, match="not the one expected"):
        download.download_weights(named.as_uri(), dest_dir=tmp_path / "weights", progress=False)
    assert _leftovers(tmp_path / "weights") == []
