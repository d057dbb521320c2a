from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from predictions.ml.scoring import DEFAULT_LABEL_BANDS


def default_label_bands() -> list[dict[str, Any]]:
    """``low < 0.3 <= medium < 0.6 <= high``: each band applies from its ``min`` (inclusive)."""
    return [dict(band) for band in DEFAULT_LABEL_BANDS]


class ModelVersion(models.Model):
    """One trained, versioned model in the registry."""

    class Status(models.TextChoices):
        STAGING = "staging"
        PRODUCTION = "production"
        ARCHIVED = "archived"

    class Embedder(models.TextChoices):
        TEXT = "text"
        TABULAR = "tabular"

    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STAGING)
    # A name in the algorithm table (predictions.ml.algorithms), checked by training: no choices
    # here, so adding an algorithm needs no migration.
    algorithm = models.CharField(max_length=32, default="logistic")
    embedder = models.CharField(max_length=16, choices=Embedder.choices, default=Embedder.TABULAR)
    feature_schema = models.JSONField(default=list)
    target = models.CharField(max_length=128, blank=True)
    positive_class = models.CharField(max_length=128, blank=True)
    label_bands = models.JSONField(default=default_label_bands)
    # {"refer_at", "decline_at"} (predictions.ml.decisions); {} on versions registered before
    # decisions: their label bands give the cut-offs.
    decision_policy = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))
    # The adverse-action reasons, [{code, sentence, features}], complete (one per feature at least);
    # [] on versions registered before reasons: one per feature, from the descriptions.
    reason_table = models.JSONField(default=list, blank=True, db_default=models.Value([], models.JSONField()))
    # Protected attributes: columns kept out of the model, whose values (feature-schema entries)
    # requests may send for fairness monitoring.
    protected_schema = models.JSONField(default=list, blank=True, db_default=models.Value([], models.JSONField()))
    metrics = models.JSONField(default=dict, blank=True)
    # What monitoring compares live records with (predictions.ml.reference); {} until computed.
    reference_profile = models.JSONField(default=dict, blank=True)
    # The training holdout as rows and outcomes ({"rows": [...], "outcomes": [...]}), for the
    # release gates; {} on versions registered before it was kept.
    holdout = models.JSONField(default=dict, blank=True, editable=False)
    training_sha256 = models.CharField(max_length=64, blank=True)
    training_rows = models.PositiveIntegerField(default=0)
    artifact = models.BinaryField(editable=False)
    artifact_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="modelversion_name_version_unique"),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(status="production"),
                name="modelversion_one_production_per_name",
            ),
        ]

    def __str__(self) -> str:
        return self.model_id

    @property
    def model_id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def is_production(self) -> bool:
        return self.status == self.Status.PRODUCTION


class PromotionEvent(models.Model):
    """The registry's history: every promotion and rollback, with the production version it replaced."""

    class Action(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"

    name = models.SlugField(max_length=64)
    action = models.CharField(max_length=16, choices=Action.choices)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["name", "-created_at"], name="promotion_name_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.model_version}"


def default_ramp() -> list[float]:
    return [5.0, 25.0, 50.0, 100.0]


class Release(models.Model):
    """A model name's release state beside its champion (the production version): at most one
    challenger, scoring in ``shadow`` (never served) or serving a ``canary`` share of applicants."""

    class Mode(models.TextChoices):
        NONE = "none"
        SHADOW = "shadow"
        CANARY = "canary"

    name = models.SlugField(max_length=64, unique=True)
    challenger = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.NONE)
    percent = models.FloatField(default=0.0)  # the canary's share of applicants, 0-100
    ramp = models.JSONField(default=default_ramp)
    step_started_at = models.DateTimeField(null=True, blank=True)
    # Overrides of releases.gates.Thresholds for this name (ramp timings included).
    gates = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(mode="none", challenger__isnull=True) | (~Q(mode="none") & Q(challenger__isnull=False)),
                name="release_challenger_iff_mode",
            ),
            models.CheckConstraint(condition=Q(percent__gte=0, percent__lte=100), name="release_percent_range"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.mode}"


class ChallengerFailure(models.Model):
    """Rows a challenger (shadow or canary) failed to score; a canary's rows then went to the
    champion. The canary's error rate, which can roll it back, counts these."""

    name = models.SlugField(max_length=64)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=8)
    rows = models.PositiveIntegerField(default=1)
    error = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["model_version", "created_at"], name="challengerfailure_version_idx")]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.mode}: {self.error[:40]}"
