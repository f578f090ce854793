"""Answering component interactions a feature routes by custom-id prefix (hanabi.ui.router), with the same error
handling as commands (domain errors become an ephemeral reply, anything else an apology with an error id)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypedDict

import hikari

from hanabi.ui.errors import error_reply, interaction_expired

log = logging.getLogger(__name__)


class MentionSettings(TypedDict):
    mentions_everyone: bool
    user_mentions: bool
    role_mentions: bool


# Splat into respond/edit calls that carry text a user typed: `ctx.respond(..., **NO_MENTIONS)`.
NO_MENTIONS: Final[MentionSettings] = {"mentions_everyone": False, "user_mentions": False, "role_mentions": False}


class Responder:
    """Answers one component interaction: the first answer is the initial response, later ones follow-ups."""

    def __init__(self, interaction: hikari.ComponentInteraction) -> None:
        self.interaction = interaction
        self.responded = False

    async def ephemeral(self, content: str, **kwargs: object) -> None:
        if not self.responded:
            self.responded = True
            await self.interaction.create_initial_response(
                hikari.ResponseType.MESSAGE_CREATE,
                content,
                flags=hikari.MessageFlag.EPHEMERAL,
                **NO_MENTIONS,
                **kwargs,  # type: ignore[arg-type]
            )
        else:
            await self.interaction.execute(content, flags=hikari.MessageFlag.EPHEMERAL, **NO_MENTIONS, **kwargs)  # type: ignore[arg-type]

    async def update(self, **kwargs: object) -> None:
        """Edit the message the component sits on, as the initial response."""
        self.responded = True
        await self.interaction.create_initial_response(hikari.ResponseType.MESSAGE_UPDATE, **NO_MENTIONS, **kwargs)  # type: ignore[arg-type]


async def handle_component(
    interaction: hikari.ComponentInteraction, handler: Callable[[Responder], Awaitable[None]], *, feature: str
) -> None:
    responder = Responder(interaction)
    try:
        await handler(responder)
    except Exception as exc:
        if interaction_expired(exc):
            log.warning("a %s component click expired before it was answered (Discord allows 3 s)", feature)
            return
        message, _ = error_reply(
            exc,
            what=f"{feature} component {interaction.custom_id!r}",
            guild_id=interaction.guild_id,
            user_id=interaction.user.id,
        )
        await _safe_reply(responder, message, feature)


async def _safe_reply(responder: Responder, content: str, feature: str) -> None:
    try:
        await responder.ephemeral(content)
    except hikari.HTTPError as error:
        log.warning("could not deliver a %s component reply: %s", feature, error)
