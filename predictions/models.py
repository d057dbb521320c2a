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
    metrics = models.JSONField(default=dict, blank=True)
    # What monitoring compares live records with (predictions.ml.reference); {} until computed.
    reference_profile = models.JSONField(default=dict, blank=True)
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
