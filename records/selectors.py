"""Record reads: filtered lists, keyset (cursor) pages, detail and nearest neighbours."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.core import signing
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils.dateparse import parse_datetime
from pgvector.django import CosineDistance

from core.errors import ApplicationError
from core.principal import Principal
from records.models import Record

ORDERINGS = {"-timestamp": ("timestamp", True), "timestamp": ("timestamp", False),
             "-risk_score": ("risk_score", True), "risk_score": ("risk_score", False)}  # fmt: skip
DEFAULT_ORDERING = "-timestamp"
MAX_PAGE_SIZE = 200
MAX_K = 100


class InvalidCursor(ApplicationError, ValueError):
    """A cursor this service did not issue (or for another ordering): a 400 naming it."""

    code = "invalid"

    def __init__(self, reason: str) -> None:
        super().__init__("The request has invalid fields.", fields={"cursor": "Invalid cursor."})
        self.reason = reason


@dataclass
class RecordFilters:
    model: str | None = None
    model_id: str | None = None
    risk_labels: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    score_min: float | None = None
    score_max: float | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    has_outcome: bool | None = None
    outcome: bool | None = None
    segment: tuple[str, str] | None = None  # (feature, value): records whose feature has that value (as text)
    subject_id: str | None = None  # the client's own application or applicant reference
    find: str | None = None  # a record id, a request id or a subject id


def record_visible_to(*, user: Principal) -> QuerySet[Record]:
    """Staff see every record; any other client only the records it created."""
    queryset = Record.objects.all()
    if not getattr(user, "is_staff", False):
        queryset = queryset.filter(created_by_id=getattr(user, "pk", None))
    return queryset


def _label_score_envelope(labels: list[str], model: str | None) -> tuple[float, float] | None:
    """The score range the labels can have under any version's bands (labels are bands of the score)."""
    from predictions.models import ModelVersion

    versions = ModelVersion.objects.only("label_bands")
    if model:
        versions = versions.filter(name=model)
    low, high = 1.0, 0.0
    for version in versions:
        bands = sorted(version.label_bands or [], key=lambda band: band["min"])
        for i, band in enumerate(bands):
            if band["label"] in labels:
                low = min(low, float(band["min"]))
                high = max(high, float(bands[i + 1]["min"]) if i + 1 < len(bands) else 1.0)
    return (low, high) if low <= high else None


def _apply_filters(queryset: QuerySet[Record], filters: RecordFilters) -> QuerySet[Record]:
    if filters.model_id:
        queryset = queryset.filter(model_id=filters.model_id)
    if filters.model:
        queryset = queryset.filter(model_version__name=filters.model)
    if filters.risk_labels:
        queryset = queryset.filter(risk_label__in=filters.risk_labels)
    if filters.decisions:
        queryset = queryset.filter(decision__in=filters.decisions)
    score_min, score_max = filters.score_min, filters.score_max
    if filters.risk_labels and (score_min is not None or score_max is not None):
        # A label filter bounds the score too. Saying so lets PostgreSQL answer a contradictory
        # filter (label "high", score 0.1-0.3) at once instead of scanning every "high" record.
        envelope = _label_score_envelope(filters.risk_labels, filters.model)
        if envelope is None:
            return queryset.none()
        score_min = max(score_min if score_min is not None else 0.0, envelope[0])
        score_max = min(score_max if score_max is not None else 1.0, envelope[1])
        if score_min > score_max:
            return queryset.none()
    if score_min is not None:
        queryset = queryset.filter(risk_score__gte=score_min)
    if score_max is not None:
        queryset = queryset.filter(risk_score__lte=score_max)
    if filters.created_after is not None:
        queryset = queryset.filter(timestamp__gte=filters.created_after)
    if filters.created_before is not None:
        queryset = queryset.filter(timestamp__lt=filters.created_before)
    if filters.has_outcome is not None:
        queryset = queryset.filter(outcome__isnull=not filters.has_outcome)
    if filters.outcome is not None:
        queryset = queryset.filter(outcome=filters.outcome)
    if filters.segment is not None:
        feature, value = filters.segment
        queryset = queryset.alias(segment_value=KeyTextTransform(feature, "features_json")).filter(segment_value=value)
    return _apply_find(queryset, filters)


def _apply_find(queryset: QuerySet[Record], filters: RecordFilters) -> QuerySet[Record]:
    if filters.subject_id:
        queryset = queryset.filter(subject_id=filters.subject_id)
    if filters.find:
        text = filters.find.strip()
        match = Q(request_id=text) | Q(subject_id=text)
        with contextlib.suppress(ValueError):
            match |= Q(pk=uuid.UUID(text))
        queryset = queryset.filter(match)
    return queryset


def record_list(*, user: Principal, filters: RecordFilters) -> QuerySet[Record]:
    return _apply_filters(record_visible_to(user=user), filters)


def record_get(*, user: Principal, record_id: object) -> Record | None:
    try:
        pk = uuid.UUID(str(record_id))
    except ValueError:
        return None
    # From the primary: a client may read the record its prediction has just written.
    queryset = record_visible_to(user=user).using(DEFAULT_DB_ALIAS)
    return queryset.select_related("created_by", "outcome_set_by").filter(pk=pk).first()


# --- keyset pagination -----------------------------------------------------------------------


# What a list shows of a record (RecordSummarySerializer), read in the list's one query.
SUMMARY_COLUMNS = ("id", "timestamp", "model_id", "subject_id", "risk_score", "risk_label", "decision", "outcome")
CursorValue = datetime | float  # the ordering column's value of a page's edge

# Cursors are signed with the secret key: a forged or altered one is a 400, never a query.
_CURSOR_SIGNER = signing.Signer(salt="records.cursor")


def encode_cursor(*, ordering: str, value: CursorValue, pk: uuid.UUID, backwards: bool) -> str:
    raw = {"o": ordering, "v": value.isoformat() if isinstance(value, datetime) else value, "id": str(pk),
           "b": backwards}  # fmt: skip
    return _CURSOR_SIGNER.sign_object(raw)


def decode_cursor(cursor: str, *, ordering: str) -> tuple[CursorValue, uuid.UUID, bool]:
    try:
        raw = _CURSOR_SIGNER.unsign_object(cursor)
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise InvalidCursor("the cursor is not one this service issued") from exc
    if not isinstance(raw, dict) or raw.get("o") != ordering:
        raise InvalidCursor("the cursor belongs to another ordering")
    field_name, _ = ORDERINGS[ordering]
    stored = raw.get("v")
    value: CursorValue | None = None
    try:
        if field_name == "timestamp":
            value = parse_datetime(stored) if isinstance(stored, str) else None
        elif isinstance(stored, int | float) and not isinstance(stored, bool):
            value = stored
        if value is None or not isinstance(raw.get("id"), str):
            raise InvalidCursor("bad cursor value")
        return value, uuid.UUID(raw["id"]), bool(raw.get("b"))
    except ValueError as exc:
        raise InvalidCursor(str(exc)) from None


@dataclass
class Page:
    records: list[Record]
    next_cursor: str | None
    previous_cursor: str | None


def record_page(*, queryset: QuerySet[Record], ordering: str, page_size: int, cursor: str | None = None) -> Page:
    """A page of ``page_size`` records after (or before) the cursor, ordered by (field, id).

    The (field, id) key is unique, so pages never overlap or skip, even while records arrive.
    """
    field_name, descending = ORDERINGS[ordering]
    backwards = False
    if cursor:
        value, pk, backwards = decode_cursor(cursor, ordering=ordering)
        forward_after = descending != backwards  # moving towards smaller keys?
        if forward_after:
            queryset = queryset.filter(Q(**{f"{field_name}__lt": value}) | Q(**{field_name: value, "id__lt": pk}))
        else:
            queryset = queryset.filter(Q(**{f"{field_name}__gt": value}) | Q(**{field_name: value, "id__gt": pk}))
    scan_descending = descending != backwards
    order = [f"-{field_name}", "-id"] if scan_descending else [field_name, "id"]
    rows = list(queryset.order_by(*order).only(
        *SUMMARY_COLUMNS)[: page_size + 1])  # fmt: skip
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    next_cursor = previous_cursor = None
    if rows:
        first, last = rows[0], rows[-1]
        has_next = more if not backwards else True
        has_previous = (cursor is not None) if not backwards else more
        if has_next:
            next_cursor = encode_cursor(ordering=ordering, value=getattr(last, field_name), pk=last.pk, backwards=False)
        if has_previous:
            previous_cursor = encode_cursor(
                ordering=ordering, value=getattr(first, field_name), pk=first.pk, backwards=True
            )
    return Page(records=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)


# --- nearest neighbours ------------------------------------------------------------------------


@dataclass
class Neighbour:
    record: Record
    distance: float


def record_list_similar(
    *,
    user: Principal,
    vector: np.ndarray | list[float],
    model_version_id: int | None,
    k: int,
    filters: RecordFilters | None = None,
    exclude_id: uuid.UUID | None = None,
    ef_search: int = 100,
) -> list[Neighbour]:
    """The ``k`` records nearest to ``vector`` by cosine distance, through the HNSW index.

    ``hnsw.ef_search`` is set per query; pgvector's iterative index scan keeps going when filters
    (model version, owner, the list filters) remove candidates, so filtered searches still fill k.
    """
    queryset = record_visible_to(user=user)
    if model_version_id is not None:
        queryset = queryset.filter(model_version_id=model_version_id)
    if filters is not None:
        queryset = _apply_filters(queryset, filters)
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    query_vector = np.asarray(vector, dtype=np.float32)
    queryset = (
        queryset.exclude(embedding=None)
        .annotate(distance=CosineDistance("embedding", query_vector))
        .only(*SUMMARY_COLUMNS)
        .order_by("distance")[:k]
    )
    alias = queryset.db  # the read replica when one is configured (core.db.router)
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(max(ef_search, k))}")
        cursor.execute("SET LOCAL hnsw.iterative_scan = 'relaxed_order'")
        rows = list(queryset.using(alias))
    rows.sort(key=lambda r: r.distance)  # relaxed order: re-sort the k found
    return [Neighbour(record=r, distance=float(r.distance)) for r in rows]
