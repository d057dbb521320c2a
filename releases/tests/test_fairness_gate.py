"""The release gate on fairness: a candidate built on purpose to decline a group through a proxy
feature fails validation, and cannot be promoted."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from predictions.services import DEMO_PROTECTED


@pytest.fixture
def proxied_history(demo_model, embedder):
    """400 applicants of the data set served by the champion in the last days; their group is
    the protected attribute, and it happens to be exactly who has no telephone (a proxy)."""
    from predictions.ml.features import validate_features
    from predictions.ml.training import raw_rows, read_training_csv
    from predictions.selectors import loaded_model_get
    from records.prediction import prediction_create

    champion = loaded_model_get(name="credit")
    frame = read_training_csv(Path(settings.BASE_DIR) / "data" / "german_credit.csv").head(400)
    rows = [
        validate_features(champion.schema, {k: v for k, v in row.items() if k not in DEMO_PROTECTED}).values
        for row in raw_rows(frame.drop(columns=["creditability"]))
    ]
    now = datetime.now(tz=UTC)
    return prediction_create(
        model=champion,
        items=rows,
        protected=[{"foreign_worker": row["telephone"] == "none"} for row in rows],
        timestamps=[now - timedelta(minutes=10 * i) for i in range(len(rows))],
    )


@pytest.fixture
def proxy_candidate(demo_model, german_credit_trained):
    """proxy_candidate(weight): a staging version of credit whose log-odds rise by ``weight`` for
    an applicant without a telephone: a model that learnt the proxy."""
    from predictions.services import model_version_register

    def make(weight: float):
        trained = copy.deepcopy(german_credit_trained)
        columns = list(trained.pipeline.named_steps["prep"].get_feature_names_out())
        trained.pipeline.named_steps["model"].coef_[0, columns.index("telephone_none")] += weight
        return model_version_register(trained=trained, name="credit")

    return make


def _fairness_gate(validation):
    [gate] = [g for g in validation.gates if g["gate"] == "adverse_impact"]
    return gate


def test_a_candidate_that_declines_a_group_through_a_proxy_fails_and_cannot_be_promoted(
    proxied_history, proxy_candidate
):
    from releases.services import ReleaseError, model_validate, release_promote

    biased = proxy_candidate(1.0)
    validation = model_validate(model_version=biased)
    gate = _fairness_gate(validation)
    assert gate["set"] == "last 30 days, foreign_worker"
    assert gate["passed"] is False and gate["value"] < 0.6
    assert "true against false" in gate["detail"] and "champion 0.9" in gate["detail"]
    assert validation.passed is False
    with pytest.raises(ReleaseError, match="failed its gates"):
        release_promote(model_version=biased, reason="try anyway")
    biased.refresh_from_db()
    assert biased.status == "staging"


def test_a_candidate_above_four_fifths_still_fails_more_than_005_below_the_champion(proxied_history, proxy_candidate):
    from releases.services import model_validate

    gate = _fairness_gate(model_validate(model_version=proxy_candidate(0.25)))
    champion = float(gate["detail"].split("champion ")[1].split(" ")[0])
    assert 0.8 <= gate["value"] < champion - 0.05
    assert gate["passed"] is False


def test_an_unbiased_retrain_passes_the_fairness_gate(proxied_history, register):
    from releases.services import model_validate

    gate = _fairness_gate(model_validate(model_version=register()))
    assert gate["passed"] is True and gate["value"] >= 0.8


def test_without_protected_attributes_the_gate_has_nothing_to_judge(demo_model, embedder, register):
    from releases.services import model_validate

    gate = _fairness_gate(model_validate(model_version=register()))
    assert gate["passed"] is None and gate["detail"] == "no records with protected attributes"


def test_a_champion_below_four_fifths_does_not_block_a_candidate_no_worse_than_it(
    proxied_history, proxy_candidate, admin_user
):
    from releases.services import model_validate, release_promote

    biased = proxy_candidate(1.0)
    release_promote(model_version=biased, reason="the champion of this test", force=True, user=admin_user)
    same = _fairness_gate(model_validate(model_version=proxy_candidate(1.0)))  # an identical retrain
    assert same["value"] < 0.8 and same["passed"] is True
    assert "WARNING: below 0.8, as the champion is: passed because it is no worse" in same["detail"]
    worse = _fairness_gate(model_validate(model_version=proxy_candidate(1.2)))
    assert worse["passed"] is False and "WARNING" not in worse["detail"]
