"""What every gateway dispatch passes before hikari builds an event from it.

hikari's event manager turns each dispatch into an event object and hands it to the listeners. `EventIntake`
makes the bot's manager an instance of a subclass whose ``consume_raw_event`` looks at the raw payload first:

- every dispatch is counted by name (``hanabi_gateway_events_total``). A ``ShardPayloadEvent`` listener would
  cost an event object, a listener lookup and a task per dispatch: 5 % of the bot's CPU at 5,000 messages/s.
- the bot's own MESSAGE_CREATE goes no further. Discord sends one for every public reply, every interaction
  response included, and no feature acts on the bot's own messages (automod and prefix commands skip bots):
  deserialising them was 5-8 % of a ``/ping``.
- every other MESSAGE_CREATE goes to the handlers registered with `on_message` as a `GatewayMessage` (automod,
  prefix commands), before hikari sees it; with no hikari listener for message events hikari then builds nothing
  (`hanabi.infra.gateway_messages`).
- an INTERACTION_CREATE that is already older than `LATE_INTERACTION_SECONDS` goes no further: it can no longer
  be answered in Discord's 3 seconds (`hanabi.bot` checks the age again where a command starts). Under
  overload this sheds the backlog instead of spending the bot's CPU on answers Discord refuses (each refusal
  used to end in an error reply that failed too and a logged traceback), so the fresh interactions behind it get
  answered.

The subclass adds no slots, so Python allows the class change, and the manager stays what lightbulb and miru
expect (``isinstance`` holds).
"""

from __future__ import annotations

import collections
import logging
import math
import time
from typing import Any

import hikari

from hanabi.infra.gateway_messages import GatewayMessage, MessageHandler

log = logging.getLogger(__name__)

LATE_INTERACTION_SECONDS = 2.5
_DISCORD_EPOCH_MS = 1_420_070_400_000
_OFFSET_WINDOW_SECONDS = 60.0
_REPORT_EVERY_SECONDS = 10.0


def snowflake_seconds(snowflake: int) -> float:
    """The Unix time at which a Discord snowflake was created."""
    return ((snowflake >> 22) + _DISCORD_EPOCH_MS) / 1000


class InteractionClock:
    """How long ago Discord created an interaction, by our clock, allowing for the two clocks' offset.

    An interaction's snowflake carries Discord's creation time. Our clock may be off by more than Discord's
    deadline, so the age is measured from the smallest offset seen recently (the fastest delivery, nearly no
    queueing), kept over two windows of `_OFFSET_WINDOW_SECONDS` so a clock step is forgotten within two minutes.
    """

    def __init__(self) -> None:
        self._floor = math.inf
        self._previous_floor = math.inf
        self._window_ends = 0.0

    def age(self, interaction_id: int, now: float) -> float:
        offset = now - snowflake_seconds(interaction_id)
        if now >= self._window_ends:
            self._previous_floor, self._floor = self._floor, math.inf
            self._window_ends = now + _OFFSET_WINDOW_SECONDS
        self._floor = min(self._floor, offset)
        return offset - min(self._floor, self._previous_floor)


class EventIntake:
    """Counts every dispatch and drops the ones no feature should pay for (see the module's docstring)."""

    def __init__(
        self, *, late_on_arrival: float = LATE_INTERACTION_SECONDS, late_on_start: float = LATE_INTERACTION_SECONDS
    ) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.interactions_expired = 0
        self.late_on_arrival = late_on_arrival
        self.late_on_start = late_on_start
        self.clock = InteractionClock()
        self._own_user_id: str | None = None
        self._unreported_expired = 0
        self._next_report = 0.0
        self._message_handlers: list[MessageHandler] = []

    def on_message(self, handler: MessageHandler) -> None:
        """Hand every admitted MESSAGE_CREATE to `handler`, in arrival order."""
        self._message_handlers.append(handler)

    def remove_message_handler(self, handler: MessageHandler) -> None:
        self._message_handlers.remove(handler)

    def install(self, manager: hikari.api.EventManager) -> None:
        intake = self
        base = type(manager)

        def consume_raw_event(self: Any, event_name: str, shard: Any, payload: Any) -> None:
            if intake.admit(event_name, payload):
                if event_name == "MESSAGE_CREATE" and intake._message_handlers:
                    intake.deliver_message(shard, payload)
                base.consume_raw_event(self, event_name, shard, payload)

        manager.__class__ = type(
            f"Intake{base.__name__}", (base,), {"__slots__": (), "consume_raw_event": consume_raw_event}
        )

    def admit(self, event_name: str, payload: Any) -> bool:
        """Whether hikari should build an event from this dispatch."""
        self.counts[event_name] += 1
        if event_name == "MESSAGE_CREATE":
            author = payload.get("author")
            return author is None or author.get("id") != self._own_user_id
        if event_name == "INTERACTION_CREATE":
            now = time.time()
            age = self.clock.age(int(payload["id"]), now)
            if age > self.late_on_arrival:
                self.note_expired(f"was {age:.1f} s old on arrival", now)
                return False
            return True
        if event_name == "READY":
            self._own_user_id = str(payload["user"]["id"])
        return True

    def deliver_message(self, shard: hikari.api.GatewayShard, payload: Any) -> None:
        try:
            message = GatewayMessage.from_payload(payload)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ignored a MESSAGE_CREATE that is not a message (%s: %s)", type(exc).__name__, exc)
            return
        for handler in self._message_handlers:
            try:
                handler(message, shard, payload)
            except Exception:
                # One failing feature must not keep the message from the others, nor stop the gateway's reader.
                log.exception("message handler %r failed on message %s", handler, message.id)

    def too_late_to_start(self, interaction_id: int) -> bool:
        """Checked again where a command starts: under overload an interaction admitted in time can still wait
        behind the ones already in the event loop until it can no longer be answered."""
        return self.clock.age(interaction_id, time.time()) > self.late_on_start

    def note_expired(self, why: str, now: float | None = None) -> None:
        """An interaction that could no longer be answered: counted, and reported at most every 10 s."""
        now = time.time() if now is None else now
        self.interactions_expired += 1
        self._unreported_expired += 1
        if now >= self._next_report:
            log.warning(
                "%d interaction(s) expired before the bot could answer them (Discord allows 3 s; the last %s): "
                "the bot is falling behind",
                self._unreported_expired,
                why,
            )
            self._unreported_expired = 0
            self._next_report = now + _REPORT_EVERY_SECONDS
