"""Import pages: upload a CSV for background backfill, watch its progress, download its rejects."""

from __future__ import annotations

import gzip
import io
import re
import shutil
from typing import Any

from django import forms
from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header

from accounts.services import user_or_none
from predictions import selectors as model_selectors
from records.models import ImportJob
from records.tasks import import_jobs_reap, run_import
from riskengine.web import HtmxHttpRequest, staff_required


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or CSV.gz with a header row; columns named like the model's features.")
    model = forms.ChoiceField(choices=[])
    timestamp_column = forms.CharField(required=False, help_text="Optional: ISO 8601 column for the record time.")
    outcome_column = forms.CharField(required=False, help_text="Optional: column with what really happened.")
    outcome_positive = forms.CharField(required=False, help_text="The outcome value meaning it happened.")
    outcome_negative = forms.CharField(required=False, help_text="The outcome value meaning it did not.")
    id_column = forms.CharField(required=False, help_text="Optional: a column with each row's own unique key.")

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
        outcome = [data.get(k) for k in ("outcome_column", "outcome_positive", "outcome_negative")]
        if any(outcome) and not all(outcome):
            raise forms.ValidationError(
                "Give the outcome column with both its values (positive and negative), or none."
            )
        if all(outcome) and data["outcome_positive"].strip().casefold() == data["outcome_negative"].strip().casefold():
            raise forms.ValidationError("The positive and negative outcome values must differ.")
        return data


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


def _download_name(filename: str) -> str:
    """``<stem>.rejects.csv`` from the upload's name, with anything but safe characters replaced."""
    stem = filename.removesuffix(".gz").removesuffix(".csv")
    safe = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" .") or "import"
    return f"{safe[:100]}.rejects.csv"


_OPTIONS = ("model", "timestamp_column", "outcome_column", "outcome_positive", "outcome_negative", "id_column")


@staff_required
def import_page(request: HtmxHttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = ImportJob.objects.create(
            created_by=user_or_none(request.user),
            filename=data["file"].name[:255],
            data=_compressed(data["file"]),
            options={k: data[k] for k in _OPTIONS},
        )
        run_import.enqueue(str(job.pk))
        return redirect("import-detail", pk=job.pk)
    import_jobs_reap()
    jobs = ImportJob.objects.defer("data", "rejects")[:20]
    return render(request, "records/import.html", {"form": form, "jobs": jobs})


@staff_required
def import_detail(request: HtmxHttpRequest, pk: str) -> HttpResponse:
    import_jobs_reap()
    job = ImportJob.objects.defer("data", "rejects").filter(pk=pk).first()
    if job is None:
        raise Http404("No such import")
    context = {"job": job, "running": job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)}
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
