from __future__ import annotations

import json
import logging
import sys

from services.api.observability import REQUEST_ID, JsonFormatter, log_config


def test_json_log_lines_carry_the_request_id() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("relay.api", logging.WARNING, __file__, 1, "model %s failed", ("7",), None)
    token = REQUEST_ID.set("abc123")
    try:
        line = json.loads(formatter.format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["request_id"] == "abc123" and line["message"] == "model 7 failed" and line["level"] == "warning"
    assert json.loads(formatter.format(record))["request_id"] == "-"  # outside a request


def test_exceptions_stay_in_the_log_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("relay.api", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["error"]


def test_text_format_is_available_for_terminals() -> None:
    assert "()" not in log_config("text")["formatters"]["default"]
    assert log_config("json")["formatters"]["default"]["()"] is JsonFormatter
