from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from predictions.ml.embedding import EMBEDDING_DIM


class ClockTimestamp(models.Func):
    """PostgreSQL's ``clock_timestamp()``: the time of the statement's own row write, not of the
    transaction's start (``now()``), so that a reader's watermark can trust it."""

    function = "clock_timestamp"
    template = "clock_timestamp()"
    output_field = models.DateTimeField()


class Record(models.Model):
    """One scored case: what came in, what the model said and why, and (later) what really happened."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    timestamp = models.DateTimeField(default=timezone.now)
    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.PROTECT, related_name="records")
    model_id = models.CharField(max_length=96, help_text="name@version, kept for readability")
    features_json = models.JSONField()
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    risk_score = models.FloatField()
    risk_label = models.CharField(max_length=32)
    base_log_odds = models.FloatField(null=True, blank=True)
    drivers = models.JSONField(default=list, blank=True)
    # The drivers' contributions again, in the model's feature order: readers that sum them
    # (monitoring) read a plain array instead of parsing the JSON. NULL on records stored before it.
    contributions = ArrayField(models.FloatField(), null=True, blank=True, editable=False)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    # The version's decision policy applied to the score, and for a refer or decline its principal
    # reasons ([{code, sentence, features, contribution}]); "" on records scored before decisions.
    decision = models.CharField(max_length=8, blank=True, default="", db_default="")
    reasons = models.JSONField(default=list, blank=True, db_default=models.Value([], models.JSONField()))
    # Protected attributes the client gave ({name: value}): for fairness monitoring only, never
    # part of features_json, so never scored, embedded or searched.
    protected = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))
    # Which side of a release served it: the champion, the canary (its challenger), a version the
    # client pinned by model_id, or a backfilled file; and the applicant key a canary split hashed.
    # Database defaults too, so that processes of the previous release, which do not know these
    # columns, can still insert records while a deploy rolls (the migration linter checks this).
    served_by = models.CharField(max_length=8, default="champion", db_default="champion")
    subject_id = models.CharField(max_length=128, blank=True, default="", db_default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.BooleanField(null=True, blank=True)
    outcome_observed_at = models.DateTimeField(null=True, blank=True)
    outcome_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Backfilled records: SHA-256 of (model version, canonical features, source timestamp); unique per
    # model version, so re-running an import inserts nothing twice.
    fingerprint = models.CharField(  # noqa: DJ001 - NULL (not "") for API records, so uniqueness ignores them
        max_length=64, null=True, blank=True, editable=False
    )
    # Change tracking for readers that fold the store incrementally (monitoring): when the row was
    # written and when its outcome last changed, by the database clock at the write itself.
    stored_at = models.DateTimeField(db_default=ClockTimestamp(), editable=False)
    outcome_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "fingerprint"],
                condition=models.Q(fingerprint__isnull=False),
                name="record_fingerprint_unique",
            )
        ]
        indexes = [
            models.Index(fields=["model_version", "-timestamp", "-id"], name="record_model_ts_idx"),
            models.Index(fields=["risk_label", "-timestamp", "-id"], name="record_label_ts_idx"),
            models.Index(fields=["-timestamp", "-id"], name="record_ts_idx"),
            models.Index(fields=["risk_score", "id"], name="record_score_idx"),
            models.Index(fields=["created_by", "-timestamp", "-id"], name="record_owner_ts_idx"),
            models.Index(fields=["stored_at"], name="record_stored_idx"),
            # finding a case by the client's own reference (most records have none)
            models.Index(fields=["subject_id"], condition=~models.Q(subject_id=""), name="record_subject_idx"),
            models.Index(
                fields=["outcome_changed_at"],
                condition=models.Q(outcome_changed_at__isnull=False),
                name="record_outcome_changed_idx",
            ),
            HnswIndex(
                name="record_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.risk_label} {self.risk_score:.3f}"


class ShadowResult(models.Model):
    """What a shadow challenger said about a served record: stored beside it, never returned."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="shadows")
    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.PROTECT, related_name="+")
    risk_score = models.FloatField()
    risk_label = models.CharField(max_length=32)
    base_log_odds = models.FloatField(null=True, blank=True)
    drivers = models.JSONField(default=list, blank=True)
    contributions = ArrayField(models.FloatField(), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "record"], name="shadowresult_version_record_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id} shadow {self.risk_score:.3f}"


class IdempotencyKey(models.Model):
    """A stored response for ``Idempotency-Key`` replays, per client, kept for IDEMPOTENCY_TTL_HOURS."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.endpoint})"


class ImportJob(models.Model):
    """A CSV backfill run in the background by a task worker. The file lives in the database, so a
    worker on any machine can run it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    filename = models.CharField(max_length=255)
    # gzip-compressed upload of jobs made before ImportChunk (new uploads are stored in chunks)
    data = models.BinaryField(null=True, editable=False)
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    inserted_rows = models.PositiveIntegerField(default=0)
    skipped_rows = models.PositiveIntegerField(default=0)
    rejected_rows = models.PositiveIntegerField(default=0)
    ignored_columns = models.JSONField(default=list)
    bytes_read = models.BigIntegerField(default=0)  # of the stored upload, for the progress bar
    bytes_total = models.BigIntegerField(null=True, blank=True)
    # Set every few seconds by the worker running the job; a stale one means the worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set when a batch of rows is done; a fresh heartbeat with a stale one means the job hangs.
    progressed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    rejects = models.BinaryField(null=True, editable=False)  # gzip-compressed rejects CSV
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rejects_pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"

    @property
    def rejects_pruned(self) -> bool:
        """Its rejects were deleted after IMPORT_REJECTS_DAYS (the job still says how many)."""
        return bool(self.rejected_rows) and self.rejects_pruned_at is not None

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.bytes_total:
            return 0
        return min(99, round(100 * self.bytes_read / self.bytes_total))


class ImportChunk(models.Model):
    """One piece (at most CHUNK_BYTES) of an import's gzip-compressed upload: written as the upload is
    compressed and read as the job runs, so neither holds the file in memory; deleted when the job
    ends."""

    CHUNK_BYTES = 1 << 20

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="import_chunk_order")]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.index}"
