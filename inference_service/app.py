"""The HTTP service: ``POST /predict``, ``GET /health`` and ``GET /metrics`` for a model bundle, or two.

``create_app(bundle_dir)`` returns a FastAPI application for one bundle; ``create_app(deployment=DIR)``
one that serves a deployment folder's live bundle and candidate and follows its promotions and rollbacks
without a restart (``inference_service.deployment``, ``inference_service.serving``).
``python -m inference_service serve`` runs it with uvicorn. Bundles are loaded when the server starts
(FastAPI's lifespan) or when the deployment changes, never per request.

Every answer and every prediction-log record names the model that made it (version and SHA-256, defined in
``inference_service.identity``), and so do ``/health`` and the ``model_info`` metric. A request uses the
models being served when it started, to its end: a swap never mixes two versions in one answer.
Every refusal is a JSON body ``{"reason": ..., "detail": ...}`` with a 4xx status: a client error never
turns into a 500, and an unexpected server error is logged with its traceback but answered without it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, Info, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from inference_service.batching import MicroBatcher
from inference_service.bundle import PROBABILITY_DECIMALS, Bundle, load_bundle
from inference_service.images import DEFAULT_MAX_PIXELS, BadInput, decode_image
from inference_service.monitoring import PredictionLog, input_statistics
from inference_service.serving import DeploymentFollower, Serving

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_SHADOW_BACKLOG = 64  # shadow predictions waiting; beyond it they are dropped (and counted), never the answers
ENDPOINTS = ("/predict", "/health", "/metrics")
logger = logging.getLogger("inference_service")


@dataclass
class ServiceMetrics:
    """The Prometheus metrics of one app, in a registry of its own (so a process can hold several apps)."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    errors: Counter
    predictions: Counter
    confidence: Histogram
    model_info: Info
    shadow_dropped: Counter
    batch_size: Histogram

    @classmethod
    def create(cls) -> ServiceMetrics:
        """Return fresh metrics in a new registry."""
        registry = CollectorRegistry()
        return cls(
            registry,
            Counter("inference_requests", "HTTP requests answered, by endpoint and status code",
                    ["endpoint", "status"], registry=registry),
            # Buckets from 1 ms to 2.5 s: a small CNN answers in milliseconds, a queue of them in tenths.
            Histogram("inference_request_latency_seconds", "Time from request to response, by endpoint",
                      ["endpoint"], registry=registry,
                      buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5)),
            Counter("inference_errors", "Requests refused or failed, by reason", ["reason"], registry=registry),
            Counter("inference_predictions", "Predictions made, by predicted class", ["predicted_class"],
                    registry=registry),
            Histogram("inference_confidence", "Top probability of each prediction", registry=registry,
                      buckets=(.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, .99, 1.0)),
            # Exposed as model_info{role="live",name=...,version=...,sha256=...} 1: join it to any other series
            # to know which model produced it.
            Info("model", "The bundles served: name, version and SHA-256 (of the manifest), by role", ["role"],
                 registry=registry),
            Counter("inference_shadow_dropped", "Shadow predictions skipped because too many were waiting",
                    registry=registry),
            Histogram("inference_batch_size", "Images per forward pass, with micro-batching on", registry=registry,
                      buckets=(1, 2, 4, 8, 16, 32, 64)),
        )

    def show_models(self, serving: Serving) -> None:
        """Set model_info to the bundles of ``serving`` (a candidate withdrawn disappears from it)."""
        self.model_info.labels("live").info(serving.live.identity.labels())
        if serving.candidate is not None:
            self.model_info.labels("candidate").info(serving.candidate.identity.labels())
        else:
            try:
                self.model_info.remove("candidate")
            except KeyError:
                pass  # there was none


class BodyTooLarge(Exception):
    """The request body grew past the service's limit while it was being read."""


class LimitBodySize:
    """ASGI middleware: refuse a body over ``max_bytes`` with 413, from its Content-Length or while reading it."""

    def __init__(self, app, max_bytes: int, metrics: ServiceMetrics):
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            self.metrics.errors.labels("too_large").inc()
            response = _refusal(413, "too_large", f"The request body is {int(declared):,} bytes, more than the "
                                                  f"limit of {self.max_bytes:,} bytes. Send a smaller image.")
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            # A body sent without Content-Length (chunked) is counted as it arrives; the endpoint turns
            # the exception into a 413.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(f"The request body is over the limit of {self.max_bytes:,} bytes. "
                                       "Send a smaller image.")
            return message

        await self.app(scope, limited_receive, send)


class RecordRequests:
    """ASGI middleware: count every request by endpoint and status, and time it."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            # Unknown paths share one label: a scanner trying a thousand URLs must not make a thousand series.
            endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)


def create_app(bundle_dir: str | Path | None = None, *, deployment: str | Path | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS,
               log_path: str | Path | None = None, torch_threads: int | None = 1, batch_window_ms: float = 0,
               max_batch: int = 16, follow_interval: float = 0.5) -> FastAPI:
    """Return the service for one bundle folder, or for a deployment folder (give exactly one of the two).

    Predictions are logged to ``log_path`` if given. ``torch_threads=1`` (the default): one small image is
    too little work to share between cores, and concurrent requests already run side by side in the
    server's thread pool, so more threads per request would only make them compete. ``None`` leaves
    torch's setting alone. ``batch_window_ms`` above 0 turns micro-batching on (``MicroBatcher``): requests
    arriving within that window share one forward pass, at most ``max_batch`` of them.
    """
    if (bundle_dir is None) == (deployment is None):
        raise ValueError("Give either a bundle folder or a deployment folder to serve, not both and not neither.")
    metrics = ServiceMetrics.create()

    def serve(app: FastAPI, serving: Serving) -> None:
        app.state.serving = serving  # one assignment: each request sees the old models or the new, never both
        metrics.show_models(serving)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if torch_threads:
            torch.set_num_threads(torch_threads)
        follower = None
        if deployment is not None:
            follower = DeploymentFollower(deployment, lambda serving: serve(app, serving), follow_interval)
            serve(app, follower.load())
            follower.start()
        else:
            serve(app, Serving(load_bundle(bundle_dir)))
        app.state.follower = follower
        app.state.log = PredictionLog(log_path) if log_path else None
        app.state.batcher = (MicroBatcher(batch_window_ms, max_batch, metrics.batch_size.observe)
                             if batch_window_ms > 0 else None)
        # One thread for shadow predictions: they must never take a core from the answers.
        app.state.shadows = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        app.state.shadow_backlog = threading.BoundedSemaphore(MAX_SHADOW_BACKLOG)
        app.state.started = time.monotonic()
        live = app.state.serving.live
        logger.info("Serving %s version %s (sha256 %s, %d classes) from %s", live.name, live.version,
                    live.identity.short, len(live.classes), deployment or bundle_dir)
        yield
        if follower is not None:
            follower.stop()
        app.state.shadows.shutdown(wait=True)  # the shadow records already queued are written
        if app.state.batcher is not None:
            app.state.batcher.close()

    app = FastAPI(title="Deep into CNNs inference service", lifespan=lifespan,
                  description="Upload an image to /predict (multipart field `file`); get the top-k classes.")
    app.state.metrics = metrics
    app.add_middleware(LimitBodySize, max_bytes=max_bytes, metrics=metrics)
    app.add_middleware(RecordRequests, metrics=metrics)  # added last, so outermost: it sees every answer

    def refuse(status: int, reason: str, message: str) -> JSONResponse:
        metrics.errors.labels(reason).inc()
        return _refusal(status, reason, message)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors())
        return refuse(422, "bad_parameter", f"Invalid request parameters: {problems}.")

    @app.get("/health")
    async def health(request: Request) -> dict:
        """Say that the service is up, which models it serves (version, SHA-256) and for how long."""
        serving: Serving = request.app.state.serving
        bundle = serving.live
        log: PredictionLog | None = request.app.state.log
        follower: DeploymentFollower | None = request.app.state.follower
        candidate = None
        if serving.candidate is not None:
            candidate = {"model": serving.candidate.name, "version": serving.candidate.version,
                         "sha256": serving.candidate.sha256, "share": serving.candidate_share,
                         "shadow": serving.shadow}
        return {"status": "ok", "model": bundle.name, "version": bundle.version, "sha256": bundle.sha256,
                "classes": len(bundle.classes), "input_shape": bundle.manifest.get("input_shape"),
                "candidate": candidate,
                # Release names, not paths: a health check need not tell strangers about the server's disk.
                "deployment": serving.state.describe() if serving.state else None,
                "deployment_error": follower.error if follower else None,
                "micro_batching": {"window_ms": batch_window_ms, "max_batch": max_batch} if batch_window_ms else None,
                "uptime_seconds": round(time.monotonic() - request.app.state.started, 1),
                "torch": torch.__version__, "max_bytes": max_bytes,
                "predictions_logged": log.count if log else None}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Return the metrics in Prometheus' text format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    async def predict(request: Request,
                      top_k: int | None = Query(None, description="how many classes to return (default 3)")):
        """Return the top_k classes with their probabilities for the image in the multipart field `file`."""
        bundle: Bundle = request.app.state.serving.live
        top_k = min(3, len(bundle.classes)) if top_k is None else top_k
        if not 1 <= top_k <= len(bundle.classes):
            return refuse(422, "bad_parameter", f"top_k must be between 1 and {len(bundle.classes)} "
                                                f"(the number of classes), got {top_k}.")
        request_id = uuid.uuid4().hex[:12]
        try:
            data, content_type = await _read_upload(request)
            answer = await run_in_threadpool(_answer, request.app, data, content_type, top_k, request_id,
                                             max_pixels)
        except BadInput as err:
            return refuse(err.status, err.reason, err.message)
        except BodyTooLarge as err:
            return refuse(413, "too_large", str(err))
        except ClientDisconnect:
            return refuse(400, "client_disconnected", "The client went away before sending the whole body.")
        except Exception:
            logger.exception("Request %s failed", request_id)
            return refuse(500, "internal_error", f"The service failed on this request (id {request_id}); "
                                                 "the server's log has the details.")
        return answer

    return app


async def _read_upload(request: Request) -> tuple[bytes, str]:
    """Return the bytes and content type of the multipart field ``file``, or raise BadInput."""
    body = await request.body()  # bounded by LimitBodySize; kept, so request.form() parses it from memory
    if not body:
        raise BadInput(400, "empty_body", "The request body is empty. Send the image as the multipart form field "
                                          "'file', e.g. curl -F file=@photo.jpg http://HOST:PORT/predict")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise BadInput(415, "wrong_content_type", f"The request's content type is {content_type or 'missing'!r}; "
                                                  "send multipart/form-data with the image in the field 'file'.")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except StarletteHTTPException as err:  # how Starlette reports a malformed multipart body
        raise BadInput(400, "bad_multipart", f"The multipart body could not be parsed: {err.detail}.") from err
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            fields = ", ".join(repr(k) for k in form.keys()) or "none"
            raise BadInput(422, "missing_file", f"No file in the form field 'file' (fields received: {fields}). "
                                                "Send the image as the multipart field 'file'.")
        part_type = upload.content_type or ""
        if not part_type.startswith("image/"):
            raise BadInput(415, "wrong_content_type",
                           f"The uploaded file's content type is {part_type or 'missing'!r}, "
                           "not an image type (image/png, image/jpeg, ...).")
        return await upload.read(), part_type
    finally:
        await form.close()


def _answer(app: FastAPI, data: bytes, content_type: str, top_k: int, request_id: str, max_pixels: int) -> dict:
    """Decode, predict and record one request (runs in a worker thread: decoding and the network take CPU)."""
    started = time.perf_counter()
    serving: Serving = app.state.serving  # read once: this request keeps these models, whatever is swapped meanwhile
    bundle, role = serving.route(request_id)
    metrics: ServiceMetrics = app.state.metrics
    image = decode_image(data, max_pixels)
    pixels = bundle.preprocessing.pixels(image)
    probabilities = _predict(app, bundle, pixels)
    order = probabilities.argsort()[::-1][:min(top_k, len(bundle.classes))]
    latency_ms = (time.perf_counter() - started) * 1000
    record = _record(bundle, role, request_id, probabilities, pixels, latency_ms)
    record.update(width=image.width, height=image.height, mode=image.mode, content_type=content_type)
    if app.state.log is not None:
        # If the line cannot be written, the request fails (a 500): an answer that monitoring never sees
        # would make the drift check blind without anyone noticing.
        app.state.log.append(record)
    metrics.predictions.labels(record["predicted_class"]).inc()
    metrics.confidence.observe(record["confidence"])
    shadow = serving.shadow_for(role)
    if shadow is not None and app.state.log is not None:
        if app.state.shadow_backlog.acquire(blocking=False):
            app.state.shadows.submit(_shadow, app, shadow, image, request_id)
        else:
            metrics.shadow_dropped.inc()
    return {"predictions": [{"class": bundle.classes[i], "probability": round(float(probabilities[i]), 6)}
                            for i in order],
            "latency_ms": round(latency_ms, 3), "model": bundle.name, "model_version": bundle.version,
            "model_sha256": bundle.sha256, "role": role, "request_id": request_id,
            "image": {"width": image.width, "height": image.height, "mode": image.mode}}


def _predict(app: FastAPI, bundle: Bundle, pixels) -> np.ndarray:
    """Return one picture's class probabilities, through the micro-batcher when it is on."""
    if app.state.batcher is not None:
        return app.state.batcher.predict(bundle, pixels)
    return bundle.predict(pixels)[0]


def _record(bundle: Bundle, role: str, request_id: str, probabilities: np.ndarray, pixels, latency_ms: float) -> dict:
    """Return the prediction-log record of one model's prediction on one request."""
    best = int(probabilities.argmax())
    return {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": request_id,
            "role": role, "model_version": bundle.version, "model_sha256": bundle.sha256,
            "latency_ms": round(latency_ms, 3), "class_index": best, "predicted_class": bundle.classes[best],
            "confidence": round(float(probabilities[best]), 6),
            "probabilities": probabilities.round(PROBABILITY_DECIMALS).tolist(), **input_statistics(pixels)}


def _shadow(app: FastAPI, bundle: Bundle, image, request_id: str) -> None:
    """Run the candidate on a request the live model answered, and log it (role "shadow"); nobody waits for it."""
    try:
        started = time.perf_counter()
        pixels = bundle.preprocessing.pixels(image)  # the candidate's own preprocessing: it may differ
        probabilities = bundle.predict(pixels)[0]
        app.state.log.append(_record(bundle, "shadow", request_id, probabilities, pixels,
                                     (time.perf_counter() - started) * 1000))
    except Exception:
        logger.exception("Shadow prediction for request %s failed", request_id)
    finally:
        app.state.shadow_backlog.release()


def _refusal(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"reason": reason, "detail": message}, status_code=status)
