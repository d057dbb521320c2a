"""Challengers for the release tests: versions of ``credit`` built on purpose from the demo model."""

from __future__ import annotations

import copy

import pytest


@pytest.fixture
def register(demo_model, german_credit_trained):
    """register(shift=0.0, scramble=False): a staging version of credit; ``shift`` adds to the
    log-odds of every score (an injected score shift), ``scramble`` shuffles the coefficients
    among the columns (a much worse ranking)."""
    import numpy as np

    from predictions.services import model_version_register

    def make(*, shift: float = 0.0, scramble: bool = False):
        trained = copy.deepcopy(german_credit_trained)
        estimator = trained.pipeline.named_steps["model"]
        estimator.intercept_ = estimator.intercept_ + shift
        if scramble:
            estimator.coef_ = np.random.default_rng(0).permutation(estimator.coef_, axis=1)
        return model_version_register(trained=trained, name="credit")

    return make


@pytest.fixture(autouse=True)
def _latency_gate_off_the_clock(monkeypatch):
    """The latency gate times real calls: on a busy test machine its 5 ms p99 would fail tests that
    are about something else. Here it allows a second, unless a test sets its own threshold (the
    gate's own tests do)."""
    from dataclasses import replace

    from releases import services
    from releases.thresholds import thresholds_get

    def lenient(overrides):
        thresholds = thresholds_get(overrides)
        if "latency_p99_ms" in (overrides or {}):
            return thresholds
        return replace(thresholds, latency_p99_ms=1000.0)

    monkeypatch.setattr(services, "thresholds_get", lenient)
