"""Warm kernels for the test suite: each notebook's kernel is forked from a process that has imported PyTorch.

Why: every kernel the suite starts (a lesson's run, each nbgrader run, the strip proofs) spends 6-8 s before
its notebook's first line: importing this CUDA build of PyTorch maps 3.2 GB of libraries, the first optimizer
step imports torch._dynamo (850 modules), then torchvision and the kernel itself. Forked from a process that
did all that once, a kernel starts in a fraction of a second, and runs the notebook exactly as a fresh one would:
the fork server imports libraries only (never the course's `shared`, never matplotlib, whose backend depends on
the environment) and runs no code of a notebook, so no lesson can see another's state.

How: `serve` runs in the background for the whole test run (started by tests/conftest.py). The suite puts a
kernelspec named `python3` first on JUPYTER_PATH whose command is this file's `launch`: a small process that
jupyter_client starts, signals and kills as it would a kernel. It hands its working folder, environment and
standard streams to the server, which forks; the child becomes the kernel (ipykernel's own entry point), and the
launcher forwards signals (an interrupt) to it and waits for it. When the launcher is killed, the kernel exits.

Whenever a warm kernel could differ from a fresh one, `launch` starts a fresh kernel instead, the usual way:
the server is not running, it has started a thread (forking a process with threads is unsafe), or the
kernel's environment asks for other thread counts than the server's libraries were loaded with.
DIC_WARM_KERNELS=0 switches the whole thing off (`make quick` in a clone alone runs fresh kernels).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import sys
import threading
from pathlib import Path

SOCKET_VARIABLE = "DIC_WARM_KERNEL_SOCKET"
# Thread counts are read by the BLAS and OpenMP libraries when they load, that is in the server: a kernel that
# asks for other values gets a fresh process.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Not ipykernel.kernelapp, which reads the kernel's parent process from the environment when it is imported.
PRELOADED = ("numpy", "pandas", "PIL.Image", "torch", "torch.optim", "torch.utils.data", "torchvision",
             "ipykernel.ipkernel")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def write_kernelspec(folder: Path) -> Path:
    """Write a `python3` kernelspec whose command is this file's launcher; return the folder for JUPYTER_PATH."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(Path(__file__).resolve()), "launch", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel, forked from a warm process)",
        "language": "python",
        "metadata": {"debugger": True},
    }, indent=1))
    return folder


# ---------------------------------------------------------------------------------------------------------
# The server


def _threads() -> int:
    """Return how many threads this process has, the C libraries' included."""
    return len(os.listdir("/proc/self/task"))


def serve(path: str) -> None:
    """Import the heavy libraries, then fork a kernel for every launcher that connects to the socket at ``path``."""
    parent = os.getppid()  # before the imports: if the test run ends during them, the loop below sees it
    for module in PRELOADED:
        __import__(module)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    # Children are reaped by the system: nothing here waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while os.getppid() == parent:  # the test run that started the server has ended: so does the server
        ready, _, _ = select.select([listener], [], [], 1.0)
        if not ready:
            continue
        connection, _ = listener.accept()
        fds: list[int] = []
        with connection:
            try:
                message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
                request = json.loads(message)
                refusal = _refusal(request)
                if refusal:
                    connection.sendall(json.dumps({"refused": refusal}).encode())
                    continue
                watched = os.pidfd_open(request["launcher"])
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    connection.close()  # else the launcher, reading the reply to its end, waits for the kernel
                    _become_kernel(request, fds, watched)  # never returns
                connection.sendall(json.dumps({"pid": pid}).encode())
                os.close(watched)
            except (OSError, ValueError) as err:  # a launcher that went away, a malformed request
                print(f"warm kernels: {err!r}", file=sys.stderr)
            finally:
                for fd in fds:
                    os.close(fd)


def _refusal(request: dict) -> str | None:
    """Return why a forked kernel could differ from a fresh one for this request, or None if it would not."""
    threads = _threads()
    if threads != 1:
        return f"the server has {threads} threads"
    for name in THREAD_VARIABLES:
        if request["env"].get(name) != os.environ.get(name):
            return f"{name}={request['env'].get(name)!r}, the server's {os.environ.get(name)!r}"
    return None


def _become_kernel(request: dict, fds: list[int], launcher: int) -> None:
    """In the forked child: take the launcher's place (folder, environment, streams), then run ipykernel."""
    try:
        os.setsid()  # a session of its own, as jupyter_client gives a kernel it starts
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["argv0"], *request["args"]]
        sys.path[0] = request["cwd"]  # as `python -m ipykernel_launcher` run from the kernel's folder
        import numpy

        numpy.random.seed()  # numpy seeded its global generator at import, in the server: reseed, as a new process
        threading.Thread(target=_exit_with, args=(launcher,), daemon=True).start()
        from ipykernel import kernelapp

        kernelapp.launch_new_instance(argv=request["args"])
    finally:
        # Never back into the server's loop: end as a kernel process ends, exit handlers included.
        atexit._run_exitfuncs()
        os._exit(0)


def _exit_with(launcher: int) -> None:
    """Exit this kernel at once when its launcher has gone (jupyter_client killed it, or it died)."""
    select.select([launcher], [], [])
    os._exit(1)


# ---------------------------------------------------------------------------------------------------------
# The launcher


def launch(args: list[str]) -> None:
    """Start a kernel with ``args``: forked by the server if one runs and may, otherwise a fresh one."""
    path = os.environ.get(SOCKET_VARIABLE)
    reply = {"refused": f"{SOCKET_VARIABLE} is not set"}
    if path and os.environ.get("DIC_WARM_KERNELS", "1") != "0":
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.connect(path)
                request = {"launcher": os.getpid(), "cwd": os.getcwd(), "env": dict(os.environ),
                           "argv0": sys.argv[0], "args": args}
                socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
                connection.shutdown(socket.SHUT_WR)
                reply = json.loads(connection.makefile().read() or '{"refused": "no answer"}')
        except OSError as err:
            reply = {"refused": repr(err)}
    if "pid" not in reply:
        os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *args])
    kernel = reply["pid"]
    for number in FORWARDED_SIGNALS:
        signal.signal(number, lambda received, frame: os.kill(kernel, received))
    parent = os.getppid()
    watched = os.pidfd_open(kernel)
    while True:
        ready, _, _ = select.select([watched], [], [], 1.0)
        if ready:
            return
        if os.getppid() != parent:  # whoever started the kernel has died without stopping it
            os.kill(kernel, signal.SIGKILL)
            return


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["launch"]:
        launch(sys.argv[2:])
    else:
        sys.exit(f"usage: {sys.argv[0]} serve SOCKET | launch -f CONNECTION_FILE")
