"""Execution hooks shared by commands."""

from __future__ import annotations

import lightbulb

from hanabi.config import Settings
from hanabi.errors import PermissionDenied


@lightbulb.hook(lightbulb.ExecutionSteps.CHECKS, skip_when_failed=True, name="owner_only")
def owner_only(_: lightbulb.ExecutionPipeline, ctx: lightbulb.Context, settings: Settings) -> None:
    """Only the ids in OWNER_IDS may run the command (help shows it as owner-only by this hook's name)."""
    if ctx.user.id not in settings.owner_ids:
        raise PermissionDenied("Only the bot's owners can use this command.")
