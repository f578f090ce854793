"""What the person who clicked or typed is told when something fails: one rule for commands and components."""

from __future__ import annotations

import logging
import time
import uuid

import hikari
from lightbulb.prefab import checks, cooldowns

from hanabi.errors import CooldownActive, DomainError
from hanabi.ui.permissions import permission_names

log = logging.getLogger(__name__)

UNKNOWN_INTERACTION = 10062  # Discord's code for an interaction that can no longer be answered
APOLOGY = "Sorry, something went wrong on my side. If it keeps happening, report error id `{}`."


class InteractionExpired(Exception):
    """Raised where a command starts when its interaction can no longer be answered in time (overload)."""


def interaction_expired(cause: BaseException) -> bool:
    """Whether the interaction expired before it was answered: too old when its command started, or Discord
    refused the answer (not answered within 3 s).

    Nobody is waiting for a reply then, and another attempt would be refused too: the bot was too slow, which is
    not a bug with a traceback to log.
    """
    if isinstance(cause, InteractionExpired):
        return True
    return isinstance(cause, hikari.NotFoundError) and cause.code == UNKNOWN_INTERACTION


def friendly_error(cause: BaseException) -> str | None:
    """The user-facing text for an error that is the user's to fix; None for a bug on our side."""
    if isinstance(cause, CooldownActive):
        return f"{cause.user_message} Try again <t:{int(cause.until)}:R>."
    if isinstance(cause, DomainError):
        return cause.user_message
    if isinstance(cause, cooldowns.OnCooldown):
        return f"Slow down a little: try again <t:{int(time.time() + cause.remaining) + 1}:R>."
    if isinstance(cause, checks.NotOwner):
        return "Only the bot's owners can use this command."
    if isinstance(cause, checks.MissingRequiredPermission):
        return f"You need the {permission_names(cause.missing)} permission to use this command."
    if isinstance(cause, checks.BotMissingRequiredPermissions):
        return f"I need the {permission_names(cause.missing)} permission here to do that."
    return None


def error_reply(cause: BaseException, *, what: str, guild_id: int | None, user_id: int) -> tuple[str, bool]:
    """The reply for a failure and whether it was the user's to fix. A bug on our side gets an error id that is
    logged with the traceback, so a report can be matched to it."""
    message = friendly_error(cause)
    if message is not None:
        return message, True
    error_id = uuid.uuid4().hex[:8]
    log.error(
        "%s failed [error id %s] (guild %s, user %s)",
        what,
        error_id,
        guild_id,
        user_id,
        exc_info=(type(cause), cause, cause.__traceback__),
    )
    return APOLOGY.format(error_id), False
