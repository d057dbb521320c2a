"""The release page's action form: which version, the canary share, a reason, and force."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.http import QueryDict

ACTIONS = ("validate", "shadow", "canary", "promote", "rollback", "abort")
NEEDS_VERSION = {"validate", "shadow", "canary", "promote"}


@dataclass(frozen=True)
class ReleaseStep:
    model_id: str
    percent: float | None
    reason: str
    force: bool


class ReleaseActionForm(forms.Form):
    model_id = forms.CharField(required=False, max_length=96)
    percent = forms.FloatField(required=False, min_value=0.01, max_value=100)
    reason = forms.CharField(required=False, max_length=2000, strip=True)
    force = forms.BooleanField(required=False)

    def __init__(self, data: QueryDict | None = None, *, action: str) -> None:
        super().__init__(data)
        self.action = action

    def step(self) -> ReleaseStep:
        """The cleaned fields, typed (after ``is_valid()``)."""
        data = self.cleaned_data
        return ReleaseStep(data["model_id"], data["percent"], data["reason"] or "", bool(data["force"]))

    def clean(self) -> dict[str, object]:
        data: dict[str, object] = super().clean() or {}
        if self.action in NEEDS_VERSION and not data.get("model_id"):
            self.add_error("model_id", "Pick a version.")
        if self.action != "validate" and not data.get("reason"):
            self.add_error("reason", "Give a reason: every release step is recorded with one.")
        return data
