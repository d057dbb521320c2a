"""The import form: the upload and how to read it (validation only; the job is made by a service)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from predictions import selectors as model_selectors


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
