import json
import logging

from core.logging import JsonFormatter, RequestIdFilter, request_id_var


def test_json_lines_carry_the_request_id_and_extras():
    record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "msg": "scored %s", "args": ("a",)})
    record.status = 201
    token = request_id_var.set("req-123")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["message"] == "scored a"
    assert payload["request_id"] == "req-123"
    assert payload["status"] == 201
    assert payload["level"] == "info"


def test_each_response_is_logged_once_sent_with_its_request_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="riskengine.access"):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="trace-0001:abc")
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "riskengine.access"]
    assert record.getMessage() == "GET /healthz 200"
    assert (record.request_id, record.status, record.user) == ("trace-0001:abc", 200, None)
    assert JsonFormatter().format(record).count('"request_id": "trace-0001:abc"') == 1


def test_control_characters_in_the_path_are_escaped_in_the_access_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="riskengine.access"):
        client.get("/healthz\x1b[31m\x07FAKE 200")
    [record] = [r for r in caplog.records if r.name == "riskengine.access"]
    message = record.getMessage()
    assert "\x1b" not in message and "\x07" not in message
    assert "\\x1b[31m\\x07FAKE" in message
