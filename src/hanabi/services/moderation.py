"""Moderation: per-server automod configuration (cached, invalidated over the bus), cases, strikes, the
one-time missing-permission notices and the plan for Discord's native AutoMod rules. No Discord imports."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hanabi.errors import InvalidInput, NotFound
from hanabi.infra.events import EventBus
from hanabi.repositories.moderation import AutomodConfigRow, Case, ModerationRepository, NewCase
from hanabi.services.automod import (
    DEFAULT_LADDER,
    DEFAULT_RULES,
    DEFAULT_STRIKE_WINDOW,
    MAX_TIMEOUT_SECONDS,
    Action,
    AutomodConfig,
    AutomodEngine,
    Rule,
    RuleSettings,
    Step,
    Verdict,
    format_ladder,
    parse_duration,
    parse_ladder,
)

INVALIDATE_TOPIC = "automod.invalidate"

# Thresholds an admin may set, per rule: (min count, max count). Mentions stop at Discord's own limit (50).
COUNT_LIMITS = {Rule.FLOOD: (2, 50), Rule.DUPLICATES: (2, 20), Rule.MENTIONS: (2, 50)}
SECONDS_LIMITS = (1, 300)
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_INVITE_CODE = re.compile(r"^[A-Za-z0-9-]{2,32}$")


class Permission(enum.StrEnum):
    """Bot permissions automod needs, named the way Discord's UI names them."""

    MANAGE_MESSAGES = "Manage Messages"
    MODERATE_MEMBERS = "Moderate Members"
    KICK_MEMBERS = "Kick Members"
    SEND_MESSAGES = "Send Messages"


def needed_permissions(verdict: Verdict) -> list[Permission]:
    needed: list[Permission] = []
    if verdict.delete:
        needed.append(Permission.MANAGE_MESSAGES)
    action = verdict.punishment.action
    if action is Action.TIMEOUT:
        needed.append(Permission.MODERATE_MEMBERS)
    elif action is Action.KICK:
        needed.append(Permission.KICK_MEMBERS)
    return needed


class ModerationService:
    def __init__(self, repository: ModerationRepository, engine: AutomodEngine, bus: EventBus) -> None:
        self._repository = repository
        self._engine = engine
        self._bus = bus
        self._cache: dict[int, AutomodConfig] = {}
        self._reported: set[tuple[int, Permission]] = set()
        bus.subscribe(INVALIDATE_TOPIC, self._on_invalidate)

    @property
    def engine(self) -> AutomodEngine:
        return self._engine

    # -- configuration ----------------------------------------------------------------------------------------

    def cached_config(self, guild_id: int) -> AutomodConfig | None:
        """The guild's automod settings if already loaded: every message asks, and almost always they are."""
        return self._cache.get(guild_id)

    async def config(self, guild_id: int) -> AutomodConfig:
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        row = await self._repository.get_config(guild_id)
        config = effective_config(row) if row else AutomodConfig(guild_id=guild_id)
        self._cache[guild_id] = config
        return config

    async def set_rule(  # noqa: PLR0912
        self,
        guild_id: int,
        rule_name: str,
        *,
        enabled: bool | None = None,
        count: int | None = None,
        seconds: float | None = None,
        delete: bool | None = None,
        action: str | None = None,
        duration: str | None = None,
        escalate: bool | None = None,
        allowlist: str | None = None,
    ) -> AutomodConfig:
        rule = _rule(rule_name)
        current = await self.config(guild_id)
        settings = current.rule(rule)
        changes: dict[str, Any] = {}
        if enabled is not None:
            changes["enabled"] = enabled
        if count is not None:
            if rule not in COUNT_LIMITS:
                raise InvalidInput(f"The {rule} rule has no count; it fires on any match.")
            low, high = COUNT_LIMITS[rule]
            if not low <= count <= high:
                raise InvalidInput(f"The {rule} count must be between {low} and {high}.")
            changes["count"] = count
        if seconds is not None:
            if rule not in (Rule.FLOOD, Rule.DUPLICATES):
                raise InvalidInput(f"The {rule} rule has no time window; only flood and duplicates do.")
            low, high = SECONDS_LIMITS
            if not low <= seconds <= high:
                raise InvalidInput(f"The time window must be between {low} and {high} seconds.")
            changes["seconds"] = seconds
        if delete is not None:
            changes["delete"] = delete
        if escalate is not None:
            changes["escalate"] = escalate
        if action is not None or duration is not None:
            changes["action"] = _action(action, duration, settings.action)
        overrides = _rule_overrides(current)
        merged = replace(settings, **changes)
        overrides[rule.value] = _rule_to_json(merged)
        update: dict[str, Any] = {"rules": overrides}
        if allowlist is not None:
            if rule is Rule.LINKS:
                update["link_allowlist"] = _domains(allowlist)
            elif rule is Rule.INVITES:
                update["invite_allowlist"] = _invite_codes(allowlist)
            else:
                raise InvalidInput("An allowlist applies only to the links (domains) and invites (codes) rules.")
        return await self._update(guild_id, update)

    async def set_ladder(self, guild_id: int, ladder: str | None, window: str | None) -> AutomodConfig:
        update: dict[str, Any] = {}
        if ladder is not None:
            try:
                steps = parse_ladder(ladder)
            except ValueError:
                raise InvalidInput(
                    "A ladder is a comma-separated list of `warn`, a timeout duration (`10m`, `1h`, up to `28d`) "
                    "or `kick`, for example `warn, 10m, 1h, kick`."
                ) from None
            if len(steps) > 10:
                raise InvalidInput("A ladder has at most 10 steps.")
            update["ladder"] = ", ".join(_step_text(s) for s in steps)
        if window is not None:
            try:
                seconds = parse_duration(window)
            except ValueError:
                seconds = -1
            if not 60 <= seconds <= 30 * 86400:
                raise InvalidInput("The strike window is a duration from `1m` to `30d`, for example `24h`.")
            update["strike_window_seconds"] = seconds
        if not update:
            raise InvalidInput("Give a ladder (for example `warn, 10m, 1h, kick`) or a strike window (`24h`).")
        return await self._update(guild_id, update)

    async def set_exempt(
        self, guild_id: int, *, role_id: int | None = None, channel_id: int | None = None, remove: bool = False
    ) -> AutomodConfig:
        if role_id is None and channel_id is None:
            raise InvalidInput("Pick a role or a channel to exempt.")
        current = await self.config(guild_id)
        update: dict[str, Any] = {}
        if role_id is not None:
            roles = set(current.exempt_role_ids)
            roles = roles - {role_id} if remove else roles | {role_id}
            if len(roles) > 50:
                raise InvalidInput("At most 50 exempt roles.")
            update["exempt_role_ids"] = sorted(roles)
        if channel_id is not None:
            channels = set(current.exempt_channel_ids)
            channels = channels - {channel_id} if remove else channels | {channel_id}
            if len(channels) > 100:
                raise InvalidInput("At most 100 exempt channels.")
            update["exempt_channel_ids"] = sorted(channels)
        return await self._update(guild_id, update)

    async def set_dry_run(self, guild_id: int, on: bool) -> AutomodConfig:
        config = await self._update(guild_id, {"dry_run": on})
        # Strikes counted while rehearsing must not punish for real (and vice versa).
        self._engine.forget_guild(guild_id)
        return config

    async def _update(self, guild_id: int, changes: dict[str, Any]) -> AutomodConfig:
        row = await self._repository.update_config(guild_id, changes)
        self._cache.pop(guild_id, None)
        await self._bus.publish(INVALIDATE_TOPIC, {"guild_id": guild_id})
        return effective_config(row)

    async def _on_invalidate(self, payload: dict[str, Any]) -> None:
        self._cache.pop(int(payload["guild_id"]), None)

    # -- cases ------------------------------------------------------------------------------------------------

    async def record(self, verdict: Verdict, *, deleted: int, applied: Step) -> Case:
        return await self._repository.add_case(
            NewCase(
                guild_id=verdict.guild_id,
                user_id=verdict.user_id,
                rule=verdict.rule.value,
                action=applied.action.value,
                timeout_seconds=applied.seconds,
                strike=verdict.strike,
                deleted_count=deleted,
                channel_id=verdict.channel_id,
                reason=verdict.reason,
                evidence=verdict.evidence,
            )
        )

    async def cases(self, guild_id: int, user_id: int) -> list[Case]:
        return await self._repository.cases_for(guild_id, user_id)

    async def clear_cases(self, guild_id: int, user_id: int, cleared_by: int) -> int:
        cleared = await self._repository.clear_cases(guild_id, user_id, cleared_by)
        self._engine.clear_strikes(guild_id, user_id)
        if cleared == 0:
            raise NotFound("That member has no open cases.")
        return cleared

    # -- missing permissions: report once, not on every message ------------------------------------------------

    def should_report_missing(self, guild_id: int, permission: Permission) -> bool:
        """True the first time a permission is found missing (until it is seen present again)."""
        key = (guild_id, permission)
        if key in self._reported:
            return False
        self._reported.add(key)
        return True

    def permission_present(self, guild_id: int, permission: Permission) -> None:
        self._reported.discard((guild_id, permission))


# -- configuration rows <-> engine config -----------------------------------------------------------------------


def effective_config(row: AutomodConfigRow) -> AutomodConfig:
    rules = dict(DEFAULT_RULES)
    for name, data in row.rules.items():
        try:
            rule = Rule(name)
        except ValueError:
            continue
        rules[rule] = _rule_from_json(rules[rule], data)
    ladder = DEFAULT_LADDER
    if row.ladder:
        try:
            ladder = parse_ladder(row.ladder)
        except ValueError:
            ladder = DEFAULT_LADDER
    return AutomodConfig(
        guild_id=row.guild_id,
        rules=rules,
        ladder=ladder,
        strike_window=float(row.strike_window_seconds or DEFAULT_STRIKE_WINDOW),
        link_allowlist=frozenset(d.lower() for d in row.link_allowlist),
        invite_allowlist=frozenset(c.lower() for c in row.invite_allowlist),
        exempt_role_ids=frozenset(row.exempt_role_ids),
        exempt_channel_ids=frozenset(row.exempt_channel_ids),
        dry_run=row.dry_run,
    )


def _rule_overrides(config: AutomodConfig) -> dict[str, dict[str, Any]]:
    return {
        rule.value: _rule_to_json(settings)
        for rule, settings in config.rules.items()
        if settings != DEFAULT_RULES[rule]
    }


def _rule_to_json(settings: RuleSettings) -> dict[str, Any]:
    return {
        "enabled": settings.enabled,
        "count": settings.count,
        "seconds": settings.seconds,
        "delete": settings.delete,
        "action": settings.action.action.value,
        "timeout_seconds": settings.action.seconds,
        "escalate": settings.escalate,
    }


def _rule_from_json(default: RuleSettings, data: dict[str, Any]) -> RuleSettings:
    action = default.action
    if "action" in data:
        action = Step(Action(data["action"]), int(data.get("timeout_seconds") or 0))
    return RuleSettings(
        enabled=bool(data.get("enabled", default.enabled)),
        count=int(data.get("count", default.count)),
        seconds=float(data.get("seconds", default.seconds)),
        delete=bool(data.get("delete", default.delete)),
        action=action,
        escalate=bool(data.get("escalate", default.escalate)),
    )


def _rule(name: str) -> Rule:
    try:
        return Rule(name.lower())
    except ValueError:
        raise InvalidInput(f"`{name}` is not a rule. Rules: {', '.join(r.value for r in Rule)}.") from None


def _action(action: str | None, timeout: str | None, current: Step) -> Step:
    try:
        kind = Action(action.lower()) if action is not None else current.action
    except ValueError:
        raise InvalidInput(f"`{action}` is not an action. Actions: none, warn, timeout, kick.") from None
    if kind is not Action.TIMEOUT:
        if timeout is not None:
            raise InvalidInput("A timeout duration only goes with the `timeout` action.")
        return Step(kind)
    seconds = current.seconds if current.action is Action.TIMEOUT else 600
    if timeout is not None:
        try:
            seconds = parse_duration(timeout)
        except ValueError:
            seconds = -1
        if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
            raise InvalidInput("A timeout is a duration from `1m` to `28d`, for example `10m` or `1h`.")
    return Step(Action.TIMEOUT, seconds)


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def _domains(text: str) -> list[str]:
    domains = []
    for raw in _split(text):
        domain = raw.lower().removeprefix("https://").removeprefix("http://").split("/")[0].removeprefix("*.")
        if not _DOMAIN.match(domain):
            raise InvalidInput("List domains separated by commas, for example `youtube.com, github.com`.")
        domains.append(domain)
    if len(domains) > 100:
        raise InvalidInput("At most 100 allowed domains.")
    return sorted(set(domains))


def _invite_codes(text: str) -> list[str]:
    codes = []
    for raw in _split(text):
        code = raw.rstrip("/").rsplit("/", 1)[-1]
        if not _INVITE_CODE.match(code):
            raise InvalidInput("List invite codes separated by commas, for example `hanabi, abc123`.")
        codes.append(code.lower())
    if len(codes) > 100:
        raise InvalidInput("At most 100 allowed invite codes.")
    return sorted(set(codes))


def _step_text(step: Step) -> str:
    return step.describe().removeprefix("timeout ")


def describe_config(config: AutomodConfig) -> dict[str, str]:
    """Plain-text lines for /automod status, one per rule, plus the ladder."""
    lines: dict[str, str] = {}
    for rule in Rule:
        settings = config.rule(rule)
        if not settings.enabled:
            lines[rule.value] = "off"
            continue
        if rule is Rule.FLOOD:
            trigger = f"more than {settings.count} messages in {settings.seconds:g}s"
        elif rule is Rule.DUPLICATES:
            trigger = f"same message {settings.count}× in {settings.seconds:g}s"
        elif rule is Rule.MENTIONS:
            trigger = f"{settings.count}+ mentions (users, roles, @everyone attempts)"
        elif rule is Rule.INVITES:
            allowed = ", ".join(sorted(config.invite_allowlist)) or "none"
            trigger = f"other servers' invites (allowed codes: {allowed})"
        else:
            allowed = ", ".join(sorted(config.link_allowlist)) or "none"
            trigger = f"links outside the allowlist ({allowed})"
        then = ("delete, " if settings.delete else "") + settings.action.describe()
        if settings.escalate:
            then += " (escalates)"
        lines[rule.value] = f"on: {trigger} → {then}"
    lines["ladder"] = f"{format_ladder(config.ladder)} within {int(config.strike_window // 3600)}h"
    return lines


# -- Discord's native AutoMod: what to create, update or skip ---------------------------------------------------

NATIVE_PREFIX = "Hanabi: "
# Discord's per-server limits by trigger type (keyword 6, spam 1, keyword preset 1, mention spam 1, profile 1).
NATIVE_QUOTAS = {1: 6, 3: 1, 4: 1, 5: 1, 6: 1}
PRESETS = {"profanity": 1, "sexual_content": 2, "slurs": 3}


class NativeKind(enum.StrEnum):
    MENTION_SPAM = "mention spam"
    SPAM = "spam"
    KEYWORD_PRESET = "keyword presets"


_TRIGGER_OF = {NativeKind.MENTION_SPAM: 5, NativeKind.SPAM: 3, NativeKind.KEYWORD_PRESET: 4}


@dataclass(frozen=True, slots=True)
class ExistingNativeRule:
    id: int
    name: str
    trigger_type: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class NativeRuleSpec:
    """A rule to create or update, in Discord's terms (trigger types, metadata) without Discord types."""

    kind: NativeKind
    name: str
    trigger_type: int
    mention_total_limit: int = 0
    raid_protection: bool = False
    presets: tuple[int, ...] = ()
    alert_channel_id: int | None = None
    exempt_role_ids: tuple[int, ...] = ()
    exempt_channel_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NativeChange:
    kind: NativeKind
    operation: str  # "create", "update", "disable", "skip"
    spec: NativeRuleSpec | None = None
    rule_id: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class NativePlan:
    changes: list[NativeChange] = field(default_factory=list)
    quotas: dict[int, tuple[int, int]] = field(default_factory=dict)  # trigger type -> (used, limit)


def plan_native_enable(
    config: AutomodConfig,
    existing: Sequence[ExistingNativeRule],
    presets: Sequence[str],
    alert_channel_id: int | None,
) -> NativePlan:
    """Create or update Hanabi's rules; never touch other rules; skip a kind whose quota is already used up."""
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        raise InvalidInput(f"Unknown preset {unknown[0]!r}; presets: {', '.join(PRESETS)}.")
    mention_limit = min(max(config.rule(Rule.MENTIONS).count, 1), 50)
    common: dict[str, Any] = {
        "alert_channel_id": alert_channel_id,
        "exempt_role_ids": tuple(sorted(config.exempt_role_ids))[:20],
        "exempt_channel_ids": tuple(sorted(config.exempt_channel_ids))[:50],
    }
    wanted = [
        NativeRuleSpec(
            NativeKind.MENTION_SPAM,
            NATIVE_PREFIX + NativeKind.MENTION_SPAM.value,
            5,
            mention_total_limit=mention_limit,
            raid_protection=True,
            **common,
        ),
        NativeRuleSpec(NativeKind.SPAM, NATIVE_PREFIX + NativeKind.SPAM.value, 3, **common),
    ]
    if presets:
        wanted.append(
            NativeRuleSpec(
                NativeKind.KEYWORD_PRESET,
                NATIVE_PREFIX + NativeKind.KEYWORD_PRESET.value,
                4,
                presets=tuple(sorted({PRESETS[p] for p in presets})),
                **common,
            )
        )
    plan = NativePlan(quotas=_quotas(existing))
    for spec in wanted:
        ours = _ours(existing, spec.kind)
        if ours is not None:
            plan.changes.append(NativeChange(spec.kind, "update", spec, ours.id))
            continue
        used, limit = plan.quotas[spec.trigger_type]
        if used >= limit:
            detail = f"this server already has {used} of {limit} allowed {spec.kind.value} rule(s), not Hanabi's"
            plan.changes.append(NativeChange(spec.kind, "skip", spec, detail=detail))
            continue
        plan.quotas[spec.trigger_type] = (used + 1, limit)
        plan.changes.append(NativeChange(spec.kind, "create", spec))
    return plan


def plan_native_disable(existing: Sequence[ExistingNativeRule]) -> NativePlan:
    plan = NativePlan(quotas=_quotas(existing))
    for kind in NativeKind:
        ours = _ours(existing, kind)
        if ours is None:
            continue
        if ours.enabled:
            plan.changes.append(NativeChange(kind, "disable", rule_id=ours.id))
        else:
            plan.changes.append(NativeChange(kind, "skip", rule_id=ours.id, detail="already disabled"))
    return plan


def _ours(existing: Sequence[ExistingNativeRule], kind: NativeKind) -> ExistingNativeRule | None:
    name = NATIVE_PREFIX + kind.value
    return next((r for r in existing if r.name == name and r.trigger_type == _TRIGGER_OF[kind]), None)


def _quotas(existing: Sequence[ExistingNativeRule]) -> dict[int, tuple[int, int]]:
    return {
        trigger: (sum(1 for r in existing if r.trigger_type == trigger), limit)
        for trigger, limit in NATIVE_QUOTAS.items()
    }
