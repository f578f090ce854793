"""One listener for every component and modal interaction, routed by the custom id's feature prefix.

A feature answers the components whose custom id starts with `<feature>:` (`poll:12:vote`, `help:section`) by
registering that feature with the router (`hanabi.wiring.component_route`); the rest (miru views and modals) go to
miru. hikari runs one task per listener of an event's class and its bases, so before this every listener of
InteractionCreateEvent woke for every interaction: a poll click ran four (lightbulb's, miru's, the poll and help
listeners), a slash command two (lightbulb's and miru's). Now a click runs two and a command one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import hikari
import miru

from hanabi.ui.interactions import Responder, handle_component

ComponentHandler = Callable[[Responder], Awaitable[None]]


class InteractionRouter:
    def __init__(self, bot: hikari.GatewayBot, views: miru.Client) -> None:
        self._views = views
        self._routes: dict[str, ComponentHandler] = {}
        # miru's own listener takes every InteractionCreateEvent, slash commands included, only to ignore all but
        # components and modals; the router hands it those it does not route itself.
        bot.unsubscribe(hikari.InteractionCreateEvent, views._handle_events)
        bot.subscribe(hikari.ComponentInteractionCreateEvent, self._on_component)
        bot.subscribe(hikari.ModalInteractionCreateEvent, self._on_modal)

    @property
    def features(self) -> frozenset[str]:
        return frozenset(self._routes)

    def route(self, feature: str, handler: ComponentHandler) -> None:
        """Answer components whose custom id starts with `<feature>:`; one handler per feature."""
        if not feature or ":" in feature:
            raise ValueError(f"a feature is a non-empty name without ':', not {feature!r}")
        if feature in self._routes:
            raise ValueError(f"components of {feature!r} are already routed")
        self._routes[feature] = handler

    def unroute(self, feature: str) -> None:
        self._routes.pop(feature, None)

    async def _on_component(self, event: hikari.ComponentInteractionCreateEvent) -> None:
        interaction = event.interaction
        feature, separator, _ = interaction.custom_id.partition(":")
        handler = self._routes.get(feature) if separator else None
        if handler is None:
            await self._views.handle_component_interaction(interaction)
        else:
            await handle_component(interaction, handler, feature=feature)

    async def _on_modal(self, event: hikari.ModalInteractionCreateEvent) -> None:
        await self._views.handle_modal_interaction(event.interaction)
