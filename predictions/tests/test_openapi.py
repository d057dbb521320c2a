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
