"""MESSAGE_CREATE as the features that read every message need it, straight from the gateway payload.

Automod and prefix commands look at every message a guild sends, and almost always decide "nothing to do" from a
handful of fields: author, member roles, content, mentions. hikari would build a full `Message` for each (author,
member, mentions, embeds, attachments, components), an event, and a task per listener: about half of the bot's
CPU per message (docs/benchmarks.md, section 40). `EventIntake.on_message` hands handlers this view instead;
with no hikari listener for message events left, hikari builds nothing. A handler that needs the real event (a
prefix command) builds it from the same payload with hikari's event factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import hikari


@dataclass(frozen=True, slots=True)
class GatewayMessage:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    author_is_bot: bool
    author_is_system: bool
    webhook_id: int | None
    content: str
    user_mention_ids: tuple[int, ...]
    role_mention_ids: tuple[int, ...]
    member_role_ids: tuple[int, ...] | None  # None without a member object: DMs and webhooks

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> GatewayMessage:
        """Raises KeyError, TypeError or ValueError for a payload that is not a message."""
        author = payload["author"]
        guild_id = payload.get("guild_id")
        webhook_id = payload.get("webhook_id")
        member = payload.get("member")
        return cls(
            id=int(payload["id"]),
            channel_id=int(payload["channel_id"]),
            guild_id=int(guild_id) if guild_id is not None else None,
            author_id=int(author["id"]),
            author_is_bot=bool(author.get("bot", False)),
            author_is_system=bool(author.get("system", False)),
            webhook_id=int(webhook_id) if webhook_id is not None else None,
            content=payload.get("content") or "",
            user_mention_ids=tuple(int(user["id"]) for user in payload.get("mentions", ())),
            role_mention_ids=tuple(int(role_id) for role_id in payload.get("mention_roles", ())),
            member_role_ids=tuple(int(role_id) for role_id in member.get("roles", ())) if member else None,
        )


# Called in the order messages arrive, on the event loop: it must not block. Work that has to wait (a database
# read, an action) goes into a task the handler starts.
MessageHandler = Callable[[GatewayMessage, hikari.api.GatewayShard, dict[str, Any]], None]
