from django.contrib import admin

from predictions.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "status", "algorithm", "embedder", "created_at"]
    list_filter = ["status", "algorithm", "name"]
    readonly_fields = [f.name for f in ModelVersion._meta.get_fields() if f.concrete and f.name != "notes"]
