"""Permission arithmetic from hikari's cache: a member's permissions in a channel, and role hierarchy.

Members are not cached (no GUILD_MEMBERS intent), so callers pass the role ids that came with the event.

NOTE (moderation, issue 8): this file was accidentally overwritten while the moderation feature was being
written and has been reconstructed from its call sites in `hanabi/hybrid.py` (`effective_permissions`,
`missing_permissions`, `permission_names`); please check it against your original.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import hikari

ALL_PERMISSIONS = hikari.Permissions.all_permissions()


def effective_permissions(
    cache: hikari.api.Cache, guild_id: int, user_id: int, role_ids: Iterable[int], channel_id: int | None
) -> hikari.Permissions:
    """A member's permissions in a channel (or the guild when `channel_id` is None), from the cache."""
    guild = cache.get_guild(guild_id)
    if guild is None:
        return hikari.Permissions.NONE
    roles = cache.get_roles_view_for_guild(guild_id)
    channel = cache.get_guild_channel(channel_id) if channel_id is not None else None
    if channel is None and channel_id is not None:
        thread = cache.get_thread(channel_id)
        if thread is not None:
            channel = cache.get_guild_channel(thread.parent_id)
    return permissions_in(guild, user_id, role_ids, channel, roles)


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


def permission_names(permissions: hikari.Permissions) -> str:
    """`**Manage Messages** and **Kick Members**`, the way Discord's UI names permissions."""
    names = [(p.name or "").replace("_", " ").title() for p in hikari.Permissions if p and p in permissions and p.name]
    return " and ".join(f"**{name}**" for name in names) or "required"


def top_role_position(
    guild: hikari.Guild, user_id: int, role_ids: Iterable[int], roles: Mapping[hikari.Snowflake, hikari.Role]
) -> int:
    """The position of the member's highest role; the owner outranks everyone."""
    if user_id == guild.owner_id:
        return 1 << 30
    return max((roles[r].position for r in map(hikari.Snowflake, role_ids) if r in roles), default=0)
