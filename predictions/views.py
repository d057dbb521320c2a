"""HTML pages of the registry: every version with its metrics; each name links to its release page."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from core.web import HtmxHttpRequest, staff_required
from predictions import selectors
from predictions.charts import calibration_points


def _versions_context(request: HtmxHttpRequest) -> dict[str, object]:
    groups: dict[str, list[dict[str, object]]] = {}
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
