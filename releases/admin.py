"""The release records in the admin, read-only: steps are taken on the release page, the API or
the model_* commands, with gates and a reason."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from predictions.models import ChallengerFailure, Release
from records.models import ShadowResult
from releases.models import ReleaseEvent, Validation


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ["name", "challenger", "mode", "percent", "updated_at"]


@admin.register(ReleaseEvent)
class ReleaseEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "name", "action", "model_version", "champion", "percent", "forced", "created_by"]
    list_filter = ["action", "name"]


@admin.register(Validation)
class ValidationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "model_version", "champion", "scope", "passed"]
    list_filter = ["scope", "passed"]


@admin.register(ChallengerFailure)
class ChallengerFailureAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "model_version", "mode", "rows", "error"]


@admin.register(ShadowResult)
class ShadowResultAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "model_version", "record", "risk_score", "risk_label"]
    raw_id_fields = ["record"]
