"""The release page's action form: which version, the canary share, a reason, and force."""

from __future__ import annotations

from typing import Any

from django import forms

ACTIONS = ("validate", "shadow", "canary", "promote", "rollback", "abort")
NEEDS_VERSION = {"validate", "shadow", "canary", "promote"}


class ReleaseActionForm(forms.Form):
    model_id = forms.CharField(required=False, max_length=96)
    percent = forms.FloatField(required=False, min_value=0.01, max_value=100)
    reason = forms.CharField(required=False, max_length=2000, strip=True)
    force = forms.BooleanField(required=False)

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.action = action

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.action in NEEDS_VERSION and not data.get("model_id"):
            self.add_error("model_id", "Pick a version.")
        if self.action != "validate" and not data.get("reason"):
            self.add_error("reason", "Give a reason: every release step is recorded with one.")
        return data
