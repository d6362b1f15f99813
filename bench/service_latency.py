r"""The inference service's latency and throughput over HTTP, with 1 and 8 clients, with and without micro-batching.

The real server runs as in production (``python -m inference_service serve``: one uvicorn process, torch
set to one thread per request) on a local port, and this process sends it CIFAR-10 test photos as PNG
uploads. Each client is a thread with its own keep-alive connection, sending its requests one after the
other; latency is timed by the client (upload, decoding, the network, the answer), throughput is the
requests answered per second of wall time. The clients share the machine's cores with the server, as a
local load test does. The payloads come from the chosen CIFAR-10 file (``--tiny``: the data pack's small
one, which is plenty: the latency does not depend on which photos are sent).

Each setting of the server is measured in turn: micro-batching off (each request its own forward pass,
the default) and on (``serve --batch-window-ms 2 --max-batch 16``: requests arriving within 2 ms share one
forward pass; ``inference_service/batching.py``). One table row per setting and client count gives p50
and p95 latency, throughput and the mean batch size the server ran (from its ``inference_batch_size``
metric).

The network is a CIFAR-10-shaped CNN of the size notebook 03 trains (three conv blocks of 32, 64 and 128
channels with batch norm, about 94 thousand parameters), with untrained weights: the time per request
does not depend on the weights' values. ``--bundle DIR`` measures a bundle of your own instead.

How to measure (on a quiet machine: other jobs on the cores make every figure worse; record the date,
the load and the machine line it prints, in bench/RESULTS.md):

    OMP_NUM_THREADS=1 python -m bench.service_latency --data-dir ../shared/data --tiny
    OMP_NUM_THREADS=1 python -m bench.service_latency --data-dir ../shared/data --tiny \
        --bundle hackathons/to_production/bundles/cifar10_cnn
    OMP_NUM_THREADS=1 python -m bench.service_latency --tiny --batching off on --clients 1 8 --requests 400 \
        --batch-window-ms 2 --max-batch 16
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image
from torch import nn

from bench.common import add_data_dir, apply_data_dir, header, machine
from inference_service.bundle import save_bundle
from inference_service.server import start_service
from shared import data


def cifar_shaped_cnn() -> nn.Sequential:
    """Return three conv blocks (32, 64, 128 channels; batch norm, ReLU, max-pool), global pooling, a linear layer."""
    layers, channels = [], 3
    for width in (32, 64, 128):
        layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                   nn.MaxPool2d(2)]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))


def make_bundle(cifar: data.ImageSet, directory: Path) -> Path:
    """Save the untrained CIFAR-10-shaped network as a bundle in ``directory``; return its path."""
    torch.manual_seed(0)
    mean, std = data.CHANNEL_STATS["cifar10"]
    return save_bundle(cifar_shaped_cnn(), cifar.classes, {"image_size": 32, "channels": 3, "mean": mean, "std": std},
                       directory, reference_images=cifar.x_train[:500], name="bench_cifar_cnn",
                       notes="untrained weights, for timing only")


def png_payloads(images: torch.Tensor) -> list[bytes]:
    """Return each uint8 image (N, C, H, W) encoded as PNG bytes."""
    payloads = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, "PNG")
        payloads.append(buffer.getvalue())
    return payloads


def run_clients(url: str, payloads: list[bytes], requests: int, clients: int) -> dict:
    """Send ``requests`` uploads from ``clients`` threads; return latencies (s), server times (ms) and wall time."""
    latencies: list[float] = []
    server_ms: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        mine = range(index, requests, clients)  # the requests are dealt out like cards
        with httpx.Client(base_url=url, timeout=60) as http:
            start.wait()
            for i in mine:
                sent = time.perf_counter()
                response = http.post("/predict",
                                     files={"file": ("photo.png", payloads[i % len(payloads)], "image/png")})
                elapsed = time.perf_counter() - sent
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                        server_ms.append(response.json()["latency_ms"])
                    else:
                        failures.append(f"{response.status_code}: {response.text[:100]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "server_ms": server_ms, "failures": failures,
            "wall": time.perf_counter() - began}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir(parser)
    parser.add_argument("--bundle", type=Path, default=None, help="a bundle folder to serve (default: the bench's own)")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement (default 400)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="concurrent clients (default 1 8)")
    parser.add_argument("--warmup", type=int, default=20, help="requests sent first and not counted")
    parser.add_argument("--batching", nargs="+", choices=["off", "on"], default=["off", "on"],
                        help="server settings to measure, in turn (default: off on)")
    parser.add_argument("--batch-window-ms", type=float, default=2.0,
                        help="with batching on: how long the server waits for requests to share a pass (default 2)")
    parser.add_argument("--max-batch", type=int, default=16, help="with batching on: the largest batch (default 16)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or min(args.clients) < 1 or args.batch_window_ms <= 0 or args.max_batch < 2:
        parser.error("--requests and --clients must be at least 1, --warmup at least 0, --batch-window-ms above 0 "
                     "and --max-batch at least 2.")
    apply_data_dir(args)
    print(header())

    cifar = data.load_cifar10()
    payloads = png_payloads(cifar.x_test[:500])
    with tempfile.TemporaryDirectory(prefix="service-bench-") as scratch:
        bundle = args.bundle or make_bundle(cifar, Path(scratch) / "bench_cifar_cnn")
        print(f"bundle  : {bundle}, {len(payloads)} distinct PNG payloads of "
              f"{np.mean([len(p) for p in payloads]) / 1024:.1f} KiB on average")
        print("\n| batching | clients | requests | p50 latency | p95 latency | mean | throughput | server time p50 "
              "| mean batch | failed |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for setting in args.batching:
            extra = (("--batch-window-ms", str(args.batch_window_ms), "--max-batch", str(args.max_batch))
                     if setting == "on" else ())
            label = f"on ({args.batch_window_ms:g} ms, up to {args.max_batch})" if setting == "on" else "off"
            service = start_service(bundle, Path(scratch) / f"predictions-{setting}.jsonl", extra_args=extra)
            try:
                run_clients(service.url, payloads, args.warmup, 1)
                for clients in args.clients:
                    before = batch_counts(service.url)
                    result = run_clients(service.url, payloads, args.requests, clients)
                    ms = np.array(result["latencies"]) * 1000
                    batch = mean_batch_since(service.url, before)
                    print(f"| {label} | {clients} | {len(ms)} | {np.percentile(ms, 50):.1f} ms "
                          f"| {np.percentile(ms, 95):.1f} ms | {ms.mean():.1f} ms | {len(ms) / result['wall']:.0f} "
                          f"requests/s | {np.percentile(result['server_ms'], 50):.1f} ms "
                          f"| {f'{batch:.2f}' if batch else '-'} | {len(result['failures'])} |", flush=True)
                    for failure in result["failures"][:3]:
                        print(f"  failed: {failure}")
            finally:
                service.stop()
    print(f"\nafter   : {machine()}")
    print("(latency is timed by the client: upload, decoding, preprocessing, the network and the answer; "
          "server time is the service's own latency_ms: decoding, preprocessing, waiting for a batch and the "
          "network; mean batch: images per forward pass in that row, - without batching)")


def batch_counts(url: str) -> tuple[float, float]:
    """Return the server's (images, forward passes) so far with micro-batching: (0, 0) when it is off."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {s.name: s.value for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
               for s in family.samples}
    return samples.get("inference_batch_size_sum", 0.0), samples.get("inference_batch_size_count", 0.0)


def mean_batch_since(url: str, before: tuple[float, float]) -> float | None:
    """Return the mean images per forward pass since ``before`` (from batch_counts), None without batching."""
    images, passes = (now - then for now, then in zip(batch_counts(url), before, strict=True))
    return images / passes if passes else None


if __name__ == "__main__":
    main()
