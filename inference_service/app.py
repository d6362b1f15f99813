"""The HTTP service: ``POST /predict``, ``GET /health`` and ``GET /metrics`` for one model bundle.

``create_app(bundle_dir)`` returns a FastAPI application; ``python -m inference_service serve`` runs it
with uvicorn. The bundle is loaded once, when the server starts (FastAPI's lifespan), not per request.
Every refusal is a JSON body ``{"reason": ..., "detail": ...}`` with a 4xx status: a client error never
turns into a 500, and an unexpected server error is logged with its traceback but answered without it.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from inference_service.bundle import Bundle, load_bundle
from inference_service.images import DEFAULT_MAX_PIXELS, BadInput, decode_image
from inference_service.monitoring import PredictionLog, input_statistics

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
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
        )


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


def create_app(bundle_dir: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS,
               log_path: str | Path | None = None, torch_threads: int | None = 1) -> FastAPI:
    """Return the service for the bundle in ``bundle_dir``: loaded at start-up, logging to ``log_path`` if given.

    ``torch_threads=1`` (the default): one small image is too little work to share between cores, and
    concurrent requests already run side by side in the server's thread pool, so more threads per request
    would only make them compete. ``None`` leaves torch's setting alone.
    """
    metrics = ServiceMetrics.create()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if torch_threads:
            torch.set_num_threads(torch_threads)
        app.state.bundle = load_bundle(bundle_dir)
        app.state.log = PredictionLog(log_path) if log_path else None
        app.state.started = time.monotonic()
        logger.info("Serving %s (%d classes) from %s", app.state.bundle.name, len(app.state.bundle.classes),
                    bundle_dir)
        yield

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
        """Say that the service is up, which model it serves and for how long."""
        bundle: Bundle = request.app.state.bundle
        log: PredictionLog | None = request.app.state.log
        return {"status": "ok", "model": bundle.name, "classes": len(bundle.classes),
                "input_shape": bundle.manifest.get("input_shape"),
                "uptime_seconds": round(time.monotonic() - request.app.state.started, 1),
                "torch": torch.__version__, "max_bytes": max_bytes,
                # A count, not the log's path: a health check need not tell strangers about the server's disk.
                "predictions_logged": log.count if log else None}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Return the metrics in Prometheus' text format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    async def predict(request: Request,
                      top_k: int | None = Query(None, description="how many classes to return (default 3)")):
        """Return the top_k classes with their probabilities for the image in the multipart field `file`."""
        bundle: Bundle = request.app.state.bundle
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
    bundle: Bundle = app.state.bundle
    metrics: ServiceMetrics = app.state.metrics
    image = decode_image(data, max_pixels)
    pixels = bundle.preprocessing.pixels(image)
    probabilities = bundle.predict(pixels)[0]
    order = probabilities.argsort()[::-1][:top_k]
    latency_ms = (time.perf_counter() - started) * 1000
    best, confidence = int(order[0]), float(probabilities[order[0]])
    record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": request_id,
              "latency_ms": round(latency_ms, 3), "class_index": best, "predicted_class": bundle.classes[best],
              "confidence": round(confidence, 6), **input_statistics(pixels),
              "width": image.width, "height": image.height, "mode": image.mode, "content_type": content_type}
    if app.state.log is not None:
        # If the line cannot be written, the request fails (a 500): an answer that monitoring never sees
        # would make the drift check blind without anyone noticing.
        app.state.log.append(record)
    metrics.predictions.labels(bundle.classes[best]).inc()
    metrics.confidence.observe(confidence)
    return {"predictions": [{"class": bundle.classes[i], "probability": round(float(probabilities[i]), 6)}
                            for i in order],
            "latency_ms": round(latency_ms, 3), "model": bundle.name, "request_id": request_id,
            "image": {"width": image.width, "height": image.height, "mode": image.mode}}


def _refusal(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"reason": reason, "detail": message}, status_code=status)
