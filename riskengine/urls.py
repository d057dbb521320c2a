from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import ThrottledLoginView
from core import health, metrics_view
from monitoring import views as monitoring_pages
from predictions import views as prediction_pages
from records import views as record_pages
from releases import views as release_pages

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
    path("api/", include("riskengine.api_urls")),
    path("accounts/login/", ThrottledLoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", record_pages.predict_page, name="predict"),
    path("models/", prediction_pages.models_page, name="models"),
    path("models/<slug:name>/", release_pages.release_page, name="model-release"),
    path("models/<slug:name>/release/<slug:action>/", release_pages.release_action, name="model-release-action"),
    path("monitoring/", monitoring_pages.overview, name="monitoring"),
    path("monitoring/webhooks/", monitoring_pages.webhooks, name="monitoring-webhooks"),
    path("monitoring/webhooks/<int:pk>/toggle/", monitoring_pages.webhook_toggle, name="monitoring-webhook-toggle"),
    path("monitoring/webhooks/<int:pk>/delete/", monitoring_pages.webhook_delete, name="monitoring-webhook-delete"),
    path(
        "monitoring/alerts/<int:pk>/acknowledge/",
        monitoring_pages.alert_action,
        {"action": "acknowledge"},
        name="monitoring-alert-acknowledge",
    ),
    path(
        "monitoring/alerts/<int:pk>/resolve/",
        monitoring_pages.alert_action,
        {"action": "resolve"},
        name="monitoring-alert-resolve",
    ),
    path("monitoring/<slug:name>/", monitoring_pages.model_page, name="monitoring-model"),
    path("records/", record_pages.dashboard, name="dashboard"),
    path("records/import/", record_pages.import_page, name="import"),
    path("records/import/<uuid:pk>/", record_pages.import_detail, name="import-detail"),
    path("records/import/<uuid:pk>/rejects.csv", record_pages.import_rejects, name="import-rejects"),
    path("records/<str:pk>/", record_pages.record_detail, name="record-detail"),
    path("records/<str:pk>/similar/", record_pages.record_similar, name="record-similar"),
    path("records/<str:pk>/notice/", record_pages.record_notice, name="record-notice"),
    path("records/<str:pk>/outcome/", record_pages.record_outcome, name="record-outcome"),
]

handler404 = "core.api.errors.not_found"
handler500 = "core.api.errors.server_error"
