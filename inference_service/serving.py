"""What the service answers with right now: the live bundle, perhaps a candidate, and how requests are split.

A ``Serving`` is immutable. A request reads the app's current one once, at its start, and uses it to the
end; a swap (a promotion, a rollback) puts a new ``Serving`` in its place with one assignment. So a
request in flight during a swap finishes with the models it started with: no answer mixes two versions.

``DeploymentFollower`` watches a deployment folder's deployment.json (``inference_service.deployment``),
loads the bundles it names (keeping those already loaded, so a promotion swaps at once), and hands each
new ``Serving`` to the app. A state that cannot be loaded is logged and the service keeps the one it has.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inference_service.bundle import Bundle, load_bundle
from inference_service.deployment import STATE_FILE, DeploymentState, read_state, release_path

logger = logging.getLogger("inference_service")


@dataclass(frozen=True)
class Serving:
    """The live bundle, the candidate (or None), the candidate's share of requests, and whether it shadows."""

    live: Bundle
    candidate: Bundle | None = None
    candidate_share: float = 0.0
    shadow: bool = False
    state: DeploymentState | None = None  # None when serving one bundle folder, without a deployment

    def route(self, request_id: str) -> tuple[Bundle, str]:
        """Return the bundle that answers this request and its role ("live" or "candidate")."""
        if self.candidate is not None and self.candidate_share > 0:
            # The request id is random (uuid4): its hash splits the traffic, and names the split in the log.
            if int(request_id, 16) % 10_000 < self.candidate_share * 10_000:
                return self.candidate, "candidate"
        return self.live, "live"

    def shadow_for(self, role: str) -> Bundle | None:
        """Return the bundle that should also see a request answered in ``role`` (the candidate), or None."""
        return self.candidate if self.shadow and role == "live" else None


class DeploymentFollower:
    """Load the deployment's state, then reload it whenever deployment.json changes (checked every ``interval`` s)."""

    def __init__(self, deployment: str | Path, on_change: Callable[[Serving], None], interval: float = 0.5):
        self.deployment, self.on_change, self.interval = Path(deployment), on_change, interval
        self.error: str | None = None  # why the latest change could not be served, if it could not
        self._bundles: dict[str, Bundle] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = self._signature()

    def load(self) -> Serving:
        """Return the Serving that deployment.json describes, loading the bundles not loaded yet."""
        state = read_state(self.deployment)
        names = [state.live, *([state.candidate] if state.candidate else [])]
        bundles = {name: self._bundles.get(name) or load_bundle(release_path(self.deployment, name)) for name in names}
        self._bundles = bundles  # bundles no longer named are let go
        candidate = bundles[state.candidate] if state.candidate else None
        return Serving(bundles[state.live], candidate, state.candidate_share if candidate else 0.0,
                       state.shadow and candidate is not None, state)

    def start(self) -> None:
        """Start following deployment.json in a daemon thread."""
        self._thread = threading.Thread(target=self._follow, daemon=True, name="deployment-follower")
        self._thread.start()

    def stop(self) -> None:
        """Stop following (the thread ends within ``interval`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _signature(self) -> tuple | None:
        try:
            status = os.stat(self.deployment / STATE_FILE)
        except OSError:
            return None
        # deployment.json is replaced, never edited in place: a new inode says it changed, even within one tick.
        return status.st_ino, status.st_mtime_ns, status.st_size

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            signature = self._signature()
            if signature == self._seen:
                continue
            self._seen = signature
            try:
                serving = self.load()
            except Exception as err:  # a broken state must not stop the service answering with the last good one
                self.error = f"{type(err).__name__}: {err}"
                logger.error("Could not serve the new state of %s, still serving the previous one: %s",
                             self.deployment, self.error)
                continue
            self.error = None
            self.on_change(serving)
            logger.info("Now serving %s", serving.state.describe() if serving.state else serving.live.name)
