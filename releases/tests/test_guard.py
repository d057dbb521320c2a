"""The release guard, run by the monitoring scheduler: roll a failing canary back, ramp a healthy one."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from monitoring.models import Alert, Delivery, Webhook
from predictions.models import Release
from predictions.selectors import loaded_model_cache_clear, loaded_route_get
from records.models import Record
from records.prediction import prediction_create
from releases.models import ReleaseEvent
from releases.services import release_canary_set, releases_evaluate


@pytest.fixture
def traffic(demo_model, embedder, german_rows):
    from predictions.ml.features import decode_row, encode_frame

    schema = loaded_route_get(name="credit").champion.schema
    encoded = encode_frame(german_rows.drop(columns=["creditability"]), schema)

    def send(n: int, start: int = 0) -> list[Record]:
        loaded_model_cache_clear()
        items = [decode_row(schema, encoded[(start + i) % len(encoded)]) for i in range(n)]
        subjects = [f"applicant-{start + i}" for i in range(n)]
        return prediction_create(model=loaded_route_get(name="credit"), items=items, subjects=subjects)

    return send


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_an_injected_score_shift_is_rolled_back_within_one_scheduler_cycle(register, traffic):
    Webhook.objects.create(url="http://127.0.0.1:9/hook", secret="s" * 32)
    shifted = register(shift=2.5)
    release_canary_set(model_version=shifted, percent=50, reason="injected shift", force=True)
    records = traffic(500)
    assert {r.served_by for r in records} == {"champion", "canary"}
    call_command("monitoring_scheduler", every=0)  # one cycle
    release = Release.objects.get(name="credit")
    assert (release.mode, release.challenger_id) == ("none", None)
    event = ReleaseEvent.objects.get(action="auto_rollback")
    assert event.model_version_id == shifted.pk and "score PSI" in event.reason
    assert event.evidence["score_psi"] >= 0.25 and event.evidence["canary_records"] >= 100
    alert = Alert.objects.get(model_version=shifted, rule__metric="release")
    assert alert.severity == "critical" and "rolled back" in alert.message
    assert Delivery.objects.filter(alert=alert).count() == 1  # its webhook delivery was queued
    loaded_model_cache_clear()
    assert {r.served_by for r in traffic(50, start=500)} == {"champion"}


def test_a_healthy_canary_is_left_alone_until_its_step_has_run_long_enough(register, traffic):
    same = register()
    release_canary_set(model_version=same, percent=50, reason="same model", force=True)
    traffic(500)
    summary = releases_evaluate()
    assert summary.rolled_back == [] and summary.advanced == []
    assert Release.objects.get(name="credit").percent == 50


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_a_healthy_canary_ramps_after_its_minimum_time_and_records(register, traffic):
    from releases.services import model_validate

    same = register()
    model_validate(model_version=same)
    release_canary_set(model_version=same, reason="start the ramp")
    Release.objects.filter(name="credit").update(percent=25.0, gates={"ramp_min_records": 50})
    traffic(600)
    later = timezone.now() + timedelta(minutes=61)
    summary = releases_evaluate(now=later)
    assert summary.advanced == [same.model_id]
    assert Release.objects.get(name="credit").percent == 50.0
    ramp = ReleaseEvent.objects.get(action="ramp")
    assert ramp.validation is not None and ramp.validation.scope == "canary" and ramp.validation.passed


def test_a_canary_whose_errors_exceed_the_limit_is_rolled_back(register, traffic, monkeypatch):
    from records import prediction

    broken = register()
    release_canary_set(model_version=broken, percent=100, reason="will fail", force=True)
    real = prediction.inference_predict  # type: ignore[attr-defined]  # patched where it is looked up

    def failing(*, model, rows, encoded=None):
        if model.pk == broken.pk:
            raise RuntimeError("the challenger is broken")
        return real(model=model, rows=rows, encoded=encoded)

    monkeypatch.setattr(prediction, "inference_predict", failing)
    records = traffic(20)
    assert {r.served_by for r in records} == {"champion"}  # every request was still served
    summary = releases_evaluate()
    assert summary.rolled_back == [broken.model_id]
    assert "error rate" in ReleaseEvent.objects.get(action="auto_rollback").reason


def test_a_critical_drift_alert_on_the_canary_rolls_it_back(register, traffic):
    from datetime import date

    from monitoring.models import AlertRule

    same = register()
    release_canary_set(model_version=same, percent=50, reason="drifts", force=True)
    traffic(20)
    rule = AlertRule.objects.create(
        model_name="credit", metric="feature_psi", warning=0.1, critical=0.25, min_records=1
    )
    Alert.objects.create(
        rule=rule, model_version=same, severity="critical", value=0.4, threshold=0.25, message="credit: PSI 0.4",
        window_start=date(2026, 12, 1), window_end=date(2026, 12, 2),
    )  # fmt: skip
    assert releases_evaluate().rolled_back == [same.model_id]
    assert "critical drift alert: credit: PSI 0.4" in ReleaseEvent.objects.get(action="auto_rollback").reason
