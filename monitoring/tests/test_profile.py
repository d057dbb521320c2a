"""Reference profiles: written at registration, and the same from the training CSV later."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from predictions.ml.reference import numeric_bins, numeric_edges
from predictions.models import ModelVersion

CSV = Path(settings.BASE_DIR) / "data" / "german_credit.csv"


def test_registration_writes_a_profile_of_the_training_split(demo_model, german_credit_trained):
    profile = demo_model.reference_profile
    train = german_credit_trained.train_encoded
    assert profile["rows"] == len(train) and profile["holdout_rows"] == len(german_credit_trained.holdout_encoded)
    names = [spec.name for spec in german_credit_trained.schema]
    assert [f["name"] for f in profile["features"]] == names
    for j, feature in enumerate(profile["features"]):
        assert sum(feature["counts"]) == len(train)
        if feature["type"] in ("number", "integer"):
            column = train[:, j]
            assert feature["edges"] == sorted(set(np.quantile(column, np.linspace(0, 1, 11)).tolist()))
            expected = np.bincount(numeric_bins(column, feature["edges"]), minlength=len(feature["counts"]))
            assert feature["counts"] == expected.tolist()
    assert sum(profile["score"]["counts"]) == len(train) and sum(profile["label"]["counts"]) == len(train)
    assert profile["mean_log_odds"] == pytest.approx(
        profile["base_log_odds"] + sum(f["mean_shap"] for f in profile["features"]), abs=1e-12
    )


def test_each_segment_has_the_counts_of_its_own_training_rows(demo_model, german_credit_trained):
    from predictions.ml.reference import encoded_bins

    profile = demo_model.reference_profile
    train = german_credit_trained.train_encoded
    schema = german_credit_trained.schema
    j = [spec.name for spec in schema].index("housing")
    housing = profile["segments"]["housing"]
    assert set(housing) == {"own", "rent", "for free"}
    for value, segment in housing.items():
        rows = train[:, j] == schema[j].choices.index(value)
        assert segment["rows"] == int(rows.sum())
        for k, (spec, feature) in enumerate(zip(schema, profile["features"], strict=True)):
            expected = np.bincount(
                encoded_bins(spec, train[rows, k], feature["edges"]), minlength=len(feature["counts"])
            )
            assert segment["features"][k] == expected.tolist()
        assert sum(segment["score"]) == sum(segment["label"]) == segment["rows"]
    assert sum(s["rows"] for s in housing.values()) == len(train)
    assert "duration_in_month" not in profile["segments"]  # numbers are not segments


def test_edges_are_deduplicated_and_values_outside_fall_in_the_end_bins():
    edges = numeric_edges(np.array([1.0, 1.0, 1.0, 2.0, 3.0, np.nan]))
    assert edges == sorted(set(edges))
    bins = numeric_bins(np.array([-5.0, 1.0, 99.0, np.nan]), edges)
    assert bins.tolist() == [0, 0, len(edges) - 2, len(edges) - 1]


def test_the_profile_from_the_training_csv_is_the_registration_profile(demo_model, capsys):
    written = demo_model.reference_profile
    ModelVersion.objects.filter(pk=demo_model.pk).update(reference_profile={})
    call_command("monitoring_profile", "credit@1", csv=CSV)
    assert "credit@1: profile of" in capsys.readouterr().out
    again = ModelVersion.objects.get(pk=demo_model.pk).reference_profile
    assert {**again, "source": "training"} == written


def test_the_profile_command_refuses_another_file_and_unknown_versions(demo_model, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text(CSV.read_text().replace("bad", "BAD", 1))
    with pytest.raises(CommandError, match="not the file credit@1 was trained on"):
        call_command("monitoring_profile", "credit@1", csv=other)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("monitoring_profile", "credit@9", csv=CSV)
    for nonsense in ("credit", "credit@x", "@1", "credit@" + "9" * 40):
        with pytest.raises(CommandError):
            call_command("monitoring_profile", nonsense, csv=CSV)
    assert ModelVersion.objects.get(pk=demo_model.pk).reference_profile == demo_model.reference_profile
    with pytest.raises(CommandError, match="file not found"):
        call_command("monitoring_profile", "credit@1", csv=tmp_path / "missing.csv")
