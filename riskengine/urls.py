from django.contrib import admin
from django.urls import include, path

from riskengine import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("riskengine.api.urls")),
]

handler404 = "riskengine.api.errors.not_found"
handler500 = "riskengine.api.errors.server_error"
