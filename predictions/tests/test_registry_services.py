import pytest
from django.db import IntegrityError, transaction

from predictions import selectors
from predictions.models import ModelVersion, PromotionEvent
from predictions.services import (
    RegistryError,
    demo_model_ensure,
    model_version_promote,
    model_version_register,
    model_version_rollback,
)


@pytest.fixture
def three_versions(db, german_credit_trained):
    return [model_version_register(trained=german_credit_trained, name="credit") for _ in range(3)]


def _status(name="credit"):
    return {v.version: v.status for v in ModelVersion.objects.filter(name=name)}


def test_promotion_archives_the_previous_production_version(three_versions, admin_user):
    v1, v2, _ = three_versions
    model_version_promote(model_version=v1, user=admin_user)
    assert _status() == {1: "production", 2: "staging", 3: "staging"}
    model_version_promote(model_version=v2)
    assert _status() == {1: "archived", 2: "production", 3: "staging"}
    event = PromotionEvent.objects.first()
    assert event is not None and event.model_version == v2 and event.previous == v1


def test_rollback_walks_back_through_production_history(three_versions):
    v1, v2, v3 = three_versions
    for version in (v1, v2, v3):
        model_version_promote(model_version=version)
    assert model_version_rollback(name="credit").version == 2
    assert _status() == {1: "archived", 2: "production", 3: "archived"}
    assert model_version_rollback(name="credit").version == 1
    with pytest.raises(RegistryError, match="no earlier production version"):
        model_version_rollback(name="credit")
    assert _status()[1] == "production"


def test_rollback_without_production_is_refused(three_versions):
    with pytest.raises(RegistryError, match="no production version"):
        model_version_rollback(name="credit")


def test_the_database_allows_one_production_version_per_name(three_versions):
    v1, v2, _ = three_versions
    model_version_promote(model_version=v1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(status="production")


def test_a_promotion_reaches_the_serving_cache_within_the_refresh_window(three_versions, settings):
    settings.MODEL_REFRESH_SECONDS = 0
    selectors.loaded_model_cache_clear()
    v1, v2, _ = three_versions
    model_version_promote(model_version=v1)
    assert selectors.loaded_model_get(name="credit").model_id == "credit@1"
    model_version_promote(model_version=v2)  # as if done by another process
    assert selectors.loaded_model_get(name="credit").model_id == "credit@2"


def test_the_serving_cache_keeps_its_answer_inside_the_window(three_versions, settings, django_assert_num_queries):
    settings.MODEL_REFRESH_SECONDS = 5
    selectors.loaded_model_cache_clear()
    model_version_promote(model_version=three_versions[0])
    selectors.loaded_model_get(name="credit")
    with django_assert_num_queries(0):
        assert selectors.loaded_model_get(name="credit").model_id == "credit@1"


def test_a_tampered_registry_artifact_is_refused(three_versions):
    selectors.loaded_model_cache_clear()
    ModelVersion.objects.filter(pk=three_versions[0].pk).update(artifact_sha256="0" * 64)
    with pytest.raises(Exception, match="SHA-256 mismatch"):
        selectors.loaded_model_get(model_id="credit@1")


def test_unknown_models_and_versions_are_reported(three_versions):
    with pytest.raises(selectors.ModelNotFound, match="does not exist"):
        selectors.loaded_model_get(name="nope")
    with pytest.raises(selectors.ModelNotFound, match="has no production version"):
        selectors.loaded_model_get(name="credit")
    with pytest.raises(selectors.ModelNotFound, match="credit@9"):
        selectors.loaded_model_get(model_id="credit@9")
    with pytest.raises(selectors.ModelNotFound, match="name@version"):
        selectors.loaded_model_get(model_id="credit")


@pytest.mark.django_db
def test_the_demo_model_is_trained_once_and_kept_in_production():
    version, trained = demo_model_ensure()
    assert trained and version.model_id == "credit@1" and version.status == "production"
    assert version.metrics["roc_auc"] >= 0.75
    schema = {f["name"]: f for f in version.feature_schema}
    assert schema["age_in_years"]["description"] == "Applicant's age, in years."
    again, trained_again = demo_model_ensure()
    assert again.pk == version.pk and not trained_again
    ModelVersion.objects.filter(pk=version.pk).update(status="archived")
    restored, trained_third = demo_model_ensure()
    assert restored.pk == version.pk and restored.status == "production" and not trained_third
    assert ModelVersion.objects.count() == 1


def test_registry_commands_refuse_bad_input_with_one_line_errors(three_versions):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="credit@9' does not exist"):
        call_command("model_promote", "credit@9", "--reason", "r")
    with pytest.raises(CommandError, match="no production version"):
        call_command("model_rollback", "credit", "--reason", "r")
    with pytest.raises(CommandError, match="--name"):
        call_command("train_model", csv="x.csv", target="t", positive="p", name="bad name!")
    assert not ModelVersion.objects.filter(status="production").exists()
