"""The fold: its SQL bins equal the profile's numpy rules, and the rollups always equal a
recomputation from scratch, whatever mix of inserts, late outcomes and backfills came first."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from monitoring.models import BinDay, DayTotal, FairnessDay, OutcomeDay, ScoreCellDay, ShapDay
from monitoring.services.fold import monitoring_fold
from monitoring.tests.conftest import store as _store
from predictions.ml.features import encode
from predictions.ml.reference import encoded_bins, numeric_bins
from predictions.selectors import loaded_model_get
from records.models import Record
from records.services import record_set_outcome

pytestmark = pytest.mark.django_db(transaction=True)


def _fold_now():
    return monitoring_fold()


def _expected(version):
    """Every rollup, recomputed in numpy from the records as they are now."""
    model = loaded_model_get(model_id=version.model_id)
    profile = version.reference_profile
    records = list(Record.objects.filter(model_version=version))
    bins: dict = defaultdict(int)
    shap: dict = defaultdict(lambda: [0, 0.0, 0.0])
    totals: dict = defaultdict(float)
    outcomes: dict = {}
    cells: dict = {}
    fairness: dict = defaultdict(int)  # (day, attribute, group as JSON text, decision, outcome or -1)
    decided: dict = defaultdict(int)
    encoded = encode(model.schema, [r.features_json for r in records])
    n = len(profile["features"])
    labels = profile["label"]["labels"]
    for i, record in enumerate(records):
        day = record.timestamp.astimezone(UTC).date()
        for j, (spec, feature) in enumerate(zip(model.schema, profile["features"], strict=True)):
            bins[(day, j, int(encoded_bins(spec, encoded[i : i + 1, j], feature["edges"])[0]))] += 1
        score_bin = numeric_bins(np.array([record.risk_score]), profile["score"]["edges"], missing_bin=False)[0]
        bins[(day, n, int(score_bin))] += 1
        bins[(day, n + 1, labels.index(record.risk_label))] += 1
        for driver in record.drivers:
            cell = shap[(day, [f["name"] for f in profile["features"]].index(driver["feature"]))]
            cell[0] += 1
            cell[1] += driver["contribution"]
            cell[2] += abs(driver["contribution"])
        totals[day] += record.risk_score
        if record.decision:
            decided[day] += 1
            known = -1 if record.outcome is None else int(record.outcome)
            for key, value in record.protected.items():
                text = value if isinstance(value, str) else json.dumps(value)
                fairness[(day, key, text, record.decision, known)] += 1
        if record.outcome is not None:
            key = (day, labels.index(record.risk_label))
            n_, pos, score_sum, brier = outcomes.get(key, (0, 0, 0.0, 0.0))
            y = int(record.outcome)
            outcomes[key] = (n_ + 1, pos + y, score_sum + record.risk_score, brier + (record.risk_score - y) ** 2)
            cell = (day, min(int(np.floor(record.risk_score * 1000)), 999))
            n_, pos, score_sum = cells.get(cell, (0, 0, 0.0))
            cells[cell] = (n_ + 1, pos + y, score_sum + record.risk_score)
    return dict(bins), shap, totals, outcomes, cells, (dict(fairness), dict(decided))


def _assert_rollups_match(version):
    bins, shap, totals, outcomes, cells, (fairness, decided) = _expected(version)
    stored = {(b.day, b.feature, b.bin): b.count for b in BinDay.objects.filter(model_version=version)}
    assert stored == bins
    stored_shap = {(s.day, s.feature): s for s in ShapDay.objects.filter(model_version=version)}
    assert set(stored_shap) == set(shap)
    for key, (count, total, absolute) in shap.items():
        assert stored_shap[key].n == count
        assert stored_shap[key].shap_sum == pytest.approx(total, abs=1e-9)
        assert stored_shap[key].abs_shap_sum == pytest.approx(absolute, abs=1e-9)
    stored_totals = {t.day: t.score_sum for t in DayTotal.objects.filter(model_version=version)}
    assert stored_totals == pytest.approx(totals, abs=1e-9)
    assert {t.day: t.decided for t in DayTotal.objects.filter(model_version=version) if t.decided} == decided
    stored_fairness = {
        (f.day, f.attribute, f.group, f.decision, f.outcome): f.n
        for f in FairnessDay.objects.filter(model_version=version)
    }
    assert stored_fairness == fairness
    stored_outcomes = {
        (o.day, o.label): (o.n, o.positives, o.score_sum, o.brier_sum)
        for o in OutcomeDay.objects.filter(model_version=version)
    }
    assert set(stored_outcomes) == set(outcomes)
    for key, value in outcomes.items():
        assert stored_outcomes[key][:2] == value[:2]
        assert stored_outcomes[key][2:] == pytest.approx(value[2:], abs=1e-9)
    stored_cells = {
        (c.day, c.cell): (c.n, c.positives, c.score_sum) for c in ScoreCellDay.objects.filter(model_version=version)
    }
    assert set(stored_cells) == set(cells)
    for key, value in cells.items():
        assert stored_cells[key][:2] == value[:2]
        assert stored_cells[key][2] == pytest.approx(value[2], abs=1e-9)


def _protected(rng, n):
    """Protected attributes as the API takes them: a text group, a boolean, sometimes absent."""
    sexes = ["female : divorced/separated/married", "male : single"]
    return [
        {"personal_status_and_sex": str(rng.choice(sexes)), **({"foreign_worker": bool(i % 2)} if i % 3 else {})}
        for i in range(n)
    ]


def test_rollups_equal_a_recomputation_after_inserts_late_outcomes_and_backfills(demo_model, rows):
    rng = np.random.default_rng(5)
    first = _store(rows[:300], days=rng.integers(0, 20, 300), rng=rng, protected=_protected(rng, 300))
    # Records stored before the contributions column: their SHAP sums come from the drivers JSON.
    Record.objects.filter(pk__in=[r.pk for r in first[::3]]).update(contributions=None)
    summary = _fold_now()
    assert summary.records == 300 and summary.rebuilt == ["credit@1"]
    _assert_rollups_match(demo_model)
    assert FairnessDay.objects.filter(outcome=-1).exists()
    # Late outcomes for records of many days, one corrected, then more traffic and a "backfill"
    # of old days that arrives with its outcomes.
    for record in first[:80]:
        record_set_outcome(record=record, outcome=bool(rng.integers(0, 2)))
    record_set_outcome(record=first[0], outcome=not first[0].outcome)
    _store(rows[300:500], days=rng.integers(15, 30, 200), rng=rng, protected=_protected(rng, 200))
    _store(rows[500:650], days=rng.integers(0, 5, 150), outcomes=[bool(x) for x in rng.integers(0, 2, 150)], rng=rng)
    summary = _fold_now()
    assert summary.records == 350 and summary.outcome_days > 0 and summary.rebuilt == []
    _assert_rollups_match(demo_model)
    assert _fold_now().records == 0  # nothing new: nothing folded twice
    _assert_rollups_match(demo_model)


def test_a_changed_profile_rebuilds_the_rollups(demo_model, rows):
    rng = np.random.default_rng(9)
    _store(rows[:120], days=rng.integers(0, 3, 120), rng=rng)
    _fold_now()
    profile = dict(demo_model.reference_profile)
    profile["features"] = [dict(f) for f in profile["features"]]
    numeric = next(f for f in profile["features"] if f["type"] in ("number", "integer") and len(f["edges"]) > 3)
    numeric["edges"] = numeric["edges"][::2]  # coarser bins
    numeric["counts"] = [0] * len(numeric["edges"])
    type(demo_model).objects.filter(pk=demo_model.pk).update(reference_profile=profile)
    demo_model.refresh_from_db()
    summary = _fold_now()
    assert summary.rebuilt == ["credit@1"] and summary.records == 120
    _assert_rollups_match(demo_model)


def test_records_of_a_version_without_a_profile_are_not_folded(demo_model, rows):
    type(demo_model).objects.filter(pk=demo_model.pk).update(reference_profile={})
    _store(rows[:10], days=[0] * 10, rng=np.random.default_rng(1))
    assert _fold_now().records == 0
    assert not BinDay.objects.exists()


def test_the_fold_command_reports_what_it_folded(demo_model, rows, capsys):
    from django.core.management import call_command

    _store(rows[:5], days=[0] * 5, rng=np.random.default_rng(3))
    call_command("monitoring_fold")
    assert capsys.readouterr().out.startswith("folded 5 records, 0 outcome days, rebuilt credit@1")
    call_command("monitoring_fold")
    assert capsys.readouterr().out.startswith("folded 0 records")


def test_the_scheduler_refuses_a_negative_interval(demo_model):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--every must be 0"):
        call_command("monitoring_scheduler", every=-1)
    assert not BinDay.objects.exists()


def test_the_sql_bins_put_missing_null_unseen_and_mistyped_values_where_the_profile_says(db):
    from django.db import connection

    from monitoring.binning import bins_sql
    from predictions.ml.training import read_training_csv, train
    from predictions.services import model_version_register

    # the demo data with every column a feature, so that foreign_worker is a boolean feature
    csv = Path(settings.BASE_DIR) / "data" / "german_credit.csv"
    trained = train(read_training_csv(csv), target="creditability", positive="bad")
    profile = model_version_register(trained=trained, name="credit-all").reference_profile
    features = profile["features"]
    category = next(j for j, f in enumerate(features) if f["type"] == "category")
    boolean = next(j for j, f in enumerate(features) if f["type"] == "boolean")
    numeric = next(j for j, f in enumerate(features) if f["type"] in ("number", "integer") and len(f["edges"]) > 3)
    size = len(features[category]["choices"])
    edges = features[numeric]["edges"]
    n_bins = len(edges) - 1
    middle = (edges[1] + edges[2]) / 2
    cases = [  # (category value, boolean value, numeric value, expected bins); "absent" drops the key
        (features[category]["choices"][1], True, middle, (1, 1, int(numeric_bins(np.array([middle]), edges)[0]))),
        ("never seen", False, edges[-1] + 1e6, (size, 0, n_bins - 1)),
        (None, None, None, (size + 1, 3, n_bins)),
        ("absent", "absent", "absent", (size + 1, 3, n_bins)),
        (7, "yes", "12", (size, 2, n_bins)),
        (features[category]["choices"][0], False, edges[0] - 1e6, (0, 0, 0)),
    ]
    names = [features[j]["name"] for j in (category, boolean, numeric)]
    for *values, expected in cases:
        row = {name: value for name, value in zip(names, values, strict=True) if value != "absent"}
        params: dict = {}
        sql = bins_sql(profile, params)
        params["row"] = json.dumps(row)
        with connection.cursor() as cursor:
            cursor.execute(  # the SQL is bins_sql's, its values are parameters
                f"SELECT {sql} FROM (SELECT %(row)s::jsonb AS features_json, 0.5::float8 AS risk_score, "  # noqa: S608
                "''::text AS risk_label) r",
                params,
            )
            bins = cursor.fetchone()[0]
        assert (bins[category], bins[boolean], bins[numeric]) == expected, row
