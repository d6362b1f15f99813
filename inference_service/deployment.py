"""A deployment folder: which bundle is live, which one is tried beside it, and every bundle ever served.

    deployment/
      deployment.json            live, candidate, how the candidate gets traffic, earlier live bundles, history
      releases/<version>-<sha>/  a copy of every bundle released here, never overwritten nor deleted

``release`` copies a bundle in (so the folder it came from may change later without harm) and makes it the
live model if there is none, else the **candidate**: it answers a share of the requests (a *canary*), or
sees a copy of every request without answering it (a *shadow*), or both. ``promote`` makes the candidate
live; ``rollback`` brings back the bundle that was live before the last promotion. Each changes only
``deployment.json`` (written to a temporary file, then renamed over the old one: a reader sees the old
state or the new, never half of one), and a service started with ``serve --deployment DIR`` follows it
within a second, without a restart (``inference_service.app``). No bundle is ever removed: a rollback, even
of a rollback, always has its bundle.

This module needs no torch (``promote`` and ``rollback`` answer at once), except ``release``, which checks
the bundle it copies.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from inference_service.identity import bundle_identity

STATE_FILE = "deployment.json"
RELEASES = "releases"
DEFAULT_CANDIDATE_SHARE = 0.1


class DeploymentError(RuntimeError):
    """A deployment command cannot be carried out; the message says why and what to do instead."""


@dataclass(frozen=True)
class DeploymentState:
    """What deployment.json says: release folder names of the live model and the candidate, and the history."""

    live: str
    candidate: str | None = None
    candidate_share: float = 0.0   # the share of requests the candidate answers (a canary)
    shadow: bool = False           # the candidate also sees a copy of the live model's requests
    previous: tuple[str, ...] = () # earlier live releases, the latest last: what rollback returns to
    history: tuple[dict, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        """Return one line saying what is served."""
        if not self.candidate:
            return f"live {self.live}, no candidate"
        how = [f"answers {self.candidate_share:.0%} of requests"] if self.candidate_share else []
        how += ["shadows the live model's requests"] if self.shadow else []
        return f"live {self.live}; candidate {self.candidate} {' and '.join(how) or 'gets no traffic'}"


def read_state(deployment: str | Path) -> DeploymentState:
    """Return the deployment's state, or raise DeploymentError saying how to create one."""
    path = Path(deployment) / STATE_FILE
    if not path.is_file():
        raise DeploymentError(f"No deployment at {deployment} ({path} does not exist). Create one with "
                              f"`python -m inference_service release {deployment} --bundle BUNDLE_DIR`.")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        return DeploymentState(values["live"], values.get("candidate"), float(values.get("candidate_share", 0)),
                               bool(values.get("shadow", False)), tuple(values.get("previous", ())),
                               tuple(values.get("history", ())))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DeploymentError(f"{path} could not be read ({err!r}). It is written by the release, promote and "
                              "rollback commands; restore it from the history in the file if it was edited.") from err


def release_path(deployment: str | Path, release: str) -> Path:
    """Return the folder of a release (a bundle copied into the deployment)."""
    return Path(deployment) / RELEASES / release


def release(deployment: str | Path, bundle: str | Path, *, share: float = DEFAULT_CANDIDATE_SHARE,
            shadow: bool = False) -> DeploymentState:
    """Copy ``bundle`` into the deployment; make it live if nothing is, else the candidate; return the new state."""
    from inference_service.bundle import BundleError, check_bundle  # imports torch: only this command needs it

    if not 0 <= share <= 1:
        raise DeploymentError(f"The candidate's share of the requests must be between 0 and 1, got {share}.")
    try:
        check_bundle(bundle)
    except BundleError as err:
        raise DeploymentError(str(err)) from err
    deployment = Path(deployment)
    name = bundle_identity(bundle).release_name()
    target = release_path(deployment, name)
    if target.exists():
        check_bundle(target)  # released before: the same manifest hash, and its files must still match it
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copied under a temporary name, checked, then renamed: a crash leaves no half release behind.
        staging = target.with_name(f".{name}.staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(bundle, staging)
        check_bundle(staging)
        staging.rename(target)
    if not (deployment / STATE_FILE).exists():
        return _write(deployment, DeploymentState(live=name), "release as live", name)
    state = read_state(deployment)
    if name == state.live:
        raise DeploymentError(f"{bundle} is already the live model ({name}): nothing to try.")
    if not share and not shadow:
        raise DeploymentError("A candidate with no share of the requests and no shadow copy would see nothing: "
                              "give --share above 0, or --shadow.")
    new = replace(state, candidate=name, candidate_share=share, shadow=shadow)
    return _write(deployment, new, "release as candidate", name)


def promote(deployment: str | Path) -> DeploymentState:
    """Make the candidate the live model (the live one is kept for rollback); return the new state."""
    state = read_state(deployment)
    if not state.candidate:
        raise DeploymentError(f"No candidate to promote in {deployment}: release one first "
                              f"(`python -m inference_service release {deployment} --bundle DIR`).")
    new = DeploymentState(state.candidate, previous=(*state.previous, state.live), history=state.history)
    return _write(Path(deployment), new, "promote", state.candidate)


def rollback(deployment: str | Path) -> DeploymentState:
    """Make live again the bundle that was live before the last promotion; return the new state.

    Any candidate is withdrawn too: after a rollback, only the model known to work answers. The bundle rolled
    back from stays in releases/ (and in the history), so it can be released again.
    """
    state = read_state(deployment)
    if not state.previous:
        raise DeploymentError(f"Nothing to roll back to in {deployment}: {state.live} has been live from the start "
                              "(the history in deployment.json lists every change).")
    new = DeploymentState(state.previous[-1], previous=state.previous[:-1], history=state.history)
    return _write(Path(deployment), new, "rollback", state.previous[-1])


def _write(deployment: Path, state: DeploymentState, action: str, release_name: str) -> DeploymentState:
    if not release_path(deployment, state.live).is_dir():
        raise DeploymentError(f"{release_path(deployment, state.live)} is missing: releases are never deleted by "
                              "these commands. Put the folder back, or release the bundle again.")
    entry = {"time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "action": action,
             "release": release_name, "live": state.live, "candidate": state.candidate}
    state = replace(state, history=(*state.history, entry))
    values = asdict(state)
    values["previous"], values["history"] = list(state.previous), list(state.history)
    deployment.mkdir(parents=True, exist_ok=True)
    temporary = deployment / f".{STATE_FILE}.tmp-{os.getpid()}"
    temporary.write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, deployment / STATE_FILE)  # atomic: a service reading it sees one state or the other
    return state
