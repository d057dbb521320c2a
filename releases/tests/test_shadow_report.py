import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from predictions.models import Release
from predictions.selectors import loaded_model_cache_clear, loaded_route_get
from records.models import Record, ShadowResult
from records.prediction import prediction_create
from releases.selectors import shadow_report


@pytest.mark.slow  # over a second on this machine (make test-fast leaves it out)
def test_the_shadow_report_against_an_independent_computation(register, embedder, german_rows, demo_model):
    from predictions.ml.features import decode_row, encode_frame

    challenger = register(shift=0.8, scramble=True)  # other scores and another ranking
    Release.objects.create(name="credit", challenger=challenger, mode="shadow")
    loaded_model_cache_clear()
    route = loaded_route_get(name="credit")
    encoded = encode_frame(german_rows.drop(columns=["creditability"]), route.champion.schema)
    prediction_create(model=route, items=[decode_row(route.champion.schema, row) for row in encoded[:300]])
    ids = [r.pk for r in Record.objects.order_by("id")]
    records = {r.pk: r for r in Record.objects.all()}
    by_record = {s.record_id: s for s in ShadowResult.objects.all()}
    rng = np.random.default_rng(5)
    labelled = ids[:200]
    outcomes = {pk: bool(rng.random() < records[pk].risk_score) for pk in labelled}  # drawn from each score
    for pk in labelled:
        Record.objects.filter(pk=pk).update(outcome=outcomes[pk])
    report = shadow_report(challenger=challenger, champion_bands=demo_model.label_bands)
    served = np.array([records[pk].risk_score for pk in ids])
    shadow = np.array([by_record[pk].risk_score for pk in ids])
    assert report.n == 300
    assert abs(report.correlation - np.corrcoef(served, shadow)[0, 1]) < 1e-12
    assert abs(report.mean_abs_difference - np.abs(served - shadow).mean()) < 1e-12
    pairs = [(records[pk].risk_label, by_record[pk].risk_label) for pk in ids]
    for i, a in enumerate(report.labels):
        for j, b in enumerate(report.labels):
            assert report.agreement[i][j] == pairs.count((a, b))
    medium = next(f for f in report.flips if f["label"] == "medium")
    near = [pk for pk in ids if abs(records[pk].risk_score - 0.3) <= 0.05]
    assert medium["near"] == len(near)
    assert medium["up"] == sum(records[pk].risk_score < 0.3 <= by_record[pk].risk_score for pk in near) > 0
    y = [outcomes[pk] for pk in labelled]
    assert report.labelled == 200
    assert abs(report.champion_auc - roc_auc_score(y, [records[pk].risk_score for pk in labelled])) < 1e-12
    assert abs(report.challenger_auc - roc_auc_score(y, [by_record[pk].risk_score for pk in labelled])) < 1e-12
