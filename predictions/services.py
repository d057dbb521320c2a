"""Registry writes: register a trained model, promote, roll back, seed the demo model."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import ApplicationError
from core.principal import Principal, user_or_none
from core.types import JSON, JSONObject, json_object
from predictions.ml.decisions import LabelBand
from predictions.models import ModelVersion, PromotionEvent, default_label_bands

if TYPE_CHECKING:
    from predictions.ml.reference import ReferenceProfile
    from predictions.ml.training import TrainedModel

# The ML modules (scikit-learn, pandas, skops) are imported inside the functions that train or store
# models, so that every other manage.py command and the admin start in a fraction of the time.

DEMO_MODEL_NAME = "credit"
# The demo data's prohibited bases (sex and marital status, national origin): kept out of the demo
# model and recorded for fairness monitoring. Age stays a feature: docs/decisions.md says why.
DEMO_PROTECTED = ["personal_status_and_sex", "foreign_worker"]


class RegistryError(ApplicationError):
    """A registry operation that cannot be done; the message is fit for a user."""

    code = "registry_conflict"
    status = 409


def _trained_profile(trained: TrainedModel, bands: Sequence[LabelBand]) -> ReferenceProfile | None:
    from predictions.ml.reference import profile_from_scorer
    from predictions.ml.scoring import scoring_model_from_trained

    if trained.train_encoded is None or trained.holdout_encoded is None:
        return None
    return profile_from_scorer(
        scoring_model_from_trained(trained, bands),
        train_encoded=trained.train_encoded,
        holdout_encoded=trained.holdout_encoded,
        source="training",
    )


def _holdout(trained: TrainedModel) -> JSONObject:
    if trained.holdout_rows is None or trained.holdout_outcomes is None:
        return {}
    rows: list[JSON] = [json_object(row) for row in trained.holdout_rows]
    return {"rows": rows, "outcomes": list(trained.holdout_outcomes)}


def _sha256(path: Path) -> str:
    from predictions.ml.training import file_sha256

    return file_sha256(path) if path.is_file() else ""


def model_version_register(
    *,
    trained: TrainedModel,
    name: str,
    embedder: str = ModelVersion.Embedder.TABULAR,
    label_bands: Sequence[LabelBand] | None = None,
    decision_policy: Mapping[str, JSON] | None = None,
    reasons: JSON = None,
    notes: str = "",
    created_by: Principal | None = None,
) -> ModelVersion:
    """Store a trained model as the next version of ``name`` (status staging), with its decision
    policy (default: from the label bands) and its complete reason table (``reasons``: the given
    families, checked; every other feature gets one from its description). Raises PolicyError."""
    from predictions.ml.scoring import check_label_bands

    bands = check_label_bands(label_bands or default_label_bands())
    fields = _trained_fields(trained, bands, decision_policy, reasons)
    with transaction.atomic():
        # serialise version numbering per name across processes
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"modelversion:{name}"])
        latest = ModelVersion.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0
        return ModelVersion.objects.create(
            name=name,
            version=latest + 1,
            status=ModelVersion.Status.STAGING,
            embedder=embedder,
            label_bands=bands,
            created_by=user_or_none(created_by),
            notes=notes,
            **fields,
        )


def _trained_fields(
    trained: TrainedModel, bands: Sequence[LabelBand], decision_policy: Mapping[str, JSON] | None, reasons: JSON
) -> dict[str, object]:
    """A trained model's registry columns: its artifact, schemas, policy, reasons, metrics, profile."""
    from predictions.ml.artifacts import dump_artifact, sha256_hex
    from predictions.ml.decisions import policy_get, reason_table_build
    from predictions.ml.features import schema_to_dicts

    artifact = dump_artifact(
        pipeline=trained.pipeline,
        background=trained.background,
        background_mean=trained.background_mean,
        algorithm=trained.algorithm,
    )
    table = reason_table_build(trained.schema, reasons, protected=[spec.name for spec in trained.protected])
    return {
        "algorithm": trained.algorithm,
        "feature_schema": schema_to_dicts(trained.schema),
        "protected_schema": schema_to_dicts(trained.protected),
        "target": trained.target,
        "positive_class": trained.positive_class,
        "decision_policy": policy_get(decision_policy, bands).to_dict(),
        "reason_table": [family.to_dict() for family in table],
        "metrics": trained.metrics,
        "reference_profile": _trained_profile(trained, bands) or {},  # {}: no profile
        "training_sha256": trained.training_sha256,
        "training_rows": trained.training_rows,
        "holdout": _holdout(trained),
        "artifact": artifact,
        "artifact_sha256": sha256_hex(artifact),
    }


def model_version_train(
    *,
    csv_path: Path,
    target: str,
    positive: str,
    name: str,
    algorithm: str = "logistic",
    exclude: list[str] | None = None,
    protected: list[str] | None = None,
    descriptions: dict[str, str] | None = None,
    reasons: JSON = None,
    decision_policy: Mapping[str, JSON] | None = None,
    embedder: str = ModelVersion.Embedder.TABULAR,
    promote: bool = False,
    created_by: Principal | None = None,
) -> ModelVersion:
    """Train from a CSV (``protected`` columns kept out of the model) and register (and optionally
    promote) the result. Raises TrainingError or PolicyError."""
    from predictions.ml.training import file_sha256, read_training_csv, train

    frame = read_training_csv(csv_path)
    trained = train(
        frame,
        target=target,
        positive=positive,
        algorithm=algorithm,
        exclude=exclude or [],
        protected=protected or [],
        descriptions=descriptions,
        training_sha256=file_sha256(csv_path),
    )
    version = model_version_register(
        trained=trained,
        name=name,
        embedder=embedder,
        decision_policy=decision_policy,
        reasons=reasons,
        created_by=created_by,
    )
    if promote:
        version = model_version_promote(model_version=version, user=created_by)
    return version


def model_version_promote(
    *,
    model_version: ModelVersion,
    user: Principal | None = None,
    action: str = PromotionEvent.Action.PROMOTE,
) -> ModelVersion:
    """Make ``model_version`` the production version of its name; the previous one is archived."""
    with transaction.atomic():
        versions = list(ModelVersion.objects.select_for_update().filter(name=model_version.name).order_by("version"))
        target = next(v for v in versions if v.pk == model_version.pk)
        current = next((v for v in versions if v.status == ModelVersion.Status.PRODUCTION), None)
        if current is not None and current.pk == target.pk:
            return target
        if current is not None:
            current.status = ModelVersion.Status.ARCHIVED
            current.save(update_fields=["status"])
        target.status = ModelVersion.Status.PRODUCTION
        target.promoted_at = timezone.now()
        target.save(update_fields=["status", "promoted_at"])
        if action == PromotionEvent.Action.ROLLBACK:
            # the rolled-back-to version's own predecessor, so that repeated rollbacks walk back in time
            made = PromotionEvent.objects.filter(model_version=target).order_by("-created_at", "-id").first()
            previous = made.previous if made is not None else None
        else:
            previous = current
        PromotionEvent.objects.create(
            name=target.name,
            action=action,
            model_version=target,
            previous=previous,
            created_by=user_or_none(user),
        )
    return target


def model_version_rollback(*, name: str, user: Principal | None = None) -> ModelVersion:
    """Return ``name`` to the production version it had before the current one."""
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(name=name, status="production").first()
        if current is None:
            raise RegistryError(f"model {name!r} has no production version to roll back from")
        made = PromotionEvent.objects.filter(model_version=current).order_by("-created_at", "-id").first()
        if made is None or made.previous is None:
            raise RegistryError(f"model {name!r} has no earlier production version to roll back to")
        return model_version_promote(model_version=made.previous, user=user, action=PromotionEvent.Action.ROLLBACK)


def model_version_profile_from_csv(*, model_version: ModelVersion, csv_path: Path) -> ModelVersion:
    """Write the reference profile of a version registered without one, from its training CSV (split
    as training split it, so the profile is the one registration would have written)."""
    from predictions.ml.reference import profile_from_scorer
    from predictions.ml.training import file_sha256, read_training_csv, training_rows_split
    from predictions.selectors import loaded_model_get

    if not csv_path.is_file():
        raise RegistryError(f"file not found: {csv_path}")
    if model_version.training_sha256 and file_sha256(csv_path) != model_version.training_sha256:
        raise RegistryError(f"{csv_path} is not the file {model_version.model_id} was trained on (its SHA-256 differs)")
    loaded = loaded_model_get(model_id=model_version.model_id)
    train, holdout = training_rows_split(
        read_training_csv(csv_path),
        schema=loaded.schema,
        target=model_version.target,
        positive=model_version.positive_class,
    )
    profile = profile_from_scorer(
        loaded.scorer, train_encoded=train, holdout_encoded=holdout, source=f"csv:{csv_path.name}"
    )
    ModelVersion.objects.filter(pk=model_version.pk).update(reference_profile=profile)
    model_version.reference_profile = profile
    return model_version


def demo_model_ensure(
    *, csv_path: Path | None = None, descriptions_path: Path | None = None
) -> tuple[ModelVersion, bool]:
    """Make sure a production ``credit`` model exists; train it only if no version from this data exists.

    Returns the production version and whether anything was trained.
    """
    csv_path = csv_path or Path(settings.BASE_DIR) / "data" / "german_credit.csv"
    existing = ModelVersion.objects.filter(name=DEMO_MODEL_NAME, status=ModelVersion.Status.PRODUCTION).first()
    if existing is not None:
        from predictions.ml.reference import PROFILE_FORMAT

        outdated = existing.reference_profile.get("format") != PROFILE_FORMAT
        if outdated and existing.training_sha256 == _sha256(csv_path):
            existing = model_version_profile_from_csv(model_version=existing, csv_path=csv_path)
        return existing, False
    from predictions.ml.training import file_sha256

    digest = file_sha256(csv_path)
    same_data = (
        ModelVersion.objects.filter(name=DEMO_MODEL_NAME, training_sha256=digest, algorithm="logistic")
        .exclude(protected_schema=[])
        .order_by("version")
        .first()
    )
    if same_data is not None:
        return model_version_promote(model_version=same_data), False
    descriptions_path = descriptions_path or csv_path.with_name("german_credit.descriptions.json")
    descriptions = json.loads(descriptions_path.read_text()) if descriptions_path.exists() else None
    reasons_path = csv_path.with_name("german_credit.reasons.json")
    try:
        version = model_version_train(
            csv_path=csv_path,
            target="creditability",
            positive="bad",
            name=DEMO_MODEL_NAME,
            algorithm="logistic",
            protected=DEMO_PROTECTED,
            descriptions=descriptions,
            reasons=json.loads(reasons_path.read_text()) if reasons_path.exists() else None,
            promote=True,
        )
    except ApplicationError as exc:  # pragma: no cover - the shipped data is known good
        raise RegistryError(f"could not train the demo model: {exc}") from exc
    return version, True
