from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin
from predictions.models import ModelVersion, PromotionEvent
from predictions.services import RegistryError, model_version_promote, model_version_rollback


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    list_display = ["name", "version", "status", "algorithm", "embedder", "roc_auc", "created_at", "promoted_at"]
    list_filter = ["status", "algorithm", "name"]
    readonly_fields = [f.name for f in ModelVersion._meta.get_fields() if f.concrete and f.name not in {"notes"}]
    exclude = ["artifact"]
    actions = ["promote", "rollback"]

    @admin.display(description="ROC AUC")
    def roc_auc(self, obj: ModelVersion) -> str:
        value = (obj.metrics or {}).get("roc_auc")
        return f"{value:.3f}" if isinstance(value, float) else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are created by training (manage.py train_model)

    def has_release_permission(self, request: HttpRequest) -> bool:
        """Promotion and rollback are for superusers, as on the web page (change_modelversion is not enough)."""
        return bool(request.user.is_active and request.user.is_superuser)

    @admin.action(description="Promote the selected version to production", permissions=["release"])
    def promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = model_version_promote(model_version=queryset.get(), user=request.user)
        self.message_user(request, f"Promoted {version.model_id} to production.", messages.SUCCESS)

    @admin.action(description="Roll back the selected model names to their previous production version",
                  permissions=["release"])  # fmt: skip
    def rollback(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for name in sorted(set(queryset.values_list("name", flat=True))):
            try:
                version = model_version_rollback(name=name, user=request.user)
            except RegistryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Rolled back to {version.model_id}.", messages.SUCCESS)


@admin.register(PromotionEvent)
class PromotionEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "name", "action", "model_version", "previous", "created_by"]
    list_filter = ["action", "name"]
    raw_id_fields = ["model_version", "previous", "created_by"]
