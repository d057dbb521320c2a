"""The release records: each validation of a candidate by the gates, and the release timeline.

(``Release``, the routing state the predict path reads, stays in ``predictions``.)"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Validation(models.Model):
    """One run of the release gates for a candidate against the champion of its name."""

    class Scope(models.TextChoices):
        CANDIDATE = "candidate"  # before release: holdout, labelled history, replayed stability
        CANARY = "canary"  # on the canary's own traffic, before a ramp step

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="validations")
    champion = models.ForeignKey(
        "predictions.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scope = models.CharField(max_length=12, choices=Scope.choices, default=Scope.CANDIDATE)
    passed = models.BooleanField()
    gates = models.JSONField(default=list)  # [{gate, set, value, threshold, passed, detail}]
    config = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "predictions_validation"  # created by the predictions app before releases had models
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_version} {'passed' if self.passed else 'failed'}"


class ReleaseEvent(models.Model):
    """The release timeline: every transition of a name, who made it, why, and the evidence."""

    class Action(models.TextChoices):
        VALIDATE = "validate"
        SHADOW = "shadow"
        CANARY = "canary"
        RAMP = "ramp"
        PROMOTE = "promote"
        ROLLBACK = "rollback"
        ABORT = "abort"
        AUTO_ROLLBACK = "auto_rollback"

    name = models.SlugField(max_length=64)
    action = models.CharField(max_length=16, choices=Action.choices)
    model_version = models.ForeignKey(
        "predictions.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    champion = models.ForeignKey(
        "predictions.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    mode = models.CharField(max_length=8, blank=True)
    percent = models.FloatField(default=0.0)
    reason = models.TextField(blank=True)
    validation = models.ForeignKey(Validation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    evidence = models.JSONField(default=dict, blank=True)
    forced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "predictions_releaseevent"  # created by the predictions app before releases had models
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["name", "-created_at"], name="releaseevent_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} {self.action}"
