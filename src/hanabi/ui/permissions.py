"""Permission arithmetic from hikari's cache: a member's permissions in a channel, and role hierarchy.

Members are not cached (no GUILD_MEMBERS intent), so callers pass the role ids that came with the event.

`effective_permissions` serves the hybrid (prefix) bridge; `permissions_in` and `top_role_position` serve
automod, which already holds the guild and its roles view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import hikari

from hanabi.infra.clock import Clock

ALL_PERMISSIONS = hikari.Permissions.all_permissions()


def effective_permissions(
    cache: hikari.api.Cache,
    guild_id: int,
    user_id: int,
    role_ids: Iterable[int] | None,
    channel: hikari.GuildChannel | None = None,
) -> hikari.Permissions:
    """`permissions_in` over hikari's cache (guild, roles), for a member known by id and role ids.

    `channel` is where overwrites come from: for a thread, its parent (`ChannelDirectory.permission_channel`).
    """
    guild = cache.get_guild(guild_id)
    if guild is None:
        return hikari.Permissions.NONE
    return permissions_in(guild, user_id, role_ids or (), channel, cache.get_roles_view_for_guild(guild_id))


def permissions_in(
    guild: hikari.Guild,
    user_id: int,
    role_ids: Iterable[int],
    channel: hikari.GuildChannel | None,
    roles: Mapping[hikari.Snowflake, hikari.Role],
) -> hikari.Permissions:
    """Discord's algorithm: owner, @everyone + roles, administrator, then @everyone/role/member overwrites."""
    if user_id == guild.owner_id:
        return ALL_PERMISSIONS
    role_ids = list(role_ids)
    everyone = roles.get(guild.id)
    perms = everyone.permissions if everyone is not None else hikari.Permissions.NONE
    for role_id in role_ids:
        role = roles.get(hikari.Snowflake(role_id))
        if role is not None:
            perms |= role.permissions
    if perms & hikari.Permissions.ADMINISTRATOR:
        return ALL_PERMISSIONS
    if not isinstance(channel, hikari.PermissibleGuildChannel):
        return perms
    overwrites = channel.permission_overwrites
    if (own := overwrites.get(guild.id)) is not None:
        perms = (perms & ~own.deny) | own.allow
    allow = deny = hikari.Permissions.NONE
    for role_id in role_ids:
        overwrite = overwrites.get(hikari.Snowflake(role_id))
        if overwrite is not None and overwrite.type == hikari.PermissionOverwriteType.ROLE:
            allow |= overwrite.allow
            deny |= overwrite.deny
    perms = (perms & ~deny) | allow
    member = overwrites.get(hikari.Snowflake(user_id))
    if member is not None and member.type == hikari.PermissionOverwriteType.MEMBER:
        perms = (perms & ~member.deny) | member.allow
    return perms


def missing_permissions(have: hikari.Permissions, required: hikari.Permissions) -> hikari.Permissions:
    """The bits of `required` that `have` lacks (Administrator implies everything)."""
    if have & hikari.Permissions.ADMINISTRATOR:
        return hikari.Permissions.NONE
    return required & ~have


# Where Discord's UI names a permission differently from the API flag.
_UI_NAMES = {
    hikari.Permissions.MANAGE_GUILD: "Manage Server",
    hikari.Permissions.MODERATE_MEMBERS: "Timeout Members",
    hikari.Permissions.MANAGE_EVENTS: "Manage Events",
    hikari.Permissions.VIEW_CHANNEL: "View Channels",
    hikari.Permissions.MANAGE_THREADS: "Manage Threads and Posts",
    hikari.Permissions.USE_APPLICATION_COMMANDS: "Use Application Commands",
}


def permission_label(permission: hikari.Permissions) -> str:
    return _UI_NAMES.get(permission) or (permission.name or "").replace("_", " ").title()


def permission_labels(permissions: hikari.Permissions) -> list[str]:
    return [permission_label(p) for p in hikari.Permissions if p and p in permissions and p.name]


def permission_names(permissions: hikari.Permissions) -> str:
    """`**Manage Messages** and **Kick Members**`, the way Discord's UI names permissions."""
    return " and ".join(f"**{name}**" for name in permission_labels(permissions)) or "required"


def top_role_position(
    guild: hikari.Guild, user_id: int, role_ids: Iterable[int], roles: Mapping[hikari.Snowflake, hikari.Role]
) -> int:
    """The position of the member's highest role; the owner outranks everyone."""
    if user_id == guild.owner_id:
        return 1 << 30
    return max((roles[r].position for r in map(hikari.Snowflake, role_ids) if r in roles), default=0)


@dataclass(frozen=True, slots=True)
class Standing:
    """What automod needs about a message's author in a channel, and what the bot may do there.

    Computed for one member, it holds for every member with the same roles in that channel unless they are the
    owner or have an overwrite of their own there (`applies_to`).
    """

    can_manage_messages: bool  # moderators are exempt
    can_mention_everyone: bool
    protected: bool  # the owner, or at or above the bot's top role: never actioned
    bot_permissions: hikari.Permissions
    owner_id: int
    personal_overwrites: frozenset[int]  # members with an overwrite of their own in the channel

    def applies_to(self, member_id: int) -> bool:
        return member_id != self.owner_id and member_id not in self.personal_overwrites


StandingKey = tuple[int, int, tuple[int, ...]]  # guild, channel, the member's role ids


class StandingCache:
    """`Standing` per (guild, channel, roles), so automod computes it once per role set and channel.

    Computing it copies the guild, its roles, the channel and the bot's member out of hikari's cache and runs
    Discord's overwrite arithmetic twice: a quarter of automod's CPU per message (docs/benchmarks.md). Entries are
    dropped on every role, channel or guild event (what hikari updates those cache entries from) and expire after
    `ttl` seconds at the latest, for changes no event of ours sees (the bot's own roles: GUILD_MEMBER_UPDATE needs
    the members intent). At most `limit` entries; the oldest go first.
    """

    def __init__(self, clock: Clock, *, ttl: float = 60.0, limit: int = 50_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._limit = limit
        self._entries: dict[StandingKey, tuple[float, Standing]] = {}

    def get(self, key: StandingKey) -> Standing | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= self._clock.monotonic():
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: StandingKey, standing: Standing) -> None:
        if len(self._entries) >= self._limit:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._clock.monotonic() + self._ttl, standing)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
