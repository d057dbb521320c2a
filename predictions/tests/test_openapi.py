import pytest
import yaml


@pytest.mark.django_db
def test_the_schema_documents_every_endpoint_and_error_code(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for path in ("/api/predict/", "/api/predict/batch/", "/api/token/", "/api/token/refresh/", "/api/metadata/"):
        assert path in paths
    predict = paths["/api/predict/"]["post"]
    assert set(predict["responses"]) >= {"201", "400", "401", "404", "413", "415", "422", "429"}
    assert any(p["name"] == "Idempotency-Key" for p in predict["parameters"])
    assert predict["requestBody"]["content"]["application/json"]["examples"]
    assert {"jwtAuth", "ApiKeyAuth"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.django_db
def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower()


@pytest.mark.django_db
def test_every_operation_documents_its_error_codes(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"429", "503"} <= codes, (method, path)
            assert "Retry-After" in operation["responses"]["429"]["headers"]
            if operation.get("security") and {} not in operation["security"]:
                assert "401" in codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= codes and operation["requestBody"]["required"], (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)


def test_the_predict_bodies_carry_each_registered_versions_features(client, demo_model):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    components = schema["components"]["schemas"]
    features = components["FeaturesCreditV1"]  # identifier-safe names, for client generators
    spec = {item["name"]: item for item in demo_model.feature_schema}
    assert set(features["properties"]) == set(spec) and features["additionalProperties"] is False
    assert features["properties"]["purpose"]["enum"] == spec["purpose"]["choices"]
    assert features["properties"]["age_in_years"]["type"] == "integer"

    def resolve(schema):
        return components[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema

    ways = set()
    for alternative in map(resolve, components["PredictRequestRequest"]["oneOf"]):
        key = next(k for k in ("model", "model_id") if k in alternative["properties"])
        ways.add(f"{key} {resolve(alternative['properties'][key])['enum'][0]}")
        assert resolve(alternative["properties"]["features"]) is features
    assert ways == {"model credit", "model_id credit@1"}
    for name in ("BatchRequestRequest", "NearestQueryRequest"):
        for alternative in map(resolve, components[name]["oneOf"]):
            assert alternative["additionalProperties"] is False


def test_the_generic_bodies_stay_when_the_registry_is_empty(client, db):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    body = schema["components"]["schemas"]["PredictRequestRequest"]
    assert "oneOf" not in body and "features" in body["properties"]


def test_the_schema_is_valid_openapi_with_a_registered_model(demo_model):
    """With a version registered the schema carries its feature and protected bodies; the protected
    attributes are all optional, whose empty "required" list OpenAPI 3.0 refuses."""
    from django.core.management import call_command

    assert demo_model.protected_schema
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
