"""Load what serving needs before gunicorn forks (preload), so workers share it copy-on-write."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Load the embedder and every production model. A broken embedder fails start-up loudly."""
    if not settings.PRELOAD_MODELS:
        return
    from predictions.embedding_runtime import embedder_get
    from predictions.selectors import loaded_model_get, model_version_list_production

    embedder_get()
    try:
        names = list(model_version_list_production().values_list("name", flat=True))
        for name in names:
            model = loaded_model_get(name=name)
            if model.embedder == "tabular":
                model.tabular_embedder()
    except DatabaseError as exc:  # the database may come up later; models then load on first use
        logger.warning("production models not preloaded: %s", exc)
    finally:
        from django.db import connections

        connections.close_all()  # never share a database connection across fork


def after_fork() -> None:
    from predictions.embedding_runtime import embedder_reset_after_fork

    embedder_reset_after_fork()
