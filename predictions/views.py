"""HTML pages of the registry: every version with its metrics, promote and roll back."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.web import HtmxHttpRequest, staff_required
from predictions import selectors
from predictions.charts import calibration_points
from predictions.models import ModelVersion
from predictions.services import RegistryError, model_version_promote, model_version_rollback


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
