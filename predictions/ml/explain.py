"""Fast, exact scoring and explanations compiled from a fitted pipeline.

Both explainers take the encoded matrix of :func:`predictions.ml.features.encode` (N rows x M
features) and return, in one vectorised call, the model's log-odds, the base log-odds and the
per-feature contributions, with ``base + contributions.sum(axis=1) == log_odds`` exactly.

* Logistic regression: exact interventional SHAP values against the whole training set as the
  background. The model is linear in its transformed columns, so a feature's value is
  ``sum(coef[c] * (t(x)[c] - mean_train(t)[c]))`` over the columns ``c`` it produces (one-hot
  columns summed back into their feature).
* Histogram gradient boosting: exact interventional Tree SHAP (Lundberg et al., 2020) against a
  fixed background sample of training rows, walking sklearn's own trees, categorical splits
  included. numba compiles the walk.

Each explainer checks itself against the pipeline's own ``decision_function`` when built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from core.errors import InternalError
from predictions.ml.features import MISSING_CATEGORY, FeatureSpec


class ExplainerMismatch(InternalError, RuntimeError):
    """The compiled model disagrees with the pipeline it was compiled from."""

    code = "explainer_mismatch"


@dataclass
class Explanation:
    log_odds: np.ndarray  # (N,)
    base_log_odds: float
    contributions: np.ndarray  # (N, M)

    @property
    def probability(self) -> np.ndarray:
        probability: np.ndarray = 1.0 / (1.0 + np.exp(-self.log_odds))
        return probability


class Explainer(Protocol):
    def explain(self, encoded: np.ndarray) -> Explanation: ...


# --- logistic ---------------------------------------------------------------------------------


class LinearExplainer:
    """Exact SHAP of any model whose log-odds are ``coef . t(x) + intercept`` over the pipeline's
    transformed columns (the algorithm gives the two: logistic regression, a calibrated linear SVM)."""

    def __init__(
        self,
        pipeline: Pipeline,
        schema: list[FeatureSpec],
        background_mean: np.ndarray,
        *,
        coef: np.ndarray,
        intercept: float,
    ) -> None:
        prep = pipeline.named_steps["prep"]
        coef = np.asarray(coef, dtype=np.float64)
        self.schema = schema
        self.numeric: list[tuple[int, float, float, float, float]] = []  # j, fill, mean, scale, coef
        self.categorical: list[tuple[int, np.ndarray]] = []  # j, table[code] (last entry: missing)
        self.n_columns = len(coef)
        # per-column layout, for the tabular embedding: (j, column, fill, centre, scale, coef) and
        # (j, code -> column or -1 (last slot: missing), column coefs, column training means)
        self.numeric_columns: list[tuple[int, int, float, float, float, float]] = []
        self.category_columns: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, int]] = []
        self.column_feature = np.empty(len(coef), dtype=np.int64)  # transformed column -> feature
        base = intercept
        for j, spec in enumerate(schema):
            name = f"f{j}"
            cols = prep.output_indices_[name]
            self.column_feature[cols] = j
            step = prep.named_transformers_[name]
            if spec.type == "category":
                base += self._add_category(j, spec, step, cols, coef, background_mean)
            else:
                base += self._add_numeric(j, step, cols.start, coef, background_mean)
        self.base = base
        self.coef = coef

    def _add_category(
        self, j: int, spec: FeatureSpec, step: Pipeline, cols: slice, coef: np.ndarray, background_mean: np.ndarray
    ) -> float:
        """Lay out one one-hot feature; returns its expected contribution (moved into the base)."""
        categories = list(step.named_steps["onehot"].categories_[0])
        table = np.zeros(len(spec.choices) + 1)
        code_to_column = np.full(len(spec.choices) + 1, -1, dtype=np.int64)
        for offset, category in enumerate(categories):
            slot = len(spec.choices) if category == MISSING_CATEGORY else spec.choices.index(category)
            table[slot] = coef[cols.start + offset]
            code_to_column[slot] = offset
        expected = float(coef[cols] @ background_mean[cols])
        self.categorical.append((j, table - expected))
        self.category_columns.append((j, code_to_column, coef[cols].copy(), background_mean[cols].copy(), cols.start))
        return expected

    def _add_numeric(self, j: int, step: Pipeline, col: int, coef: np.ndarray, background_mean: np.ndarray) -> float:
        """Lay out one imputed, standardised feature; returns its expected contribution."""
        fill = float(step.named_steps["impute"].statistics_[0])
        mean = float(step.named_steps["scale"].mean_[0])
        scale = float(step.named_steps["scale"].scale_[0])
        c = float(coef[col])
        shift = float(background_mean[col])  # mean of the scaled training column: 0 up to rounding, kept exact
        self.numeric.append((j, fill, mean - shift * scale, scale, c))
        self.numeric_columns.append((j, col, fill, mean - shift * scale, scale, c))
        return c * shift

    def column_contributions(self, encoded: np.ndarray) -> np.ndarray:
        """Per transformed column: coef * (t(x) - training mean). Rows sum to the feature contributions."""
        encoded = np.atleast_2d(encoded)
        out = np.zeros((encoded.shape[0], self.n_columns))
        for j, col, fill, centre, scale, c in self.numeric_columns:
            column = encoded[:, j]
            out[:, col] = c * (np.where(np.isnan(column), fill, column) - centre) / scale
        rows = np.arange(encoded.shape[0])
        for j, code_to_column, coefs, means, start in self.category_columns:
            out[:, start : start + len(coefs)] = -coefs * means
            column = encoded[:, j]
            codes = np.where(np.isnan(column), len(code_to_column) - 1, column).astype(np.int64)
            hit = code_to_column[codes]
            present = hit >= 0
            out[rows[present], start + hit[present]] += coefs[hit[present]]
        return out

    def explain(self, encoded: np.ndarray) -> Explanation:
        encoded = np.atleast_2d(encoded)
        contributions = np.empty(encoded.shape, dtype=np.float64)
        for j, fill, centre, scale, c in self.numeric:
            column = encoded[:, j]
            filled = np.where(np.isnan(column), fill, column)
            contributions[:, j] = c * (filled - centre) / scale
        for j, table in self.categorical:
            column = encoded[:, j]
            codes = np.where(np.isnan(column), len(table) - 1, column).astype(np.int64)
            contributions[:, j] = table[codes]
        return Explanation(
            log_odds=self.base + contributions.sum(axis=1), base_log_odds=self.base, contributions=contributions
        )


# --- histogram gradient boosting ---------------------------------------------------------------


def _shapley_weights(max_depth: int) -> np.ndarray:
    """w[a, b] = a! b! / (a + b + 1)!: the weight of one player given a others on its side, b on the other."""
    size = max_depth + 2
    weights = np.zeros((size, size))
    for a in range(size):
        for b in range(size):
            weights[a, b] = math.factorial(a) * math.factorial(b) / math.factorial(a + b + 1)
    return weights


def _go_left(
    value: float,
    node: int,
    feat_is_cat: np.ndarray,
    thr: np.ndarray,
    mgl: np.ndarray,
    bidx: np.ndarray,
    raw_bits: np.ndarray,
    known_bits: np.ndarray,
    fmap: np.ndarray,
    feature: int,
) -> bool:
    if math.isnan(value):
        return bool(mgl[node])
    if feat_is_cat[node]:
        if value < 0:
            return bool(mgl[node])
        code = int(value)
        if code < 256 and (raw_bits[bidx[node], code >> 5] >> (code & 31)) & 1:
            return True
        if code < 256 and (known_bits[fmap[feature], code >> 5] >> (code & 31)) & 1:
            return False
        return bool(mgl[node])
    return bool(value <= thr[node])


def _tree_shap_one_tree(
    root: int,
    x: np.ndarray,
    n_background: int,
    zdir: np.ndarray,
    arrays: tuple[np.ndarray, ...],
    weights: np.ndarray,
    max_depth: int,
    phi: np.ndarray,
) -> None:
    """Interventional Tree SHAP of one row ``x`` for one tree, against every background row at once.

    Background rows that share a path state travel together as a group, so the tree is walked once
    per state rather than once per background row. The walk is an explicit depth-first stack
    (numba caches it, unlike recursion). ``zdir[node, b]``: background row ``b`` goes left at ``node``.
    A frame's path records, for each feature where ``x`` and the background disagreed, which of the
    two it followed (1: x's side, 2: the background's side).
    """
    feat, thr, mgl, left, right, is_leaf, value, is_cat, bidx, raw_bits, known_bits, fmap = arrays
    max_frames = 2 * (max_depth + 3)
    # One row per stack frame: node, start and size of its group in ``buffer``, nx, nz, path length.
    frames = np.empty((max_frames, 6), dtype=np.int64)
    path_f = np.empty((max_frames, max_depth + 2), dtype=np.int64)
    path_s = np.empty((max_frames, max_depth + 2), dtype=np.int8)
    buffer = np.empty(n_background * (max_frames + 1), dtype=np.int64)
    for b in range(n_background):
        buffer[b] = b
    _push(frames, path_f, path_s, 0, 0, root, 0, n_background, 0, 0, 0, -1, 0)
    sp = 1
    while sp > 0:
        sp -= 1
        node, start, size, nx, nz, plen = frames[sp]
        top = start + size  # everything above belongs to finished frames
        if is_leaf[node]:
            if nx == 0 and nz == 0:
                continue
            v = value[node] * size
            for k in range(plen):
                f = path_f[sp, k]
                if path_s[sp, k] == 1:
                    phi[f] += v * weights[nx - 1, nz]
                else:
                    phi[f] -= v * weights[nx, nz - 1]
            continue
        f = feat[node]
        gx = _go_left(x[f], node, is_cat, thr, mgl, bidx, raw_bits, known_bits, fmap, f)
        side = 0
        for k in range(plen):
            if path_f[sp, k] == f:
                side = path_s[sp, k]
                break
        same = left[node] if gx else right[node]
        other = right[node] if gx else left[node]
        parent = sp
        # children are pushed into slots above the parent, each copying the parent's path first
        if side == 1:
            # x's value decides for everyone
            _push(frames, path_f, path_s, sp, parent, same, start, size, nx, nz, plen, -1, 0)
            sp += 1
            continue
        # partition the group: rows going x's way first, then the others
        a_start = top
        for i in range(start, start + size):
            b = buffer[i]
            if zdir[node, b] == gx:
                buffer[top] = b
                top += 1
        n_agree = top - a_start
        d_start = top
        for i in range(start, start + size):
            b = buffer[i]
            if zdir[node, b] != gx:
                buffer[top] = b
                top += 1
        n_disagree = top - d_start
        # segments pushed later lie higher in the buffer, so a popped frame may reuse all above its own
        if n_agree:
            _push(frames, path_f, path_s, sp, parent, same, a_start, n_agree, nx, nz, plen, -1, 0)
            sp += 1
        if n_disagree and side == 2:
            # each background row follows its own value; the path state is unchanged
            _push(frames, path_f, path_s, sp, parent, other, d_start, n_disagree, nx, nz, plen, -1, 0)
            sp += 1
        elif n_disagree:
            # a new disagreement: the background's side, then x's side
            _push(frames, path_f, path_s, sp, parent, other, d_start, n_disagree, nx, nz + 1, plen, f, 2)
            sp += 1
            _push(frames, path_f, path_s, sp, parent, same, d_start, n_disagree, nx + 1, nz, plen, f, 1)
            sp += 1


def _push(
    frames: np.ndarray,
    path_f: np.ndarray,
    path_s: np.ndarray,
    slot: int,
    parent: int,
    node: int,
    start: int,
    size: int,
    nx: int,
    nz: int,
    plen: int,
    f: int,
    side: int,
) -> None:
    if slot != parent:
        for k in range(plen):
            path_f[slot, k] = path_f[parent, k]
            path_s[slot, k] = path_s[parent, k]
    frames[slot, 0] = node
    frames[slot, 1] = start
    frames[slot, 2] = size
    frames[slot, 3] = nx
    frames[slot, 4] = nz
    if f >= 0:
        path_f[slot, plen] = f
        path_s[slot, plen] = side
        plen += 1
    frames[slot, 5] = plen


def _tree_shap(
    X: np.ndarray,
    n_background: int,
    zdir: np.ndarray,
    roots: np.ndarray,
    arrays: tuple[np.ndarray, ...],
    weights: np.ndarray,
    max_depth: int,
    out: np.ndarray,
) -> None:
    n_rows, n_features = X.shape
    for i in range(n_rows):
        phi = np.zeros(n_features)
        for t in range(roots.shape[0]):
            _tree_shap_one_tree(roots[t], X[i], n_background, zdir, arrays, weights, max_depth, phi)
        out[i, :] = phi / n_background


def _background_directions(Z: np.ndarray, arrays: tuple[np.ndarray, ...], out: np.ndarray) -> None:
    feat, thr, mgl, _left, _right, is_leaf, _value, is_cat, bidx, raw_bits, known_bits, fmap = arrays
    for node in range(feat.shape[0]):
        if is_leaf[node]:
            continue
        f = feat[node]
        for b in range(Z.shape[0]):
            out[node, b] = _go_left(Z[b, f], node, is_cat, thr, mgl, bidx, raw_bits, known_bits, fmap, f)


def _predict_raw(X: np.ndarray, roots: np.ndarray, arrays: tuple[np.ndarray, ...], out: np.ndarray) -> None:
    feat, thr, mgl, left, right, is_leaf, value, is_cat, bidx, raw_bits, known_bits, fmap = arrays
    for i in range(X.shape[0]):
        total = 0.0
        for t in range(roots.shape[0]):
            node = roots[t]
            while not is_leaf[node]:
                f = feat[node]
                go = _go_left(X[i, f], node, is_cat, thr, mgl, bidx, raw_bits, known_bits, fmap, f)
                node = left[node] if go else right[node]
            total += value[node]
        out[i] = total


try:  # numba is a runtime requirement; without it the same functions run (slowly) in pure Python
    import numba

    _go_left = numba.njit(cache=True)(_go_left)
    _push = numba.njit(cache=True)(_push)
    _tree_shap_one_tree = numba.njit(cache=True)(_tree_shap_one_tree)
    _tree_shap = numba.njit(cache=True)(_tree_shap)
    _background_directions = numba.njit(cache=True)(_background_directions)
    _predict_raw = numba.njit(cache=True)(_predict_raw)
except ImportError:  # pragma: no cover
    pass


def _flatten_forest(model: HistGradientBoostingClassifier) -> tuple[tuple[np.ndarray, ...], np.ndarray, int]:
    """The fitted HGB's trees as one node table (children and bitsets offset), their roots and depth."""
    nodes_list, bits_list, roots = [], [], []
    node_offset = bits_offset = max_depth = 0
    for iteration in model._predictors:
        predictor = iteration[0]
        nodes = predictor.nodes.copy()
        inner = ~nodes["is_leaf"].astype(bool)
        nodes["left"][inner] += node_offset
        nodes["right"][inner] += node_offset
        nodes["bitset_idx"][inner & nodes["is_categorical"].astype(bool)] += bits_offset
        roots.append(node_offset)
        nodes_list.append(nodes)
        bits = np.asarray(predictor.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8)
        bits_list.append(bits)
        node_offset += len(nodes)
        bits_offset += len(bits)
        max_depth = max(max_depth, int(nodes["depth"].max()))
    nodes = np.concatenate(nodes_list)
    raw_bits = np.concatenate(bits_list) if bits_offset else np.zeros((1, 8), dtype=np.uint32)
    known_bits, fmap = model._bin_mapper.make_known_categories_bitsets()
    known_bits = np.asarray(known_bits, dtype=np.uint32).reshape(-1, 8)
    if known_bits.shape[0] == 0:
        known_bits = np.zeros((1, 8), dtype=np.uint32)
    arrays = (
        nodes["feature_idx"].astype(np.int64),
        nodes["num_threshold"].astype(np.float64),
        nodes["missing_go_to_left"].astype(np.uint8),
        nodes["left"].astype(np.int64),
        nodes["right"].astype(np.int64),
        nodes["is_leaf"].astype(np.uint8),
        nodes["value"].astype(np.float64),
        nodes["is_categorical"].astype(np.uint8),
        nodes["bitset_idx"].astype(np.int64),
        raw_bits,
        known_bits,
        np.asarray(fmap, dtype=np.int64),
    )
    return arrays, np.asarray(roots, dtype=np.int64), max_depth


class TreeExplainer:
    def __init__(self, pipeline: Pipeline, schema: list[FeatureSpec], background: np.ndarray) -> None:
        model = pipeline.named_steps["model"]
        self.schema = schema
        self.arrays, self.roots, self.max_depth = _flatten_forest(model)
        self._init_remap(model, len(schema))
        self.weights = _shapley_weights(self.max_depth + 1)
        self.baseline = float(np.ravel(model._baseline_prediction)[0])
        self.background_encoded = np.asarray(background, dtype=np.float64)
        self.background = self._to_model_space(background)
        self.base = self.baseline + float(self._raw(self.background).mean())
        self.zdir = np.zeros((len(self.arrays[0]), len(self.background)), dtype=np.bool_)
        _background_directions(self.background, self.arrays, self.zdir)

    def _init_remap(self, model: HistGradientBoostingClassifier, n_features: int) -> None:
        """sklearn's HGB re-encodes categorical columns itself and moves them to the front."""
        self.perm = np.arange(n_features)
        self.remap: list[tuple[int, np.ndarray]] = []
        pre = getattr(model, "_preprocessor", None)
        if pre is None:
            return
        is_cat = np.asarray(model.is_categorical_, dtype=bool)
        self.perm = np.concatenate([np.flatnonzero(is_cat), np.flatnonzero(~is_cat)])
        encoder = pre.named_transformers_["encoder"]
        for new_col, seen in enumerate(encoder.categories_):
            seen = np.asarray(seen, dtype=np.float64)
            seen = seen[~np.isnan(seen)]
            size = int(seen.max()) + 1 if len(seen) else 0
            table = np.full(size + 1, np.nan)  # last slot: codes beyond what training saw
            for internal, code in enumerate(seen):
                table[int(code)] = internal
            self.remap.append((new_col, table))

    def _to_model_space(self, encoded: np.ndarray) -> np.ndarray:
        moved = np.array(np.atleast_2d(encoded)[:, self.perm], dtype=np.float64, order="C")
        for col, table in self.remap:
            column = moved[:, col]
            present = ~np.isnan(column)
            codes = np.minimum(column[present].astype(np.int64), len(table) - 1)
            column[present] = table[codes]
        return moved

    def _raw(self, model_space: np.ndarray) -> np.ndarray:
        out = np.empty(model_space.shape[0])
        _predict_raw(model_space, self.roots, self.arrays, out)
        return out

    def explain(self, encoded: np.ndarray) -> Explanation:
        model_space = self._to_model_space(encoded)
        shap_values = np.empty(model_space.shape, dtype=np.float64)
        _tree_shap(
            model_space,
            len(self.background),
            self.zdir,
            self.roots,
            self.arrays,
            self.weights,
            self.max_depth,
            shap_values,
        )
        contributions = np.empty_like(shap_values)
        contributions[:, self.perm] = shap_values
        log_odds = self.baseline + self._raw(model_space)
        return Explanation(log_odds=log_odds, base_log_odds=self.base, contributions=contributions)
