import re
import subprocess
import sys

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from predictions.ml.algorithms import ALGORITHMS
from predictions.models import ModelVersion
from predictions.tests.factories import make_loans_frame, write_loans_csv


@pytest.mark.django_db
@pytest.mark.slow  # trains every algorithm on a generated frame (hgb: about 9 s)
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_it_trains_mixed_type_data_with_missing_values_and_a_categorical_target(tmp_path, capsys, algorithm):
    csv = write_loans_csv(tmp_path / "loans.csv")
    call_command(
        "train_model", csv=csv, target="status", positive="default", name="loans", algorithm=algorithm, promote=True
    )
    version = ModelVersion.objects.get(name="loans")
    assert version.model_id == "loans@1"
    assert version.status == "production"
    assert version.algorithm == algorithm
    assert [f["name"] for f in version.feature_schema] == ["income", "age", "region", "has_guarantor", "utilisation"]
    metrics = version.metrics
    assert metrics["n_train"] == 320 and metrics["n_test"] == 80
    assert len(metrics["calibration"]) == 10
    assert sum(b["count"] for b in metrics["calibration"]) == 80
    assert 0.6 < metrics["roc_auc"] <= 1.0
    assert {"pr_auc", "brier", "log_loss", "base_rate"} <= set(metrics)
    assert len(version.training_sha256) == 64 and version.training_rows == 400
    assert f"ROC AUC {metrics['roc_auc']:.4f}" in capsys.readouterr().out


@pytest.mark.django_db
def test_versions_count_up_per_name_and_exclude_and_descriptions_apply(tmp_path):
    csv = write_loans_csv(tmp_path / "loans.csv")
    descriptions = tmp_path / "desc.json"
    descriptions.write_text('{"age": "Age of the applicant"}')
    for _ in range(2):
        call_command(
            "train_model",
            csv=csv,
            target="status",
            positive="default",
            name="loans",
            exclude="utilisation",
            description_file=descriptions,
        )
    versions = list(ModelVersion.objects.filter(name="loans").order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert all(v.status == "staging" for v in versions)
    schema = {f["name"]: f for f in versions[0].feature_schema}
    assert "utilisation" not in schema
    assert schema["age"]["description"] == "Age of the applicant"
    # deterministic: same data, same model
    assert versions[0].metrics == versions[1].metrics


@pytest.mark.django_db
def test_the_german_credit_demo_model_reaches_an_auc_of_at_least_075(capsys):
    csv = settings.BASE_DIR / "data" / "german_credit.csv"
    call_command("train_model", csv=csv, target="creditability", positive="bad", name="credit")
    version = ModelVersion.objects.get(name="credit")
    assert version.metrics["roc_auc"] >= 0.75
    assert f"ROC AUC {version.metrics['roc_auc']:.4f}" in capsys.readouterr().out


def _bad_csvs(tmp_path):
    good = make_loans_frame()
    one_class = good.assign(status="repaid")
    three = good.copy()
    three.loc[:10, "status"] = "unknown"
    (tmp_path / "one.csv").write_text(one_class.to_csv(index=False))
    (tmp_path / "three.csv").write_text(three.to_csv(index=False))
    (tmp_path / "good.csv").write_text(good.to_csv(index=False))
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b,status\n")
    return {
        "missing file": (tmp_path / "nope.csv", "status", "default", "CSV file not found"),
        "missing target column": (tmp_path / "good.csv", "outcome", "default", "target column 'outcome' is not in"),
        "one class": (tmp_path / "one.csv", "status", "repaid", "exactly 2 classes, found 1"),
        "three classes": (tmp_path / "three.csv", "status", "default", "exactly 2 classes, found 3"),
        "positive absent": (tmp_path / "good.csv", "status", "yes", "positive value 'yes' does not occur"),
        "empty csv": (tmp_path / "empty.csv", "status", "default", "CSV file is empty"),
        "header only": (tmp_path / "header.csv", "status", "default", "no rows"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "missing target column",
        "one class",
        "three classes",
        "positive absent",
        "empty csv",
        "header only",
    ],
)
def test_it_refuses_bad_input_with_a_one_line_error(tmp_path, case):
    csv, target, positive, message = _bad_csvs(tmp_path)[case]
    with pytest.raises(CommandError, match=message) as info:
        call_command("train_model", csv=csv, target=target, positive=positive, name="x")
    assert "\n" not in str(info.value)
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_it_refuses_an_excluded_column_that_does_not_exist(tmp_path):
    csv = write_loans_csv(tmp_path / "loans.csv")
    with pytest.raises(CommandError, match="excluded column"):
        call_command("train_model", csv=csv, target="status", positive="default", name="x", exclude="nope")


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_it_exits_1_without_a_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "train_model",
            "--csv",
            str(tmp_path / "none.csv"),
            "--target",
            "t",
            "--positive",
            "p",
            "--name",
            "x",
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"CommandError: CSV file not found: {tmp_path / 'none.csv'}"]


def test_generated_frames_really_have_missing_values_and_mixed_types():
    frame = make_loans_frame()
    assert frame["income"].isna().sum() == 20 and frame["region"].isna().sum() == 16
    assert pd.api.types.is_integer_dtype(frame["age"]) and pd.api.types.is_string_dtype(frame["status"])


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_serves_with_drivers_that_add_up(tmp_path, api_client, api_user, embedder, algorithm):
    import math

    from predictions.selectors import loaded_model_cache_clear

    loaded_model_cache_clear()  # "loans" named another (rolled-back) version in an earlier test
    csv = write_loans_csv(tmp_path / "loans.csv")
    call_command("train_model", csv=csv, target="status", positive="default", name="loans", algorithm=algorithm,
                 embedder="tabular", promote=True)  # fmt: skip
    api_client.force_authenticate(api_user)
    features = {"income": 30000.0, "age": 22, "region": "south", "has_guarantor": "no", "utilisation": 0.9}
    response = api_client.post("/api/predict/", {"model": "loans", "features": features}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    log_odds = body["base_log_odds"] + sum(d["contribution"] for d in body["drivers"])
    assert 1 / (1 + math.exp(-log_odds)) == pytest.approx(body["risk_score"], abs=1e-9)
    similar = api_client.get(f"/api/records/{body['record_id']}/nearest/")
    assert similar.status_code == 200


@pytest.mark.django_db
def test_protected_columns_are_kept_out_with_reasons_and_a_policy(tmp_path, capsys):
    csv = write_loans_csv(tmp_path / "loans.csv")
    reasons = tmp_path / "reasons.json"
    reasons.write_text('{"reasons": [{"code": "MONEY", "sentence": "Income and use of credit.", '
                       '"features": ["income", "utilisation"]}]}')  # fmt: skip
    call_command(
        "train_model", csv=csv, target="status", positive="default", name="loans", protected="region,has_guarantor",
        reasons=reasons, refer_at=0.2, decline_at=0.5,
    )  # fmt: skip
    version = ModelVersion.objects.get(name="loans")
    assert [f["name"] for f in version.feature_schema] == ["income", "age", "utilisation"]
    assert [(p["name"], p.get("choices"), p["required"]) for p in version.protected_schema] == [
        ("region", ["east", "north", "south", "west"], False),
        ("has_guarantor", None, False),
    ]
    assert version.protected_schema[1]["type"] == "boolean"
    assert version.decision_policy == {"refer_at": 0.2, "decline_at": 0.5}
    assert [r["code"] for r in version.reason_table] == ["MONEY", "AGE"]
    out = capsys.readouterr().out
    assert "protected (not in the model): region, has_guarantor" in out and "decline from 0.5" in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"protected": "age"}, "protected column(s) age hold numbers"),
        ({"protected": "nope"}, "protected column(s) not in the CSV: nope"),
        ({"protected": "region", "exclude": "region"}, "both excluded and protected: region"),
        ({"protected": "status"}, "the target column cannot be a protected attribute"),
        ({"refer_at": 0.6, "decline_at": 0.4}, "refer_at (0.6) must not be above decline_at (0.4)"),
        ({"refer_at": 0.6}, "give --refer-at and --decline-at together"),
    ],
)
def test_bad_protected_or_policy_options_are_one_line_errors(tmp_path, options, message):
    csv = write_loans_csv(tmp_path / "loans.csv")
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("train_model", csv=csv, target="status", positive="default", name="loans", **options)
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_a_reason_table_naming_a_protected_attribute_is_refused(tmp_path):
    csv = write_loans_csv(tmp_path / "loans.csv")
    reasons = tmp_path / "reasons.json"
    reasons.write_text('[{"code": "AREA", "sentence": "Where you live.", "features": ["region"]}]')
    with pytest.raises(CommandError, match="'region' is a protected attribute and can never be a reason"):
        call_command(
            "train_model", csv=csv, target="status", positive="default", name="loans", protected="region",
            reasons=reasons,
        )  # fmt: skip
    assert not ModelVersion.objects.exists()
