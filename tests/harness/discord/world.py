"""The fake's world state: guilds, channels, roles and members, each able to render its wire payload."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Protocol

from tests.harness.payloads import JSON, ChannelType, Perm, iso, now, parse_iso, user_payload


class WorldHooks(Protocol):
    """What world objects need from the server: ids, the bot's identity and a way to announce changes."""

    bot_user_id: int

    def new_id(self) -> int: ...

    def notify(self, event: str, data: JSON, *, guild_id: int | None) -> None: ...

    def register_user(self, user: JSON) -> None: ...


@dataclasses.dataclass(eq=False)
class FakeRole:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 1
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    def payload(self) -> JSON:
        body: JSON = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            body["tags"] = {"bot_id": str(self.bot_id)}
        return body


@dataclasses.dataclass(eq=False)
class FakeChannel:
    id: int
    name: str
    type: int = ChannelType.GUILD_TEXT
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    permission_overwrites: list[JSON] = dataclasses.field(default_factory=list)
    recipients: list[JSON] = dataclasses.field(default_factory=list)  # DM channels only
    deleted: bool = False
    # Test hook: every message send here answers 403 50013 Missing Permissions.
    deny_send: bool = False
    last_message_id: int | None = None

    def set_overwrite(self, target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False) -> None:
        """Add or replace a permission overwrite (type 0 = role, 1 = member)."""
        self.permission_overwrites = [o for o in self.permission_overwrites if int(o["id"]) != target_id]
        self.permission_overwrites.append(
            {"id": str(target_id), "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}
        )

    @property
    def is_dm(self) -> bool:
        return self.type == ChannelType.DM

    def payload(self) -> JSON:
        if self.is_dm:
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                "recipients": self.recipients,
                "flags": 0,
            }
        body: JSON = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": self.permission_overwrites,
            "nsfw": self.nsfw,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "flags": 0,
        }
        if self.type in (ChannelType.GUILD_TEXT, ChannelType.GUILD_NEWS):
            body |= {
                "topic": self.topic,
                "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                "rate_limit_per_user": 0,
                "default_auto_archive_duration": 1440,
                "last_pin_timestamp": None,
            }
        elif self.type in (ChannelType.GUILD_VOICE, ChannelType.GUILD_STAGE):
            body |= {
                "bitrate": 64000,
                "user_limit": 0,
                "rtc_region": None,
                "video_quality_mode": 1,
                "last_message_id": None,
                "rate_limit_per_user": 0,
            }
        return body

    def partial(self) -> JSON:
        """The shape used in interaction ``channel`` and ``resolved.channels``."""
        body = self.payload()
        body.pop("recipients", None)
        return body


@dataclasses.dataclass(eq=False)
class FakeMember:
    user: JSON
    guild_id: int
    roles: list[int] = dataclasses.field(default_factory=list)  # without @everyone, like the wire
    nick: str | None = None
    joined_at: str = dataclasses.field(default_factory=iso)
    communication_disabled_until: str | None = None
    deaf: bool = False
    mute: bool = False

    @property
    def id(self) -> int:
        return int(self.user["id"])

    @property
    def username(self) -> str:
        return str(self.user["username"])

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    @property
    def timed_out(self) -> bool:
        until = self.communication_disabled_until
        return until is not None and parse_iso(until) > now()

    def payload(self, *, with_user: bool = True) -> JSON:
        body: JSON = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": self.deaf,
            "mute": self.mute,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": self.communication_disabled_until,
        }
        if with_user:
            body["user"] = self.user
        return body


class FakeGuild:
    """A guild in the fake world. Mutations made after the bot connected are announced over the gateway."""

    def __init__(self, hooks: WorldHooks, guild_id: int, name: str, owner_id: int) -> None:
        self._hooks = hooks
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.roles: dict[int, FakeRole] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.members: dict[int, FakeMember] = {}
        self.voice_states: dict[int, JSON] = {}  # user_id -> voice state payload
        self.scheduled_events: dict[int, JSON] = {}
        self.automod_rules: dict[int, JSON] = {}
        self.bans: dict[int, JSON] = {}
        self.preferred_locale = "en-US"
        self.unavailable = False
        # @everyone shares the guild id; Discord puts it at position 0.
        self.roles[guild_id] = FakeRole(
            id=guild_id, guild_id=guild_id, name="@everyone", permissions=Perm.EVERYONE_DEFAULT, position=0
        )

    # -- factories ---------------------------------------------------------------------------------------------

    def add_role(
        self,
        name: str,
        permissions: int = 0,
        position: int | None = None,
        *,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
    ) -> FakeRole:
        if position is None:
            # Like Discord, a new role lands at the bottom (position 1) and pushes the others up, so the bot's
            # managed role stays above it and can assign it.
            for other in self.roles.values():
                if other.id != self.id:
                    other.position += 1
                    self._hooks.notify(
                        "GUILD_ROLE_UPDATE", {"guild_id": str(self.id), "role": other.payload()}, guild_id=self.id
                    )
            position = 1
        role = FakeRole(
            id=self._hooks.new_id(),
            guild_id=self.id,
            name=name,
            permissions=permissions,
            position=position,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        self.roles[role.id] = role
        self._hooks.notify("GUILD_ROLE_CREATE", {"guild_id": str(self.id), "role": role.payload()}, guild_id=self.id)
        return role

    def _add_channel(
        self, name: str, channel_type: int, *, topic: str | None, parent: FakeChannel | None
    ) -> FakeChannel:
        channel = FakeChannel(
            id=self._hooks.new_id(),
            name=name,
            type=channel_type,
            guild_id=self.id,
            position=len(self.channels),
            topic=topic,
            parent_id=parent.id if parent else None,
        )
        self.channels[channel.id] = channel
        self._hooks.notify("CHANNEL_CREATE", channel.payload(), guild_id=self.id)
        return channel

    def add_text_channel(
        self, name: str = "general", *, topic: str | None = None, parent: FakeChannel | None = None
    ) -> FakeChannel:
        return self._add_channel(name, ChannelType.GUILD_TEXT, topic=topic, parent=parent)

    def add_voice_channel(self, name: str = "Voice", *, parent: FakeChannel | None = None) -> FakeChannel:
        return self._add_channel(name, ChannelType.GUILD_VOICE, topic=None, parent=parent)

    def add_category(self, name: str = "Category") -> FakeChannel:
        return self._add_channel(name, ChannelType.GUILD_CATEGORY, topic=None, parent=None)

    def add_member(
        self,
        username: str | None = None,
        roles: list[FakeRole | int] | tuple[FakeRole | int, ...] = (),
        *,
        bot: bool = False,
        nick: str | None = None,
        user_id: int | None = None,
        user: JSON | None = None,
    ) -> FakeMember:
        """Add a member; ``user``/``user_id`` reuse an existing user (e.g. the same person in two guilds)."""
        if user is None:
            uid = user_id if user_id is not None else self._hooks.new_id()
            user = user_payload(uid, username or f"user{len(self.members) + 1}", bot=bot)
        uid = int(user["id"])
        self._hooks.register_user(user)
        member = FakeMember(
            user=user,
            guild_id=self.id,
            roles=[r.id if isinstance(r, FakeRole) else int(r) for r in roles],
            nick=nick,
        )
        self.members[uid] = member
        self._hooks.notify("GUILD_MEMBER_ADD", member.payload() | {"guild_id": str(self.id)}, guild_id=self.id)
        return member

    # -- lookups -------------------------------------------------------------------------------------------------

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    @property
    def bot_member(self) -> FakeMember:
        return self.members[self._hooks.bot_user_id]

    @property
    def bot_role(self) -> FakeRole:
        """The managed "Hanabi" role Discord creates for the bot when it joins."""
        return next(r for r in self.roles.values() if r.bot_id == self._hooks.bot_user_id)

    def set_bot_permissions(self, permissions: int) -> None:
        """Replace the bot's managed-role permissions (e.g. drop ADMINISTRATOR for permission tests)."""
        role = self.bot_role
        role.permissions = permissions
        self._hooks.notify("GUILD_ROLE_UPDATE", {"guild_id": str(self.id), "role": role.payload()}, guild_id=self.id)

    def delete_channel(self, channel: FakeChannel) -> None:
        """Mark a channel deleted: later REST calls on it answer 404 10003 Unknown Channel."""
        channel.deleted = True
        self._hooks.notify("CHANNEL_DELETE", channel.payload(), guild_id=self.id)

    def remove_member(self, member: FakeMember) -> None:
        """The member leaves the guild."""
        self.members.pop(member.id, None)
        self.voice_states.pop(member.id, None)
        self._hooks.notify("GUILD_MEMBER_REMOVE", {"guild_id": str(self.id), "user": member.user}, guild_id=self.id)

    @property
    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.type == ChannelType.GUILD_TEXT and not c.deleted]

    @property
    def default_channel(self) -> FakeChannel:
        channels = self.text_channels
        if not channels:
            raise LookupError(f"guild {self.name} has no text channel")
        return channels[0]

    def member(self, user_id: int) -> FakeMember:
        return self.members[user_id]

    def channel(self, name_or_id: str | int) -> FakeChannel:
        for channel in self.channels.values():
            if name_or_id in (channel.id, channel.name):
                return channel
        raise LookupError(f"no channel {name_or_id!r} in guild {self.name}")

    def role(self, name_or_id: str | int) -> FakeRole:
        for role in self.roles.values():
            if name_or_id in (role.id, role.name):
                return role
        raise LookupError(f"no role {name_or_id!r} in guild {self.name}")

    def top_role_position(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return 1 << 30  # the owner outranks everything
        member = self.members[user_id]
        return max((self.roles[r].position for r in member.roles if r in self.roles), default=0)

    # -- permissions ---------------------------------------------------------------------------------------------

    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return Perm.ALL
        member = self.members.get(user_id)
        perms = self.everyone.permissions
        if member is not None:
            for role_id in member.roles:
                if role := self.roles.get(role_id):
                    perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        return perms

    def permissions_for(self, user_id: int, channel: FakeChannel | int | None = None) -> int:
        """Discord's permission algorithm: base, then @everyone, role and member overwrites, then timeouts."""
        perms = self.base_permissions(user_id)
        if perms == Perm.ALL:
            return perms
        ch = self.channels.get(channel) if isinstance(channel, int) else channel
        if ch is not None:
            overwrites = {int(o["id"]): o for o in ch.permission_overwrites}
            if everyone := overwrites.get(self.id):
                perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
            member = self.members.get(user_id)
            role_ids = member.roles if member else []
            allow = deny = 0
            for role_id in role_ids:
                if (o := overwrites.get(role_id)) is not None and o["type"] == 0:
                    allow |= int(o["allow"])
                    deny |= int(o["deny"])
            perms = (perms & ~deny) | allow
            if (o := overwrites.get(user_id)) is not None and o["type"] == 1:
                perms = (perms & ~int(o["deny"])) | int(o["allow"])
        member = self.members.get(user_id)
        if member is not None and member.timed_out:
            perms &= Perm.TIMED_OUT
        return perms

    # -- payloads ------------------------------------------------------------------------------------------------

    def _guild_fields(self) -> JSON:
        system_channel = self.text_channels[0].id if self.text_channels else None
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(system_channel) if system_channel else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
            "incidents_data": None,
        }

    def rest_payload(self, *, with_counts: bool = False) -> JSON:
        body = self._guild_fields() | {"max_members": 500000, "max_presences": None}
        if with_counts:
            body |= {"approximate_member_count": len(self.members), "approximate_presence_count": 0}
        return body

    def gateway_payload(self, *, members_intent: bool, presences_intent: bool, join: bool) -> JSON:
        """GUILD_CREATE data. ``unavailable: false`` marks an outage-recovery/startup guild; a join omits it."""
        if members_intent:
            members = list(self.members.values())
        else:
            # Without GUILD_MEMBERS Discord only sends the bot itself and members in voice.
            wanted = {self._hooks.bot_user_id, *self.voice_states}
            members = [m for m in self.members.values() if m.id in wanted]
        member_ids = {m.id for m in members}
        body = self._guild_fields() | {
            "joined_at": self.bot_member.joined_at,
            "large": len(self.members) > 250,
            "member_count": len(self.members),
            "channels": [c.payload() for c in self.channels.values() if not c.deleted],
            "threads": [],
            "members": [m.payload() for m in members],
            # Voice states must reference members present in this payload or hikari raises a KeyError.
            "voice_states": [
                {k: v for k, v in vs.items() if k not in ("guild_id", "member")}
                for uid, vs in self.voice_states.items()
                if uid in member_ids
            ],
            "presences": [
                {
                    "user": {"id": str(m.id)},
                    "guild_id": str(self.id),
                    "status": "online",
                    "activities": [],
                    "client_status": {"desktop": "online"},
                }
                for m in members
                if presences_intent and not m.user.get("bot")
            ],
            "stage_instances": [],
            "guild_scheduled_events": list(self.scheduled_events.values()),
            "soundboard_sounds": [],
        }
        if not join:
            body["unavailable"] = False
        return body

    def resolve_member(self, user: FakeMember | int | None) -> FakeMember:
        if isinstance(user, FakeMember):
            return user
        if user is not None:
            return self.members[user]
        # Default actor: the first ordinary member, falling back to the owner.
        for member in self.members.values():
            if not member.user.get("bot") and member.id != self.owner_id:
                return member
        return self.members[self.owner_id]


def timeout_in(delta: datetime.timedelta) -> str:
    """Helper for tests setting a member timeout: an ISO timestamp ``delta`` from now."""
    return iso(now() + delta)


def as_id(value: Any) -> int:
    """Accept a world object, a payload dict or an id."""
    if isinstance(value, (FakeMember, FakeRole, FakeChannel, FakeGuild)):
        return value.id
    if isinstance(value, dict):
        return int(value["id"])
    return int(value)
