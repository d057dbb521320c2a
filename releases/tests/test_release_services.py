import pytest
from django.core.management import CommandError, call_command

from predictions.models import ModelVersion, Release
from releases.models import ReleaseEvent, Validation
from releases.services import (
    ReleaseError,
    latest_validation,
    model_validate,
    release_abort,
    release_canary_set,
    release_promote,
    release_rollback,
    release_shadow_start,
)


def _gate(validation, gate, on):
    return next(g for g in validation.gates if g["gate"] == gate and g["set"] == on)


def test_a_copy_of_the_champion_passes_every_gate_it_can_judge(register):
    validation = model_validate(model_version=register())
    assert validation.passed, validation.gates
    holdout = _gate(validation, "auc_non_inferiority", "holdout")
    assert holdout["passed"] is True and holdout["value"] == 0.0  # the same model: the interval is [0, 0]
    assert _gate(validation, "latency_p99", "one row")["passed"] is True
    assert ReleaseEvent.objects.get(action="validate").validation == validation


def test_a_weaker_ranking_fails_the_holdout_auc_gate(register):
    validation = model_validate(model_version=register(scramble=True))
    gate = _gate(validation, "auc_non_inferiority", "holdout")
    assert gate["passed"] is False and gate["value"] < -0.005
    assert not validation.passed


def test_a_shifted_model_fails_calibration_and_stability_on_the_stored_records(register, make_records):
    from records.models import Record

    records = make_records(300)
    champion_scores = {r.pk: r.risk_score for r in records}
    # outcomes as the champion predicts them (calibrated by construction), for the labelled gates
    for record in records:
        Record.objects.filter(pk=record.pk).update(outcome=champion_scores[record.pk] > 0.5)
    validation = model_validate(model_version=register(shift=2.0))
    assert _gate(validation, "score_psi", "last 30 days")["passed"] is False
    assert _gate(validation, "label_change", "last 30 days")["passed"] is False
    assert _gate(validation, "calibration_in_the_large", "labelled")["passed"] is False
    assert not validation.passed


def test_gates_with_too_little_data_neither_pass_nor_fail(register):
    validation = model_validate(model_version=register())
    assert _gate(validation, "ece", "labelled")["passed"] is None
    assert _gate(validation, "score_psi", "last 30 days")["passed"] is None


def test_a_per_name_override_changes_a_threshold(register):
    Release.objects.create(name="credit", gates={"latency_p99_ms": 0.000001})
    validation = model_validate(model_version=register())
    assert _gate(validation, "latency_p99", "one row")["passed"] is False


def test_promoting_a_failed_version_is_refused_without_force(register, admin_user, staff_user):
    weak = register(scramble=True)
    model_validate(model_version=weak)
    with pytest.raises(ReleaseError, match="failed its gates"):
        release_promote(model_version=weak, reason="try")
    with pytest.raises(ReleaseError, match="Only a superuser"):
        release_promote(model_version=weak, reason="try", force=True, user=staff_user)
    with pytest.raises(ReleaseError, match="reason"):
        release_promote(model_version=weak, reason="  ", force=True, user=admin_user)
    promoted = release_promote(model_version=weak, reason="the business accepts it", force=True, user=admin_user)
    assert promoted.status == "production"
    event = ReleaseEvent.objects.get(action="promote")
    assert event.forced and event.created_by == admin_user and event.reason == "the business accepts it"


def test_model_promote_command_refuses_a_failed_version_unless_forced(register):
    weak = register(scramble=True)
    with pytest.raises(CommandError, match="has not been validated"):
        call_command("model_promote", weak.model_id, "--reason", "r")
    with pytest.raises(CommandError, match="failed its release gates"):
        call_command("model_validate", weak.model_id)
    with pytest.raises(CommandError, match="failed its gates"):
        call_command("model_promote", weak.model_id, "--reason", "r")
    call_command("model_promote", weak.model_id, "--force", "--reason", "accepted")
    assert ModelVersion.objects.get(pk=weak.pk).status == "production"


def test_the_whole_release_path_is_recorded(register, admin_user):
    candidate = register()
    model_validate(model_version=candidate, user=admin_user)
    release_shadow_start(model_version=candidate, reason="watch", user=admin_user)
    assert Release.objects.get(name="credit").mode == "shadow"
    release_canary_set(model_version=candidate, reason="start", user=admin_user)
    release = Release.objects.get(name="credit")
    assert (release.mode, release.percent, release.challenger_id) == ("canary", 5.0, candidate.pk)
    release_promote(model_version=candidate, reason="healthy", user=admin_user)
    assert Release.objects.get(name="credit").mode == "none"
    release_rollback(name="credit", reason="back", user=admin_user)
    assert ModelVersion.objects.get(name="credit", status="production").version == 1
    actions = list(ReleaseEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["validate", "shadow", "canary", "promote", "rollback"]
    validation = latest_validation(model_version=candidate)
    assert validation is not None and validation.passed


def test_release_steps_that_cannot_be_taken_say_why(register, demo_model):
    candidate = register()
    with pytest.raises(ReleaseError, match="champion already"):
        release_shadow_start(model_version=demo_model, reason="r")
    with pytest.raises(ReleaseError, match="has not been validated"):
        release_canary_set(model_version=candidate, reason="r")
    model_validate(model_version=candidate)
    with pytest.raises(ReleaseError, match="percentage"):
        release_canary_set(model_version=candidate, reason="r", percent=150)
    with pytest.raises(ReleaseError, match="no challenger"):
        release_abort(name="credit", reason="r")
    assert not Validation.objects.filter(passed=False).exists()


def test_release_commands_print_and_refuse_in_one_line(register, capsys):
    candidate = register()
    call_command("model_validate", candidate.model_id)
    out = capsys.readouterr().out
    assert "auc_non_inferiority" in out and "PASSED" in out
    call_command("model_validate", candidate.model_id, "--markdown")
    assert "| gate | set | value | threshold | result | detail |" in capsys.readouterr().out
    call_command("model_shadow", candidate.model_id, "--reason", "watch")
    call_command("model_canary", candidate.model_id, "--percent", "25", "--reason", "start")
    assert "serves 25% of credit's applicants" in capsys.readouterr().out
    with pytest.raises(CommandError, match="percentage must be above 0"):
        call_command("model_canary", candidate.model_id, "--percent", "150", "--reason", "r")
    assert Release.objects.get(name="credit").percent == 25  # the refused step changed nothing
    call_command("model_abort", "credit", "--reason", "enough")
    with pytest.raises(CommandError, match="no challenger"):
        call_command("model_abort", "credit", "--reason", "again")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("model_shadow", "credit@99", "--reason", "r")


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_calibration_and_stability_pass_for_a_copy_on_calibrated_outcomes(register, make_records):
    import numpy as np

    from records.models import Record

    records = make_records(400)
    scores = np.array([r.risk_score for r in records])
    outcomes = np.zeros(len(records), dtype=bool)
    bins = np.clip((scores * 10).astype(int), 0, 9)
    for b in range(10):  # in each calibration bin, as many positives as its mean score says
        members = np.flatnonzero(bins == b)
        outcomes[members[: round(scores[members].sum())]] = True
    for record, outcome in zip(records, outcomes, strict=True):
        Record.objects.filter(pk=record.pk).update(outcome=bool(outcome))
    validation = model_validate(model_version=register())
    for gate in ("ece", "calibration_in_the_large"):
        assert _gate(validation, gate, "labelled")["passed"] is True, validation.gates
    assert _gate(validation, "auc_non_inferiority", "labelled")["passed"] is True
    assert _gate(validation, "score_psi", "last 30 days")["value"] == 0.0
    assert _gate(validation, "label_change", "last 30 days")["passed"] is True
    assert validation.passed
