"""Daily rollups of the record store, per model version: sums that any window adds up."""

from __future__ import annotations

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
    """One day's records and the sum of their scores."""

    model_version = models.ForeignKey("predictions.ModelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    n = models.BigIntegerField()
    score_sum = models.FloatField()

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
