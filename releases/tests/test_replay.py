import pytest
from django.core.management import CommandError, call_command

from predictions.selectors import loaded_model_get
from records.models import Record
from releases.selectors import records_verify, rows_replay, stored_rows_get


@pytest.fixture
def history(demo_model, embedder):
    from monitoring.services.demo import demo_history_seed

    return demo_history_seed(days=30, per_day=10)


def test_replaying_the_demo_history_with_its_own_version_reproduces_every_score_and_driver(history):
    result = records_verify(name="credit")
    assert result.checked == Record.objects.count() == history.records
    assert result.mismatches == []
    assert result.max_score_error <= 1e-9 and result.max_contribution_error <= 1e-9


def test_records_verify_says_so_and_exits_zero(history, capsys):
    call_command("records_verify", "--model", "credit", "--since", "90d")
    out = capsys.readouterr().out
    assert f"credit: {history.records} records checked, 0 mismatches" in out


def test_records_verify_finds_a_tampered_score_and_a_record_older_than_the_array(history, capsys):
    tampered, old = Record.objects.order_by("timestamp")[:2]
    Record.objects.filter(pk=tampered.pk).update(risk_score=tampered.risk_score + 1e-6)
    Record.objects.filter(pk=old.pk).update(contributions=None)  # checked against its drivers JSON
    result = records_verify(name="credit")
    assert [m.record_id for m in result.mismatches] == [tampered.pk]
    with pytest.raises(CommandError, match="1 stored decisions could not be reproduced"):
        call_command("records_verify", "--model", "credit")
    assert str(tampered.pk) in capsys.readouterr().out


def test_a_tampered_driver_is_a_mismatch_too(history):
    record = Record.objects.order_by("timestamp")[0]
    assert record.contributions is not None
    contributions = list(record.contributions)
    contributions[3] += 1e-7
    Record.objects.filter(pk=record.pk).update(contributions=contributions)
    assert [m.record_id for m in records_verify(name="credit").mismatches] == [record.pk]


def test_a_tampered_decision_or_reason_is_a_mismatch(history):
    refer, decline = (Record.objects.filter(decision=d).order_by("timestamp")[0] for d in ("refer", "decline"))
    Record.objects.filter(pk=refer.pk).update(decision="approve")
    reasons = list(decline.reasons)
    reasons[0], reasons[1] = reasons[1], reasons[0]
    Record.objects.filter(pk=decline.pk).update(reasons=reasons)
    found = {m.record_id for m in records_verify(name="credit").mismatches}
    assert found == {refer.pk, decline.pk}


def test_replay_scores_other_versions_rows_through_its_own_schema(history, register):
    stored = stored_rows_get(name="credit")
    other = register(shift=0.5)
    model = loaded_model_get(model_id=other.model_id)
    rows = [dict(row, unknown_feature=1) for row in stored.features]  # extra keys are not the version's
    rows[0] = {k: v for k, v in rows[0].items() if k != "duration_in_month"}  # a required feature missing
    replay = rows_replay(model=model, rows=rows)
    assert not replay.readable[0] and replay.readable[1:].all()
    assert len(replay.scores) == len(rows) - 1
    import numpy as np

    # +0.5 on every log-odds: each replayed score is above the one the champion stored
    assert (replay.scores > np.asarray(stored.scores[1:])).all()


def test_model_replay_reports_its_rate_and_the_differences(history, register, capsys):
    other = register(shift=1.0)
    call_command("model_replay", other.model_id, "--since", "30d")
    out = capsys.readouterr().out
    assert f"with {other.model_id}" in out and "records/s" in out and "labels changed" in out


def test_replay_commands_refuse_bad_input_with_one_line_errors(demo_model):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("model_replay", "credit@9")
    with pytest.raises(CommandError, match="--since"):
        call_command("model_replay", "credit@1", "--since", "thirty days")
    with pytest.raises(CommandError, match="'nope' does not exist"):
        call_command("records_verify", "--model", "nope")
