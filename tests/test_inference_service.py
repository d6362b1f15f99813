"""The inference service, called over HTTP on the real server: uvicorn in a child process, on a free local port.

The bundle holds a small CNN with fixed random weights (seed 0): what is tested here (answers, refusals,
metrics, the prediction log, concurrency, the drift checks, model identity, a candidate beside the live
model with promotion and rollback, micro-batching) does not depend on how well the network was trained,
so nothing is trained; even untrained, the network's outputs depend on what the photos show, which is
all the content drift check needs. Reference images and traffic are real CIFAR-10 photos from the data pack.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import torch
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from torch import nn

from inference_service.__main__ import main
from inference_service.bundle import BundleError, check_bundle, load_bundle, save_bundle
from inference_service.identity import bundle_identity
from inference_service.monitoring import (
    compare_models,
    content_drift,
    drift_report,
    false_alarm_rate,
    population_stability_index,
    read_log,
    read_reference,
)
from inference_service.server import start_service
from shared import data

MAX_BYTES = 200_000  # small, so the "too large" cases need little memory and time
MEAN, STD = data.CHANNEL_STATS["cifar10"]


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 10))


@pytest.fixture(scope="module")
def cifar(tiny_dir):
    return data.read_image_npz(tiny_dir / "cifar10_tiny.npz", "cifar10")


@pytest.fixture(scope="module")
def bundle_dir(cifar, tmp_path_factory):
    model = small_cnn()
    model[1].running_mean.fill_(0.1)  # running statistics of its own: the bundle must use them (eval mode)
    directory = tmp_path_factory.mktemp("bundles") / "tiny_cnn"
    return save_bundle(model, cifar.classes, {"image_size": 32, "channels": 3, "mean": MEAN, "std": STD}, directory,
                       reference_images=cifar.x_train[:400], reference_labels=cifar.y_train[:400], notes="untrained",
                       version="v1")


@pytest.fixture(scope="module")
def service(bundle_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "predictions.jsonl"
    server = start_service(bundle_dir, log_path=log, extra_args=("--max-bytes", str(MAX_BYTES)))
    # One client for the whole module: it keeps connections open (httpx.post would open one per call), and
    # it may be shared between threads.
    server.client = httpx.Client(base_url=server.url, timeout=30)
    try:
        yield server
    finally:
        server.client.close()
        server.stop()
    assert not server.running


def encode(pixels: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, fmt)
    return buffer.getvalue()


def photo(cifar, i: int) -> np.ndarray:
    return cifar.x_test[i].permute(1, 2, 0).numpy()


def post(service, content: bytes, content_type: str = "image/png", **params) -> httpx.Response:
    return service.client.post("/predict", files={"file": ("upload", content, content_type)}, params=params)


def metric_values(service) -> dict:
    text = service.client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def log_lines(service) -> list[dict]:
    return read_log(service.log_path) if service.log_path.exists() else []


# ---------------------------------------------------------------------------------------------
# Answers


def test_health_names_the_model(service):
    health = service.client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny_cnn" and health["classes"] == 10
    assert health["input_shape"] == [3, 32, 32] and health["uptime_seconds"] >= 0
    assert isinstance(health["predictions_logged"], int)


def test_png_and_jpeg_get_the_top_k_classes(service, cifar, bundle_dir):
    pixels = photo(cifar, 0)
    answer = post(service, encode(pixels)).json()
    assert len(answer["predictions"]) == 3  # the default top_k
    assert answer["latency_ms"] > 0 and answer["model"] == "tiny_cnn"
    # The same numbers as the bundle loaded here, and as the network before export (in eval mode).
    bundle = load_bundle(bundle_dir)
    expected = bundle.predict(pixels)[0]
    model = small_cnn()
    model[1].running_mean.fill_(0.1)
    with torch.no_grad():
        eager = torch.softmax(model.eval()(bundle.preprocessing.to_input(pixels)), 1)[0].numpy()
    np.testing.assert_allclose(expected, eager, atol=1e-5)
    top = expected.argsort()[::-1][:3]
    assert [p["class"] for p in answer["predictions"]] == [cifar.classes[i] for i in top]
    np.testing.assert_allclose([p["probability"] for p in answer["predictions"]], expected[top], atol=1e-5)

    for top_k in (1, 10):
        answer = post(service, encode(pixels, "JPEG"), "image/jpeg", top_k=top_k).json()
        probabilities = [p["probability"] for p in answer["predictions"]]
        assert len(probabilities) == top_k and probabilities == sorted(probabilities, reverse=True)
    assert abs(sum(probabilities) - 1) < 1e-4  # all ten classes


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "RGB-large"])
def test_other_modes_and_sizes_are_converted_not_refused(service, cifar, mode):
    image = Image.fromarray(photo(cifar, 1))
    image = image.resize((200, 120)) if mode == "RGB-large" else image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    response = post(service, buffer.getvalue())
    assert response.status_code == 200, response.text
    assert response.json()["image"]["mode"] == mode.split("-")[0]


# ---------------------------------------------------------------------------------------------
# Refusals: every bad input is a 4xx whose message says what is wrong


def _multipart_chunks(size: int):
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    for _ in range(size // 10_000):
        yield b"x" * 10_000
    yield b"\r\n--b--\r\n"


@functools.cache
def _many_pixels() -> bytes:
    return encode(np.zeros((5000, 5000), np.uint8))  # 25 million pixels in about 25 kB of PNG


def _bad_requests(png: bytes, jpeg: bytes):
    multipart = {"content-type": "multipart/form-data; boundary=b"}
    return {
        "empty body": (dict(content=b"", headers=multipart), 400, "empty_body", "body is empty"),
        "not multipart": (dict(content=png, headers={"content-type": "image/png"}), 415, "wrong_content_type",
                          "multipart/form-data"),
        "text file": (dict(files={"file": ("a.txt", b"hello", "text/plain")}), 415, "wrong_content_type",
                      "'text/plain'"),
        "not an image": (dict(files={"file": ("a.png", b"hello, not a picture", "image/png")}), 400,
                         "not_an_image", "not an image"),
        "truncated PNG": (dict(files={"file": ("a.png", png[: len(png) // 2], "image/png")}), 400,
                          "truncated_image", "truncated"),
        "truncated JPEG": (dict(files={"file": ("a.jpg", jpeg[: len(jpeg) // 2], "image/jpeg")}), 400,
                           "truncated_image", "truncated"),
        "empty file": (dict(files={"file": ("a.png", b"", "image/png")}), 400, "empty_file", "empty"),
        "no file field": (dict(files={"picture": ("a.png", png, "image/png")}), 422, "missing_file", "'file'"),
        "too large": (dict(files={"file": ("a.png", b"x" * (MAX_BYTES + 1), "image/png")}), 413, "too_large",
                      "limit of 200,000 bytes"),
        "too large, streamed": (dict(content=_multipart_chunks(2 * MAX_BYTES), headers=multipart), 413,
                                "too_large", "limit of 200,000 bytes"),
        "too many pixels": (dict(files={"file": ("a.png", _many_pixels(), "image/png")}),
                            413, "too_many_pixels", "5000x5000"),
        "top_k 0": (dict(files={"file": ("a.png", png, "image/png")}, params={"top_k": 0}), 422,
                    "bad_parameter", "between 1 and 10"),
        "top_k 11": (dict(files={"file": ("a.png", png, "image/png")}, params={"top_k": 11}), 422,
                     "bad_parameter", "between 1 and 10"),
        "top_k text": (dict(files={"file": ("a.png", png, "image/png")}, params={"top_k": "all"}), 422,
                       "bad_parameter", "top_k"),
    }


BAD_CASES = ["empty body", "not multipart", "text file", "not an image", "truncated PNG", "truncated JPEG",
             "empty file", "no file field", "too large", "too large, streamed", "too many pixels", "top_k 0",
             "top_k 11", "top_k text"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_a_4xx_with_a_clear_message(service, cifar, case):
    # A photo enlarged to 256x256, so that half of the file holds the whole header and part of the pixels.
    large = np.asarray(Image.fromarray(photo(cifar, 2)).resize((256, 256)))
    png, jpeg = encode(large), encode(large, "JPEG")
    kwargs, status, reason, words = _bad_requests(png, jpeg)[case]
    before = metric_values(service)
    response = service.client.post("/predict", **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["reason"] == reason and words in body["detail"], body
    assert "Traceback" not in response.text
    after = metric_values(service)
    key = ("inference_errors_total", (("reason", reason),))
    assert after[key] == before.get(key, 0) + 1, "the error counter counts the refusal by its reason"


def test_a_server_answers_after_bad_inputs(service, cifar):
    assert post(service, encode(photo(cifar, 3))).status_code == 200


def test_a_server_side_failure_is_a_500_without_traceback(bundle_dir, tmp_path, caplog):
    # A real failure, not a mock: the prediction log's path is a folder, so writing the log line fails.
    # This server runs in a thread of the test process (uvicorn.Server), which spares starting a second one.
    import threading

    import uvicorn

    from inference_service.app import create_app
    from inference_service.server import free_port

    port = free_port()
    app = create_app(bundle_dir, log_path=tmp_path, torch_threads=None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        png = encode(np.zeros((8, 8, 3), np.uint8))
        response = httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("a.png", png, "image/png")})
    finally:
        server.should_exit = True
        thread.join(10)
    assert response.status_code == 500 and response.json()["reason"] == "internal_error"
    assert "Traceback" not in response.text and "IsADirectoryError" not in response.text
    assert "IsADirectoryError" in caplog.text, "the traceback goes to the server's log"


# ---------------------------------------------------------------------------------------------
# Metrics, the prediction log, concurrency


def test_metrics_count_requests_latency_errors_and_predictions(service, cifar):
    before, lines_before = metric_values(service), len(log_lines(service))
    good = post(service, encode(photo(cifar, 4))).json()
    assert post(service, b"not an image").status_code == 400
    assert post(service, b"hello", "text/plain").status_code == 415
    after = metric_values(service)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("inference_requests_total", endpoint="/predict", status="200") == 1
    assert delta("inference_requests_total", endpoint="/predict", status="400") == 1
    assert delta("inference_requests_total", endpoint="/predict", status="415") == 1
    assert delta("inference_request_latency_seconds_count", endpoint="/predict") == 3
    assert delta("inference_errors_total", reason="not_an_image") == 1
    assert delta("inference_predictions_total", predicted_class=good["predictions"][0]["class"]) == 1
    assert delta("inference_confidence_count") == 1
    # One log line per successful prediction, none for the refusals.
    lines = log_lines(service)
    assert len(lines) == lines_before + 1
    record = lines[-1]
    assert record["request_id"] == good["request_id"] and record["predicted_class"] == good["predictions"][0]["class"]
    assert record["confidence"] == pytest.approx(good["predictions"][0]["probability"], abs=1e-5)
    assert {"time", "latency_ms", "input_mean", "input_std", "brightness", "saturation"} <= set(record)


def test_a_burst_of_concurrent_requests_is_all_answered_and_logged(service, cifar):
    lines_before = len(log_lines(service))
    images = [encode(photo(cifar, i)) for i in range(32)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        responses = list(pool.map(lambda png: post(service, png), images))
    assert [r.status_code for r in responses] == [200] * 32
    ids = {r.json()["request_id"] for r in responses}
    assert len(ids) == 32
    lines = log_lines(service)
    assert len(lines) == lines_before + 32
    assert ids == {r["request_id"] for r in lines[-32:]}, "every answered request is in the log, once"


# ---------------------------------------------------------------------------------------------
# The drift check


def _send(service, images: np.ndarray) -> set[str]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda pixels: post(service, encode(pixels)), images))
    assert all(r.status_code == 200 for r in responses)
    return {r.json()["request_id"] for r in responses}


def test_drift_check_flags_shifted_traffic_but_not_normal_traffic(service, cifar, bundle_dir):
    normal = cifar.x_test[100:250].permute(0, 2, 3, 1).numpy()
    darker = (normal * 0.4).astype(np.uint8)
    noise = np.random.default_rng(0).normal(0, 50, normal.shape)
    noisier = np.clip(normal + noise, 0, 255).astype(np.uint8)
    groups = {name: _send(service, images) for name, images in
              [("normal", normal), ("darker", darker), ("noisier", noisier)]}
    records = log_lines(service)
    reference = read_reference(bundle_dir)
    reports = {name: drift_report([r for r in records if r["request_id"] in ids], reference)
               for name, ids in groups.items()}
    assert not reports["normal"].alert, str(reports["normal"])
    assert reports["darker"].alert and {"brightness", "input_mean"} <= set(reports["darker"].drifted)
    assert reports["noisier"].alert and "input_std" in reports["noisier"].drifted
    assert all(f.psi <= 0.2 for f in reports["normal"].features)

    # The command line gives the same verdict on the last 150 predictions, and says so in its exit status.
    command = [sys.executable, "-m", "inference_service", "drift", "--log", str(service.log_path),
               "--bundle", str(bundle_dir), "--last", "150"]
    shifted = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert shifted.returncode == 1 and "DRIFT ALERT" in shifted.stdout and "input_std" in shifted.stdout


def test_population_stability_index():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5000)
    assert population_stability_index(reference, rng.normal(0, 1, 5000)) < 0.01
    assert population_stability_index(reference, rng.normal(1, 1, 5000)) > 0.5
    # Few recent values: the report declines to judge rather than raise a chance alert.
    report = drift_report([{"confidence": 0.5}] * 10, {"features": {}, "count": 1})
    assert not report.alert and "Not enough predictions" in report.message


# ---------------------------------------------------------------------------------------------
# Bundles: what is missing, and how to make one


def test_bundle_errors_say_what_is_missing(bundle_dir, tmp_path, capsys):
    with pytest.raises(BundleError, match="does not exist"):
        check_bundle(tmp_path / "nowhere")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "classes.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(BundleError, match=r"incomplete: model\.pt2, preprocessing\.json.*save_bundle"):
        check_bundle(partial)
    assert main(["serve", "--bundle", str(partial)]) == 2
    assert "incomplete" in capsys.readouterr().err
    assert main(["drift", "--bundle", str(bundle_dir), "--log", str(tmp_path / "none.jsonl")]) == 2
    assert "No prediction log" in capsys.readouterr().err


def test_a_changed_bundle_file_is_caught(bundle_dir, tmp_path):
    import shutil

    copy = shutil.copytree(bundle_dir, tmp_path / "copy")
    (copy / "classes.json").write_text(json.dumps([f"class {i}" for i in range(10)]))
    with pytest.raises(BundleError, match="differs from the file the manifest records"):
        check_bundle(copy)


def test_save_bundle_refuses_mismatches(cifar, tmp_path):
    prep = {"image_size": 32, "channels": 3, "mean": MEAN, "std": STD}
    with pytest.raises(ValueError, match="2 class names"):
        save_bundle(small_cnn(), ["a", "b"], prep, tmp_path / "b", reference_images=cifar.x_train[:4])
    with pytest.raises(ValueError, match="uint8 images shaped"):
        save_bundle(small_cnn(), cifar.classes, prep, tmp_path / "b", reference_images=cifar.x_train[:4].float())
    with pytest.raises(ValueError, match="lacks"):
        save_bundle(small_cnn(), cifar.classes, {"image_size": 32}, tmp_path / "b", reference_images=cifar.x_train[:4])
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------------------
# Model identity: the bundle's SHA-256 and version in every answer, log record, /health and /metrics


def test_every_answer_record_health_and_metric_names_the_model(service, cifar, bundle_dir):
    digest = hashlib.sha256((bundle_dir / "manifest.json").read_bytes()).hexdigest()  # the stated definition
    version = json.loads((bundle_dir / "manifest.json").read_text())["version"]
    assert bundle_identity(bundle_dir).sha256 == digest and version == "v1"
    health = service.client.get("/health").json()
    assert (health["sha256"], health["version"], health["candidate"]) == (digest, "v1", None)
    answer = post(service, encode(photo(cifar, 5))).json()
    assert (answer["model_sha256"], answer["model_version"], answer["role"]) == (digest, "v1", "live")
    records = log_lines(service)
    assert records and all(r["model_sha256"] == digest and r["model_version"] == "v1" for r in records)
    assert len(records[-1]["probabilities"]) == 10
    info = metric_values(service)
    key = ("model_info", (("name", "tiny_cnn"), ("role", "live"), ("sha256", digest), ("version", "v1")))
    assert info[key] == 1
    assert [k for k in info if k[0] == "model_info"] == [key]


def test_a_change_to_any_bundle_file_changes_its_sha256(cifar, bundle_dir, tmp_path):
    import shutil

    copy = shutil.copytree(bundle_dir, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["classes.json"] = "0" * 64  # what re-saving with other classes would record
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert bundle_identity(copy).sha256 != bundle_identity(bundle_dir).sha256


# ---------------------------------------------------------------------------------------------
# One preprocessing: the service's is the training code's, checked on real photos


def test_the_service_preprocesses_cifar_photos_as_training_does(cifar, bundle_dir):
    from shared.augment import BatchTransform

    bundle = load_bundle(bundle_dir)
    photos = cifar.x_test[:64]
    # The service's path: a PNG upload, decoded and brought to the network's size and channels.
    served = torch.cat([bundle.preprocessing.to_input(bundle.preprocessing.pixels(
        Image.open(io.BytesIO(encode(image.permute(1, 2, 0).numpy()))))) for image in photos])
    trained = BatchTransform(MEAN, STD)(photos)  # what lesson 03's validation loader feeds the network
    assert torch.equal(served, trained)


def test_the_service_resizes_photos_as_the_bird_loader_does(tiny_dir):
    from inference_service.bundle import Preprocessing

    folder = tiny_dir / "birds_tiny" / "valid"
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [f for c in classes for f in sorted((folder / c).glob("*"))]
    assert len(files) >= 10 and any(Image.open(f).size != (48, 48) for f in files)
    loaded, _ = data.read_image_folder(folder, classes, 48)
    prep = Preprocessing(48, 3, (0.5,) * 3, (0.25,) * 3)
    served = np.stack([prep.pixels(Image.open(f)) for f in files])
    np.testing.assert_array_equal(served, loaded.permute(0, 2, 3, 1).numpy())


# ---------------------------------------------------------------------------------------------
# Content drift: the model's outputs see a change of subjects that the pixel statistics miss


ANIMALS = (2, 3, 4, 5, 6, 7)  # bird, cat, deer, dog, frog, horse: the same light and colours as the rest


def test_content_drift_catches_a_change_of_subjects_the_pixel_statistics_miss(service, cifar, bundle_dir):
    animals = cifar.x_test[np.isin(cifar.y_test.numpy(), ANIMALS)].permute(0, 2, 3, 1).numpy()
    ids = _send(service, animals)
    records = [r for r in log_lines(service) if r["request_id"] in ids]
    report = drift_report(records, read_reference(bundle_dir))
    assert len(records) == len(animals) >= 250
    assert report.drifted == [], "the pixel statistics do not see it: " + str(report)
    assert report.alert and report.content.alert and "CONTENT DRIFT" in report.message, str(report)
    assert report.content.smallest_pvalue < report.content.threshold == pytest.approx(0.05 / 11)


def test_content_check_false_alarm_rate_on_unshifted_traffic_is_within_alpha(cifar, bundle_dir):
    bundle = load_bundle(bundle_dir)
    unshifted = bundle.predict(cifar.x_test.numpy())  # photos of the reference's kind, never seen by the check
    reference = read_reference(bundle_dir)["probabilities"]
    rates = {window: false_alarm_rate(reference, unshifted, window, trials=300) for window in (100, 200)}
    # Bonferroni keeps the family-wise rate at most alpha = 5%; measured here 0-2% (300 windows each).
    assert all(rate <= 0.05 for rate in rates.values()), rates
    shifted = bundle.predict(cifar.x_test[np.isin(cifar.y_test.numpy(), ANIMALS)].numpy())
    assert false_alarm_rate(reference, shifted, 200, trials=50) > 0.5, "the same check does see the shift"


def test_content_drift_refuses_mismatched_tables_and_skips_old_bundles():
    with pytest.raises(ValueError, match="one column per class"):
        content_drift(np.full((5, 3), 1 / 3), np.full((5, 4), 0.25))
    records = [{"confidence": 0.5, "class_index": 0, **dict.fromkeys(("input_mean", "input_std", "brightness",
                                                                      "saturation"), 0.5)}] * 100
    reference = {"features": {f: [0.5] * 100 for f in ("input_mean", "input_std", "brightness", "saturation",
                                                       "confidence")}, "predicted_class_counts": [100, 0]}
    report = drift_report(records, reference)
    assert report.content is None and "Save the bundle again" in report.content_note


# ---------------------------------------------------------------------------------------------
# A candidate beside the live model: canary share, shadow copy, promotion and rollback, over HTTP


@pytest.fixture(scope="module")
def candidate_dir(cifar, tmp_path_factory):
    model = small_cnn()
    torch.manual_seed(1)
    model[-1].reset_parameters()  # another classifier layer: a model that often disagrees with the live one
    return save_bundle(model, cifar.classes, {"image_size": 32, "channels": 3, "mean": MEAN, "std": STD},
                       tmp_path_factory.mktemp("bundles") / "tiny_cnn_b", reference_images=cifar.x_train[:400],
                       version="v2", notes="the candidate")


@pytest.fixture(scope="module")
def deployed(bundle_dir, candidate_dir, tmp_path_factory):
    """A service following a deployment folder (live: v1, candidate: v2 on half the traffic and shadowing the rest),
    with micro-batching on, so that swaps and batches are tested together."""
    folder = tmp_path_factory.mktemp("deploy") / "deployment"
    assert main(["release", str(folder), "--bundle", str(bundle_dir)]) == 0
    assert main(["release", str(folder), "--bundle", str(candidate_dir), "--share", "0.5", "--shadow"]) == 0
    log = tmp_path_factory.mktemp("logs") / "deployed.jsonl"
    server = start_service(folder, log_path=log, extra_args=("--batch-window-ms", "5", "--max-batch", "8"),
                           deployment=True)
    server.client = httpx.Client(base_url=server.url, timeout=30)
    server.folder = folder
    try:
        yield server
    finally:
        server.client.close()
        server.stop()


def _wait_for_live(server, sha: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = server.client.get("/health").json()
        if health["sha256"] == sha:
            return health
        time.sleep(0.1)
    raise AssertionError(f"the service still serves {health['sha256'][:12]}, not {sha[:12]}")


def _wait_for_lines(server, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(lines := log_lines(server)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return lines


def test_canary_and_shadow_traffic_is_logged_and_compared(deployed, cifar, bundle_dir, candidate_dir, capsys):
    v1, v2 = bundle_identity(bundle_dir).sha256, bundle_identity(candidate_dir).sha256
    health = deployed.client.get("/health").json()
    assert health["sha256"] == v1 and health["candidate"]["sha256"] == v2 and health["candidate"]["share"] == 0.5
    assert health["micro_batching"] == {"window_ms": 5.0, "max_batch": 8}
    info = {dict(k[1])["role"]: dict(k[1])["sha256"] for k in metric_values(deployed) if k[0] == "model_info"}
    assert info == {"live": v1, "candidate": v2}
    images = cifar.x_test[:60].permute(0, 2, 3, 1).numpy()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [r.json() for r in pool.map(lambda pixels: post(deployed, encode(pixels)), images)]
    roles = [a["role"] for a in answers]
    assert 10 <= roles.count("candidate") <= 50, roles  # about half, by the request ids' hash
    assert all(a["model_sha256"] == (v2 if a["role"] == "candidate" else v1) for a in answers)
    expected = len(answers) + roles.count("live")  # every live answer also has its shadow record
    records = _wait_for_lines(deployed, expected)
    shadows = [r for r in records if r["role"] == "shadow"]
    assert len(records) == expected and {r["model_sha256"] for r in shadows} == {v2}
    assert {r["request_id"] for r in shadows} == {a["request_id"] for a in answers if a["role"] == "live"}
    comparison = compare_models(records)
    truth = np.mean([load_bundle(bundle_dir).predict(p).argmax() == load_bundle(candidate_dir).predict(p).argmax()
                     for p, a in zip(images, answers, strict=True) if a["role"] == "live"])
    assert comparison.paired == roles.count("live") and comparison.agreement == pytest.approx(truth, abs=1e-4)
    assert main(["compare", "--log", str(deployed.log_path)]) == 0
    out = capsys.readouterr().out
    assert v1[:12] in out and v2[:12] in out and "predict the same class on" in out


def test_promote_and_rollback_are_one_command_each_and_keep_every_bundle(deployed, bundle_dir, candidate_dir, capsys):
    v1, v2 = bundle_identity(bundle_dir).sha256, bundle_identity(candidate_dir).sha256
    folder = deployed.folder
    assert main(["promote", str(folder)]) == 0
    health = _wait_for_live(deployed, v2)
    assert health["candidate"] is None and health["version"] == "v2"
    info = [dict(k[1]) for k in metric_values(deployed) if k[0] == "model_info"]
    assert info == [{"name": "tiny_cnn_b", "role": "live", "sha256": v2, "version": "v2"}]
    assert main(["promote", str(folder)]) == 2 and "No candidate to promote" in capsys.readouterr().err
    assert main(["rollback", str(folder)]) == 0
    _wait_for_live(deployed, v1)
    assert main(["rollback", str(folder)]) == 2 and "Nothing to roll back to" in capsys.readouterr().err
    releases = sorted(p.name for p in (folder / "releases").iterdir())
    assert releases == sorted(["v1-" + v1[:12], "v2-" + v2[:12]]), "no bundle is ever removed"
    for name in releases:
        check_bundle(folder / "releases" / name)
    history = json.loads((folder / "deployment.json").read_text())["history"]
    assert [h["action"] for h in history][-2:] == ["promote", "rollback"]


def test_a_burst_with_a_promotion_in_the_middle_loses_nothing_and_mixes_no_versions(deployed, cifar, bundle_dir,
                                                                                    candidate_dir):
    v1, v2 = bundle_identity(bundle_dir).sha256, bundle_identity(candidate_dir).sha256
    bundles = {v1: load_bundle(bundle_dir), v2: load_bundle(candidate_dir)}
    folder = deployed.folder
    if deployed.client.get("/health").json()["candidate"] is None:
        assert main(["release", str(folder), "--bundle", str(candidate_dir), "--share", "0.3"]) == 0
        _wait_for_candidate(deployed, v2)
    images = cifar.x_test[100:196].permute(0, 2, 3, 1).numpy()
    requests = [("good", i) for i in range(len(images))]
    requests[10::12] = [("bad", i) for i in range(len(requests[10::12]))]  # text files among the photos
    lines_before = len(log_lines(deployed))

    def call(request):
        kind, i = request
        if kind == "bad":
            return kind, i, deployed.client.post("/predict", files={"file": ("a.txt", b"not a photo", "text/plain")})
        return kind, i, post(deployed, encode(images[i]), top_k=10)

    with ThreadPoolExecutor(max_workers=16) as pool:
        first = list(pool.map(call, requests[:40]))
        promoted = pool.submit(main, ["promote", str(folder)])
        rest = list(pool.map(call, requests[40:]))
    assert promoted.result() == 0
    _wait_for_live(deployed, v2)
    results = first + rest
    good = [(i, r.json()) for kind, i, r in results if kind == "good" and r.status_code == 200]
    assert len(good) == sum(kind == "good" for kind, _ in requests), "every photo was answered"
    bad = [r for kind, _, r in results if kind == "bad"]
    assert bad and all(r.status_code == 415 and r.json()["reason"] == "wrong_content_type" for r in bad)
    assert {a["model_sha256"] for _, a in good} == {v1, v2}, "the swap happened during the burst"
    records = {r["request_id"]: r for r in _wait_for_lines(deployed, lines_before + len(good))[lines_before:]
               if r["role"] != "shadow"}
    for i, answer in good:
        # Every probability of an answer comes from the one model it names, and so does its log record.
        expected = bundles[answer["model_sha256"]].predict(images[i])[0]
        got = np.array([p["probability"] for p in sorted(answer["predictions"], key=lambda p: p["class"])])
        order = np.argsort(cifar.classes)
        np.testing.assert_allclose(got, expected[order], atol=1e-5)
        assert records[answer["request_id"]]["model_sha256"] == answer["model_sha256"]
    batches = metric_values(deployed)
    assert batches[("inference_batch_size_sum", ())] > batches[("inference_batch_size_count", ())], \
        "micro-batching put concurrent requests into shared forward passes"


def _wait_for_candidate(server, sha: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        candidate = server.client.get("/health").json()["candidate"]
        if candidate and candidate["sha256"] == sha:
            return
        time.sleep(0.1)
    raise AssertionError("the service did not pick up the candidate")


def test_deployment_commands_refuse_what_they_cannot_do(bundle_dir, tmp_path, capsys):
    folder = tmp_path / "deployment"
    assert main(["promote", str(folder)]) == 2 and "No deployment at" in capsys.readouterr().err
    assert main(["release", str(folder), "--bundle", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["release", str(folder), "--bundle", str(bundle_dir)]) == 0
    assert main(["release", str(folder), "--bundle", str(bundle_dir)]) == 2
    assert "already the live model" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(bundle_dir), "--batch-window-ms", "-1"]) == 2
