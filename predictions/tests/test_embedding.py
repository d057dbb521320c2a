import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from core.types import FeatureRow
from predictions import embedding_runtime as embedder_module
from predictions.ml.embedding import format_value, load_embedder, render_text
from predictions.ml.features import FeatureSpec

SCHEMA = [
    FeatureSpec(name="amount", type="number"),
    FeatureSpec(name="months", type="integer"),
    FeatureSpec(name="purpose", type="category", choices=("car", "tv")),
    FeatureSpec(name="owner", type="boolean"),
]


def test_the_text_is_canonical_values_in_schema_order():
    row: FeatureRow = {"owner": True, "purpose": "car", "months": 12, "amount": 1500.0}
    assert render_text(SCHEMA, row) == "1500; 12; car; yes"
    assert render_text(SCHEMA, {**row, "amount": 0.1 + 0.2, "owner": None}) == "0.3; 12; car; ?"
    assert [format_value(v) for v in (1e-7, 123456789.5, False)] == ["1e-07", "1.23457e+08", "no"]


def test_vectors_are_384d_unit_length_and_deterministic(embedder):
    texts = ["1500; 12; car; yes", "1500; 12; car; yes", "99000; 60; tv; no"]
    vectors = embedder.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[1])
    assert np.array_equal(embedder.encode(texts[:1])[0], vectors[0])  # batch size does not change a vector


@pytest.mark.slow  # loads the torch model beside the ONNX one
def test_the_onnx_int8_model_agrees_with_sentence_transformers(embedder, settings):
    from pathlib import Path

    reference = load_embedder(backend="torch", model_path=None, cache_dir=Path(settings.EMBEDDING_CACHE_DIR), threads=1)
    texts = [
        "... < 0 DM; 6; critical account/ other credits existing (not at this bank); radio/television; 1169",
        "0 <= ... < 200 DM; 48; existing credits paid back duly till now; radio/television; 5951",
    ]
    cosine = (embedder.encode(texts) * reference.encode(texts)).sum(axis=1)
    assert cosine.min() > 0.97


def test_a_missing_model_is_a_clear_start_up_error(settings, monkeypatch, tmp_path):
    monkeypatch.setattr(embedder_module, "_embedder", None)
    settings.EMBEDDING_MODEL = str(tmp_path / "nowhere")
    with pytest.raises(ImproperlyConfigured, match=r"Embedding model could not be loaded: .*missing config\.json"):
        embedder_module.embedder_get()


def test_onnx_runtime_threads_spin_only_while_a_run_lasts_unless_spin_is_off(embedder, settings):
    from pathlib import Path

    def config(embedder, key: str) -> str:
        return embedder._get_session().get_session_options().get_session_config_entry(key)

    assert settings.EMBEDDING_SPIN is True
    assert config(embedder, "session.intra_op.allow_spinning") == "1"
    assert config(embedder, "session.force_spinning_stop") == "1"
    quiet = load_embedder(
        backend="onnx", model_path=None, cache_dir=Path(settings.EMBEDDING_CACHE_DIR), threads=2, spin=False
    )
    assert config(quiet, "session.intra_op.allow_spinning") == "0"
    np.testing.assert_array_equal(quiet.encode(["1500; 12; car; yes"]), embedder.encode(["1500; 12; car; yes"]))


def test_the_graph_without_mask_ops_gives_bit_identical_vectors(embedder):
    import onnx
    import onnxruntime as ort

    from predictions.ml.embedding import _mean_pool_normalise, served_graph, without_mask_ops

    exported = embedder.onnx_path.read_bytes()
    assert served_graph(embedder.onnx_path).read_bytes() == without_mask_ops(exported)  # written once, beside it
    served = onnx.load_from_string(without_mask_ops(exported))
    assert not {node.op_type for node in served.graph.node} & {"Where", "IsNaN"}
    assert [item.name for item in served.graph.input] == ["input_ids", "token_type_ids"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    full = ort.InferenceSession(exported, options, providers=["CPUExecutionProvider"])
    texts = ["1500; 12; car; yes", "x " * 400]  # the second is cut to the longest input, 256 tokens
    for text, vector in zip(texts, embedder.encode(texts), strict=True):
        encoding = embedder.tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        mask = np.array([encoding.attention_mask], dtype=np.int64)
        hidden = full.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        np.testing.assert_array_equal(vector, _mean_pool_normalise(hidden, mask)[0])
