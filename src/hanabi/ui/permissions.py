"""Discord's permission arithmetic over hikari's cache: base permissions from roles, then channel overwrites."""

from __future__ import annotations

import hikari

ALL_PERMISSIONS = hikari.Permissions.all_permissions()


def effective_permissions(
    cache: hikari.api.Cache,
    guild_id: int,
    user_id: int,
    role_ids: tuple[int, ...] | list[int] | None,
    channel_id: int | None = None,
) -> hikari.Permissions:
    """What `user_id` (holding `role_ids`) may do in the guild, or in `channel_id` when given.

    Follows Discord's documented order: owner and Administrator have everything; otherwise @everyone and the
    member's roles are OR-ed, then the channel's @everyone, role and member overwrites apply in that order.
    Threads take their parent channel's overwrites.
    """
    guild = cache.get_guild(guild_id)
    if guild is not None and guild.owner_id == user_id:
        return ALL_PERMISSIONS
    roles = cache.get_roles_view_for_guild(guild_id)
    held = set(role_ids or ())
    permissions = hikari.Permissions.NONE
    everyone = roles.get(hikari.Snowflake(guild_id))
    if everyone is not None:
        permissions |= everyone.permissions
    for role_id in held:
        role = roles.get(hikari.Snowflake(role_id))
        if role is not None:
            permissions |= role.permissions
    if permissions & hikari.Permissions.ADMINISTRATOR:
        return ALL_PERMISSIONS
    if channel_id is None:
        return permissions

    channel = cache.get_guild_channel(channel_id) or cache.get_thread(channel_id)
    if isinstance(channel, hikari.GuildThreadChannel):
        channel = cache.get_guild_channel(channel.parent_id)
    if channel is None:
        return permissions
    overwrites = channel.permission_overwrites
    everyone_overwrite = overwrites.get(hikari.Snowflake(guild_id))
    if everyone_overwrite is not None:
        permissions = (permissions & ~everyone_overwrite.deny) | everyone_overwrite.allow
    allow = deny = hikari.Permissions.NONE
    for overwrite in overwrites.values():
        if overwrite.type == hikari.PermissionOverwriteType.ROLE and overwrite.id in held:
            allow |= overwrite.allow
            deny |= overwrite.deny
    permissions = (permissions & ~deny) | allow
    member_overwrite = overwrites.get(hikari.Snowflake(user_id))
    if member_overwrite is not None and member_overwrite.type == hikari.PermissionOverwriteType.MEMBER:
        permissions = (permissions & ~member_overwrite.deny) | member_overwrite.allow
    return permissions


def missing_permissions(have: hikari.Permissions, need: hikari.Permissions) -> hikari.Permissions:
    if have & hikari.Permissions.ADMINISTRATOR:
        return hikari.Permissions.NONE
    return need & ~have


def permission_names(permissions: hikari.Permissions) -> str:
    """`**Manage Roles** and **Kick Members**` — for replies that say what is missing."""
    names = [(p.name or "").replace("_", " ").title() for p in hikari.Permissions if p in permissions and p.name]
    return " and ".join(f"**{name}**" for name in names) or "required"
