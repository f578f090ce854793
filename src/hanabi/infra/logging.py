"""Logging setup: console and rotating file, with every token-shaped string redacted."""

from __future__ import annotations

import logging
import logging.handlers
import re
from collections.abc import Iterable
from pathlib import Path

# Discord bot tokens: <base64 id>.<timestamp>.<hmac>. Also catches tokens echoed inside URLs or reprs.
_DISCORD_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{25,}")
# Interaction / webhook tokens travel in REST paths; they are credentials for 15 minutes.
_WEBHOOK_PATH = re.compile(r"(/(?:webhooks/\d+|interactions/\d+)/)[A-Za-z0-9_.-]{20,}")
REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message so no secret reaches any handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _DISCORD_TOKEN.sub(REDACTED, text)
        return _WEBHOOK_PATH.sub(rf"\1{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str, log_file: Path | None, secrets: Iterable[str]) -> None:
    """Configure the root logger once; hikari's own log setup is disabled (`logs=None`)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hanabi", False):
            root.removeHandler(handler)
    redactor = RedactingFilter(secrets)
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(log_file, maxBytes=10_000_000, backupCount=5, encoding="utf-8")
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redactor)
        handler._hanabi = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # hikari logs every gateway payload at DEBUG (TRACE); keep that opt-in.
    logging.getLogger("hikari.gateway").setLevel(max(logging.INFO, root.level))
    logging.getLogger("hikari.ratelimits").setLevel(max(logging.INFO, root.level))
