"""Every change the dashboard can make, in one place: through the same services (and so the same rules) as the
commands, logged with who made it, and announced on the event bus so every bot process drops stale caches."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hanabi.errors import InvalidInput
from hanabi.infra.events import EventBus
from hanabi.repositories.dashboard import DashboardRepository
from hanabi.services.economy import EconomyService
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.services.moderation import ModerationService
from hanabi.services.music import MusicService
from hanabi.services.polls import PollService
from hanabi.services.scheduler import SchedulerService

log = logging.getLogger(__name__)

DJ_ROLE_TOPIC = "music.dj_role"

# Discord's client locales (https://discord.com/developers/docs/reference#locales).
LOCALES = (
    "id",
    "da",
    "de",
    "en-GB",
    "en-US",
    "es-ES",
    "es-419",
    "fr",
    "hr",
    "it",
    "lt",
    "hu",
    "nl",
    "no",
    "pl",
    "pt-BR",
    "ro",
    "fi",
    "sv-SE",
    "vi",
    "tr",
    "cs",
    "el",
    "bg",
    "ru",
    "uk",
    "hi",
    "th",
    "zh-CN",
    "ja",
    "zh-TW",
    "ko",
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a change from the dashboard."""

    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class Services:
    guild_settings: GuildSettingsService
    economy: EconomyService
    polls: PollService
    scheduler: SchedulerService
    moderation: ModerationService
    music: MusicService
    repository: DashboardRepository
    bus: EventBus


def validate_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidInput(f"`{locale}` is not a Discord locale. Use one of: {', '.join(LOCALES)}.")
    return locale


class GuildAdmin:
    """The dashboard's write side for one server, always on behalf of an `Actor`."""

    def __init__(self, services: Services, guild_id: int, actor: Actor) -> None:
        self.services = services
        self.guild_id = guild_id
        self.actor = actor

    async def log(self, action: str, detail: str) -> None:
        await self.services.repository.log_change(
            self.guild_id, self.actor.user_id, self.actor.username, action, detail
        )
        log.info(
            "dashboard change in guild %s by user %s: %s",
            self.guild_id,
            self.actor.user_id,
            action,
            extra={"guild_id": self.guild_id, "user_id": self.actor.user_id, "action": action},
        )

    # settings ------------------------------------------------------------------------------------------------------

    async def update_settings(
        self,
        *,
        prefix: str | None = None,
        timezone: str | None = None,
        locale: str | None = None,
        modlog_channel_id: int | bool | None = False,  # False: unchanged, None: off
    ) -> list[str]:
        current = await self.services.guild_settings.get(self.guild_id)
        changes: dict[str, object] = {}
        if prefix is not None and prefix != current.prefix:
            changes["prefix"] = prefix
        if timezone is not None and timezone != current.timezone:
            changes["timezone"] = timezone
        if locale is not None and locale != current.locale:
            changes["locale"] = validate_locale(locale)
        if modlog_channel_id is not False and modlog_channel_id != current.modlog_channel_id:
            changes["modlog_channel_id"] = modlog_channel_id
        if not changes:
            return []
        await self.services.guild_settings.update(self.guild_id, **changes)  # validates; publishes on the bus
        described = [f"{key} → {value if value is not None else 'off'}" for key, value in sorted(changes.items())]
        await self.log("settings", "; ".join(described))
        return described

    async def set_dj_role(self, role_id: int | None) -> bool:
        if role_id == await self.services.music.dj_role(self.guild_id):
            return False
        await self.services.music.set_dj_role(self.guild_id, role_id)
        await self.services.bus.publish(DJ_ROLE_TOPIC, {"guild_id": self.guild_id})
        await self.log("dj role", f"DJ role → {role_id or 'everyone'}")
        return True

    async def set_public_leaderboard(self, on: bool) -> bool:
        if on == await self.services.repository.public_leaderboard(self.guild_id):
            return False
        await self.services.repository.set_public_leaderboard(self.guild_id, on)
        await self.log("leaderboard", f"public leaderboard → {'on' if on else 'off'}")
        return True

    # automod -------------------------------------------------------------------------------------------------------

    async def set_rule(
        self,
        rule: str,
        *,
        enabled: bool | None = None,
        count: int | None = None,
        seconds: float | None = None,
        delete: bool | None = None,
        action: str | None = None,
        duration: str | None = None,
        escalate: bool | None = None,
        allowlist: str | None = None,
    ) -> None:
        await self.services.moderation.set_rule(
            self.guild_id,
            rule,
            enabled=enabled,
            count=count,
            seconds=seconds,
            delete=delete,
            action=action,
            duration=duration,
            escalate=escalate,
            allowlist=allowlist,
        )
        parts = {
            "enabled": enabled,
            "count": count,
            "seconds": seconds,
            "delete": delete,
            "action": action,
            "timeout": duration,
            "escalate": escalate,
            "allowlist": allowlist,
        }
        await self.log("automod rule", f"{rule}: " + ", ".join(f"{k}={v}" for k, v in parts.items() if v is not None))

    async def set_ladder(self, ladder: str | None, window: str | None) -> None:
        await self.services.moderation.set_ladder(self.guild_id, ladder, window)
        await self.log("automod ladder", f"ladder={ladder or '(unchanged)'}, window={window or '(unchanged)'}")

    async def set_exempt(self, *, role_id: int | None = None, channel_id: int | None = None, remove: bool) -> None:
        await self.services.moderation.set_exempt(self.guild_id, role_id=role_id, channel_id=channel_id, remove=remove)
        what = f"role {role_id}" if role_id is not None else f"channel {channel_id}"
        await self.log("automod exemption", f"{'removed' if remove else 'added'} {what}")

    async def set_dry_run(self, on: bool) -> None:
        await self.services.moderation.set_dry_run(self.guild_id, on)
        await self.log("automod dry run", "on" if on else "off")

    # announcements -------------------------------------------------------------------------------------------------

    async def create_announcement(
        self,
        *,
        channel_id: int,
        message: str,
        schedule: str,
        title: str | None,
        timezone: str | None,
        starts: str | None,
    ) -> int:
        announcement_id = await self._create_announcement(
            channel_id=channel_id, message=message, schedule=schedule, title=title, timezone=timezone, starts=starts
        )
        await self.log("announcement created", f"#{announcement_id} in channel {channel_id}: {schedule}")
        return announcement_id

    async def _create_announcement(
        self,
        *,
        channel_id: int,
        message: str,
        schedule: str,
        title: str | None,
        timezone: str | None,
        starts: str | None,
    ) -> int:
        created = await self.services.scheduler.create(
            guild_id=self.guild_id,
            channel_id=channel_id,
            creator_id=self.actor.user_id,
            message=message,
            schedule=schedule,
            title=title,
            timezone=timezone,
            starts=starts,
        )
        return created.announcement.id

    async def replace_announcement(
        self,
        announcement_id: int,
        *,
        channel_id: int,
        message: str,
        schedule: str,
        title: str | None,
        timezone: str | None,
        starts: str | None,
    ) -> int:
        """An edit: the new version is created first (so a rule that refuses it leaves the old one), then the old
        one goes. Its id changes; its run history stays with the old id."""
        old = await self.services.scheduler.get(self.guild_id, announcement_id)
        new_id = await self._create_announcement(
            channel_id=channel_id, message=message, schedule=schedule, title=title, timezone=timezone, starts=starts
        )
        if old.row.paused:
            await self.services.scheduler.pause(self.guild_id, new_id)
        await self.services.scheduler.delete(self.guild_id, announcement_id)
        await self.log("announcement edited", f"#{announcement_id} → #{new_id}: {schedule}")
        return new_id

    async def pause_announcement(self, announcement_id: int, paused: bool) -> None:
        if paused:
            await self.services.scheduler.pause(self.guild_id, announcement_id)
        else:
            await self.services.scheduler.resume(self.guild_id, announcement_id)
        await self.log("announcement paused" if paused else "announcement resumed", f"#{announcement_id}")

    async def delete_announcement(self, announcement_id: int) -> None:
        await self.services.scheduler.delete(self.guild_id, announcement_id)
        await self.log("announcement deleted", f"#{announcement_id}")

    # shop ----------------------------------------------------------------------------------------------------------

    async def add_item(
        self, *, name: str, price: int, description: str, role_id: int | None, stock: int | None
    ) -> None:
        item = await self.services.economy.add_item(
            self.guild_id, name=name, price=price, description=description, role_id=role_id, stock=stock
        )
        await self.log("shop item added", f"{item.name}: {item.price}")

    async def edit_item(
        self,
        name: str,
        *,
        new_name: str | None,
        price: int | None,
        description: str | None,
        role_id: int | None,
        stock: int | None,
    ) -> None:
        current = await self.services.economy.item(self.guild_id, name)
        await self.services.economy.edit_item(
            self.guild_id,
            name,
            new_name=new_name if new_name is not None and new_name != current.name else None,
            price=price if price is not None and price != current.price else None,
            description=description if description is not None and description != current.description else None,
            role_id=role_id if role_id is not None and role_id != current.role_id else None,
            remove_role=role_id is None and current.role_id is not None,
            stock=stock if stock is not None and stock != current.stock else None,
            unlimited_stock=stock is None and current.stock is not None,
        )
        await self.log("shop item edited", f"{name}" + (f" → {new_name}" if new_name and new_name != name else ""))

    async def remove_item(self, name: str) -> None:
        item = await self.services.economy.remove_item(self.guild_id, name)
        await self.log("shop item removed", item.name)
