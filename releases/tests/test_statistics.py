import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from releases import statistics
from releases.thresholds import Thresholds, thresholds_get


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    champion = np.clip(0.5 * y + rng.normal(0.25, 0.25, 400), 0, 1)
    candidate = np.clip(0.5 * y + rng.normal(0.25, 0.3, 400), 0, 1)
    return y, candidate, champion


def test_it_computes_roc_auc_as_sklearn_does_ties_included(data):
    y, candidate, _ = data
    assert statistics.roc_auc(y, candidate) == pytest.approx(roc_auc_score(y, candidate), abs=1e-12)
    assert statistics.roc_auc(y, np.round(candidate, 1)) == pytest.approx(
        roc_auc_score(y, np.round(candidate, 1)), abs=1e-12
    )


def test_the_paired_bootstrap_interval_matches_a_plain_reference_loop(data):
    y, candidate, champion = data
    interval = statistics.paired_bootstrap_auc_difference(y, candidate, champion, rounds=300, seed=3)
    # the reference: the same resamples (same generator, same draws), one sklearn call per round
    idx = np.random.default_rng(3).integers(0, len(y), size=(300, len(y)))
    reference = [roc_auc_score(y[i], candidate[i]) - roc_auc_score(y[i], champion[i]) for i in idx]
    low, high = np.quantile(reference, [0.025, 0.975])
    assert interval.low == pytest.approx(low, abs=1e-12)
    assert interval.high == pytest.approx(high, abs=1e-12)
    assert interval.difference == pytest.approx(roc_auc_score(y, candidate) - roc_auc_score(y, champion), abs=1e-12)
    assert interval.rounds == 300


def test_the_interval_of_a_model_against_itself_is_zero(data):
    y, candidate, _ = data
    interval = statistics.paired_bootstrap_auc_difference(y, candidate, candidate, rounds=200)
    assert (interval.low, interval.difference, interval.high) == (0.0, 0.0, 0.0)


def test_calibration_figures_against_their_definitions():
    y = np.array([0, 0, 1, 1, 1, 0])
    s = np.array([0.05, 0.15, 0.95, 0.85, 0.55, 0.45])
    # one score per bin: |.05-0|, |.15-0|, |.45-0|, |.55-1|, |.85-1|, |.95-1|
    expected = (0.05 + 0.15 + 0.45 + 0.45 + 0.15 + 0.05) / 6
    assert statistics.expected_calibration_error(y, s) == pytest.approx(expected)
    assert statistics.calibration_in_the_large(y, s) == pytest.approx(s.mean() - 0.5)


def test_score_psi_is_zero_for_the_same_scores_and_large_for_a_shift(data):
    _, _, champion = data
    assert statistics.score_psi(champion, champion) == pytest.approx(0.0, abs=1e-12)
    assert statistics.score_psi(np.clip(champion + 0.3, 0, 1), champion) > 0.25


def test_overrides_apply_only_to_known_numeric_gates():
    config = thresholds_get({"psi_max": 0.1, "nope": 1, "ece_max": "high", "min_labelled": True})
    assert config.psi_max == 0.1 and "nope" not in config.as_json()
    assert config.ece_max == Thresholds().ece_max
    assert config.min_labelled == Thresholds().min_labelled
