"""Model artifacts: saved with skops (never pickle or joblib), loaded only after a SHA-256 check and
only if every type in them is on an explicit allowlist.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from core.errors import InternalError
from predictions.ml.algorithms import trusted_types

ARTIFACT_FORMAT = 1

# Every type a riskengine artifact may contain (the algorithms' own, from their table entries, and the
# artifact's wrapper). Anything else makes the artifact untrusted.
TRUSTED_TYPES: tuple[str, ...] = trusted_types()


class ArtifactError(InternalError, ValueError):
    """The artifact is tampered with, corrupt, or contains types that are not trusted."""

    code = "artifact_rejected"


@dataclass
class Artifact:
    pipeline: Pipeline
    background: np.ndarray
    background_mean: np.ndarray
    algorithm: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _collect_types(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        if "__class__" in node and "__module__" in node:
            found.add(f"{node['__module__']}.{node['__class__']}")
        for value in node.values():
            _collect_types(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect_types(value, found)


def artifact_types(data: bytes) -> set[str]:
    """Every type named anywhere in a skops file (not only those skops itself distrusts)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ArtifactError(f"artifact is not a readable skops file: {exc}") from None
    found: set[str] = set()
    _collect_types(schema, found)
    return found


# sklearn's array-API shim for torch: importing it imports torch (about 180 MB and a second).
_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


def _skops() -> Any:
    """skops.io, imported lazily and without torch.

    At import skops lists sklearn's estimators, and sklearn's listing walks every package, the
    torch shim included. No artifact needs torch, so the shim is held out of that walk (an import
    that fails is skipped by the walk) and is importable again afterwards."""
    if "skops.io" not in sys.modules and _TORCH_SHIM not in sys.modules:
        sys.modules[_TORCH_SHIM] = None  # type: ignore[assignment]  # None: "import fails", by the import system's rule
        try:
            import skops.io
        finally:
            del sys.modules[_TORCH_SHIM]
    import skops.io

    return skops.io


def untrusted_types(data: bytes) -> list[str]:
    sio = _skops()
    named = artifact_types(data) | set(sio.get_untrusted_types(data=data))
    return sorted(named - set(TRUSTED_TYPES))


def dump_artifact(*, pipeline: Pipeline, background: np.ndarray, background_mean: np.ndarray, algorithm: str) -> bytes:
    payload: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "algorithm": algorithm,
        "pipeline": pipeline,
        "background": np.asarray(background, dtype=np.float64),
        "background_mean": np.asarray(background_mean, dtype=np.float64),
    }
    data: bytes = _skops().dumps(payload, compression=zipfile.ZIP_DEFLATED)
    untrusted = untrusted_types(data)
    if untrusted:  # we would refuse to load it: fail at save time instead
        raise ArtifactError(f"artifact would contain types outside the allowlist: {', '.join(untrusted)}")
    return data


def load_artifact(data: bytes, *, expected_sha256: str) -> Artifact:
    """Verify the digest first, then the types, then load. Never unpickles anything."""
    actual = sha256_hex(bytes(data))
    if not hmac.compare_digest(actual, expected_sha256):
        raise ArtifactError(f"artifact SHA-256 mismatch: expected {expected_sha256[:12]}…, got {actual[:12]}…")
    untrusted = untrusted_types(bytes(data))
    if untrusted:
        raise ArtifactError(f"artifact contains untrusted types: {', '.join(untrusted)}")
    try:
        payload = _skops().loads(bytes(data), trusted=list(TRUSTED_TYPES))
    except Exception as exc:
        raise ArtifactError(f"artifact could not be loaded: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError("artifact has an unknown format")
    return Artifact(
        pipeline=payload["pipeline"],
        background=np.asarray(payload["background"], dtype=np.float64),
        background_mean=np.asarray(payload["background_mean"], dtype=np.float64),
        algorithm=str(payload["algorithm"]),
    )
