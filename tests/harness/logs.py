"""Collect log records that mean the bot misbehaved, independent of pytest's caplog."""

from __future__ import annotations

import logging
import types

# hikari swallows deserialization/handler errors and logs them with this text (event_manager_base.py), sometimes
# below ERROR; a missing payload field would otherwise be a silent no-op.
_CONDUIT_MARKER = "Exception occurred in raw event dispatch conduit"


class LogWatcher(logging.Handler):
    """A logging handler keeping ERROR+ records and hikari's raw-dispatch-conduit failures.

    Use as a context manager (attaches to the root logger) or call :meth:`install`/:meth:`uninstall`.
    """

    def __init__(self, level: int = logging.ERROR, *, ignore: tuple[str, ...] = ()) -> None:
        super().__init__(logging.DEBUG)  # receive everything; filtering happens in emit
        self.threshold = level
        self.ignore = ignore
        self.records: list[logging.LogRecord] = []
        self._logger: logging.Logger | None = None
        self._old_level: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is itself worth reporting
            message = str(record.msg)
        if record.levelno < self.threshold and _CONDUIT_MARKER not in message:
            return
        if any(fragment in message for fragment in self.ignore):
            return
        self.records.append(record)

    def problems(self) -> list[str]:
        """Human-readable lines, including exception text, for every collected record."""
        out: list[str] = []
        for record in self.records:
            line = f"{record.levelname} {record.name}: {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                line += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
            out.append(line)
        return out

    def clear(self) -> None:
        self.records.clear()

    def install(self, logger: logging.Logger | None = None) -> LogWatcher:
        self._logger = logger or logging.getLogger()
        self._logger.addHandler(self)
        # Make sure ERROR records from library loggers reach us even if the root level is higher.
        self._old_level = self._logger.level
        if self._logger.level > self.threshold or self._logger.level == logging.NOTSET:
            self._logger.setLevel(min(self.threshold, logging.WARNING))
        return self

    def uninstall(self) -> None:
        if self._logger is not None:
            self._logger.removeHandler(self)
            if self._old_level is not None:
                self._logger.setLevel(self._old_level)
            self._logger = None

    def __enter__(self) -> LogWatcher:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.uninstall()
