"""HTML pages: the predict form (built from the model's schema), the records dashboard (filters,
charts, paging), record detail, similar cases, outcomes, and CSV imports."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError
from core.logging import request_id_var
from core.types import FeatureRow, FeatureValue
from core.web import HtmxHttpRequest, query_without, staff_required
from predictions import selectors as model_selectors
from predictions.inference import FeatureValidationError
from predictions.ml.decisions import DECISIONS, LabelBand
from predictions.ml.features import (
    FeatureSpec,
    Schema,
    coerce_text_features,
    validate_features,
    validate_protected,
)
from predictions.ml.scoring import DEFAULT_LABEL_BANDS, Driver
from records.charts import daily_volume, score_histogram
from records.forms import ImportForm
from records.models import ImportJob, Record
from records.prediction import prediction_create_one
from records.selectors import (
    InvalidCursor,
    Neighbour,
    RecordFilters,
    record_get,
    record_list,
    record_list_similar,
    record_page,
)
from records.serializers import LIST_PARAMETERS, RecordListParamsSerializer
from records.services import record_set_outcome
from records.tasks import import_job_create, import_jobs_reap

LABEL_COLOURS = ["emerald", "amber", "rose", "fuchsia", "violet"]
PAGE_SIZE = 25
K_CHOICES = (5, 10, 20)


def label_colour(label: str, bands: Sequence[LabelBand] | None = None) -> str:
    """The Tailwind colour family for a risk label, by its band's position from low to high."""
    names = [band["label"] for band in (bands or DEFAULT_LABEL_BANDS)]
    if label not in names:
        return "slate"
    palettes = {1: ["slate"], 2: ["emerald", "rose"], 3: ["emerald", "amber", "rose"]}
    palette = palettes.get(len(names), LABEL_COLOURS)
    return palette[min(names.index(label), len(palette) - 1)]


def _known_labels() -> list[str]:
    labels: list[str] = []
    for version in model_selectors.model_version_list():
        for band in version.label_bands or []:
            if band["label"] not in labels:
                labels.append(band["label"])
    return labels or [band["label"] for band in DEFAULT_LABEL_BANDS]


@dataclass(frozen=True)
class Paging:
    ordering: str = "-timestamp"
    page_size: int = PAGE_SIZE
    cursor: str | None = None


def _filter_params(query: QueryDict) -> tuple[RecordFilters, Paging, dict[str, str]]:
    """The dashboard's filters from its query string: (filters, paging, errors by parameter)."""
    raw: dict[str, str | int | list[str]] = {
        k: value for k in query if k not in LIST_PARAMETERS and (value := query.get(k, "")) != ""
    }
    for key in LIST_PARAMETERS:
        values = [value for value in query.getlist(key) if value]
        if values:
            raw[key] = values
    # dates from <input type="date"> are plain dates: from the start of created_after's day to the end of
    # created_before's day
    for key, suffix in (("created_after", "T00:00:00Z"), ("created_before", "T23:59:59.999999Z")):
        day = raw.get(key)
        if isinstance(day, str) and len(day) == 10:
            raw[key] = day + suffix
    raw.setdefault("page_size", PAGE_SIZE)
    params = RecordListParamsSerializer(data=raw)
    if params.is_valid():
        data = params.validated_data
        return params.to_filters(), Paging(data["ordering"], data["page_size"], data.get("cursor")), {}
    errors = {key: " ".join(str(e) for e in value) if isinstance(value, list) else str(value)
              for key, value in params.errors.items()}  # fmt: skip
    return RecordFilters(), Paging(), errors


def _sort_links(query: QueryDict, ordering: str) -> dict[str, dict[str, object]]:
    links = {}
    for field_name in ("timestamp", "risk_score"):
        descending = f"-{field_name}"
        target = field_name if ordering == descending else descending
        links[field_name] = {
            "url": "?" + urlencode([*_pairs(query, "ordering", "cursor"), ("ordering", target)]),
            "active": ordering.lstrip("-") == field_name,
            "descending": ordering.startswith("-"),
        }
    return links


def _dashboard_context(request: HtmxHttpRequest) -> dict[str, object]:
    query = request.GET
    filters, paging, errors = _filter_params(query)
    queryset = record_list(user=request.user, filters=filters)
    try:
        page = record_page(
            queryset=queryset, ordering=paging.ordering, page_size=paging.page_size, cursor=paging.cursor
        )
    except InvalidCursor:
        errors["cursor"] = "That page link has expired; showing the first page."
        page = record_page(queryset=queryset, ordering=paging.ordering, page_size=paging.page_size)
    colours = [(label, label_colour(label)) for label in _known_labels()]
    base_query = query_without(query, "cursor")

    def link(cursor: str | None) -> str | None:
        return f"?{base_query}&cursor={cursor}" if cursor else None

    shown = (
        "model", "score_min", "score_max", "created_after", "created_before",
        "segment_feature", "segment_value", "find",
    )  # fmt: skip
    return {
        "records": [
            {"record": r, "colour": label_colour(r.risk_label), "score_percent": round(100 * r.risk_score, 1)}
            for r in page.records
        ],
        "next_url": link(page.next_cursor),
        "previous_url": link(page.previous_cursor),
        "filters": {
            **{key: query.get(key, "") for key in shown},
            "ordering": paging.ordering,
            "risk_label": [label for label in query.getlist("risk_label") if label],
            "decision": [decision for decision in query.getlist("decision") if decision],
        },
        "decisions": DECISIONS,
        "errors": errors,
        "models": sorted({v.name for v in model_selectors.model_version_list()}),
        "labels": colours,
        "histogram": score_histogram(queryset),
        "volume": daily_volume(
            queryset, colours, end=filters.created_before.date() if filters.created_before else None
        ),
        "sort": _sort_links(query, paging.ordering),
    }


def _pairs(query: QueryDict, *skip: str) -> list[tuple[str, str]]:
    return [(k, v) for k, values in query.lists() if k not in skip for v in values if v != ""]


@staff_required
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    context = _dashboard_context(request)
    return render(request, "records/dashboard.html#results" if request.htmx else "records/dashboard.html", context)


def _record_or_404(request: HtmxHttpRequest, pk: str) -> Record:
    record = record_get(user=request.user, record_id=pk)
    if record is None:
        raise Http404("No such record")
    return record


def _similar_context(request: HtmxHttpRequest, record: Record, k: int) -> dict[str, object]:
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


def shown_value(value: object) -> str:
    """A stored value as a person reads it: booleans as yes or no, nothing as a dash."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value is None else str(value)


def _detail_context(request: HtmxHttpRequest, record: Record) -> dict[str, object]:
    bands = record.model_version.label_bands
    return {
        "record": record,
        "colour": label_colour(record.risk_label, bands),
        "score_percent": round(100 * record.risk_score, 1),
        "features": sorted(record.features_json.items()),
        "protected": sorted((name, shown_value(value)) for name, value in (record.protected or {}).items()),
        "drivers": driver_bars(record.drivers),
        **_similar_context(request, record, K_CHOICES[0]),
    }


@staff_required
def record_detail(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    """The record's page; for htmx, the content of the detail modal."""
    context = _detail_context(request, _record_or_404(request, pk))
    return render(request, "records/detail.html#detail" if request.htmx else "records/detail.html", context)


@staff_required
def record_notice(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    """A printable statement of a refer or decline's principal reasons, for the applicant."""
    record = _record_or_404(request, pk)
    values = record.features_json
    reasons = [
        {**reason, "values": [(name.replace("_", " "), shown_value(values.get(name))) for name in reason["features"]]}
        for reason in record.reasons
    ]
    return render(request, "records/notice.html", {"record": record, "reasons": reasons})


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


# --- the predict page ---------------------------------------------------------------------

MAX_DRIVER_BARS = 12


def _field(spec: FeatureSpec, value: FeatureValue, error: str | None) -> dict[str, object]:
    field: dict[str, object] = {
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
    model: model_selectors.LoadedModel | None, values: Mapping[str, FeatureValue], errors: dict[str, str]
) -> dict[str, object]:
    fields, protected = [], []
    if model is not None:
        fields = [_field(spec, values.get(spec.name), errors.get(spec.name)) for spec in model.schema]
        protected = [_field(spec, values.get(spec.name), errors.get(spec.name)) for spec in model.protected]
    return {"fields": fields, "protected_fields": protected, "errors": errors}


def _typed(schema: Schema, values: Mapping[str, FeatureValue]) -> tuple[FeatureRow, dict[str, str]]:
    """Form text as typed values (blanks left out), and the fields that are not even the right type."""
    typed, errors = coerce_text_features(schema, values)
    return {key: value for key, value in typed.items() if value is not None and key not in errors}, errors


def driver_bars(drivers: Sequence[Driver]) -> dict[str, object]:
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


def similar_rows(neighbours: Sequence[Neighbour], bands: Sequence[LabelBand] | None) -> list[dict[str, object]]:
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


def _predict_post(
    request: HtmxHttpRequest, route: model_selectors.LoadedRoute, context: dict[str, object]
) -> tuple[dict[str, str], dict[str, str]]:
    """Score the posted form (features and protected attributes) and put the result in ``context``;
    returns the form's values and its errors (every problem at once: text that is not a number,
    and what the schemas themselves refuse). The values are validated once: by the predict path, or
    here only when some text was not even of its field's type (then nothing is scored)."""
    model = route.champion
    subject_id = request.POST.get("subject_id", "").strip()[:128] or None  # the application reference
    context["subject_id"] = subject_id or ""
    values = {spec.name: request.POST.get(spec.name, "") for spec in (*model.schema, *model.protected)}
    typed, errors = _typed(model.schema, values)
    protected, protected_errors = _typed(model.protected, values)
    if errors or protected_errors:
        return values, {
            **validate_features(model.schema, typed).errors,
            **errors,
            **validate_protected(model.protected, protected).errors,
            **protected_errors,
        }
    dry_run = request.POST.get("dry_run") == "1"  # "Try without saving"
    try:
        record = prediction_create_one(
            model=route, features=typed, protected=protected, subject_id=subject_id, store=not dry_run,
            request_id=request_id_var.get(), created_by=request.user,
        )  # fmt: skip
    except FeatureValidationError as exc:
        return values, {**exc.errors, **exc.protected}
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
        "dry_run": dry_run,
        "score_percent": round(100 * record.risk_score, 1),
        "colour": label_colour(record.risk_label, bands),
        "bands": [
            {"label": b["label"], "left": 100 * b["min"], "colour": label_colour(b["label"], bands)} for b in bands
        ],
        "drivers": driver_bars(record.drivers),
        "similar": similar_rows(neighbours, bands),
    }
    return values, {}


@staff_required
@require_http_methods(["GET", "POST"])
def predict_page(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the page (or, for htmx, the form of the chosen model). POST: score, store, show the result."""
    production = list(model_selectors.model_version_list_production())
    names = [v.name for v in production]
    source = request.POST if request.method == "POST" else request.GET
    name = source.get("model") or (names[0] if names else None)
    route = model_selectors.loaded_route_get(name=name) if name in names else None
    model = route.champion if route is not None else None
    context: dict[str, object] = {"models": production, "selected": name, "model": model, "result": None}
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    if request.method == "POST" and route is not None:
        values, errors = _predict_post(request, route, context)
    context.update(_form_context(model, values, errors))
    return render(
        request, "predictions/predict.html#workspace" if request.htmx else "predictions/predict.html", context
    )


# --- CSV imports -------------------------------------------------------------------------------


def _download_name(filename: str) -> str:
    """``<stem>.rejects.csv`` from the upload's name, with anything but safe characters replaced."""
    stem = filename.removesuffix(".gz").removesuffix(".csv")
    safe = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" .") or "import"
    return f"{safe[:100]}.rejects.csv"


_OPTIONS = ("model", "timestamp_column", "outcome_column", "outcome_positive", "outcome_negative", "id_column")


@staff_required
def import_page(request: HtmxHttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = import_job_create(upload=data["file"], options={k: data[k] for k in _OPTIONS}, user=request.user)
        except ApplicationError as exc:  # the day's row cap
            form.add_error("file", exc.message)
            status = exc.status
        else:
            return redirect("import-detail", pk=job.pk)
    import_jobs_reap()
    jobs = ImportJob.objects.defer("data", "rejects")[:20]
    return render(request, "records/import.html", {"form": form, "jobs": jobs}, status=status)


@staff_required
def import_detail(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    import_jobs_reap()
    job = ImportJob.objects.defer("data", "rejects").filter(pk=pk).first()
    if job is None:
        raise Http404("No such import")
    context = {
        "job": job,
        "running": job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
        "rejects_days": settings.IMPORT_REJECTS_DAYS,
    }
    return render(
        request, "records/import_detail.html#progress" if request.htmx else "records/import_detail.html", context
    )


@staff_required
def import_rejects(request: HtmxHttpRequest, pk: str) -> FileResponse:
    job = ImportJob.objects.filter(pk=pk).only("rejects", "filename").first()
    if job is None or not job.rejects:
        raise Http404("No rejects for this import")
    # Streamed as it decompresses (the rejects of a large file can be large).
    stream = gzip.GzipFile(fileobj=io.BytesIO(bytes(job.rejects)), mode="rb")
    response = FileResponse(stream, content_type="text/csv; charset=utf-8")
    disposition = content_disposition_header(as_attachment=True, filename=_download_name(job.filename))
    response["Content-Disposition"] = disposition or "attachment"
    return response
