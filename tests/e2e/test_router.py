"""The interaction router: one listener for components and modals, routed by the custom id's feature prefix."""

from __future__ import annotations

import base64

import hikari
import miru
import pytest

from hanabi.ui.router import InteractionRouter
from tests.harness.bot import RunningBot
from tests.harness.discord import FakeDiscord, FakeGuild
from tests.harness.discord.messages import iter_components


@pytest.mark.asyncio
async def test_a_command_wakes_one_listener_and_a_click_two(bot: RunningBot) -> None:
    manager = bot.app.bot.event_manager
    # hikari runs a task per listener of the event's class and of its bases.
    assert len(manager.get_listeners(hikari.CommandInteractionCreateEvent)) == 1  # lightbulb's
    assert len(manager.get_listeners(hikari.ComponentInteractionCreateEvent)) == 2  # lightbulb's and the router's
    assert len(manager.get_listeners(hikari.ModalInteractionCreateEvent)) == 2
    assert {"poll", "help"} <= bot.app.router.features


@pytest.mark.asyncio
async def test_features_route_their_prefix_and_miru_views_still_answer(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    # A routed feature: the help section menu.
    reply = await fake.slash("help", guild=guild)
    section = await fake.select(reply, "help:section", ["polls"])
    assert section.type == 7
    assert section.embeds[0]["title"] == "Polls commands"

    # A custom id of a routed feature that the feature no longer knows is answered, not left to time out.
    assert section.message is not None
    (menu,) = (c for c in iter_components(section.message["components"]) if c.get("custom_id") == "help:section")
    menu["custom_id"] = "help:legacy"
    stale = await fake.select(section, "help:legacy", ["overview"])
    assert stale.ephemeral
    assert "older version of the help" in (stale.content or "")
    # Every other component goes to miru: test_economy's paginated /history turns its pages through a miru view.


def test_a_feature_routes_once_and_has_no_colon() -> None:
    token = f"{base64.b64encode(b'1234567890').decode()}.AAAAAA.{'x' * 27}"  # the shape hikari parses; never used
    bot = hikari.GatewayBot(token, intents=hikari.Intents.ALL_UNPRIVILEGED, banner=None)
    router = InteractionRouter(bot, miru.Client(bot))

    async def handler(_: object) -> None:
        return None

    router.route("poll", handler)
    with pytest.raises(ValueError, match="already routed"):
        router.route("poll", handler)
    with pytest.raises(ValueError, match="without ':'"):
        router.route("poll:vote", handler)
    router.unroute("poll")
    assert router.features == frozenset()
