import collections
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from django.conf import settings

from predictions.ml.artifacts import ArtifactError, dump_artifact, load_artifact, sha256_hex


@pytest.fixture(scope="module")
def artifact_bytes(german_credit_trained):
    t = german_credit_trained
    return dump_artifact(
        pipeline=t.pipeline, background=t.background, background_mean=t.background_mean, algorithm=t.algorithm
    )


def test_it_round_trips_a_verified_artifact(artifact_bytes, german_credit_trained):
    loaded = load_artifact(artifact_bytes, expected_sha256=sha256_hex(artifact_bytes))
    assert loaded.algorithm == "logistic"
    np.testing.assert_array_equal(loaded.background, german_credit_trained.background)
    assert zipfile.ZipFile(io.BytesIO(artifact_bytes)).testzip() is None


def test_it_refuses_a_tampered_artifact_before_reading_it(artifact_bytes):
    tampered = bytearray(artifact_bytes)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(ArtifactError, match="SHA-256 mismatch"):
        load_artifact(bytes(tampered), expected_sha256=sha256_hex(artifact_bytes))


def test_it_refuses_untrusted_types_even_with_a_matching_digest():
    evil = sio.dumps({"format": 1, "payload": collections.OrderedDict(a=1)})
    with pytest.raises(ArtifactError, match=r"untrusted types: collections\.OrderedDict"):
        load_artifact(evil, expected_sha256=sha256_hex(evil))


def test_it_refuses_garbage():
    junk = b"not a zip file"
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_artifact(junk, expected_sha256=sha256_hex(junk))


def test_no_code_path_loads_with_pickle_or_joblib():
    pattern = re.compile(
        r"^\s*(import|from)\s+(pickle|joblib|cloudpickle|dill)\b|pickle\.loads?\(|joblib\.load\(", re.M
    )
    offenders = []
    for app in ("core", "accounts", "riskengine", "predictions", "records", "bench"):
        for path in (Path(settings.BASE_DIR) / app).rglob("*.py"):
            if "tests" in path.parts:
                continue
            text = path.read_text()
            # bench/peers.py writes MLServer's own joblib format in .venv-peers; it must never load one.
            if path.relative_to(settings.BASE_DIR).as_posix() == "bench/peers.py":
                text = text.replace("import joblib  #", "#")
            if pattern.search(text):
                offenders.append(str(path))
    assert offenders == []
