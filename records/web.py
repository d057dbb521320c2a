"""HTML pages: the records dashboard (filters, charts, paging), record detail, similar cases, outcomes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import numpy as np
from django.http import Http404, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_POST

from predictions import selectors as model_selectors
from predictions.web import driver_bars, similar_rows
from records.charts import daily_volume, score_histogram
from records.selectors import InvalidCursor, RecordFilters, record_get, record_list, record_list_similar, record_page
from records.serializers import RecordListParamsSerializer
from records.services import record_set_outcome
from riskengine.web import HtmxHttpRequest, label_colour, staff_required

PAGE_SIZE = 25
K_CHOICES = (5, 10, 20)


def _known_labels() -> list[str]:
    labels: list[str] = []
    for version in model_selectors.model_version_list():
        for band in version.label_bands or []:
            if band["label"] not in labels:
                labels.append(band["label"])
    return labels or ["low", "medium", "high"]


def _query_without(query: QueryDict, *keys: str) -> str:
    copy = query.copy()
    for key in keys:
        copy.pop(key, None)
    return urlencode([(k, v) for k, values in copy.lists() for v in values if v != ""])


def _dashboard_context(request: HtmxHttpRequest) -> dict[str, Any]:
    query = request.GET
    raw: dict[str, Any] = {k: query.get(k) for k in query if k != "risk_label" and query.get(k) != ""}
    labels = [label for label in query.getlist("risk_label") if label]
    if labels:
        raw["risk_label"] = labels
    # dates from <input type="date"> are plain dates: from the start of created_after's day to the end of
    # created_before's day
    for key, suffix in (("created_after", "T00:00:00Z"), ("created_before", "T23:59:59.999999Z")):
        if key in raw and len(raw[key]) == 10:
            raw[key] = raw[key] + suffix
    raw.setdefault("page_size", PAGE_SIZE)
    params = RecordListParamsSerializer(data=raw)
    errors: dict[str, str] = {}
    filters = RecordFilters()
    data: dict[str, Any] = {"ordering": "-timestamp", "page_size": PAGE_SIZE}
    if params.is_valid():
        filters = params.to_filters()
        data = params.validated_data
    else:
        errors = {key: " ".join(str(e) for e in value) if isinstance(value, list) else str(value)
                  for key, value in params.errors.items()}  # fmt: skip
    queryset = record_list(user=request.user, filters=filters)
    try:
        page = record_page(
            queryset=queryset, ordering=data["ordering"], page_size=data["page_size"], cursor=data.get("cursor")
        )
    except InvalidCursor:
        errors["cursor"] = "That page link has expired; showing the first page."
        page = record_page(queryset=queryset, ordering=data["ordering"], page_size=data["page_size"])
    all_labels = _known_labels()
    colours = [(label, label_colour(label)) for label in all_labels]
    base_query = _query_without(query, "cursor")

    def link(cursor: str | None) -> str | None:
        return f"?{base_query}&cursor={cursor}" if cursor else None

    ordering = data["ordering"]
    sort_links = {}
    for field_name in ("timestamp", "risk_score"):
        descending = f"-{field_name}"
        target = field_name if ordering == descending else descending
        sort_links[field_name] = {
            "url": "?" + urlencode([*_pairs(query, "ordering", "cursor"), ("ordering", target)]),
            "active": ordering.lstrip("-") == field_name,
            "descending": ordering.startswith("-"),
        }
    return {
        "records": [
            {"record": r, "colour": label_colour(r.risk_label), "score_percent": round(100 * r.risk_score, 1)}
            for r in page.records
        ],
        "next_url": link(page.next_cursor),
        "previous_url": link(page.previous_cursor),
        "filters": {
            "model": query.get("model", ""),
            "risk_label": labels,
            "score_min": query.get("score_min", ""),
            "score_max": query.get("score_max", ""),
            "created_after": query.get("created_after", ""),
            "created_before": query.get("created_before", ""),
            "ordering": ordering,
        },
        "errors": errors,
        "models": sorted({v.name for v in model_selectors.model_version_list()}),
        "labels": colours,
        "histogram": score_histogram(queryset),
        "volume": daily_volume(
            queryset, colours, end=filters.created_before.date() if filters.created_before else None
        ),
        "sort": sort_links,
    }


def _pairs(query: QueryDict, *skip: str) -> list[tuple[str, str]]:
    return [(k, v) for k, values in query.lists() if k not in skip for v in values if v != ""]


@staff_required
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    context = _dashboard_context(request)
    return render(request, "records/dashboard.html#results" if request.htmx else "records/dashboard.html", context)


def _record_or_404(request: HtmxHttpRequest, pk: str) -> Any:
    record = record_get(user=request.user, record_id=pk)
    if record is None:
        raise Http404("No such record")
    return record


def _similar_context(request: HtmxHttpRequest, record: Any, k: int) -> dict[str, Any]:
    neighbours = []
    if record.embedding is not None:
        neighbours = record_list_similar(
            user=request.user,
            vector=np.asarray(record.embedding),
            model_version_id=record.model_version_id,
            k=k,
            exclude_id=record.pk,
        )
    return {"record": record, "k": k, "k_choices": K_CHOICES, "similar": similar_rows(neighbours, None)}


def _detail_context(request: HtmxHttpRequest, record: Any) -> dict[str, Any]:
    bands = record.model_version.label_bands
    return {
        "record": record,
        "colour": label_colour(record.risk_label, bands),
        "score_percent": round(100 * record.risk_score, 1),
        "features": sorted(record.features_json.items()),
        "drivers": driver_bars(record.drivers),
        **_similar_context(request, record, K_CHOICES[0]),
    }


@staff_required
def record_detail(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    """The record's page; for htmx, the content of the detail modal."""
    context = _detail_context(request, _record_or_404(request, pk))
    return render(request, "records/detail.html#detail" if request.htmx else "records/detail.html", context)


@staff_required
def record_similar(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    record = _record_or_404(request, pk)
    try:
        k = int(request.GET.get("k", K_CHOICES[0]))
    except ValueError:
        k = K_CHOICES[0]
    k = min(max(k, 1), 100)
    context = _similar_context(request, record, k)
    if request.htmx:
        return render(request, "records/detail.html#similar", context)
    return render(request, "records/detail.html", {**_detail_context(request, record), **context})


@staff_required
@require_POST
def record_outcome(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    record = _record_or_404(request, pk)
    value = request.POST.get("outcome")
    if value not in ("true", "false"):
        return HttpResponseBadRequest("outcome must be true or false")
    record = record_set_outcome(record=record, outcome=value == "true", user=request.user)
    context = _detail_context(request, record)
    return render(request, "records/detail.html#detail" if request.htmx else "records/detail.html", context)
