"""What names a model: its bundle's SHA-256 and version (no torch needed, so every command can use it).

**The definition.** A bundle's SHA-256 is the SHA-256 of its ``manifest.json`` file. The manifest records the
SHA-256 of every other file of the bundle (the exported weights ``model.pt2``, ``classes.json``,
``preprocessing.json``, ``reference_stats.json``) and ``check_bundle`` refuses a bundle whose files differ
from it, so this one hash changes whenever any byte of the model, its classes, its preprocessing or its
monitoring baseline changes. The prediction log, ``/health``, ``/metrics`` (``model_info``), every answer
and the deployment folder's release names all use it.

The **version** is the label a person gave the bundle (``save_bundle(..., version="v2")``), by default the
time it was saved; two bundles may share a version by mistake, never a SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ModelIdentity:
    """A bundle's ``sha256`` (of its manifest), its ``version`` label and its ``name``."""

    sha256: str
    version: str
    name: str

    @property
    def short(self) -> str:
        """Return the first 12 hex digits of the SHA-256 (enough to tell bundles apart by eye)."""
        return self.sha256[:12]

    def release_name(self) -> str:
        """Return the folder name a deployment gives this bundle: version and short hash, filesystem-safe."""
        return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', self.version)}-{self.short}"

    def labels(self) -> dict[str, str]:
        """Return the identity as the labels of the ``model_info`` metric and the fields of a log record."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def bundle_identity(directory: str | Path) -> ModelIdentity:
    """Return the identity of the bundle in ``directory``, read from its manifest (FileNotFoundError if none)."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {directory} a bundle folder (made by save_bundle)?")
    content = path.read_bytes()
    manifest = json.loads(content)
    # Bundles saved before versions existed: their creation time is the version.
    version = str(manifest.get("version") or manifest.get("created") or "unversioned")
    return ModelIdentity(hashlib.sha256(content).hexdigest(), version, str(manifest.get("name", Path(directory).name)))
