"""The service's command line: start it, check its prediction log, try a new model and promote or roll back.

    python -m inference_service serve --bundle bundles/cifar10_cnn [--host 127.0.0.1] [--port 8000] [--log FILE]
    python -m inference_service serve --deployment deploy/ [--batch-window-ms 2 --max-batch 16] ...
    python -m inference_service drift --log predictions.jsonl --bundle bundles/cifar10_cnn [--last 500]
    python -m inference_service release deploy/ --bundle bundles/new_cnn [--share 0.1] [--shadow]
    python -m inference_service compare --log predictions.jsonl [--last 2000]
    python -m inference_service promote deploy/
    python -m inference_service rollback deploy/

``drift`` exits with status 1 when it raises an alert (0 otherwise), so a scheduled job can act on it.
``release`` copies a bundle into the deployment folder as the live model (the first) or as the candidate;
a service serving that folder picks up every change within a second, without a restart.
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

from inference_service.deployment import (
    DEFAULT_CANDIDATE_SHARE,
    DeploymentError,
    promote,
    read_state,
    release,
    release_path,
    rollback,
)
from inference_service.identity import bundle_identity
from inference_service.monitoring import (
    CONTENT_ALPHA,
    MIN_SAMPLES,
    PSI_THRESHOLD,
    compare_models,
    drift_report,
    read_log,
    read_reference,
    records_of,
)


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv``; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m inference_service", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP service for a bundle or a deployment folder")
    source = serve.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", type=Path, help="one bundle folder (made by save_bundle), served alone")
    source.add_argument("--deployment", type=Path,
                        help="a deployment folder (made by `release`): its live model and candidate, followed live")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log", type=Path, default=Path("predictions.jsonl"),
                       help="the prediction log, one JSON line per prediction (default: %(default)s)")
    serve.add_argument("--max-bytes", type=int, default=None, help="largest request body accepted (default 5 MiB)")
    serve.add_argument("--threads", type=int, default=1, help="torch threads (default 1: see create_app)")
    serve.add_argument("--batch-window-ms", type=float, default=0,
                       help="micro-batching: wait up to this long for concurrent requests to share a forward pass "
                            "(default 0: off)")
    serve.add_argument("--max-batch", type=int, default=16, help="micro-batching: largest batch (default 16)")
    serve.add_argument("--exit-with-parent", action="store_true",
                       help="stop when the process that started this one ends (for notebooks and tests)")
    drift = commands.add_parser("drift", help="compare the recent predictions with the bundle's validation set")
    drift.add_argument("--log", type=Path, required=True, help="the prediction log written by serve")
    drift.add_argument("--bundle", type=Path, required=True, help="the bundle folder the service serves")
    drift.add_argument("--last", type=int, default=None, help="only the last N predictions (default: all)")
    drift.add_argument("--threshold", type=float, default=PSI_THRESHOLD, help="PSI alert threshold (default 0.2)")
    drift.add_argument("--min-samples", type=int, default=MIN_SAMPLES)
    drift.add_argument("--alpha", type=float, default=CONTENT_ALPHA,
                       help="the content check's false-alarm rate on unshifted traffic (default 0.05)")
    new = commands.add_parser("release", help="copy a bundle into a deployment folder: live if first, else candidate")
    new.add_argument("deployment", type=Path, help="the deployment folder (created if missing)")
    new.add_argument("--bundle", type=Path, required=True, help="the bundle folder to release")
    new.add_argument("--share", type=float, default=None,
                     help=f"share of requests the candidate answers (default {DEFAULT_CANDIDATE_SHARE}, "
                          "or 0 with --shadow)")
    new.add_argument("--shadow", action="store_true",
                     help="the candidate also sees a copy of every request the live model answers "
                          "(logged, not returned)")
    for command, text in (("promote", "make the candidate the live model (the old one is kept for rollback)"),
                          ("rollback", "make live again the model that was live before the last promotion")):
        commands.add_parser(command, help=text).add_argument("deployment", type=Path, help="the deployment folder")
    compare = commands.add_parser("compare", help="compare the live model and the candidate from the prediction log")
    compare.add_argument("--log", type=Path, required=True, help="the prediction log written by serve")
    compare.add_argument("--last", type=int, default=None, help="only the last N records (default: all)")
    args = parser.parse_args(argv)
    return {"serve": _serve, "drift": _drift, "release": _deploy, "promote": _deploy, "rollback": _deploy,
            "compare": _compare}[args.command](args)


def _serve(args) -> int:
    # Imported here: torch and the web stack take seconds to import, which `drift` does not need.
    import uvicorn

    from inference_service.app import DEFAULT_MAX_BYTES, create_app
    from inference_service.bundle import BundleError, check_bundle

    try:
        if args.bundle is not None:
            check_bundle(args.bundle)
        else:
            state = read_state(args.deployment)
            for name in (state.live, state.candidate):
                if name:
                    check_bundle(release_path(args.deployment, name))
        if args.batch_window_ms < 0 or (args.batch_window_ms and args.max_batch < 2):
            raise ValueError(f"--batch-window-ms must be 0 (off) or positive with --max-batch 2 or more; got "
                             f"{args.batch_window_ms} and {args.max_batch}.")
    except (BundleError, DeploymentError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.exit_with_parent:
        _exit_with_parent()
    app = create_app(args.bundle, deployment=args.deployment, max_bytes=args.max_bytes or DEFAULT_MAX_BYTES,
                     log_path=args.log, torch_threads=args.threads, batch_window_ms=args.batch_window_ms,
                     max_batch=args.max_batch)
    # The service's own messages (start-up, the traceback of an unexpected error) beside uvicorn's.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    print(f"Serving {args.bundle or args.deployment} on http://{args.host}:{args.port} "
          f"(predictions logged to {args.log})", flush=True)
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
        identity = bundle_identity(args.bundle)
        records = read_log(args.log, last=args.last)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    mine = records_of(records, identity.sha256)  # the content check compares this model's outputs with its own
    if records and not mine:
        others = sorted({r.get("model_version", "?") + " " + r.get("model_sha256", "?")[:12] for r in records})
        print(f"error: none of the {len(records)} records was made by {args.bundle} (version {identity.version}, "
              f"sha256 {identity.short}); the log holds {', '.join(others)}. Give the bundle that served them.",
              file=sys.stderr)
        return 2
    print(f"Model {identity.name} version {identity.version} (sha256 {identity.short}): {len(mine)} predictions")
    report = drift_report(mine, reference, psi_threshold=args.threshold, min_samples=args.min_samples,
                          alpha=args.alpha)
    print(report)
    return 1 if report.alert else 0


def _deploy(args) -> int:
    try:
        if args.command == "release":
            share = args.share if args.share is not None else (0.0 if args.shadow else DEFAULT_CANDIDATE_SHARE)
            state = release(args.deployment, args.bundle, share=share, shadow=args.shadow)
        else:
            state = (promote if args.command == "promote" else rollback)(args.deployment)
    except (RuntimeError, FileNotFoundError) as err:  # DeploymentError, or BundleError from a damaged release
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.command}: now {state.describe()} (a service serving {args.deployment} follows within a second)")
    return 0


def _compare(args) -> int:
    try:
        print(compare_models(read_log(args.log, last=args.last)))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
