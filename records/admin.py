from django.contrib import admin

from records.models import Record


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = ["id", "timestamp", "model_id", "risk_score", "risk_label", "outcome"]
    list_filter = ["risk_label", "outcome"]
    search_fields = ["=id", "=request_id"]
    raw_id_fields = ["model_version", "created_by"]
    show_full_result_count = False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
