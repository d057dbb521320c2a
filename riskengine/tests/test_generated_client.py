"""A client generated from the served OpenAPI schema by openapi-python-client works end to end.

The generator is the common Python one; it refused our earlier schema (duplicate and unparsable
models, a token call returning None). Here it generates a client into a temporary folder, and the
generated code obtains a token, predicts one and a batch, lists records, follows a cursor and
searches the nearest records against the live test server.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _generate(schema_url: str, folder: Path) -> None:
    schema = folder / "schema.json"
    with urllib.request.urlopen(f"{schema_url}?format=json", timeout=60) as response:
        schema.write_bytes(response.read())
    config = folder / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run on the generated code
    generator = Path(sys.executable).parent / "openapi-python-client"
    run = subprocess.run(
        [str(generator), "generate", "--path", str(schema), "--meta", "none", "--output-path",
         str(folder / "riskengine_client"), "--config", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr  # nothing skipped


def test_a_generated_client_does_every_core_call(live_server, demo_model, embedder, api_user, tmp_path, monkeypatch):
    _generate(f"{live_server.url}/api/schema/", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    client_module = importlib.import_module("riskengine_client")
    api = importlib.import_module("riskengine_client.api")
    models = importlib.import_module("riskengine_client.models")
    for name in ("token.token_create", "predict.predict", "predict.predict_batch", "records.records_list",
                 "records.records_nearest_search"):  # fmt: skip
        importlib.import_module(f"riskengine_client.api.{name}")

    anonymous = client_module.Client(base_url=live_server.url)
    body = models.TokenObtainRequest(username=api_user.username, password=PASSWORD)
    tokens = api.token.token_create.sync(client=anonymous, body=body)
    assert isinstance(tokens, models.TokenPair) and tokens.access and tokens.refresh

    client = client_module.AuthenticatedClient(base_url=live_server.url, token=tokens.access)
    from predictions.api_docs import EXAMPLE_FEATURES

    features = models.FeaturesCreditV1.from_dict(EXAMPLE_FEATURES)
    choice = models.ModelNameCredit.CREDIT
    prediction = api.predict.predict.sync(client=client, body=models.PredictByCredit(model=choice, features=features))
    assert isinstance(prediction, models.Prediction), prediction
    assert prediction.model_id == "credit@1" and 0 < prediction.risk_score < 1 and prediction.drivers

    item = models.BatchItemCreditV1(features=features)
    batch = api.predict.predict_batch.sync(
        client=client, body=models.PredictBatchByCredit(model=choice, items=[item, item])
    )
    assert isinstance(batch, models.BatchPrediction) and len(batch.results) == 2

    first = api.records.records_list.sync(client=client, page_size=2)
    assert isinstance(first, models.RecordPage) and len(first.results) == 2 and first.next_
    cursor = parse_qs(urlparse(first.next_).query)["cursor"][0]
    second = api.records.records_list.sync(client=client, page_size=2, cursor=cursor)
    assert isinstance(second, models.RecordPage) and len(second.results) == 1
    assert {r.id for r in first.results}.isdisjoint({r.id for r in second.results})

    query = models.NearestByCreditFeatures(model=choice, features=features, k=2)
    nearest = api.records.records_nearest_search.sync(client=client, body=query)
    assert isinstance(nearest, models.NearestResult) and len(nearest.results) == 2
    assert nearest.results[0].distance == pytest.approx(0, abs=1e-6)  # the same applicant, stored three times
