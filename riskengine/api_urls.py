from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts.apis import TokenObtainView, TokenRefreshView, TokenVerifyView
from core.api.errors import api_not_found
from monitoring.apis import AlertViewSet, MonitoringViewSet
from predictions.apis import MetadataViewSet, ModelViewSet
from records.apis import PredictViewSet, RecordViewSet
from releases.apis import ReleaseViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("metadata", MetadataViewSet, basename="metadata")
router.register(r"models/(?P<name>[-a-zA-Z0-9_]+)/release", ReleaseViewSet, basename="release")
router.register("models", ModelViewSet, basename="models")
router.register("monitoring/alerts", AlertViewSet, basename="monitoring-alerts")
router.register("monitoring", MonitoringViewSet, basename="monitoring")
router.register("predict", PredictViewSet, basename="predict")
router.register("records", RecordViewSet, basename="records")

urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="token_obtain"),
    path("token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("token/verify/", TokenVerifyView.as_view(), name="token_verify"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves its script as a file, so the CSP needs no inline scripts
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    *router.urls,
    # last: any other /api/ path is the API's JSON 404, in debug too (not Django's HTML URL list)
    re_path(r"^.*$", api_not_found),
]
