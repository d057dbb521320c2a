from rest_framework.routers import DefaultRouter

from predictions.views import MetadataViewSet, ModelViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("metadata", MetadataViewSet, basename="metadata")
router.register("models", ModelViewSet, basename="models")

urlpatterns = router.urls
