"""The suite's warm kernels (tests/warm_kernels.py) behave as fresh kernels do, and step aside when they could not.

Each test starts its own server and kernelspec, so it does not depend on the one tests/conftest.py starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

from tests import warm_kernels

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfd and /proc: Linux only")

REPORT = """\
import json, os, sys
import numpy
print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "lesson": os.environ.get("LESSON"),
                  "torch_loaded": "torch" in sys.modules, "shared_loaded": "shared" in sys.modules,
                  "draw": float(numpy.random.rand()), "path0": sys.path[0]}))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A warm-kernel server with one thread per library, as `make test` runs it; yields (process, socket path)."""
    folder = tmp_path_factory.mktemp("warm")
    path = folder / "server.sock"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, warm_kernels.__file__, "serve", str(path)], env=env)
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, "the warm-kernel server exited while starting"
        assert time.monotonic() < deadline, "the warm-kernel server did not listen within 120 s"
        time.sleep(0.2)
    warm_kernels.write_kernelspec(folder)
    yield process, path, folder
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def warm(server, monkeypatch):
    process, path, folder = server
    monkeypatch.setenv("JUPYTER_PATH", str(folder))
    monkeypatch.setenv(warm_kernels.SOCKET_VARIABLE, str(path))
    monkeypatch.delenv("DIC_WARM_KERNELS", raising=False)
    return process


def _run(cells: list[str], folder, timeout: int = 20, **env) -> tuple[nbformat.NotebookNode, list[dict]]:
    """Run cells in a `python3` kernel started from ``folder``; return the notebook and the JSON each printed."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(folder)}}, shutdown_kernel="immediate")
    client.execute(env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    printed = [json.loads(o["text"]) for c in nb.cells for o in c.outputs
               if o.get("name") == "stdout" and o["text"].startswith("{")]
    return nb, printed


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_warm_kernel_is_forked_from_the_server_and_takes_the_launchers_place(warm, tmp_path):
    _, (first,) = _run([REPORT], tmp_path, LESSON="one")
    _, (second,) = _run([REPORT], tmp_path, LESSON="two")
    assert first["torch_loaded"] and first["ppid"] == warm.pid, first  # forked: PyTorch is already there
    assert not first["shared_loaded"]  # the course's own package: each lesson imports it afresh
    assert (first["cwd"], first["path0"], first["lesson"], second["lesson"]) == (str(tmp_path),) * 2 + ("one", "two")
    assert first["draw"] != second["draw"]  # numpy's global generator is reseeded, as in a new process
    assert _gone(first["pid"]) and _gone(second["pid"])  # killed with their launchers


def test_an_interrupt_reaches_the_kernel(warm, tmp_path):
    nb, (report,) = _run([REPORT, "import time\ntime.sleep(120)", "print('still alive')"], tmp_path, timeout=3)
    assert report["ppid"] == warm.pid
    assert nb.cells[1].outputs[-1]["ename"] == "KeyboardInterrupt"
    assert nb.cells[2].outputs[0]["text"] == "still alive\n"


def test_other_thread_counts_get_a_fresh_kernel(warm, tmp_path):
    # Two OpenMP threads were not what the server's libraries were loaded with.
    _, (report,) = _run([REPORT], tmp_path, OMP_NUM_THREADS="2")
    assert not report["torch_loaded"] and report["ppid"] != warm.pid


def test_switched_off_or_without_a_server_a_kernel_starts_fresh(warm, tmp_path, monkeypatch):
    _, (off,) = _run([REPORT], tmp_path, DIC_WARM_KERNELS="0")
    monkeypatch.setenv(warm_kernels.SOCKET_VARIABLE, str(tmp_path / "nobody-listens.sock"))
    _, (absent,) = _run([REPORT], tmp_path)
    assert not off["torch_loaded"] and not absent["torch_loaded"]
