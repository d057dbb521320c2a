"""Import pages: upload a CSV for background backfill, watch its progress, download its rejects."""

from __future__ import annotations

import gzip
import io
import shutil
from typing import Any

from django import forms
from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from accounts.services import user_or_none
from predictions import selectors as model_selectors
from records.models import ImportJob
from records.tasks import run_import
from riskengine.web import HtmxHttpRequest, staff_required


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or CSV.gz with a header row; columns named like the model's features.")
    model = forms.ChoiceField(choices=[])
    timestamp_column = forms.CharField(required=False, help_text="Optional: ISO 8601 column for the record time.")
    outcome_column = forms.CharField(required=False, help_text="Optional: column with what really happened.")
    outcome_positive = forms.CharField(required=False, help_text="The outcome value meaning it happened.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = sorted({v.name for v in model_selectors.model_version_list_production()})
        model_field = self.fields["model"]
        assert isinstance(model_field, forms.ChoiceField)
        model_field.choices = [(name, name) for name in names]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {settings.IMPORT_MAX_BYTES // 1_000_000} MB.")
        if not upload.name.lower().endswith((".csv", ".csv.gz", ".gz")):
            raise forms.ValidationError("Upload a .csv or .csv.gz file.")
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("outcome_column")) != bool(data.get("outcome_positive")):
            raise forms.ValidationError("Give both the outcome column and its positive value, or neither.")
        return data


def _compressed(upload: Any) -> bytes:
    """The upload, gzip-compressed (as it came, if it already is)."""
    head = upload.read(2)
    upload.seek(0)
    if head == b"\x1f\x8b":
        return bytes(upload.read())
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as archive:
        shutil.copyfileobj(upload, archive, length=1 << 20)
    return out.getvalue()


@staff_required
def import_page(request: HtmxHttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = ImportJob.objects.create(
            created_by=user_or_none(request.user),
            filename=data["file"].name[:255],
            data=_compressed(data["file"]),
            options={k: data[k] for k in ("model", "timestamp_column", "outcome_column", "outcome_positive")},
        )
        run_import.enqueue(str(job.pk))
        return redirect("import-detail", pk=job.pk)
    jobs = ImportJob.objects.defer("data", "rejects")[:20]
    return render(request, "records/import.html", {"form": form, "jobs": jobs})


@staff_required
def import_detail(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    job = ImportJob.objects.defer("data", "rejects").filter(pk=pk).first()
    if job is None:
        raise Http404("No such import")
    context = {"job": job, "running": job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)}
    return render(
        request, "records/import_detail.html#progress" if request.htmx else "records/import_detail.html", context
    )


@staff_required
def import_rejects(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    job = ImportJob.objects.filter(pk=pk).only("rejects", "filename").first()
    if job is None or not job.rejects:
        raise Http404("No rejects for this import")
    response = HttpResponse(gzip.decompress(bytes(job.rejects)), content_type="text/csv; charset=utf-8")
    stem = job.filename.removesuffix(".gz").removesuffix(".csv")
    response["Content-Disposition"] = f'attachment; filename="{stem}.rejects.csv"'
    return response
