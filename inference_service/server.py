"""Run the service in a child process, the way it runs in production, and stop it reliably.

Notebooks, tests and the benchmark all need the same four steps: pick a free port, start
``python -m inference_service serve`` (the one command), wait until ``/health`` answers, and stop the
process at the end, even when something in between fails. ``start_service`` does them; the
``ServiceProcess`` it returns is also a context manager, and it is stopped at interpreter exit in any
case (and, with ``--exit-with-parent``, the server stops by itself if its parent is killed outright).
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServiceProcess:
    """A service running in a child process: its ``url``, ``command``, prediction ``log_path``, and ``stop()``."""

    def __init__(self, command: list[str], url: str, process: subprocess.Popen, log_path: Path, output: Path,
                 owns_output: bool = False):
        self.command, self.url, self.process, self.log_path, self.output = command, url, process, log_path, output
        self._owns_output = owns_output  # a temporary file of ours: removed on stop

    @property
    def running(self) -> bool:
        """Return True while the child process is alive."""
        return self.process.poll() is None

    def output_tail(self, lines: int = 20) -> str:
        """Return the last lines the server printed (uvicorn's log and any error)."""
        try:
            return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> int | None:
        """Stop the server (SIGTERM, as uvicorn expects, then SIGKILL after ``timeout`` s); return its exit code."""
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        atexit.unregister(self.stop)
        if self._owns_output:
            self.output.unlink(missing_ok=True)
        return self.process.returncode

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped ({self.process.returncode})"
        return f"ServiceProcess({self.url}, pid {self.process.pid}, {state})"


def start_service(bundle_dir: str | Path, log_path: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
                  extra_args: tuple[str, ...] = (), timeout: float = 120, output: str | Path | None = None,
                  deployment: bool = False) -> ServiceProcess:
    """Start ``python -m inference_service serve`` for ``bundle_dir``; return it once ``/health`` answers.

    With ``deployment=True`` the folder is a deployment folder (``serve --deployment``), not a bundle.
    Predictions are logged to ``log_path``. The server's own output (uvicorn's log) goes to ``output``
    (by default a temporary file, removed on stop), never to a pipe nobody reads, which would stall the
    server once full. Raises RuntimeError with that output if the server exits or stays silent for
    ``timeout`` seconds.
    """
    port = port or free_port(host)
    source = ["--deployment" if deployment else "--bundle", str(bundle_dir)]
    command = [sys.executable, "-m", "inference_service", "serve", *source, "--host", host,
               "--port", str(port), "--log", str(log_path), "--exit-with-parent", *extra_args]
    owns_output = output is None
    output = Path(tempfile.mkstemp(prefix="inference-service-", suffix=".log")[1]) if owns_output else Path(output)
    with open(output, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    service = ServiceProcess(command, f"http://{host}:{port}", process, Path(log_path), output, owns_output)
    atexit.register(service.stop)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.running:
            tail = service.output_tail()
            service.stop()
            raise RuntimeError(f"The service exited with status {process.returncode} before answering. "
                               f"Its output:\n{tail}")
        try:
            if httpx.get(f"{service.url}/health", timeout=2).status_code == 200:
                return service
        except httpx.TransportError:
            pass  # not listening yet: importing torch and loading the bundle take a few seconds
        time.sleep(0.2)
    tail = service.output_tail()
    service.stop()
    raise RuntimeError(f"The service did not answer /health within {timeout:.0f} s. Its output:\n{tail}")
