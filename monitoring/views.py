"""Monitoring pages: every production model's status, one model's drift and performance, webhooks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_http_methods, require_POST

from accounts.concurrency import heavy_page
from accounts.roles import RISK_MANAGER, user_has_role
from core.errors import ApplicationError
from core.web import HtmxHttpRequest, query_without, staff_required
from monitoring import charts
from monitoring.forms import DEFAULT_DAYS, WINDOW_CHOICES, WebhookForm, WindowForm
from monitoring.models import Alert, Delivery, Webhook, WebhookChange
from monitoring.selectors.alerts import alert_list
from monitoring.selectors.drift import (
    Segment,
    attribution_report,
    drift_by_day,
    drift_report,
    segment_check,
    segment_values,
)
from monitoring.selectors.outcomes import fairness_report, performance_report
from monitoring.selectors.overview import monitored_version_get, monitoring_overview
from monitoring.services import alerts as alert_services
from monitoring.services.alerts import alert_acknowledge, alert_resolve, webhook_create
from predictions.selectors import ModelNotFound

STATUS_COLOUR = {"stable": "emerald", "warning": "amber", "critical": "rose", "too_few": "slate"}
FAIRNESS_COLOUR = {"ok": "emerald", "warning": "amber", "too_few": "slate"}


def _alerts(model_name: str | None = None) -> list[Alert]:
    return list(alert_list(status="unresolved", model_name=model_name)[:50])


@staff_required
@heavy_page
def overview(request: HtmxHttpRequest) -> HttpResponse:
    end = timezone.now().date() + timedelta(days=1)
    models = monitoring_overview(start=end - timedelta(days=7), end=end)
    context = {
        "models": [{"m": m, "colour": STATUS_COLOUR[m.status], "label": m.status.replace("_", " ")} for m in models],
        "alerts": _alerts(),
        "start": end - timedelta(days=7),
        "end": end - timedelta(days=1),
    }
    return render(request, "monitoring/overview.html#alerts" if request.htmx else "monitoring/overview.html", context)


def records_link(model_name: str, start: date, end: date, segment: Segment | None) -> str:
    """The records dashboard filtered to a window [start, end) (and a segment)."""
    query = {
        "model": model_name,
        "created_after": start.isoformat(),
        "created_before": (end - timedelta(days=1)).isoformat(),
    }
    if segment:
        query.update(segment_feature=segment.feature, segment_value=segment.value)
    return f"{reverse('dashboard')}?{urlencode(query)}"


def _cell(version: Any, form: WindowForm, segment: Any, drift: Any) -> dict[str, object]:
    """The heatmap cell picked (feature index, day), or else the window's worst feature."""
    start, end = form.window()
    data = getattr(form, "cleaned_data", {})
    day, index = data.get("day"), data.get("feature")
    if day is not None and start <= day < end and index is not None and index < len(drift.features) + 2:
        one = drift_report(model_version=version, start=day, end=day + timedelta(days=1), segment=segment)
        picked = [*one.features, one.score, one.label][index]
        window = (day, day + timedelta(days=1))
    else:
        picked = max(drift.features, key=lambda c: c.psi)
        window = (start, end)
    return {
        "chart": charts.paired_histogram(picked),
        "start": window[0],
        "end": window[1] - timedelta(days=1),
        "records_url": records_link(version.name, window[0], window[1], segment),
    }


def _heat_cells(cells: list[charts.Cell], url: str, query: str) -> str:
    """The heatmap's cells as SVG (built here: a template loop over thousands of cells is slow)."""
    rows = []
    for c in cells:
        href = f"{url}?{query}&feature={c.feature}&day={c.day.isoformat()}"
        rows.append((href, href, f"{c.x:.1f}", f"{c.y:.1f}", f"{c.size:.1f}", f"{c.size:.1f}", c.fill, c.title))
    return format_html_join(
        "",
        '<a href="{}" hx-get="{}" hx-target="#cell" hx-swap="outerHTML" class="heat-cell">'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="1" class="{}"><title>{}</title></rect></a>',
        rows,
    )


def _model_context(version: Any, form: WindowForm, segment: Any, query: str) -> dict[str, object]:
    start, end = form.window()
    drift = drift_report(model_version=version, start=start, end=end, segment=segment)
    heatmap = charts.heatmap(drift_by_day(model_version=version, start=start, end=end, segment=segment))
    attribution = attribution_report(model_version=version, start=start, end=end)
    performance = performance_report(
        model_version=version, start=end - timedelta(days=90), end=end, step=7, segment=segment
    )
    fairness = fairness_report(model_version=version, start=start, end=end)
    return {
        "version": version,
        "form": form,
        "fairness": fairness,
        "fairness_charts": [
            {"attribute": a, "chart": charts.fairness_bars(a), "colour": FAIRNESS_COLOUR[a.status]}
            for a in fairness.attributes
        ],
        "days": getattr(form, "cleaned_data", {}).get("days", DEFAULT_DAYS),
        "query": query,
        "start": start,
        "last_day": end - timedelta(days=1),
        "segment": segment,
        "drift": drift,
        "colour": STATUS_COLOUR[drift.status],
        "status_label": drift.status.replace("_", " "),
        "heatmap": heatmap,
        "heat_cells": _heat_cells(heatmap.cells, reverse("monitoring-model", args=[version.name]), query),
        "score_chart": charts.paired_histogram(drift.score),  # type: ignore[arg-type]  # always set
        "attribution": charts.attribution_bars(attribution),
        "sentence": charts.attribution_sentence(attribution),
        "performance": performance,
        "auc_chart": charts.series_chart(performance.series, "auc", low=0.4, high=1.0),
        "ece_chart": charts.series_chart(performance.series, "ece", low=0.0, high=0.3),
        "coverage": charts.coverage_bars(performance.series),
        "reliability": charts.reliability_diagram(performance.overall),
        "segments": segment_values(model_version=version, start=start, end=end),
        "windows": WINDOW_CHOICES,
        "alerts": _alerts(version.name),
        "records_url": records_link(version.name, start, end, segment),
        "cell": _cell(version, form, segment, drift),
    }


@staff_required
@heavy_page
def model_page(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """One model's monitoring; the pickers swap #content, a heatmap cell swaps #cell (one URL)."""
    try:
        version = monitored_version_get(name=name)
    except ModelNotFound as exc:
        raise Http404(str(exc)) from exc
    form = WindowForm(request.GET)
    form.is_valid()
    segment, segment_error = getattr(form, "cleaned_data", {}).get("segment"), None
    if segment is not None:
        try:
            segment_check(model_version=version, segment=segment)
        except ApplicationError as exc:  # say so, and show everything else unsegmented
            segment, segment_error = None, exc.message
    if request.htmx and request.htmx.target == "cell":
        start, end = form.window()
        drift = drift_report(model_version=version, start=start, end=end, segment=segment)
        return render(request, "monitoring/model.html#cell", {"cell": _cell(version, form, segment, drift)})
    context = _model_context(version, form, segment, query_without(request.GET, "feature", "day"))
    context["segment_error"] = segment_error
    return render(request, "monitoring/model.html#content" if request.htmx else "monitoring/model.html", context)


@require_POST
@staff_required
def alert_action(request: HtmxHttpRequest, pk: int, action: str) -> HttpResponse:
    alert = alert_list().filter(pk=pk).first()
    if alert is None:
        raise Http404("No such alert")
    try:
        if action == "acknowledge":
            alert_acknowledge(alert=alert, user=request.user)
        else:
            alert_resolve(alert=alert, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    if request.htmx:
        return render(request, "monitoring/overview.html#alerts", {"alerts": _alerts()})
    return redirect("monitoring")


def _risk_manager_only(request: HtmxHttpRequest) -> None:
    if not user_has_role(user=request.user, role=RISK_MANAGER):
        raise PermissionDenied("Webhooks are managed by risk managers.")


@require_http_methods(["GET", "POST"])
@staff_required
def webhooks(request: HtmxHttpRequest) -> HttpResponse:
    """The webhooks, their audit trail and delivery log; a new webhook's secret is shown in the
    answer to its creation and never again."""
    _risk_manager_only(request)
    form = WebhookForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = webhook_create(url=form.cleaned_data["url"], user=request.user)
        except ApplicationError as exc:
            form.add_error("url", exc.message)
        else:
            form = WebhookForm()
    context = {
        "form": form,
        "created": created,
        "webhooks": list(Webhook.objects.order_by("-created_at")),
        "changes": list(WebhookChange.objects.order_by("-at")[:30]),
        "deliveries": list(Delivery.objects.select_related("webhook", "alert").order_by("-created_at")[:30]),
    }
    return render(request, "monitoring/webhooks.html", context, status=400 if form.errors else 200)


@require_POST
@staff_required
def webhook_toggle(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _risk_manager_only(request)
    try:
        alert_services.webhook_toggle(webhook_id=pk, user=request.user)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    return redirect("monitoring-webhooks")


@require_POST
@staff_required
def webhook_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _risk_manager_only(request)
    try:
        alert_services.webhook_delete(webhook_id=pk, user=request.user)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, "Webhook deleted; its queued deliveries will not be sent.")
    return redirect("monitoring-webhooks")
