"""The service's command line: start it, or check its prediction log for drift.

    python -m inference_service serve --bundle bundles/cifar10_cnn [--host 127.0.0.1] [--port 8000] [--log FILE]
    python -m inference_service drift --log predictions.jsonl --bundle bundles/cifar10_cnn [--last 500]

``drift`` exits with status 1 when it raises an alert (0 otherwise), so a scheduled job can act on it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from inference_service.monitoring import MIN_SAMPLES, PSI_THRESHOLD, drift_report, read_log, read_reference


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv``; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m inference_service", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP service for a bundle")
    serve.add_argument("--bundle", type=Path, required=True, help="the bundle folder (made by save_bundle)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log", type=Path, default=Path("predictions.jsonl"),
                       help="the prediction log, one JSON line per prediction (default: %(default)s)")
    serve.add_argument("--max-bytes", type=int, default=None, help="largest request body accepted (default 5 MiB)")
    serve.add_argument("--threads", type=int, default=1, help="torch threads (default 1: see create_app)")
    serve.add_argument("--exit-with-parent", action="store_true",
                       help="stop when the process that started this one ends (for notebooks and tests)")
    drift = commands.add_parser("drift", help="compare the recent predictions with the bundle's validation set")
    drift.add_argument("--log", type=Path, required=True, help="the prediction log written by serve")
    drift.add_argument("--bundle", type=Path, required=True, help="the bundle folder the service serves")
    drift.add_argument("--last", type=int, default=None, help="only the last N predictions (default: all)")
    drift.add_argument("--threshold", type=float, default=PSI_THRESHOLD, help="PSI alert threshold (default 0.2)")
    drift.add_argument("--min-samples", type=int, default=MIN_SAMPLES)
    args = parser.parse_args(argv)
    return _serve(args) if args.command == "serve" else _drift(args)


def _serve(args) -> int:
    # Imported here: torch and the web stack take seconds to import, which `drift` does not need.
    import uvicorn

    from inference_service.app import DEFAULT_MAX_BYTES, create_app
    from inference_service.bundle import BundleError, check_bundle

    try:
        check_bundle(args.bundle)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.exit_with_parent:
        _exit_with_parent()
    app = create_app(args.bundle, max_bytes=args.max_bytes or DEFAULT_MAX_BYTES, log_path=args.log,
                     torch_threads=args.threads)
    # The service's own messages (start-up, the traceback of an unexpected error) beside uvicorn's.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    print(f"Serving {args.bundle} on http://{args.host}:{args.port} (predictions logged to {args.log})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _exit_with_parent() -> None:
    """Stop this server (cleanly, as Ctrl-C would) once its parent process has gone."""
    parent = os.getppid()

    def watch() -> None:
        # A child whose parent dies is adopted by another process: its parent id changes.
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _drift(args) -> int:
    try:
        reference = read_reference(args.bundle)
        records = read_log(args.log, last=args.last)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = drift_report(records, reference, psi_threshold=args.threshold, min_samples=args.min_samples)
    print(report)
    return 1 if report.alert else 0


if __name__ == "__main__":
    sys.exit(main())
