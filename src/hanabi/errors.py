"""Exception bases: one per layer, mapped to user-facing text in one error handler."""

from __future__ import annotations


class HanabiError(Exception):
    """Base of every error Hanabi raises on purpose."""


class DomainError(HanabiError):
    """A rule of the domain said no. `user_message` is safe to show to the person who asked."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class InvalidInput(DomainError):
    """The user's input was malformed; the message says what was wrong and what is accepted."""


class NotFound(DomainError):
    """The thing the user named does not exist (or is not visible to them)."""


class PermissionDenied(DomainError):
    """The caller (or the bot) lacks a permission the action needs."""


class CooldownActive(DomainError):
    """The caller must wait; `until` is a UTC timestamp in seconds."""

    def __init__(self, user_message: str, *, until: float) -> None:
        super().__init__(user_message)
        self.until = until


class ServiceUnavailable(DomainError):
    """An upstream service or optional feature is not available right now."""
