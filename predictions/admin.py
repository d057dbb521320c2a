from django.contrib import admin
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin
from predictions.models import ModelVersion, PromotionEvent


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    list_display = ["name", "version", "status", "algorithm", "embedder", "roc_auc", "created_at", "promoted_at"]
    list_filter = ["status", "algorithm", "name"]
    readonly_fields = [f.name for f in ModelVersion._meta.get_fields() if f.concrete and f.name not in {"notes"}]
    exclude = ["artifact"]
    # Promotion and rollback are release steps, with gates and a reason: the release page
    # (/models/<name>/), its API and the model_* commands, not admin actions.
    actions = None

    @admin.display(description="ROC AUC")
    def roc_auc(self, obj: ModelVersion) -> str:
        value = (obj.metrics or {}).get("roc_auc")
        return f"{value:.3f}" if isinstance(value, float) else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are created by training (manage.py train_model)


@admin.register(PromotionEvent)
class PromotionEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "name", "action", "model_version", "previous", "created_by"]
    list_filter = ["action", "name"]
    raw_id_fields = ["model_version", "previous", "created_by"]
