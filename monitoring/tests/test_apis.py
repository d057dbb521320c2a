"""The monitoring API: staff only, the selectors' numbers as JSON (undefined ones as null), bad
queries as 400s naming the parameter, alerts acknowledged and resolved."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from monitoring.models import Alert, BinDay, DayTotal
from monitoring.selectors.drift import drift_report
from monitoring.services.alerts import alerts_evaluate
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import START, store

pytestmark = pytest.mark.django_db(transaction=True)

DAY0 = START.date()


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def history(demo_model, rows):
    rng = np.random.default_rng(12)
    outcomes = [bool(rng.random() < 0.3) for _ in range(800)]
    store(rows[:800], days=rng.integers(0, 8, 800), outcomes=outcomes, rng=rng)
    monitoring_fold()
    return demo_model


def test_a_record_predicted_through_the_api_appears_in_the_next_fold(jwt_client, german_credit_row, demo_model):
    monitoring_fold()
    today = timezone.now().date()
    response = jwt_client.post("/api/predict/", {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 201, response.content
    summary = monitoring_fold()
    assert summary.records == 1
    assert DayTotal.objects.get(model_version=demo_model, day=today).n == 1
    # One bin per feature, the score and the label: every count is that one record.
    counts = BinDay.objects.filter(model_version=demo_model, day=today)
    assert counts.count() == len(demo_model.reference_profile["features"]) + 2
    assert {c.count for c in counts} == {1}


def test_drift_is_the_selectors_report_with_nulls_for_undefined(staff_client, history):
    end = DAY0 + timedelta(days=8)
    response = staff_client.get("/api/monitoring/credit/drift/", {"start": DAY0, "end": end})
    assert response.status_code == 200, response.content
    body = response.json()
    report = drift_report(model_version=history, start=DAY0, end=end)
    assert body["records"] == report.records == 800 and body["status"] == report.status
    assert [f["psi"] for f in body["features"]] == pytest.approx([c.psi for c in report.features])
    assert body["label"]["name"] == "label" and body["score"]["kind"] == "score"
    empty = staff_client.get("/api/monitoring/credit/drift/", {"start": "2020-01-01", "end": "2020-01-02"}).json()
    assert empty["records"] == 0 and empty["status"] == "too_few" and empty["features"][0]["js_distance"] is None


def test_performance_attribution_and_segments_answer(staff_client, history):
    window = {"start": DAY0, "end": DAY0 + timedelta(days=8)}
    performance = staff_client.get("/api/monitoring/credit/performance/", {**window, "step": 4}).json()
    assert performance["overall"]["outcomes"] == 800 and len(performance["series"]) == 2
    assert 0 < performance["overall"]["auc_low"] < performance["overall"]["auc_high"] < 1
    assert performance["overall"]["waiting_expected_rate"] is None  # nothing is waiting
    segment = staff_client.get(
        "/api/monitoring/credit/performance/",
        {**window, "segment_feature": "housing", "segment_value": "rent"},
    ).json()
    assert segment["segment"] == {"feature": "housing", "value": "rent"}
    assert 0 < segment["overall"]["outcomes"] < 800
    attribution = staff_client.get("/api/monitoring/credit/attribution/", window).json()
    assert attribution["shift"] == pytest.approx(sum(p["delta"] for p in attribution["parts"]))
    scan = staff_client.get("/api/monitoring/credit/segments/", window).json()
    assert scan["segments"] and all("q_value" in s for s in scan["segments"])
    overview = staff_client.get("/api/monitoring/").json()
    assert [m["model_id"] for m in overview["models"]] == ["credit@1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-09-05", "end": "2026-09-01"}, "end"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": "0001-01-01"}, "start"),
        ({"segment_feature": "housing"}, "segment_value"),
        ({"segment_feature": "credit_amount", "segment_value": "5"}, "segment"),
        ({"segment_feature": "housing", "segment_value": "castle"}, "segment"),
        ({"against_start": "2026-09-01"}, "against_end"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_parameter(staff_client, history, query, field):
    response = staff_client.get("/api/monitoring/credit/drift/", query)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_only_staff_may_read_and_unknown_models_are_404(api_client, jwt_client, staff_client, history):
    assert APIClient().get("/api/monitoring/").status_code == 401
    assert jwt_client.get("/api/monitoring/credit/drift/").status_code == 403
    assert jwt_client.get("/api/monitoring/alerts/").status_code == 403
    missing = staff_client.get("/api/monitoring/fraud/drift/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_staff_acknowledge_then_resolve_an_alert(staff_client, staff_user, history):
    from monitoring.models import AlertRule
    from monitoring.services.alerts import alert_rules_ensure

    alert_rules_ensure(model_version=history)
    AlertRule.objects.filter(metric="feature_psi").update(warning=0.0, critical=0.0)  # any drift fires
    alerts_evaluate(today=DAY0 + timedelta(days=7))
    alert = Alert.objects.get(rule__metric="feature_psi")
    listed = staff_client.get("/api/monitoring/alerts/", {"status": "open"}).json()["results"]
    assert alert.pk in [a["id"] for a in listed] and {a["model_id"] for a in listed} == {"credit@1"}
    assert [a["id"] for a in listed] == sorted((a["id"] for a in listed), reverse=True)  # newest first
    acknowledged = staff_client.post(f"/api/monitoring/alerts/{alert.pk}/acknowledge/")
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged" and acknowledged.json()["acknowledged_by"] == "staff"
    again = staff_client.post(f"/api/monitoring/alerts/{alert.pk}/acknowledge/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_alert_action"
    resolved = staff_client.post(f"/api/monitoring/alerts/{alert.pk}/resolve/").json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "staff"
    assert staff_client.post("/api/monitoring/alerts/999999/resolve/").status_code == 404
    assert staff_client.get("/api/monitoring/alerts/", {"status": "gone"}).status_code == 400


@pytest.mark.parametrize(
    ("name", "serializer"),
    [
        ("drift", "DriftReportSerializer"),
        ("attribution", "AttributionReportSerializer"),
        ("performance", "PerformanceReportSerializer"),
        ("segments", "SegmentScanSerializer"),
        ("overview", "OverviewSerializer"),
    ],
)
def test_the_schema_examples_have_exactly_the_response_fields(name, serializer):
    from monitoring import serializers
    from monitoring.api_docs import EXAMPLES

    assert getattr(serializers, serializer)(EXAMPLES[name]).data == EXAMPLES[name]
