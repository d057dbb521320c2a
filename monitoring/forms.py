"""The monitoring page's pickers (window, segment, heatmap cell) and the webhook form."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from monitoring.selectors.drift import Segment

WINDOW_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days")]
DEFAULT_DAYS = 30


class WindowForm(forms.Form):
    days = forms.ChoiceField(choices=[(str(value), text) for value, text in WINDOW_CHOICES], required=False)
    end = forms.DateField(required=False, help_text="The last day shown")
    segment = forms.CharField(required=False, max_length=300, help_text="feature=value")
    feature = forms.IntegerField(required=False, min_value=0, max_value=10_000)
    day = forms.DateField(required=False)

    def clean_days(self) -> int:
        return int(self.cleaned_data.get("days") or DEFAULT_DAYS)

    def clean_end(self) -> date:
        end: date | None = self.cleaned_data.get("end")
        end = end or timezone.now().date()
        if not date(1900, 1, 1) <= end <= date(2999, 12, 30):
            raise forms.ValidationError("Must be a date in the years 1900 to 2999.")
        return end

    def clean_segment(self) -> Segment | None:
        raw: str = self.cleaned_data.get("segment") or ""
        if not raw:
            return None
        feature, sep, value = raw.partition("=")
        if not sep or not feature:
            raise forms.ValidationError("Pick a segment as feature=value.")
        return Segment(feature=feature, value=value)

    def window(self) -> tuple[date, date]:
        """[start, end) of the picked window (end exclusive)."""
        data: dict[str, Any] = getattr(self, "cleaned_data", {})
        stop = (data.get("end") or timezone.now().date()) + timedelta(days=1)
        return stop - timedelta(days=data.get("days") or DEFAULT_DAYS), stop


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=500, assume_scheme="https", label="Webhook URL")
