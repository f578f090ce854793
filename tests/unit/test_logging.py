from __future__ import annotations

import logging

from hanabi.infra.logging import REDACTED, RedactingFilter
from tests.harness.payloads import TEST_TOKEN

TOKEN = TEST_TOKEN


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


def test_known_secret_and_token_shapes_are_redacted() -> None:
    redactor = RedactingFilter(["s3cret-password"])
    record = _record("connecting with %s and %s", TOKEN, "postgresql://u:s3cret-password@h/db")
    redactor.filter(record)
    message = record.getMessage()
    assert TOKEN not in message
    assert "s3cret-password" not in message
    assert message.count(REDACTED) == 2


def test_interaction_tokens_in_paths_are_redacted() -> None:
    redactor = RedactingFilter()
    record = _record("POST /interactions/123/aW50ZXJhY3Rpb246MTIzOmFiY2RlZmdoaWprbG1ub3A/callback")
    redactor.filter(record)
    assert record.getMessage() == f"POST /interactions/123/{REDACTED}/callback"


def test_tracebacks_are_redacted() -> None:
    redactor = RedactingFilter()
    try:
        raise RuntimeError(f"bad token {TOKEN}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    redactor.filter(record)
    assert record.exc_text is not None
    assert TOKEN not in record.exc_text
