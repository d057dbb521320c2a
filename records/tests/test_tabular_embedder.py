import numpy as np
import pytest

from predictions.ml.decisions import LabelBand
from predictions.ml.embedding import EMBEDDING_DIM, TabularEmbedder
from predictions.ml.explain import LinearExplainer
from predictions.ml.features import decode_row, encode_frame
from predictions.ml.scoring import scoring_model_from_trained
from predictions.ml.training import train
from predictions.tests.factories import make_loans_frame
from records.models import Record

BANDS: list[LabelBand] = [{"label": "low", "min": 0.0}, {"label": "high", "min": 0.5}]


@pytest.fixture(scope="module", params=["logistic", "hgb"])
def model(request):
    trained = train(make_loans_frame(rows=400, seed=1), target="status", positive="default", algorithm=request.param)
    return trained, scoring_model_from_trained(trained, BANDS)


def test_vectors_are_384d_unit_length_and_deterministic(model):
    trained, scorer = model
    embedder = TabularEmbedder(scorer.explainer, trained.schema)
    rows = encode_frame(make_loans_frame(rows=50, seed=2).drop(columns=["status"]), trained.schema)
    vectors = embedder.encode_rows(rows)
    assert vectors.shape == (50, EMBEDDING_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors, TabularEmbedder(scorer.explainer, trained.schema).encode_rows(rows))
    np.testing.assert_array_equal(vectors[:1], embedder.encode_rows(rows[:1]))


def test_logistic_columns_are_the_models_own_contributions(german_credit_trained):
    trained = german_credit_trained
    scorer = scoring_model_from_trained(trained, BANDS)
    rows = trained.train_encoded[:30]
    assert isinstance(scorer.explainer, LinearExplainer)
    columns = scorer.explainer.column_contributions(rows)
    np.testing.assert_allclose(columns.sum(axis=1), scorer.explainer.explain(rows).contributions.sum(axis=1), atol=1e-9)


def test_neighbours_share_the_risk_far_better_than_chance(model):
    trained, scorer = model
    embedder = TabularEmbedder(scorer.explainer, trained.schema)
    rows = encode_frame(make_loans_frame(rows=400, seed=9).drop(columns=["status"]), trained.schema)
    vectors = embedder.encode_rows(rows)
    scores = scorer.explainer.explain(rows).probability
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :10]
    neighbour_gap = np.abs(scores[nearest] - scores[:, None]).mean()
    random_gap = np.abs(scores[np.random.default_rng(0).integers(0, 400, (400, 10))] - scores[:, None]).mean()
    assert neighbour_gap < 0.65 * random_gap  # logistic about 0.45, hgb about 0.55 of chance


def test_a_tabular_model_stores_tabular_embeddings(jwt_client, german_credit_trained, german_credit_row):
    from predictions.selectors import loaded_model_cache_clear, loaded_model_get
    from predictions.services import model_version_promote, model_version_register

    version = model_version_register(trained=german_credit_trained, name="credit", embedder="tabular")
    model_version_promote(model_version=version)
    loaded_model_cache_clear()
    response = jwt_client.post("/api/predict/", {"model": "credit", "features": german_credit_row}, format="json")
    assert response.status_code == 201 and response.json()["model_id"] == "credit@2"
    stored = np.asarray(Record.objects.get(pk=response.json()["record_id"]).embedding)
    model = loaded_model_get(name="credit")
    expected = model.tabular_embedder().encode_rows(encode_frame_row(model, german_credit_row))[0]
    np.testing.assert_allclose(stored, expected, atol=1e-6)


def encode_frame_row(model, row):
    from predictions.ml.features import encode

    return encode(model.schema, [row])


def test_train_model_takes_the_embedder(tmp_path, db):
    from django.core.management import call_command

    from predictions.models import ModelVersion
    from predictions.tests.factories import write_loans_csv

    csv = write_loans_csv(tmp_path / "loans.csv")
    call_command("train_model", csv=csv, target="status", positive="default", name="loans", embedder="tabular")
    assert ModelVersion.objects.get(name="loans").embedder == "tabular"


def test_decode_row_round_trip_for_the_fixture(german_credit_trained, german_credit_row):
    from predictions.ml.features import encode

    encoded = encode(german_credit_trained.schema, [german_credit_row])
    assert decode_row(german_credit_trained.schema, encoded[0]) == german_credit_row
