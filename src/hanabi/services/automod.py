"""The automod rule engine: pure, synchronous and fast. Discord is known only as integer snowflakes.

The extension turns each MESSAGE_CREATE into a `MessageFacts` and calls `AutomodEngine.check`; the engine
answers `None` (nothing to do) or a `Verdict` saying which rule fired, which messages to delete and what the
punishment is after escalation. It never talks to Discord and never awaits.

State is bounded: each member's recent messages live in a window that expires `horizon` seconds after their
last message (an LRU ordered by last activity, swept as messages arrive), capped at `max_members`; strikes
expire after the strike window and are capped the same way. Memory does not grow with the number of members
who ever spoke.
"""

from __future__ import annotations

import enum
import re
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from hanabi.infra.clock import Clock


class Action(enum.StrEnum):
    NONE = "none"
    WARN = "warn"
    TIMEOUT = "timeout"
    KICK = "kick"


_RANK = {Action.NONE: 0, Action.WARN: 1, Action.TIMEOUT: 2, Action.KICK: 3}


@dataclass(frozen=True, slots=True)
class Step:
    """One punishment: an action and, for timeouts, how long."""

    action: Action
    seconds: int = 0

    @property
    def severity(self) -> tuple[int, int]:
        return _RANK[self.action], self.seconds

    def describe(self) -> str:
        if self.action is Action.TIMEOUT:
            return f"timeout {describe_seconds(self.seconds)}"
        return self.action.value


class Rule(enum.StrEnum):
    FLOOD = "flood"
    DUPLICATES = "duplicates"
    MENTIONS = "mentions"
    INVITES = "invites"
    LINKS = "links"


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """One rule's switch, thresholds and punishment.

    `count`/`seconds`: flood = more than `count` messages in `seconds`; duplicates = the same content `count`
    times in `seconds`; mentions = at least `count` distinct mentions in one message (`seconds` unused);
    invites/links fire on any match. `action` is the minimum punishment; with `escalate`, repeated strikes
    within the strike window climb the ladder and the harsher of the two applies.
    """

    enabled: bool
    count: int = 0
    seconds: float = 0.0
    delete: bool = True
    action: Step = Step(Action.WARN)
    escalate: bool = True


DEFAULT_RULES: dict[Rule, RuleSettings] = {
    Rule.FLOOD: RuleSettings(True, count=6, seconds=5, action=Step(Action.TIMEOUT, 600)),
    Rule.DUPLICATES: RuleSettings(True, count=4, seconds=30),
    Rule.MENTIONS: RuleSettings(True, count=6),
    Rule.INVITES: RuleSettings(True),
    Rule.LINKS: RuleSettings(False),
}
DEFAULT_LADDER: tuple[Step, ...] = (
    Step(Action.WARN),
    Step(Action.TIMEOUT, 600),
    Step(Action.TIMEOUT, 3600),
    Step(Action.KICK),
)
DEFAULT_STRIKE_WINDOW = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class AutomodConfig:
    """A server's effective automod configuration (defaults filled in)."""

    guild_id: int
    rules: dict[Rule, RuleSettings] = field(default_factory=lambda: dict(DEFAULT_RULES))
    ladder: tuple[Step, ...] = DEFAULT_LADDER
    strike_window: float = DEFAULT_STRIKE_WINDOW
    link_allowlist: frozenset[str] = frozenset()
    invite_allowlist: frozenset[str] = frozenset()
    exempt_role_ids: frozenset[int] = frozenset()
    exempt_channel_ids: frozenset[int] = frozenset()
    dry_run: bool = False
    enabled_rules: tuple[Rule, ...] = field(init=False, default=(), compare=False)
    horizon: float = field(init=False, default=0.0, compare=False)  # how long a member's messages matter

    def __post_init__(self) -> None:
        # Precomputed for the hot path; frozen dataclass, hence object.__setattr__.
        enabled = tuple(rule for rule in Rule if self.rules[rule].enabled)
        object.__setattr__(self, "enabled_rules", enabled)
        windowed = [self.rules[r].seconds for r in (Rule.FLOOD, Rule.DUPLICATES) if r in enabled]
        object.__setattr__(self, "horizon", max(windowed, default=0.0))

    def rule(self, rule: Rule) -> RuleSettings:
        return self.rules[rule]

    def with_rule(self, rule: Rule, settings: RuleSettings) -> AutomodConfig:
        return replace(self, rules={**self.rules, rule: settings})


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the engine needs to know about one guild message."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    content: str
    user_mention_ids: Sequence[int] = ()
    role_mention_ids: Sequence[int] = ()
    role_ids: Sequence[int] = ()
    author_is_bot: bool = False
    is_webhook: bool = False
    can_manage_messages: bool = False  # exempt (moderators)
    can_mention_everyone: bool = False
    protected: bool = False  # the owner, or at/above the bot's top role: never actioned


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do about a message: delete these, punish like this, record this strike."""

    guild_id: int
    user_id: int
    channel_id: int
    rule: Rule
    reason: str
    evidence: str
    delete: tuple[tuple[int, int], ...]  # (channel_id, message_id), oldest first
    punishment: Step
    strike: int  # 0 for the tail of an incident already punished
    dry_run: bool

    @property
    def follow_up(self) -> bool:
        return self.strike == 0


EVIDENCE_LIMIT = 200

# discord.gg/x, discord.com/invite/x, discordapp.com/invite/x, and common shorteners.
_INVITE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:discord(?:app)?\.com/invite|discord\.gg|discord\.me|dsc\.gg)/([A-Za-z0-9-]{2,32})",
    re.IGNORECASE,
)
_LINK_HOST = re.compile(r"https?://(?:[^\s/@]*@)?([^\s/:?#<>]+)", re.IGNORECASE)
_INVITE_HOSTS = frozenset({"discord.gg", "discord.com", "discordapp.com", "discord.me", "dsc.gg"})


def excerpt(text: str, limit: int = EVIDENCE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_seconds(seconds: float) -> str:
    total = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size and total % size == 0:
            return f"{total // size}{unit}"
    return f"{total}s"


def host_allowed(host: str, allowlist: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in allowlist)


class _Window:
    """One member's recent messages: parallel lists, oldest first (times ascending, so bisect works)."""

    __slots__ = ("digests", "last", "quiet_until", "refs", "times")

    def __init__(self) -> None:
        self.times: list[float] = []  # monotonic time of each message
        self.digests: list[int] = []  # hash of the normalized content (0 for empty messages)
        self.refs: list[tuple[int, int]] = []  # (channel_id, message_id)
        self.last = 0.0
        self.quiet_until = 0.0  # after a flood: later messages are deleted as part of the same incident

    def drop_before(self, index: int) -> None:
        del self.times[:index], self.digests[:index], self.refs[:index]

    def keep(self, indices: list[int]) -> None:
        self.times = [self.times[i] for i in indices]
        self.digests = [self.digests[i] for i in indices]
        self.refs = [self.refs[i] for i in indices]


class AutomodEngine:
    """Per-process automod state and the rules. Not thread-safe; call from the event loop."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_members: int = 100_000,
        max_entries_per_member: int = 32,
        sweep_every: int = 512,
    ) -> None:
        self._clock = clock
        self._max_members = max_members
        self._max_entries = max_entries_per_member
        self._sweep_every = sweep_every
        self._windows: OrderedDict[tuple[int, int], _Window] = OrderedDict()
        self._strikes: OrderedDict[tuple[int, int], list[float]] = OrderedDict()
        self._horizon: dict[int, float] = {}  # guild -> how long its windows must be kept
        self._until_sweep = sweep_every
        self._peak = 0

    # -- state introspection (tests, benchmarks, /automod status) ---------------------------------------------

    @property
    def tracked_members(self) -> int:
        return len(self._windows)

    @property
    def members_with_strikes(self) -> int:
        return len(self._strikes)

    def strikes(self, guild_id: int, user_id: int) -> int:
        now = self._clock.monotonic()
        times = self._strikes.get((guild_id, user_id))
        return sum(1 for t in times if t > now) if times else 0

    def clear_strikes(self, guild_id: int, user_id: int) -> None:
        self._strikes.pop((guild_id, user_id), None)

    def forget_guild(self, guild_id: int) -> None:
        """Drop every window and strike of a server (dry run toggled, bot removed)."""
        for store in (self._windows, self._strikes):
            for key in [k for k in store if k[0] == guild_id]:
                del store[key]

    # -- the hot path -----------------------------------------------------------------------------------------

    def check(self, config: AutomodConfig, msg: MessageFacts) -> Verdict | None:
        if msg.author_is_bot or msg.is_webhook or msg.can_manage_messages or msg.protected:
            return None
        enabled = config.enabled_rules
        if not enabled or msg.channel_id in config.exempt_channel_ids:
            return None
        if config.exempt_role_ids and not config.exempt_role_ids.isdisjoint(msg.role_ids):
            return None

        now = self._clock.monotonic()
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep(now)

        content = msg.content
        lowered = content.lower()
        # Single-message rules first: they need no state. Cheap substring tests guard the regexes.
        if (msg.user_mention_ids or msg.role_mention_ids or "@" in content) and Rule.MENTIONS in enabled:
            verdict = self._mentions(config, msg)
            if verdict is not None:
                return verdict
        if ("disc" in lowered or "dsc.gg" in lowered) and Rule.INVITES in enabled:
            verdict = self._invites(config, msg)
            if verdict is not None:
                return verdict
        if "://" in content and Rule.LINKS in enabled:
            verdict = self._links(config, msg)
            if verdict is not None:
                return verdict

        horizon = config.horizon
        if not horizon:
            return None  # neither flood nor duplicates is on
        return self._windowed(config, msg, now, lowered, horizon)

    def _windowed(
        self, config: AutomodConfig, msg: MessageFacts, now: float, lowered: str, horizon: float
    ) -> Verdict | None:
        """Flood and duplicates: the rules that look at a member's recent messages."""
        key = (msg.guild_id, msg.author_id)
        windows = self._windows
        window = windows.get(key)
        if window is None:
            window = windows[key] = _Window()
            if len(windows) > self._max_members:
                windows.popitem(last=False)
        else:
            windows.move_to_end(key)
        window.last = now
        if self._horizon.get(msg.guild_id, 0.0) < horizon:
            self._horizon[msg.guild_id] = horizon

        enabled = config.enabled_rules
        flood = config.rules[Rule.FLOOD] if Rule.FLOOD in enabled else None
        if flood is not None and now < window.quiet_until:
            # Still inside a flood that was already punished: delete, no new strike.
            return self._verdict(
                config, msg, Rule.FLOOD, "continued flood", ((msg.channel_id, msg.message_id),), flood, 0
            )

        times = window.times
        if times and times[0] < now - horizon:
            window.drop_before(bisect_left(times, now - horizon))
        digest = hash(" ".join(lowered.split())) if lowered else 0
        times.append(now)
        window.digests.append(digest)
        window.refs.append((msg.channel_id, msg.message_id))
        if len(times) > self._max_entries:
            window.drop_before(1)
            times = window.times

        if flood is not None:
            start = bisect_left(times, now - flood.seconds)
            count = len(times) - start
            if count > flood.count:
                doomed = tuple(window.refs[start:])
                window.drop_before(len(times))
                window.quiet_until = now + flood.seconds
                reason = f"{count} messages in {describe_seconds(flood.seconds)}"
                return self._verdict(config, msg, Rule.FLOOD, reason, doomed, flood, None)

        if digest and Rule.DUPLICATES in enabled:
            dupes = config.rules[Rule.DUPLICATES]
            start = bisect_left(times, now - dupes.seconds) if times[0] < now - dupes.seconds else 0
            digests = window.digests
            if digests[start:].count(digest) >= dupes.count:
                same = [i for i in range(start, len(digests)) if digests[i] == digest]
                doomed = tuple(window.refs[i] for i in same)
                window.keep([i for i in range(len(digests)) if digests[i] != digest])
                reason = f"the same message {len(same)} times in {describe_seconds(dupes.seconds)}"
                return self._verdict(config, msg, Rule.DUPLICATES, reason, doomed, dupes, None)
        return None

    # -- rules ------------------------------------------------------------------------------------------------

    def _mentions(self, config: AutomodConfig, msg: MessageFacts) -> Verdict | None:
        rule = config.rules[Rule.MENTIONS]
        users = msg.user_mention_ids
        roles = msg.role_mention_ids
        content = msg.content
        everyone = 0
        if not msg.can_mention_everyone and "@" in content:
            everyone = ("@everyone" in content) + ("@here" in content)
        if len(users) + len(roles) + everyone < rule.count:
            return None  # cheap upper bound: distinct counts can only be lower
        distinct = len({u for u in users if u != msg.author_id}) + len(set(roles)) + everyone
        if distinct < rule.count:
            return None
        reason = f"{distinct} mentions in one message"
        if everyone:
            reason += " (including @everyone/@here without permission)"
        return self._verdict(config, msg, Rule.MENTIONS, reason, ((msg.channel_id, msg.message_id),), rule, None)

    def _invites(self, config: AutomodConfig, msg: MessageFacts) -> Verdict | None:
        rule = config.rules[Rule.INVITES]
        content = msg.content
        allowed = config.invite_allowlist
        for match in _INVITE.finditer(content):
            code = match.group(1)
            if code.lower() not in allowed:
                reason = f"invite to another server ({code})"
                target = ((msg.channel_id, msg.message_id),)
                return self._verdict(config, msg, Rule.INVITES, reason, target, rule, None)
        return None

    def _links(self, config: AutomodConfig, msg: MessageFacts) -> Verdict | None:
        rule = config.rules[Rule.LINKS]
        content = msg.content
        for match in _LINK_HOST.finditer(content):
            host = match.group(1).lower()
            if host in _INVITE_HOSTS:
                continue  # the invite rule's business
            if not host_allowed(host, config.link_allowlist):
                target = ((msg.channel_id, msg.message_id),)
                return self._verdict(config, msg, Rule.LINKS, f"link to {host}", target, rule, None)
        return None

    # -- verdicts, strikes, escalation ------------------------------------------------------------------------

    def _verdict(
        self,
        config: AutomodConfig,
        msg: MessageFacts,
        rule: Rule,
        reason: str,
        delete: tuple[tuple[int, int], ...],
        settings: RuleSettings,
        strike: int | None,
    ) -> Verdict:
        if strike is None:
            strike = self._add_strike(msg.guild_id, msg.author_id, config.strike_window)
            punishment = escalate(settings, config.ladder, strike)
        else:
            punishment = Step(Action.NONE)
        return Verdict(
            guild_id=msg.guild_id,
            user_id=msg.author_id,
            channel_id=msg.channel_id,
            rule=rule,
            reason=reason,
            evidence=excerpt(msg.content),
            delete=delete if settings.delete else (),
            punishment=punishment,
            strike=strike,
            dry_run=config.dry_run,
        )

    def _add_strike(self, guild_id: int, user_id: int, window: float) -> int:
        now = self._clock.monotonic()
        key = (guild_id, user_id)
        expiries = self._strikes.get(key)
        if expiries is None:
            expiries = self._strikes[key] = []
            if len(self._strikes) > self._max_members:
                self._strikes.popitem(last=False)
        else:
            self._strikes.move_to_end(key)
            expiries[:] = [t for t in expiries if t > now]
        expiries.append(now + window)
        return len(expiries)

    def _sweep(self, now: float) -> None:
        """Drop windows idle longer than their guild's horizon, and expired strikes (oldest first)."""
        self._until_sweep = self._sweep_every
        windows = self._windows
        horizon = self._horizon
        self._peak = max(self._peak, len(windows))
        while windows:
            key, window = next(iter(windows.items()))
            if window.last + horizon.get(key[0], 0.0) >= now:
                break
            windows.popitem(last=False)
        if self._peak > 4096 and len(windows) < self._peak // 4:
            # Dicts never shrink their tables on deletion: rebuild after a burst so memory is given back.
            self._windows = OrderedDict(windows)
            self._peak = len(windows)
        strikes = self._strikes
        # Strike lists are ordered by last strike; only the front can be fully expired in order.
        while strikes:
            key, expiries = next(iter(strikes.items()))
            if expiries and expiries[-1] > now:
                break
            strikes.popitem(last=False)


def escalate(settings: RuleSettings, ladder: Sequence[Step], strike: int) -> Step:
    """The punishment for the `strike`-th strike: the rule's own action, or the ladder's step if harsher."""
    base = settings.action
    if not settings.escalate or not ladder or strike < 1:
        return base
    step = ladder[min(strike, len(ladder)) - 1]
    return step if step.severity > base.severity else base


_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNIT = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TIMEOUT_SECONDS = 28 * 86400


def parse_duration(text: str) -> int:
    """`90s`, `10m`, `1h`, `2d` (a bare number is minutes) -> seconds. Raises ValueError."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * _UNIT[match.group(2)]


def parse_ladder(text: str) -> tuple[Step, ...]:
    """`warn, 10m, 1h, kick` -> steps. Raises ValueError naming the bad part."""
    steps: list[Step] = []
    for raw in re.split(r",|->|→|>", text):
        part = " ".join(raw.split()).lower()
        if not part:
            continue
        if part in ("warn", "kick", "none"):
            steps.append(Step(Action(part)))
            continue
        seconds = parse_duration(part.removeprefix("timeout").lstrip(": "))
        if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
            raise ValueError(part)
        steps.append(Step(Action.TIMEOUT, seconds))
    if not steps:
        raise ValueError(text)
    return tuple(steps)


def format_ladder(ladder: Sequence[Step]) -> str:
    return " → ".join(step.describe() for step in ladder) or "none"
