"""Automod on every guild message, the mod-log, `/cases` and `/automod` (including Discord's native AutoMod).

Thin adapter: the rule engine (`hanabi.services.automod`) decides, `ModerationService` stores; this module
turns gateway messages into `MessageFacts`, checks the bot's own permissions and the role hierarchy, acts
through REST and renders embeds.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import hikari
import lightbulb
from lightbulb.prefab import checks

from hanabi.errors import InvalidInput, PermissionDenied
from hanabi.infra.channels import ChannelDirectory
from hanabi.infra.clock import Clock
from hanabi.infra.gateway_messages import GatewayMessage
from hanabi.infra.metrics import Metrics
from hanabi.repositories.moderation import Case
from hanabi.services.automod import Action, AutomodConfig, MessageFacts, Step, Verdict, describe_seconds
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.services.moderation import (
    ExistingNativeRule,
    ModerationService,
    NativeChange,
    NativePlan,
    NativeRuleSpec,
    Permission,
    describe_config,
    plan_native_disable,
    plan_native_enable,
)
from hanabi.ui import BRAND_COLOUR, discord_timestamp
from hanabi.ui.cooldowns import cooldown
from hanabi.ui.interactions import NO_MENTIONS
from hanabi.ui.permissions import Standing, StandingCache, permissions_in, top_role_position
from hanabi.wiring import message_listener

log = logging.getLogger(__name__)
loader = lightbulb.Loader()
# Replies never ping: ctx.respond's keyword arguments that disable every mention.
_QUIET: dict[str, Any] = {"mentions_everyone": False, "user_mentions": False, "role_mentions": False}

MODLOG_COLOUR = 0xE74C3C
DRY_RUN_COLOUR = 0x95A5A6
_PERMISSION_BITS = {
    Permission.MANAGE_MESSAGES: hikari.Permissions.MANAGE_MESSAGES,
    Permission.MODERATE_MEMBERS: hikari.Permissions.MODERATE_MEMBERS,
    Permission.KICK_MEMBERS: hikari.Permissions.KICK_MEMBERS,
    Permission.SEND_MESSAGES: hikari.Permissions.SEND_MESSAGES,
}
_WHY = {
    Permission.MANAGE_MESSAGES: "delete spam",
    Permission.MODERATE_MEMBERS: "time members out",
    Permission.KICK_MEMBERS: "kick members at the top of the escalation ladder",
    Permission.SEND_MESSAGES: "warn members in the channel",
}


# -- the MESSAGE_CREATE listener ----------------------------------------------------------------------------------


@message_listener(loader)  # every guild message: decided synchronously unless a lookup or an action must wait
def on_guild_message(
    message: GatewayMessage,
    moderation: ModerationService,
    guild_settings: GuildSettingsService,
    clock: Clock,
    bot: hikari.GatewayBot,
    metrics: Metrics,
    standings: StandingCache,
    channels: ChannelDirectory,
) -> Coroutine[Any, Any, None] | None:
    guild_id, role_ids = message.guild_id, message.member_role_ids
    if guild_id is None or role_ids is None or message.webhook_id is not None:
        return None
    if message.author_is_bot or message.author_is_system:
        return None
    config = moderation.cached_config(guild_id)
    if config is not None and not config.enabled_rules:
        return None
    key = (guild_id, message.channel_id, role_ids)
    standing = standings.get(key)
    judge = _Judge(moderation, guild_settings, clock, bot, metrics)
    if config is None or standing is None or not standing.applies_to(message.author_id):
        return _look_up_then_judge(message, key, judge, standings, channels)
    return judge(message, config, standing)


async def _look_up_then_judge(
    message: GatewayMessage,
    key: tuple[int, int, tuple[int, ...]],
    judge: _Judge,
    standings: StandingCache,
    channels: ChannelDirectory,
) -> None:
    guild_id, channel_id, role_ids = key
    config = await judge.moderation.config(guild_id)
    if not config.enabled_rules:
        return
    standing = standings.get(key)
    if standing is None or not standing.applies_to(message.author_id):
        channel = await channels.permission_channel(channel_id)
        standing = _standing(judge.bot.cache, guild_id, channel, message.author_id, role_ids)
        if standing is None:
            return
        if standing.applies_to(message.author_id):  # the owner's or a personal overwrite's standing is theirs alone
            standings.put(key, standing)
    enforcement = judge(message, config, standing)
    if enforcement is not None:
        await enforcement


@dataclass(frozen=True, slots=True)
class _Judge:
    """Runs the rule engine on one message; returns the enforcement to run when a rule fired."""

    moderation: ModerationService
    guild_settings: GuildSettingsService
    clock: Clock
    bot: hikari.GatewayBot
    metrics: Metrics

    def __call__(
        self, message: GatewayMessage, config: AutomodConfig, standing: Standing
    ) -> Coroutine[Any, Any, None] | None:
        assert message.guild_id is not None
        facts = MessageFacts(
            guild_id=message.guild_id,
            channel_id=message.channel_id,
            message_id=message.id,
            author_id=message.author_id,
            content=message.content,
            user_mention_ids=message.user_mention_ids,
            role_mention_ids=message.role_mention_ids,
            role_ids=message.member_role_ids or (),
            can_manage_messages=standing.can_manage_messages,
            can_mention_everyone=standing.can_mention_everyone,
            protected=standing.protected,
        )
        verdict = self.moderation.engine.check(config, facts)
        if verdict is None:
            return None
        if not verdict.follow_up:
            action = "dry_run" if verdict.dry_run else verdict.punishment.action.value
            self.metrics.automod_actions.labels(rule=str(verdict.rule), action=str(action)).inc()
        return _enforce(
            self.bot.rest,
            self.moderation,
            self.guild_settings,
            self.clock,
            verdict,
            standing.bot_permissions,
            message.guild_id,
        )


@loader.listener(
    hikari.RoleCreateEvent,
    hikari.RoleUpdateEvent,
    hikari.RoleDeleteEvent,
    hikari.GuildChannelCreateEvent,
    hikari.GuildChannelUpdateEvent,
    hikari.GuildChannelDeleteEvent,
    hikari.GuildUpdateEvent,
)
async def forget_standings(_: hikari.Event, standings: StandingCache) -> None:
    # Rare events; any of them may change who is a moderator, who outranks the bot, or what the bot may do.
    standings.clear()


def _standing(
    cache: hikari.api.Cache,
    guild_id: int,
    channel: hikari.GuildChannel | None,
    member_id: int,
    role_ids: Sequence[int],
) -> Standing | None:
    guild = cache.get_guild(guild_id)
    me = cache.get_me()
    if guild is None or me is None:
        return None
    roles = cache.get_roles_view_for_guild(guild.id)
    author_perms = permissions_in(guild, member_id, role_ids, channel, roles)
    my_member = cache.get_member(guild.id, me.id)
    my_roles = list(my_member.role_ids) if my_member else []
    protected = member_id == guild.owner_id or top_role_position(
        guild, member_id, role_ids, roles
    ) >= top_role_position(guild, me.id, my_roles, roles)
    return Standing(
        can_manage_messages=bool(author_perms & hikari.Permissions.MANAGE_MESSAGES),
        # MENTION_ROLES is Discord's "Mention @everyone, @here and All Roles".
        can_mention_everyone=bool(author_perms & hikari.Permissions.MENTION_ROLES),
        protected=protected,
        bot_permissions=permissions_in(guild, me.id, my_roles, channel, roles),
        owner_id=guild.owner_id,
        personal_overwrites=frozenset(
            overwrite.id
            for overwrite in (
                channel.permission_overwrites.values() if isinstance(channel, hikari.PermissibleGuildChannel) else ()
            )
            if overwrite.type == hikari.PermissionOverwriteType.MEMBER
        ),
    )


async def _enforce(
    rest: hikari.api.RESTClient,
    moderation: ModerationService,
    guild_settings: GuildSettingsService,
    clock: Clock,
    verdict: Verdict,
    bot_perms: hikari.Permissions,
    guild_id: int,
) -> None:
    modlog = (await guild_settings.get(guild_id)).modlog_channel_id
    if verdict.dry_run:
        if verdict.follow_up:
            return
        log.info(
            "automod dry run in guild %s: would %s for %s (rule %s, strike %d)",
            guild_id,
            _would(verdict),
            verdict.user_id,
            verdict.rule,
            verdict.strike,
        )
        await _post_modlog(rest, modlog, embed=_case_embed(verdict, None, len(verdict.delete), verdict.punishment))
        return

    missing: list[Permission] = []

    def allowed(permission: Permission) -> bool:
        if bot_perms & _PERMISSION_BITS[permission]:
            moderation.permission_present(guild_id, permission)
            return True
        missing.append(permission)
        return False

    deleted = 0
    if verdict.delete and allowed(Permission.MANAGE_MESSAGES):
        deleted = await _delete(rest, verdict, missing)

    applied = Step(Action.NONE)
    punishment = verdict.punishment
    try:
        if punishment.action is Action.WARN and allowed(Permission.SEND_MESSAGES):
            await rest.create_message(
                verdict.channel_id,
                f"<@{verdict.user_id}>, automod: {verdict.reason}. That is strike {verdict.strike}; "
                "more strikes soon after lead to stronger actions.",
                mentions_everyone=False,
                role_mentions=False,
                user_mentions=[verdict.user_id],  # ping the offender, nobody else; no user text is echoed
            )
            applied = punishment
        elif punishment.action is Action.TIMEOUT and allowed(Permission.MODERATE_MEMBERS):
            until = clock.now() + datetime.timedelta(seconds=punishment.seconds)
            await rest.edit_member(
                guild_id,
                verdict.user_id,
                communication_disabled_until=until,
                reason=f"Automod: {verdict.rule} (strike {verdict.strike})",
            )
            applied = punishment
        elif punishment.action is Action.KICK and allowed(Permission.KICK_MEMBERS):
            await rest.kick_user(guild_id, verdict.user_id, reason=f"Automod: {verdict.rule} (strike {verdict.strike})")
            applied = punishment
    except hikari.ForbiddenError as exc:
        log.warning(
            "automod could not %s member %s in guild %s: %s", punishment.describe(), verdict.user_id, guild_id, exc
        )
    except hikari.NotFoundError:
        pass  # the member left

    for permission in dict.fromkeys(missing):
        if moderation.should_report_missing(guild_id, permission):
            await _report_missing(rest, modlog, guild_id, permission)

    if verdict.follow_up or (deleted == 0 and applied.action is Action.NONE):
        return
    case = await moderation.record(verdict, deleted=deleted, applied=applied)
    await _post_modlog(rest, modlog, embed=_case_embed(verdict, case, deleted, applied))


async def _delete(rest: hikari.api.RESTClient, verdict: Verdict, missing: list[Permission]) -> int:
    by_channel: defaultdict[int, list[int]] = defaultdict(list)
    for channel_id, message_id in verdict.delete:
        by_channel[channel_id].append(message_id)
    deleted = 0
    for channel_id, ids in by_channel.items():
        try:
            if len(ids) == 1:
                await rest.delete_message(channel_id, ids[0])
            else:
                await rest.delete_messages(channel_id, ids)  # bulk delete, 100 per request
            deleted += len(ids)
        except hikari.NotFoundError:
            continue  # already gone
        except hikari.BulkDeleteError as exc:
            deleted += len(exc.deleted_messages)
        except hikari.ForbiddenError:
            missing.append(Permission.MANAGE_MESSAGES)
    return deleted


def _would(verdict: Verdict) -> str:
    parts = []
    if verdict.delete:
        parts.append(f"delete {len(verdict.delete)} message(s)")
    if verdict.punishment.action is not Action.NONE:
        parts.append(verdict.punishment.describe())
    return " and ".join(parts) or "do nothing"


async def _post_modlog(rest: hikari.api.RESTClient, channel_id: int | None, **kwargs: object) -> None:
    if channel_id is None:
        return
    try:
        await rest.create_message(channel_id, **NO_MENTIONS, **kwargs)  # type: ignore[arg-type]
    except (hikari.ForbiddenError, hikari.NotFoundError) as exc:
        log.warning("cannot post to the mod-log channel %s: %s", channel_id, exc)


async def _report_missing(
    rest: hikari.api.RESTClient, modlog: int | None, guild_id: int, permission: Permission
) -> None:
    text = (
        f"⚠️ Automod needs the **{permission.value}** permission to {_WHY[permission]}. Grant it to my role; "
        "until then I skip that action (and will not repeat this notice)."
    )
    log.warning("automod in guild %s is missing the %s permission", guild_id, permission.value)
    await _post_modlog(rest, modlog, content=text)


def _case_embed(verdict: Verdict, case: Case | None, deleted: int, applied: Step) -> hikari.Embed:
    dry = verdict.dry_run
    title = f"Automod · {verdict.rule}" + (" (dry run)" if dry else "")
    embed = hikari.Embed(
        title=title,
        description=verdict.reason,
        colour=DRY_RUN_COLOUR if dry else MODLOG_COLOUR,
    )
    embed.add_field("Member", f"<@{verdict.user_id}> (`{verdict.user_id}`)", inline=True)
    embed.add_field("Channel", f"<#{verdict.channel_id}>", inline=True)
    embed.add_field("Strike", str(verdict.strike), inline=True)
    if dry:
        embed.add_field("Would have", _would(verdict), inline=False)
    else:
        done = []
        if deleted:
            done.append(f"deleted {deleted} message(s)")
        if applied.action is not Action.NONE:
            done.append(applied.describe())
        embed.add_field("Action", " · ".join(done) or "none", inline=False)
    if verdict.evidence:
        embed.add_field("Evidence", _quote(verdict.evidence), inline=False)
    if case is not None:
        embed.set_footer(f"Case #{case.id}")
    elif dry:
        embed.set_footer("Dry run: nothing was deleted and nobody was punished.")
    return embed


def _quote(text: str) -> str:
    return "```\n" + text.replace("```", "ʼʼʼ")[:1000] + "\n```"


# -- /cases ---------------------------------------------------------------------------------------------------

cases = lightbulb.Group(
    "cases", "Moderation cases of a member", default_member_permissions=hikari.Permissions.MODERATE_MEMBERS
)
cases_clear = cases.subgroup("clear", "Clear a member's cases")
_MODERATE = checks.has_permissions(hikari.Permissions.MODERATE_MEMBERS)
_MANAGE_GUILD = checks.has_permissions(hikari.Permissions.MANAGE_GUILD)


def _guild_id(ctx: lightbulb.Context) -> int:
    if ctx.guild_id is None:
        raise InvalidInput("This command works only in a server.")
    return int(ctx.guild_id)


@cases.register
class CasesUser(lightbulb.SlashCommand, name="user", description="Open cases of a member", hooks=[_MODERATE]):
    member = lightbulb.user("member", "Whose cases to show")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, moderation: ModerationService) -> None:
        guild_id = _guild_id(ctx)
        found = await moderation.cases(guild_id, int(self.member.id))
        strikes = moderation.engine.strikes(guild_id, int(self.member.id))
        embed = hikari.Embed(title=f"Cases of {self.member.username}", colour=BRAND_COLOUR)
        if not found:
            embed.description = "No open cases."
        for case in found[:10]:
            action = case.action if case.action != "timeout" else f"timeout {describe_seconds(case.timeout_seconds)}"
            deleted = f", deleted {case.deleted_count}" if case.deleted_count else ""
            embed.add_field(
                f"#{case.id} · {case.rule} · strike {case.strike}",
                f"{action}{deleted} · {discord_timestamp(case.created_at, 'R')}\n{case.reason}",
                inline=False,
            )
        embed.set_footer(f"{len(found)} open case(s) · {strikes} active strike(s)")
        await ctx.respond(embed=embed, ephemeral=True, **_QUIET)


@cases_clear.register
class CasesClearUser(
    lightbulb.SlashCommand, name="user", description="Clear a member's cases and strikes", hooks=[_MODERATE]
):
    member = lightbulb.user("member", "Whose cases to clear")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, moderation: ModerationService) -> None:
        cleared = await moderation.clear_cases(_guild_id(ctx), int(self.member.id), int(ctx.user.id))
        await ctx.respond(
            f"Cleared {cleared} case(s) of <@{self.member.id}> and reset their strikes.", ephemeral=True, **NO_MENTIONS
        )


loader.command(cases)


# -- /automod -------------------------------------------------------------------------------------------------

automod = lightbulb.Group(
    "automod",
    "Anti-spam rules, exemptions and Discord's native AutoMod",
    default_member_permissions=hikari.Permissions.MANAGE_GUILD,
)
native = automod.subgroup("native", "Discord's own AutoMod rules, which work even while Hanabi is offline")

_RULE_CHOICES = [lightbulb.Choice(name, name) for name in ("flood", "duplicates", "mentions", "invites", "links")]
_ACTION_CHOICES = [lightbulb.Choice(name, name) for name in ("none", "warn", "timeout", "kick")]


@automod.register
class AutomodStatus(
    lightbulb.SlashCommand, name="status", description="Rules, thresholds, actions, exemptions", hooks=[_MANAGE_GUILD]
):
    @lightbulb.invoke
    async def invoke(
        self,
        ctx: lightbulb.Context,
        moderation: ModerationService,
        guild_settings: GuildSettingsService,
        bot: hikari.GatewayBot,
    ) -> None:
        guild_id = _guild_id(ctx)
        config = await moderation.config(guild_id)
        modlog = (await guild_settings.get(guild_id)).modlog_channel_id
        embed = hikari.Embed(
            title="Automod" + (" — dry run" if config.dry_run else ""),
            description="Dry run: rules are logged to the mod log, nothing is deleted or punished."
            if config.dry_run
            else None,
            colour=BRAND_COLOUR,
        )
        for name, line in describe_config(config).items():
            embed.add_field(name.title(), line, inline=False)
        embed.add_field("Exempt", _exemptions(config), inline=False)
        embed.add_field("Mod log", f"<#{modlog}>" if modlog else "not set (`/settings modlog`)", inline=True)
        embed.add_field("Native AutoMod", await _native_summary(bot.rest, guild_id), inline=False)
        await ctx.respond(embed=embed, ephemeral=True, **_QUIET)


def _exemptions(config: AutomodConfig) -> str:
    parts = ["bots, webhooks, members with Manage Messages, the owner and roles at or above mine"]
    if config.exempt_role_ids:
        parts.append("roles " + ", ".join(f"<@&{r}>" for r in sorted(config.exempt_role_ids)))
    if config.exempt_channel_ids:
        parts.append("channels " + ", ".join(f"<#{c}>" for c in sorted(config.exempt_channel_ids)))
    return "; ".join(parts)


async def _native_rules(rest: hikari.api.RESTClient, guild_id: int) -> list[ExistingNativeRule]:
    rules = await rest.fetch_auto_mod_rules(guild_id)
    return [ExistingNativeRule(int(r.id), r.name, int(r.trigger.type), r.is_enabled) for r in rules]


async def _native_summary(rest: hikari.api.RESTClient, guild_id: int) -> str:
    try:
        existing = await _native_rules(rest, guild_id)
    except hikari.ForbiddenError:
        return "unknown: I need the **Manage Server** permission to read them"
    ours = [r for r in existing if r.name.startswith("Hanabi: ")]
    if not ours:
        return f"not set up (`/automod native enable`); {len(existing)} other rule(s) on this server"
    lines = [f"{r.name.removeprefix('Hanabi: ')}: {'on' if r.enabled else 'off'}" for r in ours]
    return "; ".join(lines) + f" ({len(existing)} rule(s) in total)"


@automod.register
class AutomodSet(
    lightbulb.SlashCommand,
    name="set",
    description="Change one rule's switch, threshold or action",
    hooks=[_MANAGE_GUILD],
):
    rule = lightbulb.string("rule", "Which rule", choices=_RULE_CHOICES)
    enabled = lightbulb.boolean("enabled", "Turn the rule on or off", default=None)
    count = lightbulb.integer(
        "count", "Threshold: messages, repeats or mentions", default=None, min_value=2, max_value=50
    )
    seconds = lightbulb.integer(
        "seconds", "Time window in seconds (flood, duplicates)", default=None, min_value=1, max_value=300
    )
    action = lightbulb.string("action", "Minimum action when the rule fires", choices=_ACTION_CHOICES, default=None)
    timeout = lightbulb.string(
        "timeout", "Timeout length for the timeout action, e.g. 10m or 1h", default=None, max_length=8
    )
    delete = lightbulb.boolean("delete", "Delete the offending messages", default=None)
    escalate = lightbulb.boolean("escalate", "Climb the escalation ladder on repeated strikes", default=None)
    allowlist = lightbulb.string(
        "allowlist",
        "links: allowed domains; invites: allowed invite codes (comma-separated)",
        default=None,
        max_length=1000,
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, moderation: ModerationService) -> None:
        config = await moderation.set_rule(
            _guild_id(ctx),
            self.rule,
            enabled=self.enabled,
            count=self.count,
            seconds=self.seconds,
            delete=self.delete,
            action=self.action,
            duration=self.timeout,
            escalate=self.escalate,
            allowlist=self.allowlist,
        )
        line = describe_config(config)[self.rule]
        await ctx.respond(f"**{self.rule}** is now {line}", ephemeral=True, **_QUIET)


@automod.register
class AutomodLadder(
    lightbulb.SlashCommand, name="ladder", description="Escalation ladder and strike window", hooks=[_MANAGE_GUILD]
):
    steps = lightbulb.string("steps", "For example: warn, 10m, 1h, kick", default=None, max_length=200)
    window = lightbulb.string("window", "How long a strike counts, e.g. 24h", default=None, max_length=8)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, moderation: ModerationService) -> None:
        config = await moderation.set_ladder(_guild_id(ctx), self.steps, self.window)
        await ctx.respond(f"Escalation: {describe_config(config)['ladder']}.", ephemeral=True, **_QUIET)


@automod.register
class AutomodExempt(
    lightbulb.SlashCommand, name="exempt", description="Exempt a role or channel from automod", hooks=[_MANAGE_GUILD]
):
    role = lightbulb.role("role", "Role whose members automod ignores", default=None)
    channel = lightbulb.channel("channel", "Channel automod ignores", default=None)
    remove = lightbulb.boolean("remove", "Remove the exemption instead", default=False)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, moderation: ModerationService) -> None:
        config = await moderation.set_exempt(
            _guild_id(ctx),
            role_id=int(self.role.id) if self.role else None,
            channel_id=int(self.channel.id) if self.channel else None,
            remove=self.remove,
        )
        await ctx.respond(f"Exempt now: {_exemptions(config)}.", ephemeral=True, **_QUIET)


@automod.register
class AutomodDryRun(
    lightbulb.SlashCommand, name="dryrun", description="Log what automod would do without acting", hooks=[_MANAGE_GUILD]
):
    mode = lightbulb.string(
        "mode", "on: only log; off: act", choices=[lightbulb.Choice("on", "on"), lightbulb.Choice("off", "off")]
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, moderation: ModerationService) -> None:
        on = self.mode == "on"
        await moderation.set_dry_run(_guild_id(ctx), on)
        text = (
            "Dry run **on**: automod logs what it would do to the mod log and acts on nothing."
            if on
            else "Dry run **off**: automod acts again."
        )
        await ctx.respond(text, ephemeral=True, **_QUIET)


_NATIVE_HOOKS = [_MANAGE_GUILD, checks.bot_has_permissions(hikari.Permissions.MANAGE_GUILD)]


@native.register
@cooldown(2, 30)
class NativeEnable(
    lightbulb.SlashCommand,
    name="enable",
    description="Create or update Discord AutoMod rules: mention spam, spam, keyword presets",
    hooks=_NATIVE_HOOKS,
):
    profanity = lightbulb.boolean("profanity", "Block Discord's profanity keyword list", default=False)
    sexual_content = lightbulb.boolean("sexual_content", "Block Discord's sexual content list", default=False)
    slurs = lightbulb.boolean("slurs", "Block Discord's slurs list", default=False)

    @lightbulb.invoke
    async def invoke(
        self,
        ctx: lightbulb.Context,
        moderation: ModerationService,
        guild_settings: GuildSettingsService,
        bot: hikari.GatewayBot,
    ) -> None:
        guild_id = _guild_id(ctx)
        await ctx.defer(ephemeral=True)
        presets = [name for name in ("profanity", "sexual_content", "slurs") if getattr(self, name)]
        config = await moderation.config(guild_id)
        modlog = (await guild_settings.get(guild_id)).modlog_channel_id
        plan = plan_native_enable(config, await _native_rules(bot.rest, guild_id), presets, modlog)
        lines = [await _apply(bot.rest, guild_id, change) for change in plan.changes]
        await ctx.respond(_native_report("Native AutoMod", lines, plan), ephemeral=True, **_QUIET)


@native.register
class NativeDisable(
    lightbulb.SlashCommand, name="disable", description="Disable Hanabi's Discord AutoMod rules", hooks=_NATIVE_HOOKS
):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, bot: hikari.GatewayBot) -> None:
        guild_id = _guild_id(ctx)
        await ctx.defer(ephemeral=True)
        plan = plan_native_disable(await _native_rules(bot.rest, guild_id))
        lines = [await _apply(bot.rest, guild_id, change) for change in plan.changes]
        if not lines:
            lines = ["Hanabi has no native AutoMod rules on this server."]
        await ctx.respond(_native_report("Native AutoMod", lines, plan), ephemeral=True, **_QUIET)


loader.command(automod)


def _trigger(spec: NativeRuleSpec) -> hikari.api.AutoModTriggerBuilder:
    if spec.trigger_type == hikari.AutoModTriggerType.MENTION_SPAM:
        return hikari.impl.AutoModMentionSpamTriggerBuilder(
            mention_total_limit=spec.mention_total_limit,
            mention_raid_protection_enabled=spec.raid_protection,
        )
    if spec.trigger_type == hikari.AutoModTriggerType.KEYWORD_PRESET:
        return hikari.impl.AutoModKeywordPresetTriggerBuilder(
            presets=[hikari.AutoModKeywordPresetType(p) for p in spec.presets]
        )
    return hikari.impl.AutoModSpamTriggerBuilder()


def _actions(spec: NativeRuleSpec) -> list[hikari.api.AutoModActionBuilder]:
    actions: list[hikari.api.AutoModActionBuilder] = [
        hikari.impl.AutoModBlockMessageActionBuilder(
            custom_message="Blocked by this server's AutoMod (set up by Hanabi)."
        )
    ]
    if spec.alert_channel_id is not None:
        actions.append(
            hikari.impl.AutoModSendAlertMessageActionBuilder(channel_id=hikari.Snowflake(spec.alert_channel_id))
        )
    return actions


async def _apply(rest: hikari.api.RESTClient, guild_id: int, change: NativeChange) -> str:
    spec = change.spec
    try:
        if change.operation == "create" and spec is not None:
            await rest.create_auto_mod_rule(
                guild_id,
                name=spec.name,
                event_type=hikari.AutoModEventType.MESSAGE_SEND,
                trigger=_trigger(spec),
                actions=_actions(spec),
                enabled=True,
                exempt_roles=list(spec.exempt_role_ids),
                exempt_channels=list(spec.exempt_channel_ids),
                reason="/automod native enable",
            )
            return f"✅ {change.kind}: created"
        if change.operation == "update" and spec is not None and change.rule_id is not None:
            await rest.edit_auto_mod_rule(
                guild_id,
                change.rule_id,
                trigger=_trigger(spec),
                actions=_actions(spec),
                enabled=True,
                exempt_roles=list(spec.exempt_role_ids),
                exempt_channels=list(spec.exempt_channel_ids),
                reason="/automod native enable",
            )
            return f"✅ {change.kind}: updated"
        if change.operation == "disable" and change.rule_id is not None:
            await rest.edit_auto_mod_rule(guild_id, change.rule_id, enabled=False, reason="/automod native disable")
            return f"⏸️ {change.kind}: disabled"
    except hikari.ForbiddenError:
        raise PermissionDenied("I need the **Manage Server** permission to manage AutoMod rules.") from None
    except hikari.BadRequestError as exc:
        return f"⚠️ {change.kind}: Discord refused ({exc.message})"
    return f"➖ {change.kind}: skipped, {change.detail}"


def _native_report(title: str, lines: list[str], plan: NativePlan) -> str:
    names = {1: "keyword", 3: "spam", 4: "keyword preset", 5: "mention spam"}
    quotas = ", ".join(f"{names[t]} {used}/{limit}" for t, (used, limit) in plan.quotas.items() if t in names)
    return f"**{title}**\n" + "\n".join(lines) + f"\nRule quotas on this server: {quotas}."
