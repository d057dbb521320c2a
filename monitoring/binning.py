"""The reference profile's bin rules as SQL over the record store (alias ``r``; the same rules as
``predictions.ml.reference``, which the tests hold them to): one array of bins per record, the
features in profile order, then the score, then the label."""

from __future__ import annotations

from monitoring.sql import SqlParams
from predictions.ml.reference import ProfileFeature, ReferenceProfile


def _feature_sql(j: int, feature: ProfileFeature, params: SqlParams) -> str:
    # Each CASE tests one expression once: a JSON lookup costs more than the comparisons.
    params[f"n{j}"] = feature["name"]
    value = f"r.features_json -> %(n{j})s"
    kind = f"coalesce(jsonb_typeof({value}), 'null')"  # a missing key and a JSON null alike
    if feature["type"] == "category":
        size = len(feature["choices"])
        params[f"c{j}"] = list(feature["choices"])
        return (
            f"CASE {kind} WHEN 'null' THEN {size + 1} WHEN 'string' "
            f"THEN coalesce(array_position(%(c{j})s::text[], r.features_json ->> %(n{j})s) - 1, {size}) "
            f"ELSE {size} END"
        )
    if feature["type"] == "boolean":
        return f"CASE coalesce({value}, 'null') WHEN 'null' THEN 3 WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE 2 END"
    edges = feature["edges"]
    n_bins = max(len(edges) - 1, 1)
    present = "0"
    if len(edges) > 2:
        params[f"e{j}"] = [float(edge) for edge in edges[1:-1]]
        present = f"width_bucket((r.features_json ->> %(n{j})s)::float8, %(e{j})s::float8[])"
    return f"CASE {kind} WHEN 'number' THEN {present} ELSE {n_bins} END"


def bins_sql(profile: ReferenceProfile, params: SqlParams) -> str:
    """``ARRAY[...]::smallint[]``: a record's bin for every profile feature, the score and the label
    (NULL for a label outside the profile's bands). Adds its parameters to ``params``."""
    parts = [_feature_sql(j, feature, params) for j, feature in enumerate(profile["features"])]
    score_edges = profile["score"]["edges"]
    if len(score_edges) > 2:
        params["score_edges"] = [float(edge) for edge in score_edges[1:-1]]
        parts.append("width_bucket(r.risk_score, %(score_edges)s::float8[])")
    else:
        parts.append("0")
    params["labels"] = list(profile["label"]["labels"])
    parts.append("array_position(%(labels)s::text[], r.risk_label::text) - 1")
    return "ARRAY[" + ", ".join(parts) + "]::smallint[]"
