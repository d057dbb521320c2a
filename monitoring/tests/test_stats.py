"""Each formula against an independent computation on synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score

from monitoring.stats import (
    auc_from_groups,
    auc_tie_bound,
    benjamini_hochberg,
    binned_ks_p_value,
    chi2_p_value,
    equal_count_bins,
    expected_calibration_error,
    js_distance,
    psi,
    psi_status,
    worst,
)


def _psi_by_hand(window, reference):
    total_w = sum(window) + 0.5 * len(window)
    total_r = sum(reference) + 0.5 * len(reference)
    out = 0.0
    for w, r in zip(window, reference, strict=True):
        p, q = (w + 0.5) / total_w, (r + 0.5) / total_r
        out += (p - q) * math.log(p / q)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_psi_and_js_match_independent_computations(seed):
    rng = np.random.default_rng(seed)
    window = rng.integers(0, 500, 11).tolist()
    reference = rng.integers(0, 500, 11).tolist()
    window[3] = 0  # an empty bin is smoothed, not infinite
    assert psi(window, reference) == pytest.approx(_psi_by_hand(window, reference), abs=1e-12)
    assert js_distance(window, reference) == pytest.approx(jensenshannon(window, reference, base=2), abs=1e-12)
    assert psi(window, window) == 0.0 and js_distance(window, window) == 0.0


def test_the_p_values_match_scipy_on_raw_samples():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 3000), rng.integers(0, 4, 2000)
    wa, wb = np.bincount(a, minlength=4), np.bincount(b, minlength=4)
    table = np.array([wa, wb], dtype=float)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    assert chi2_p_value(wa, wb) == pytest.approx(stats.chi2.sf(statistic, 3), rel=1e-9)
    # Binned KS with one value per bin is the exact two-sample KS statistic on those values.
    x, y = rng.normal(0, 1, 4000).round(1), rng.normal(0.1, 1, 3000).round(1)
    values = np.unique(np.concatenate([x, y]))
    cx = np.array([np.sum(x == v) for v in values])
    cy = np.array([np.sum(y == v) for v in values])
    d = stats.ks_2samp(x, y).statistic
    effective = len(x) * len(y) / (len(x) + len(y))
    assert binned_ks_p_value(cx, cy) == pytest.approx(stats.kstwobign.sf(d * math.sqrt(effective)), rel=1e-9)


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_delong_matches_sklearn_and_a_bootstrap():
    rng = np.random.default_rng(11)
    y = rng.random(3000) < 0.3
    scores = np.round(1 / (1 + np.exp(-(rng.normal(0, 1, 3000) + 1.2 * y))), 3)  # ties included
    values = np.unique(scores)
    groups = [(int(np.sum(y & (scores == v))), int(np.sum(~y & (scores == v)))) for v in values]
    result = auc_from_groups(groups)
    assert result.auc == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    boot = []
    for _ in range(400):
        pick = rng.integers(0, len(y), len(y))
        boot.append(roc_auc_score(y[pick], scores[pick]))
    low, high = np.percentile(boot, [2.5, 97.5])
    assert result.low == pytest.approx(low, abs=0.006) and result.high == pytest.approx(high, abs=0.006)


def _ece_by_hand(y, scores, bins=10):
    """Records sorted by score, cut at ranks i N / bins (N a multiple of bins)."""
    order = np.argsort(scores, kind="stable")
    ys, ss = y[order].astype(float), scores[order]
    size = len(y) // bins
    return (
        sum(abs(ss[b * size : (b + 1) * size].mean() - ys[b * size : (b + 1) * size].mean()) for b in range(bins))
        / bins
    )


def test_the_ece_on_distinct_scores_is_the_ece_of_equal_count_bins():
    rng = np.random.default_rng(4)
    scores = rng.random(2000)
    y = rng.random(2000) < scores**1.3  # miscalibrated on purpose
    order = np.argsort(scores)
    calibration = equal_count_bins(np.ones(2000), y[order].astype(float), scores[order])
    assert [b.n for b in calibration] == [200.0] * 10
    assert expected_calibration_error(calibration) == pytest.approx(_ece_by_hand(y, scores), abs=1e-12)


def test_a_cell_cut_by_a_bin_boundary_is_shared_by_its_ranks():
    # 3 records in cell 0 (1 positive), 2 in cell 1 (2 positives); 2 bins of 2.5 records each.
    calibration = equal_count_bins([3, 2], [1, 2], [0.3, 1.6], bins=2)
    first, second = calibration
    assert first.n == second.n == 2.5
    assert first.mean_score == pytest.approx(0.1) and first.observed_rate == pytest.approx(1 / 3)
    # The second bin: half a record of cell 0 and both of cell 1.
    assert second.mean_score == pytest.approx((0.05 + 1.6) / 2.5)
    assert second.observed_rate == pytest.approx((1 / 6 + 2) / 2.5)


def test_the_cell_auc_is_within_its_bound_of_the_exact_auc():
    rng = np.random.default_rng(8)
    y = rng.random(5000) < 0.3
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, 5000) + 1.5 * y)))
    cells = np.minimum(np.floor(scores * 100), 99)  # coarse cells: the bound matters
    groups = [(int(np.sum(y & (cells == c))), int(np.sum(~y & (cells == c)))) for c in np.unique(cells)]
    bound = auc_tie_bound(groups)
    exact = roc_auc_score(y, scores)
    assert auc_from_groups(groups).auc == pytest.approx(roc_auc_score(y, cells), abs=1e-12)
    assert 0 < abs(auc_from_groups(groups).auc - exact) <= bound < 0.01


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = [0.01, 0.04, 0.03, 0.005, 0.5, float("nan"), 0.2]
    q = benjamini_hochberg(p)
    valid = [x for x in p if not math.isnan(x)]
    m = len(valid)
    for i, value in enumerate(p):
        if math.isnan(value):
            assert math.isnan(q[i])
            continue
        expected = min(min(1.0, pv * m / (sorted(valid).index(pv) + 1)) for pv in valid if pv >= value)
        assert q[i] == pytest.approx(expected, abs=1e-12)


def test_effect_size_decides_and_small_windows_are_too_few():
    assert psi_status(0.3, 499) == "too_few"
    assert [psi_status(v, 500) for v in (0.05, 0.1, 0.25)] == ["stable", "warning", "critical"]
    assert worst(["stable", "too_few", "warning"]) == "warning"
    assert worst(["too_few"]) == "too_few"
