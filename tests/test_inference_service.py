"""The inference service, called over HTTP on the real server: uvicorn in a child process, on a free local port.

The bundle holds a small CNN with fixed random weights (seed 0): what is tested here (answers, refusals,
metrics, the prediction log, concurrency, the drift check) does not depend on how well the network was
trained, so nothing is trained. Reference images and traffic are real CIFAR-10 photos from the data pack.
"""

from __future__ import annotations

import functools
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
from inference_service.monitoring import drift_report, population_stability_index, read_log, read_reference
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
                       reference_images=cifar.x_train[:400], reference_labels=cifar.y_train[:400], notes="untrained")


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
