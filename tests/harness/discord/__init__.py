"""A fake Discord (REST + gateway) for end-to-end tests of hikari bots.

``from tests.harness.discord import FakeDiscord``; see ``server.py`` for the entry point.
"""

from tests.harness.discord.driver import CommandNotVisibleError, NoResponseError, Reply
from tests.harness.discord.messages import SentFile
from tests.harness.discord.server import FakeDiscord
from tests.harness.discord.state import InteractionRecord, RecordedRequest
from tests.harness.discord.world import FakeChannel, FakeGuild, FakeMember, FakeRole, timeout_in

__all__ = [
    "CommandNotVisibleError",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "InteractionRecord",
    "NoResponseError",
    "RecordedRequest",
    "Reply",
    "SentFile",
    "timeout_in",
]
