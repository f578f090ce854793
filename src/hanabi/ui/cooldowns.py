"""Per-user command cooldowns for every command: a client-wide default with per-command overrides.

Every command gets the default (`COMMAND_COOLDOWN_USES` uses per `COMMAND_COOLDOWN_SECONDS`, per user and
command); a command class decorated with `@cooldown(uses, per)` gets its own. The hook runs in lightbulb's
COOLDOWNS step and raises `lightbulb.prefab.OnCooldown`, which the error hook answers with "try again
<relative time>". Help can show a command's cooldown with `CommandCooldowns.for_command(cls)`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import lightbulb
from lightbulb.prefab import cooldowns as lb_cooldowns

from hanabi.infra.clock import Clock
from hanabi.ui.hooks import plain_hook

T = TypeVar("T", bound=type)
_ATTRIBUTE = "__hanabi_cooldown__"


@dataclass(frozen=True, slots=True)
class Cooldown:
    uses: int
    per: float

    @property
    def enabled(self) -> bool:
        return self.uses > 0 and self.per > 0

    def describe(self) -> str:
        if not self.enabled:
            return "no cooldown"
        return f"{self.uses}× per {self.per:g}s"


def cooldown(uses: int, per: float) -> Callable[[T], T]:
    """Class decorator: this command's own per-user cooldown (`uses=0` turns it off)."""

    def apply(cls: T) -> T:
        setattr(cls, _ATTRIBUTE, Cooldown(uses, per))
        return cls

    return apply


class CommandCooldowns:
    """Sliding windows keyed by (command, user). Bounded: idle keys are dropped oldest first."""

    def __init__(
        self, clock: Clock, default: Cooldown, exempt_user_ids: Iterable[int] = (), max_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self.default = default
        self._exempt = frozenset(exempt_user_ids)
        self._max_keys = max_keys
        self._uses: OrderedDict[tuple[str, int], list[float]] = OrderedDict()

    def for_command(self, command: type) -> Cooldown:
        found = getattr(command, _ATTRIBUTE, None)
        return found if isinstance(found, Cooldown) else self.default

    def hit(self, command_name: str, user_id: int, rule: Cooldown) -> float:
        """Record a use; returns 0 when allowed, else the seconds until the next use is allowed."""
        if not rule.enabled or user_id in self._exempt:
            return 0.0
        now = self._clock.monotonic()
        self._sweep(now)
        key = (command_name, user_id)
        uses = self._uses.get(key)
        if uses is None:
            uses = self._uses[key] = []
            if len(self._uses) > self._max_keys:
                self._uses.popitem(last=False)
        else:
            self._uses.move_to_end(key)
            cutoff = now - rule.per
            uses[:] = [t for t in uses if t > cutoff]
        if len(uses) >= rule.uses:
            return max(uses[0] + rule.per - now, 0.01)
        uses.append(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        # Keys are ordered by last use; drop those idle for longer than the longest sensible window.
        horizon = max(self.default.per, 3600.0)
        while self._uses:
            uses = next(iter(self._uses.values()))
            if uses and uses[-1] > now - horizon:
                break
            self._uses.popitem(last=False)

    def hook(self) -> lightbulb.ExecutionHook:
        def check(_: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
            rule = self.for_command(type(ctx.command))
            remaining = self.hit(ctx.command_data.qualified_name, int(ctx.user.id), rule)
            if remaining > 0:
                raise lb_cooldowns.OnCooldown(remaining)

        return plain_hook(lightbulb.ExecutionSteps.COOLDOWNS, check, name="hanabi_cooldowns", skip_when_failed=True)
