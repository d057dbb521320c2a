"""Drivers are exact SHAP values: checked against the shap library, and they add up to the log-odds."""

import numpy as np
import pytest
import shap

from core.types import FeatureRow
from predictions.ml.algorithms import ALGORITHMS, algorithm_get, build_explainer
from predictions.ml.explain import LinearExplainer
from predictions.ml.features import encode_frame, to_frame
from predictions.ml.scoring import scoring_model_from_trained
from predictions.ml.training import train
from predictions.tests.factories import make_loans_frame


@pytest.fixture(scope="module", params=sorted(ALGORITHMS))
def trained(request):
    return train(make_loans_frame(rows=300, seed=3), target="status", positive="default", algorithm=request.param)


def _explainer(trained):
    return build_explainer(
        trained.algorithm,
        trained.pipeline,
        trained.schema,
        background=trained.background,
        background_mean=trained.background_mean,
    )


def _reference_shap(trained, rows):
    """shap's model-agnostic exact explainer on the same background (all 2^M coalitions)."""
    # a linear explainer's background is the whole training set (its mean); the tree walker's a sample
    linear = isinstance(_explainer(trained), LinearExplainer)
    background = trained.train_encoded if linear else trained.background
    entry = algorithm_get(trained.algorithm)

    def log_odds(matrix):
        return entry.log_odds(trained.pipeline, to_frame(trained.schema, np.asarray(matrix, dtype=float)))

    masker = shap.maskers.Independent(background, max_samples=len(background))
    explanation = shap.explainers.Exact(log_odds, masker)(rows)
    return explanation.values, np.asarray(explanation.base_values)


@pytest.mark.slow  # shap's exact explainer walks every coalition (hgb: about 8 s)
def test_drivers_match_the_shap_library_to_1e_6(trained):
    explainer = _explainer(trained)
    frame = make_loans_frame(rows=200, seed=11).drop(columns=["status"])
    encoded = encode_frame(frame, trained.schema)
    missing = np.isnan(encoded).any(axis=1)
    rows = np.vstack([encoded[missing][:4], encoded[~missing][:4]])  # with and without missing values
    ours = explainer.explain(rows)
    values, base_values = _reference_shap(trained, rows)
    np.testing.assert_allclose(ours.contributions, values, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.base_log_odds, base_values, atol=1e-6, rtol=0)


def test_local_accuracy_holds_on_many_rows(trained):
    explainer = _explainer(trained)
    frame = make_loans_frame(rows=300, seed=5).drop(columns=["status"])
    rows = encode_frame(frame, trained.schema)
    ours = explainer.explain(rows)
    pipeline_log_odds = algorithm_get(trained.algorithm).log_odds(trained.pipeline, to_frame(trained.schema, rows))
    np.testing.assert_allclose(ours.log_odds, pipeline_log_odds, atol=1e-9, rtol=0)
    np.testing.assert_allclose(ours.base_log_odds + ours.contributions.sum(axis=1), ours.log_odds, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.probability, trained.pipeline.predict_proba(to_frame(trained.schema, rows))[:, 1])


def test_batch_equals_one_by_one_and_drivers_are_sorted(trained):
    model = scoring_model_from_trained(
        trained, [{"label": "low", "min": 0.0}, {"label": "medium", "min": 0.3}, {"label": "high", "min": 0.6}]
    )
    rows: list[FeatureRow] = [
        {"income": 30000.0, "age": 22, "region": "south", "has_guarantor": False, "utilisation": 0.9},
        {"income": None, "age": 50, "region": None, "has_guarantor": True, "utilisation": 0.1},
    ]
    batch = model.predict(rows)
    for row, prediction in zip(rows, batch, strict=True):
        single = model.predict([row])[0]
        assert single.risk_score == pytest.approx(prediction.risk_score, abs=1e-12)
        magnitudes = [abs(d["contribution"]) for d in prediction.drivers]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert {d["feature"] for d in prediction.drivers} == set(row)
        assert {d["feature"]: d["value"] for d in prediction.drivers} == row
        expected = "low" if prediction.risk_score < 0.3 else "medium" if prediction.risk_score < 0.6 else "high"
        assert prediction.risk_label == expected
        assert prediction.base_log_odds + sum(d["contribution"] for d in prediction.drivers) == pytest.approx(
            prediction.log_odds, abs=1e-9
        )


def test_the_calibrated_svm_log_odds_are_those_of_its_probabilities():
    """The linear terms read from the calibrated SVM give exactly the probabilities scikit-learn gives."""
    trained = train(make_loans_frame(rows=300, seed=3), target="status", positive="default", algorithm="linear_svm")
    frame = to_frame(trained.schema, encode_frame(make_loans_frame(rows=100, seed=9).drop(columns=["status"]),
                                                  trained.schema))  # fmt: skip
    proba = trained.pipeline.predict_proba(frame)[:, 1]
    log_odds = algorithm_get("linear_svm").log_odds(trained.pipeline, frame)
    np.testing.assert_allclose(1 / (1 + np.exp(-log_odds)), proba, atol=1e-12, rtol=0)


def test_an_unknown_algorithm_is_a_one_line_error():
    from predictions.ml.algorithms import UnknownAlgorithm

    with pytest.raises(UnknownAlgorithm, match="unknown algorithm 'forest'; use one of: logistic, hgb, linear_svm"):
        algorithm_get("forest")
