"""Micro-batching: run the images of concurrent requests through the network together (off by default).

One image is too little work to keep a CPU busy: most of a forward pass on a 32x32 picture is fixed cost
per call. When several requests arrive together, ``MicroBatcher`` waits up to ``window_ms`` after the
first for others (at most ``max_batch`` in all), stacks their pixels into one batch per model, runs one
forward pass and hands every request its own row. The price is up to ``window_ms`` of extra latency for
a request that arrives alone; ``bench/service_latency.py`` measures both sides.

Requests for different models (a canary beside the live model) are batched apart, and each request keeps
the model it was routed to: a model swap in the middle of a batch cannot mix versions.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from inference_service.bundle import Bundle


@dataclass
class _Job:
    bundle: Bundle
    pixels: np.ndarray  # uint8 (H, W, C)
    result: Future


class MicroBatcher:
    """A worker thread that gathers concurrent predictions into batches; ``predict`` blocks until its row is ready."""

    def __init__(self, window_ms: float, max_batch: int, on_batch: Callable[[int], None] | None = None):
        if window_ms <= 0 or max_batch < 2:
            raise ValueError(f"Micro-batching needs a window above 0 ms and batches of 2 or more; got "
                             f"{window_ms} ms and {max_batch}.")
        self.window, self.max_batch = window_ms / 1000, max_batch
        self.on_batch = on_batch  # told the size of every batch run (the service's batch-size histogram)
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, daemon=True, name="micro-batcher")
        self._worker.start()

    def predict(self, bundle: Bundle, pixels: np.ndarray) -> np.ndarray:
        """Return the class probabilities of one uint8 picture (H, W, C), computed in a batch with others."""
        job = _Job(bundle, pixels, Future())
        self._jobs.put(job)
        return job.result.result()

    def close(self) -> None:
        """Stop the worker once the queued jobs are done."""
        self._jobs.put(None)
        self._worker.join(10)

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            jobs, deadline = [first], time.monotonic() + self.window
            while len(jobs) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = self._jobs.get(timeout=remaining)
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # finish this batch, then stop
                    break
                jobs.append(job)
            groups: dict[int, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(id(job.bundle), []).append(job)
            for group in groups.values():
                self._predict_group(group)

    def _predict_group(self, jobs: list[_Job]) -> None:
        try:
            batch = np.stack([job.pixels for job in jobs]).transpose(0, 3, 1, 2)  # (N, C, H, W), as training
            probabilities = jobs[0].bundle.predict(np.ascontiguousarray(batch))
        except Exception as err:  # every waiting request gets the error, none waits forever
            for job in jobs:
                job.result.set_exception(err)
            return
        if self.on_batch is not None:
            self.on_batch(len(jobs))
        for job, row in zip(jobs, probabilities, strict=True):
            job.result.set_result(row)
