"""Record writes: scored predictions stored atomically, outcomes, and import jobs."""

from __future__ import annotations

import gzip
import io
import shutil
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey
from core.principal import Principal, user_or_none
from predictions.selectors import LoadedModel
from records.models import ImportJob, Record
from records.tasks import run_import


def record_create_many(
    *,
    model: LoadedModel,
    rows: Sequence[dict[str, Any]],
    predictions: Sequence[Any],
    embeddings: np.ndarray | None,
    request_id: str = "",
    created_by: Principal | None = None,
    api_key: ApiKey | None = None,
) -> list[Record]:
    """One bulk INSERT, in one transaction: either every record exists afterwards or none does."""
    now = timezone.now()
    owner = user_or_none(created_by)
    records = [
        Record(
            timestamp=now,
            model_version_id=model.pk,
            model_id=model.model_id,
            features_json=row,
            embedding=None if embeddings is None else embeddings[i],
            risk_score=prediction.risk_score,
            risk_label=prediction.risk_label,
            base_log_odds=prediction.base_log_odds,
            drivers=prediction.drivers,
            request_id=request_id,
            created_by=owner,
            api_key=api_key,
        )
        for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True))
    ]
    with transaction.atomic():
        return Record.objects.bulk_create(records)


def record_set_outcome(
    *, record: Record, outcome: bool, observed_at: datetime | None = None, user: Principal | None = None
) -> Record:
    """Record what really happened. Repeating the same outcome changes nothing (idempotent); a
    different outcome corrects the earlier one. The user who set it is kept."""
    if record.outcome == outcome and (observed_at is None or observed_at == record.outcome_observed_at):
        return record
    record.outcome = outcome
    record.outcome_observed_at = observed_at or timezone.now()
    record.outcome_set_by = user_or_none(user)
    record.save(update_fields=["outcome", "outcome_observed_at", "outcome_set_by"])
    return record


def _compressed(upload: Any) -> bytes:
    """The upload, gzip-compressed (as it came, if it already is: its expanded size is checked as
    the job reads it, once)."""
    head = upload.read(2)
    upload.seek(0)
    if head == b"\x1f\x8b":
        return bytes(upload.read())
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as archive:
        shutil.copyfileobj(upload, archive, length=1 << 20)
    return out.getvalue()


def import_job_create(*, upload: Any, options: dict[str, Any], user: Principal | None) -> ImportJob:
    """Store the upload (compressed) and queue its import."""
    job = ImportJob.objects.create(
        created_by=user_or_none(user),
        filename=upload.name[:255],
        data=_compressed(upload),
        options=options,
    )
    run_import.enqueue(str(job.pk))
    return job
