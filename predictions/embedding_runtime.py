"""The process-wide embedder, configured from settings, and the embedding of validated rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.logging import record_timing
from core.metrics import EMBEDDING_SECONDS
from core.types import FeatureRow

if TYPE_CHECKING:
    from predictions.ml.embedding import Embedder
    from predictions.selectors import LoadedModel

_lock = threading.Lock()
_embedder: Embedder | None = None


def embedder_get() -> Embedder:
    """Load once per process; a model that cannot be loaded is a configuration error, said clearly."""
    global _embedder
    if _embedder is not None:
        return _embedder
    with _lock:
        if _embedder is None:
            from predictions.ml.embedding import EmbedderError, load_embedder

            try:
                _embedder = load_embedder(
                    backend=settings.EMBEDDING_BACKEND,
                    model_path=Path(settings.EMBEDDING_MODEL) if settings.EMBEDDING_MODEL else None,
                    cache_dir=Path(settings.EMBEDDING_CACHE_DIR),
                    threads=settings.EMBEDDING_THREADS,
                    spin=settings.EMBEDDING_SPIN,
                )
            except EmbedderError as exc:
                raise ImproperlyConfigured(f"Embedding model could not be loaded: {exc}") from exc
    return _embedder


def embedder_reset_after_fork() -> None:
    if _embedder is not None:
        reset: Any = getattr(_embedder, "reset_after_fork", None)
        if reset is not None:
            reset()


def embed_rows(*, model: LoadedModel, rows: Sequence[FeatureRow], encoded: np.ndarray | None = None) -> np.ndarray:
    """One encode call for all rows of one model version, with the version's embedder:
    (N, 384) float32, unit length. The tabular embedder reads ``encoded`` (the rows'
    ``inference_encode``) when the caller has it."""
    started = time.perf_counter()
    if model.embedder == "tabular":
        from predictions.ml import features

        vectors = model.tabular_embedder().encode_rows(
            features.encode(model.schema, rows) if encoded is None else encoded
        )
    else:
        from predictions.ml.embedding import render_text

        vectors = embedder_get().encode([render_text(model.schema, row) for row in rows])
    elapsed = time.perf_counter() - started
    record_timing("embed", elapsed * 1000)
    EMBEDDING_SECONDS.labels(model.embedder).observe(elapsed)
    return vectors
