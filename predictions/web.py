"""HTML pages: the predict form (built from the model's schema) and the model registry."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib import messages
from django.http import HttpResponse, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from predictions import selectors
from predictions.inference import FeatureValidationError
from predictions.models import ModelVersion
from predictions.services import RegistryError, model_version_promote, model_version_rollback
from records.charts import calibration_points
from riskengine.web import HtmxHttpRequest, label_colour, staff_required

MAX_DRIVER_BARS = 12


def _field(spec: Any, value: Any, error: str | None) -> dict[str, Any]:
    field: dict[str, Any] = {
        "name": spec.name,
        "label": spec.name.replace("_", " ").capitalize(),
        "type": spec.type,
        "required": spec.required,
        "help": spec.description,
        "value": "" if value is None else value,
        "error": error,
    }
    if spec.type in ("number", "integer"):
        field["min"] = _number(spec.min)
        field["max"] = _number(spec.max)
        field["step"] = "1" if spec.type == "integer" else "any"
    elif spec.type == "category":
        field["choices"] = list(spec.choices)
    return field


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _form_context(
    model: selectors.LoadedModel | None, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    fields = []
    if model is not None:
        fields = [_field(spec, values.get(spec.name), errors.get(spec.name)) for spec in model.schema]
    return {"fields": fields, "errors": errors}


def driver_bars(drivers: list[dict[str, Any]]) -> dict[str, Any]:
    """Horizontal bars: risk-raising (positive log-odds) and risk-lowering contributions, sorted."""
    shown = drivers[:MAX_DRIVER_BARS]
    rest = drivers[MAX_DRIVER_BARS:]
    top = max((abs(d["contribution"]) for d in shown), default=0) or 1.0
    bars = [
        {
            "feature": d["feature"].replace("_", " "),
            "value": "—" if d["value"] is None else d["value"],
            "contribution": d["contribution"],
            "percent": round(50 * abs(d["contribution"]) / top, 2),
            "raises": d["contribution"] > 0,
        }
        for d in shown
    ]
    return {"bars": bars, "rest": len(rest), "rest_total": sum(d["contribution"] for d in rest)}


def similar_rows(neighbours: list[Any], bands: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {
            "id": n.record.pk,
            "score": n.record.risk_score,
            "label": n.record.risk_label,
            "colour": label_colour(n.record.risk_label, bands),
            "outcome": n.record.outcome,
            "timestamp": n.record.timestamp,
            "similarity": 1 - n.distance,
        }
        for n in neighbours
    ]


@staff_required
@require_http_methods(["GET", "POST"])
def predict_page(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the page (or, for htmx, the form of the chosen model). POST: score, store, show the result."""
    from predictions.ml.features import coerce_text_features, validate_features
    from records.selectors import record_list_similar
    from records.services import records_predict

    production = list(selectors.model_version_list_production())
    names = [v.name for v in production]
    source = request.POST if request.method == "POST" else request.GET
    name = source.get("model") or (names[0] if names else None)
    model = selectors.loaded_model_get(name=name) if name in names else None
    context: dict[str, Any] = {"models": production, "selected": name, "model": model, "result": None}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST" and model is not None:
        values = {spec.name: request.POST.get(spec.name, "") for spec in model.schema}
        typed, errors = coerce_text_features(model.schema, values)
        typed = {key: value for key, value in typed.items() if value is not None and key not in errors}
        # every problem at once: text that is not a number, and what the schema itself refuses
        errors = {**validate_features(model.schema, typed).errors, **errors}
        if not errors:
            try:
                [scored] = records_predict(
                    model=model,
                    items=[typed],
                    request_id=getattr(request, "request_id", ""),
                    created_by=request.user,
                )
            except FeatureValidationError as exc:
                errors = exc.item_errors.get(0, exc.errors)
            else:
                record = scored.record
                bands = model.scorer.label_bands
                neighbours = record_list_similar(
                    user=request.user,
                    vector=np.asarray(record.embedding),
                    model_version_id=record.model_version_id,
                    k=5,
                    exclude_id=record.pk,
                )
                context["result"] = {
                    "record": record,
                    "score_percent": round(100 * record.risk_score, 1),
                    "colour": label_colour(record.risk_label, bands),
                    "bands": [
                        {"label": b["label"], "left": 100 * b["min"], "colour": label_colour(b["label"], bands)}
                        for b in bands
                    ],
                    "drivers": driver_bars(record.drivers),
                    "similar": similar_rows(neighbours, bands),
                }
    context.update(_form_context(model, values, errors))
    return render(
        request, "predictions/predict.html#workspace" if request.htmx else "predictions/predict.html", context
    )


def _versions_context(request: HtmxHttpRequest) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for version in selectors.model_version_list():
        metrics = version.metrics or {}
        groups.setdefault(version.name, []).append(
            {
                "version": version,
                "metrics": metrics,
                "calibration": calibration_points(metrics.get("calibration") or []),
            }
        )
    return {"groups": groups, "is_admin": request.user.is_superuser}


@staff_required
def models_page(request: HtmxHttpRequest) -> HttpResponse:
    context = _versions_context(request)
    return render(request, "predictions/models.html#versions" if request.htmx else "predictions/models.html", context)


def _admin_only(request: HtmxHttpRequest) -> HttpResponse | None:
    if not request.user.is_superuser:
        return HttpResponseForbidden("Only administrators can change the registry.")
    return None


@staff_required
@require_POST
def model_promote(request: HtmxHttpRequest, pk: int) -> HttpResponseBase:
    if (denied := _admin_only(request)) is not None:
        return denied
    version = get_object_or_404(ModelVersion, pk=pk)
    promoted = model_version_promote(model_version=version, user=request.user)
    messages.success(request, f"Promoted {promoted.model_id} to production.")
    return models_page(request) if request.htmx else redirect("models")


@staff_required
@require_POST
def model_rollback(request: HtmxHttpRequest, name: str) -> HttpResponseBase:
    if (denied := _admin_only(request)) is not None:
        return denied
    try:
        version = model_version_rollback(name=name, user=request.user)
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rolled back {name} to {version.model_id}.")
    return models_page(request) if request.htmx else redirect("models")
