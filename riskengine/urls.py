from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import ThrottledLoginView
from predictions import web as prediction_pages
from records import imports as record_imports
from records import web as record_pages
from riskengine import health, metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "admin/login/",
        ThrottledLoginView.as_view(
            template_name="admin/login.html",
            extra_context={"site_header": admin.site.site_header, "site_title": admin.site.site_title},
        ),
        name="admin-login",
    ),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("api/", include("riskengine.api.urls")),
    path("accounts/login/", ThrottledLoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", prediction_pages.predict_page, name="predict"),
    path("models/", prediction_pages.models_page, name="models"),
    path("models/<int:pk>/promote/", prediction_pages.model_promote, name="model-promote"),
    path("models/<slug:name>/rollback/", prediction_pages.model_rollback, name="model-rollback"),
    path("records/", record_pages.dashboard, name="dashboard"),
    path("records/import/", record_imports.import_page, name="import"),
    path("records/import/<uuid:pk>/", record_imports.import_detail, name="import-detail"),
    path("records/import/<uuid:pk>/rejects.csv", record_imports.import_rejects, name="import-rejects"),
    path("records/<str:pk>/", record_pages.record_detail, name="record-detail"),
    path("records/<str:pk>/similar/", record_pages.record_similar, name="record-similar"),
    path("records/<str:pk>/outcome/", record_pages.record_outcome, name="record-outcome"),
]

handler404 = "riskengine.api.errors.not_found"
handler500 = "riskengine.api.errors.server_error"
