"""Start-up warm-up: every production model, and the text embedder only when a model needs it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from predictions.warmup import warm_up

pytestmark = pytest.mark.django_db(transaction=True)  # warm_up closes every connection, as before a fork


@pytest.fixture
def embedder_loads(monkeypatch, settings):
    settings.PRELOAD_MODELS = True
    calls: list[int] = []
    monkeypatch.setattr("predictions.embedding_runtime.embedder_get", lambda: calls.append(1))
    return calls


def test_workers_of_tabular_models_never_load_the_text_embedder(demo_model, embedder_loads):
    assert demo_model.embedder == "tabular"  # the default
    warm_up()
    assert embedder_loads == []


def test_a_text_model_in_production_loads_the_text_embedder(demo_model, german_credit_trained, embedder_loads):
    from predictions.services import model_version_promote, model_version_register

    model_version_promote(
        model_version=model_version_register(trained=german_credit_trained, name="wordy", embedder="text")
    )
    warm_up()
    assert embedder_loads == [1]


def test_models_that_cannot_be_listed_still_load_the_text_embedder(demo_model, embedder_loads, monkeypatch):
    def unreachable():
        raise DatabaseError("the database is down")

    monkeypatch.setattr("predictions.selectors.model_version_list_production", unreachable)
    warm_up()
    assert embedder_loads == [1]
