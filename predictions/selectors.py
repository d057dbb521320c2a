"""Registry reads, and the per-process cache of loaded (verified, compiled) models.

Artifacts are immutable, so a loaded model is cached by primary key for the life of the process
(reloaded only if its decision policy, which may be set when it is promoted, is no longer the stored one).
Which version is in production can change at any time (promotion, rollback, from any process), so
that answer is cached for at most ``MODEL_REFRESH_SECONDS`` (default 2 s): a promotion reaches every
worker within that time, with no restart and no cross-process signalling.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import QuerySet

from core.errors import ApplicationError
from core.principal import Principal
from core.types import JSONObject
from predictions.models import ModelVersion, Release

if TYPE_CHECKING:  # the ML stack is imported on first load, not at start-up
    from predictions.ml.embedding import TabularEmbedder
    from predictions.ml.features import FeatureSpec
    from predictions.ml.scoring import ScoringModel


class ModelNotFound(ApplicationError):
    """No such model name, version, or no production version; the message is fit for a user."""

    code = "model_not_found"
    status = 404


@dataclass
class LoadedModel:
    """A model version ready to score: its registry row's identity plus the compiled model."""

    pk: int
    name: str
    version: int
    model_id: str
    embedder: str
    schema: list[FeatureSpec]
    scorer: ScoringModel
    protected: list[FeatureSpec] = field(default_factory=list)
    decision_policy: JSONObject = field(default_factory=dict)  # as stored: {} means from the bands
    _tabular: TabularEmbedder | None = None

    @cached_property
    def feature_names(self) -> frozenset[str]:
        return frozenset(spec.name for spec in self.schema)

    @cached_property
    def protected_names(self) -> frozenset[str]:
        return frozenset(spec.name for spec in self.protected)

    def tabular_embedder(self) -> TabularEmbedder:
        if self._tabular is None:
            from predictions.ml.embedding import TabularEmbedder

            self._tabular = TabularEmbedder(self.scorer.explainer, self.schema)
        return self._tabular


def canary_bucket(*, name: str, version: int, key: str) -> float:
    """An applicant's place in [0, 100) for a challenger: a stable hash, so one applicant always
    meets the same version while the settings stay, and raising the share only adds applicants."""
    digest = hashlib.blake2b(f"{name}@{version}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * 100.0 / 2**64


@dataclass(frozen=True)
class LoadedRoute:
    """Where a request for a model goes: its champion, and a challenger in shadow or canary mode;
    ``pinned`` when the client named a version (model_id), which nothing reroutes."""

    champion: LoadedModel
    challenger: LoadedModel | None = None
    mode: str = Release.Mode.NONE
    percent: float = 0.0
    pinned: bool = False

    @property
    def shadow(self) -> LoadedModel | None:
        return self.challenger if self.mode == Release.Mode.SHADOW else None

    @property
    def canary(self) -> LoadedModel | None:
        return self.challenger if self.mode == Release.Mode.CANARY and self.percent > 0 else None

    def serve(self, key: str) -> tuple[LoadedModel, str]:
        """The version that serves the applicant ``key``, and why."""
        if self.pinned:
            return self.champion, "pinned"
        canary = self.canary
        if canary is not None and canary_bucket(name=canary.name, version=canary.version, key=key) < self.percent:
            return canary, "canary"
        return self.champion, "champion"


@dataclass(frozen=True)
class _Resolved:
    at: float
    champion: int
    challenger: int | None
    mode: str
    percent: float
    # the versions' stored decision policies: the one thing about a version that can change (a
    # policy set at promotion), so a loaded model with another one is reloaded
    champion_policy: JSONObject = field(default_factory=dict)
    challenger_policy: JSONObject = field(default_factory=dict)


_lock = threading.Lock()
_loaded: dict[int, LoadedModel] = {}
_routes: dict[str, _Resolved] = {}  # name -> the release state, as last read


def model_version_list(*, name: str | None = None, user: Principal | None = None) -> QuerySet[ModelVersion]:
    """The registry's versions, newest first per name; for a ``user`` who is not staff (an API client),
    the production versions only: the others' policies and history are the credit team's."""
    queryset = ModelVersion.objects.defer("artifact", "reference_profile", "holdout").order_by("name", "-version")
    if name is not None:
        queryset = queryset.filter(name=name)
    if user is not None and not user.is_staff:
        queryset = queryset.filter(status=ModelVersion.Status.PRODUCTION)
    return queryset


def model_version_list_production() -> QuerySet[ModelVersion]:
    return model_version_list().filter(status=ModelVersion.Status.PRODUCTION)


# ASCII digits only: str.isdigit() also takes "²" (which int() refuses) and Arabic-Indic digits (which it reads).
_VERSION = re.compile(r"[0-9]{1,9}")


def parse_model_id(model_id: str) -> tuple[str, int]:
    name, sep, version = model_id.partition("@")
    if not sep or not name or not _VERSION.fullmatch(version):
        raise ModelNotFound(f"model_id {model_id[:100]!r} is not of the form name@version")
    return name, int(version)


def model_version_get(*, model_id: str) -> ModelVersion:
    name, version = parse_model_id(model_id)
    found = model_version_list().filter(name=name, version=version).first()
    if found is None:
        raise ModelNotFound(f"model version {model_id[:100]!r} does not exist")
    return found


def model_version_get_production(*, name: str) -> ModelVersion:
    found = model_version_list_production().filter(name=name).first()
    if found is None:
        if model_version_list().filter(name=name).exists():
            raise ModelNotFound(f"model {name[:100]!r} has no production version")
        raise ModelNotFound(f"model {name[:100]!r} does not exist")
    return found


def _load(pk: int, decision_policy: JSONObject | None = None) -> LoadedModel:
    """The loaded version ``pk``; reloaded if its stored decision policy is not ``decision_policy``."""
    with _lock:
        cached = _loaded.get(pk)
    if cached is not None and (decision_policy is None or cached.decision_policy == decision_policy):
        return cached
    from predictions.ml.artifacts import load_artifact
    from predictions.ml.decisions import policy_get, reason_table_from_dicts
    from predictions.ml.features import schema_from_dicts
    from predictions.ml.scoring import ScoringModel

    row = ModelVersion.objects.get(pk=pk)
    schema = schema_from_dicts(row.feature_schema)
    artifact = load_artifact(bytes(row.artifact), expected_sha256=row.artifact_sha256)
    scorer = ScoringModel(
        schema=schema,
        label_bands=row.label_bands,
        artifact=artifact,
        policy=policy_get(row.decision_policy, row.label_bands),
        reasons=reason_table_from_dicts(row.reason_table) or None,
    )
    loaded = LoadedModel(
        pk=row.pk,
        name=row.name,
        version=row.version,
        model_id=row.model_id,
        embedder=row.embedder,
        schema=schema,
        scorer=scorer,
        protected=schema_from_dicts(row.protected_schema),
        decision_policy=dict(row.decision_policy),
    )
    with _lock:
        current = _loaded.get(pk)
        if current is not None and current.decision_policy == loaded.decision_policy:
            return current
        _loaded[pk] = loaded
        return loaded


def loaded_model_get(*, name: str | None = None, model_id: str | None = None) -> LoadedModel:
    """The production version of ``name``, or exactly ``model_id``; loaded, verified and compiled."""
    return loaded_route_get(name=name, model_id=model_id).champion


def _resolve(name: str) -> _Resolved:
    champion = model_version_get_production(name=name)
    pk, policy = champion.pk, champion.decision_policy
    release = (
        Release.objects.filter(name=name)
        .values("challenger_id", "mode", "percent", "challenger__decision_policy")
        .first()
    )
    if release is None or release["challenger_id"] is None:
        return _Resolved(time.monotonic(), pk, None, Release.Mode.NONE, 0.0, policy)
    return _Resolved(
        time.monotonic(),
        pk,
        release["challenger_id"],
        release["mode"],
        float(release["percent"]),
        policy,
        release["challenger__decision_policy"],
    )


def loaded_route_get(*, name: str | None = None, model_id: str | None = None) -> LoadedRoute:
    """How requests for ``name`` are served now (read at most every MODEL_REFRESH_SECONDS, so a
    promotion or a release change reaches every worker in that time, with no restart), or the
    pinned version ``model_id``."""
    if model_id:
        row = model_version_get(model_id=model_id)
        return LoadedRoute(champion=_load(row.pk, row.decision_policy), pinned=True)
    if not name:
        raise ModelNotFound("name a model or a model_id")
    refresh = float(getattr(settings, "MODEL_REFRESH_SECONDS", 2.0))
    with _lock:
        resolved = _routes.get(name)
    if resolved is None or time.monotonic() - resolved.at > refresh:
        resolved = _resolve(name)
        with _lock:
            _routes[name] = resolved
    challenger = _load(resolved.challenger, resolved.challenger_policy) if resolved.challenger is not None else None
    return LoadedRoute(
        champion=_load(resolved.champion, resolved.champion_policy),
        challenger=challenger,
        mode=resolved.mode,
        percent=resolved.percent,
    )


def loaded_model_cache_clear() -> None:
    with _lock:
        _loaded.clear()
        _routes.clear()
