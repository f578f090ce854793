"""hikari's entity factory, minus the one thing it builds that Hanabi never reads.

hikari asks Discord to return the message an interaction response created (``with_response=true``, with no way
to turn it off) and builds a full message object from it, embeds, components and author included. Nothing in
Hanabi, lightbulb or miru reads that object: 4-5 % of the bot's CPU per `/balance` went into it
(docs/benchmarks.md, section 28). `skip_interaction_response_messages` makes the factory build the callback part
only (its ``resource`` stays UNDEFINED, as when Discord sends none). The factory becomes an instance of a
subclass with no new slots, as `hanabi.infra.intake` does for the event manager.
"""

from __future__ import annotations

from typing import Any

import hikari


def skip_interaction_response_messages(factory: hikari.api.EntityFactory) -> None:
    base = type(factory)

    def deserialize_interaction_callback_response(self: Any, payload: Any) -> hikari.InteractionCallbackResponse:
        response: hikari.InteractionCallbackResponse = base.deserialize_interaction_callback_response(
            self, {"interaction": payload["interaction"]}
        )
        return response

    factory.__class__ = type(
        f"Lean{base.__name__}",
        (base,),
        {"__slots__": (), "deserialize_interaction_callback_response": deserialize_interaction_callback_response},
    )
