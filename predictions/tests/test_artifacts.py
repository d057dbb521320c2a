import collections
import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import skops.io as sio

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


@pytest.mark.slow  # a fresh interpreter imports the ML stack
def test_it_reads_artifacts_without_importing_torch(artifact_bytes, tmp_path):
    """skops would import torch (through sklearn's array-API shim): ~180 MB in every server process."""
    path = tmp_path / "model.skops"
    path.write_bytes(artifact_bytes)
    script = (
        "import sys, pathlib\n"
        "from predictions.ml.artifacts import load_artifact, sha256_hex\n"
        f"data = pathlib.Path({str(path)!r}).read_bytes()\n"
        "loaded = load_artifact(data, expected_sha256=sha256_hex(data))\n"
        "assert loaded.algorithm == 'logistic'\n"
        "print('torch' in sys.modules)\n"
        "import sklearn.externals.array_api_compat.torch\n"  # the shim is importable again
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["False", "True"]
