"""Monitoring reads: the models under watch and their status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from monitoring.selectors.alerts import alert_list
from monitoring.selectors.drift import drift_report
from predictions.models import ModelVersion


@dataclass
class ModelStatus:
    name: str
    model_id: str
    status: str  # the drift status of the last 7 days
    records: int
    open_alerts: int
    version: ModelVersion = field(repr=False)


def monitoring_overview(*, start: date, end: date) -> list[ModelStatus]:
    """Every production model with a profile: its drift status over [start, end), its volume and
    its unresolved alerts."""
    versions = ModelVersion.objects.filter(status=ModelVersion.Status.PRODUCTION).exclude(reference_profile={})
    out = []
    for version in versions.defer("artifact").order_by("name"):
        drift = drift_report(model_version=version, start=start, end=end)
        unresolved = alert_list(status="unresolved", model_name=version.name).count()
        out.append(ModelStatus(version.name, version.model_id, drift.status, drift.records, unresolved, version))
    return out


def monitored_version_get(*, name: str) -> ModelVersion:
    """The production version of ``name``, with its profile (a 404 if none, or unprofiled)."""
    from predictions.selectors import ModelNotFound, model_version_get_production

    version = model_version_get_production(name=name)
    version.refresh_from_db(fields=["reference_profile"])
    if not version.reference_profile:
        raise ModelNotFound(
            f"model {name[:100]!r} has no reference profile; "
            f"run manage.py monitoring_profile {version.model_id} --csv <its training CSV>"
        )
    return version
