"""Daily rollups of the record store, per model version: sums that any window adds up."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models


class FoldState(models.Model):
    """How far a fold has read: records stored, and outcomes changed, up to ``upto`` (database clock)."""

    name = models.CharField(max_length=32, unique=True)
    upto = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} up to {self.upto}"


class VersionFold(models.Model):
    """The reference profile a version's rollups were folded with (its SHA-256): another profile
    means the rollups are rebuilt from the records."""

    model_version = models.OneToOneField("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    profile_sha256 = models.CharField(max_length=64)
    rebuilt_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.profile_sha256[:12]}"


class BinDay(models.Model):
    """Records of one day in one bin of one profile feature (``feature`` = its index in the profile;
    the score is index n, the label n + 1, for n features)."""

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    feature = models.SmallIntegerField()
    bin = models.SmallIntegerField()
    count = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "day", "feature", "bin"], name="binday_unique")]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.day} f{self.feature} b{self.bin}: {self.count}"


class ShapDay(models.Model):
    """One day's sums of one feature's SHAP contribution, signed and absolute."""

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    feature = models.SmallIntegerField()
    n = models.BigIntegerField()
    shap_sum = models.FloatField()
    abs_shap_sum = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "day", "feature"], name="shapday_unique")]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.day} f{self.feature}"


class DayTotal(models.Model):
    """One day's records, the sum of their scores, and how many of them carry a decision."""

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    n = models.BigIntegerField()
    score_sum = models.FloatField()
    decided = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "day"], name="daytotal_unique")]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.day}: {self.n}"


class OutcomeDay(models.Model):
    """One day's records with an outcome, per label band (index in the profile's labels): how many,
    how many positive, and the sums behind the mean score, the Brier score and the log loss.
    Recomputed whole for a day whenever an outcome of that day changes."""

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    label = models.SmallIntegerField()
    n = models.BigIntegerField()
    positives = models.BigIntegerField()
    score_sum = models.FloatField()
    brier_sum = models.FloatField()
    log_loss_sum = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "day", "label"], name="outcomeday_unique")]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.day} label {self.label}: {self.positives}/{self.n}"


class ScoreCellDay(models.Model):
    """One day's records with an outcome whose score falls in one score cell (``cell`` = floor(score x
    CELLS), the top cell holding 1.0): how many, how many positive, and their score sum. AUC and the
    calibration error are computed on these cells. Recomputed with the day's outcome sums."""

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    cell = models.SmallIntegerField()
    n = models.BigIntegerField()
    positives = models.BigIntegerField()
    score_sum = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "day", "cell"], name="scorecellday_unique")]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.day} cell {self.cell}: {self.positives}/{self.n}"


class FairnessDay(models.Model):
    """One day's decided records per protected attribute, group, decision and outcome (-1 while
    unknown, then 0 or 1): the fairness report's counts. Recomputed with the day's outcome sums."""

    UNKNOWN = -1

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    attribute = models.TextField()
    group = models.TextField()
    decision = models.CharField(max_length=16)
    outcome = models.SmallIntegerField()
    n = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "day", "attribute", "group", "decision", "outcome"],
                name="fairnessday_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id} {self.day} {self.attribute}={self.group} {self.decision}: {self.n}"


class AlertRule(models.Model):
    """When a model's metric breaches a threshold in ``consecutive`` daily-ending windows of
    ``window_days`` days running, an alert opens (at most once per ``cooldown_minutes``)."""

    class Metric(models.TextChoices):
        FEATURE_PSI = "feature_psi", "worst feature PSI"
        SCORE_PSI = "score_psi", "score PSI"
        LABEL_PSI = "label_psi", "label-mix PSI"
        AUC = "auc", "realised ROC AUC"
        ECE = "ece", "expected calibration error"
        RELEASE = "release", "canary health (automatic rollback)"
        ADVERSE_IMPACT = "adverse_impact", "worst adverse impact ratio"
        TPR_GAP = "tpr_gap", "largest true-positive-rate gap between groups"
        FPR_GAP = "fpr_gap", "largest false-positive-rate gap between groups"

    model_name = models.CharField(max_length=100)
    metric = models.CharField(max_length=16, choices=Metric.choices)
    warning = models.FloatField()
    critical = models.FloatField()
    min_records = models.PositiveIntegerField()
    window_days = models.PositiveSmallIntegerField(default=7)
    consecutive = models.PositiveSmallIntegerField(default=1)
    cooldown_minutes = models.PositiveIntegerField(default=24 * 60)
    enabled = models.BooleanField(default=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_name", "metric"], name="alertrule_unique")]

    def __str__(self) -> str:
        return f"{self.model_name} {self.metric}"


class Alert(models.Model):
    class Severity(models.TextChoices):
        WARNING = "warning"
        CRITICAL = "critical"

    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    value = models.FloatField()
    threshold = models.FloatField()
    window_start = models.DateField()
    window_end = models.DateField()  # exclusive
    message = models.CharField(max_length=300)
    opened_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(  # empty when the metric recovered by itself
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["status", "-opened_at"], name="alert_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "model_version"], condition=~models.Q(status="resolved"), name="alert_one_unresolved"
            )
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.rule} ({self.status})"


class Webhook(models.Model):
    """Where fired alerts are POSTed, signed with ``secret`` (HMAC-SHA256, shown once, at creation);
    managed by risk managers."""

    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_url

    @property
    def display_url(self) -> str:
        """The scheme and host only: a path may carry the endpoint's own token."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/…"


class WebhookChange(models.Model):
    """The audit trail of webhooks: who created, enabled, disabled or deleted which, and when. It
    outlives the webhook it names."""

    class Action(models.TextChoices):
        CREATED = "created"
        ENABLED = "enabled"
        DISABLED = "disabled"
        DELETED = "deleted"

    webhook = models.ForeignKey(Webhook, null=True, on_delete=models.SET_NULL, related_name="changes")
    webhook_url = models.CharField(max_length=520)  # display_url, kept after a delete
    action = models.CharField(max_length=10, choices=Action.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.username} {self.action} {self.webhook_url}"


class Delivery(models.Model):
    """One alert event to one webhook: pending until delivered, or failed after the last attempt."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"
        CANCELLED = "cancelled"  # its webhook was disabled before it went out

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook} ({self.status})"


class DeliveryAttempt(models.Model):
    """The delivery log: every POST, with its answer or error."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.FloatField()

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"
