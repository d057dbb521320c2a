"""Load what serving needs before gunicorn forks (preload), so workers share it copy-on-write."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Load every production model, and the text embedder if one of them uses it (or if the
    models cannot be listed yet). A broken embedder fails start-up loudly."""
    if not settings.PRELOAD_MODELS:
        return
    from predictions.embedding_runtime import embedder_get
    from predictions.selectors import loaded_model_get, model_version_list_production

    needs_text = True
    try:
        names = list(model_version_list_production().values_list("name", flat=True))
        models = [loaded_model_get(name=name) for name in names]
        for model in models:
            if model.embedder == "tabular":
                model.tabular_embedder()
        needs_text = any(model.embedder != "tabular" for model in models)
    except DatabaseError as exc:  # the database may come up later; models then load on first use
        logger.warning("production models not preloaded: %s", exc)
    finally:
        from django.db import connections

        connections.close_all()  # never share a database connection across fork
    if needs_text:  # without a text model, workers never load MiniLM (a third of their memory)
        embedder_get()


def after_fork() -> None:
    from predictions.embedding_runtime import embedder_reset_after_fork

    embedder_reset_after_fork()
