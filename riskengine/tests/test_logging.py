import json
import logging

from riskengine.logging import JsonFormatter, RequestIdFilter, request_id_var


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
