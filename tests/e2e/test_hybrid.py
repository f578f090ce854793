"""Prefix (text) invocation of the same command definitions: parsing, replies, checks, usage lines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import hikari
import lightbulb
import pytest
import pytest_asyncio

from hanabi.bot import Hanabi
from hanabi.hybrid import slash_only, slash_only_reason
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.wiring import resolve
from tests.harness.bot import RunningBot, running_bot
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember

_seen: list[dict[str, Any]] = []


class Echo(lightbulb.SlashCommand, name="echo", description="Repeat back what was given"):
    who = lightbulb.user("who", "Someone")
    times = lightbulb.integer("times", "How often", min_value=1, max_value=5)
    loud = lightbulb.boolean("loud", "Shout it", default=False)
    text = lightbulb.string("text", "What to say", default="")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        _seen.append({"who": self.who.id, "times": self.times, "loud": self.loud, "text": self.text})
        words = " ".join([self.text.upper() if self.loud else self.text] * self.times)
        await ctx.respond(f"{self.who.username}: {words}", user_mentions=False, role_mentions=False)


class Secret(
    lightbulb.SlashCommand,
    name="secret",
    description="Answers ephemerally",
    hooks=[lightbulb.prefab.has_permissions(hikari.Permissions.MANAGE_GUILD)],
):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.respond("only for you", ephemeral=True)


@slash_only("it needs a file")
class Upload(lightbulb.SlashCommand, name="upload", description="Slash only"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.respond("uploaded")


def add_test_commands(app: Hanabi) -> None:
    for command in (Echo, Secret, Upload):
        app.client.register(command)


@pytest_asyncio.fixture
async def hybrid_bot(fake: FakeDiscord, database_url: str, tmp_path: Path) -> AsyncIterator[RunningBot]:
    _seen.clear()
    async with running_bot(fake, database_url, tmp_path, prepare=add_test_commands) as running:
        yield running


def _bot_replies(fake: FakeDiscord, channel_id: int) -> list[dict[str, Any]]:
    return [m for m in fake.messages.get(channel_id, []) if int(m["author"]["id"]) == fake.bot_user_id]


@pytest.mark.asyncio
async def test_ping_by_prefix_replies_with_the_same_embed(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    channel = guild.default_channel
    said = await fake.say("!ping", channel=channel)
    reply = await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
    assert reply["embeds"][0]["title"] == "Pong!"
    assert reply["message_reference"]["message_id"] == said["id"]


@pytest.mark.asyncio
async def test_arguments_quotes_bounds_and_rest_of_line(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
) -> None:
    channel = guild.default_channel
    await fake.say(f"!ECHO <@{alice.id}> 2 yes hello there world", channel=channel, mentions=[alice])
    reply = await fake.wait_for_message(channel.id, lambda m: "HELLO" in m["content"])
    assert reply["content"] == f"{alice.username}: HELLO THERE WORLD HELLO THERE WORLD"
    sent = next(r for r in fake.requests if r.method == "POST" and r.json and "HELLO" in str(r.json.get("content")))
    assert sent.json["allowed_mentions"]["parse"] == []  # user text never pings anyone

    await fake.say(f'!echo {alice.id} 1 text:"quoted words"', channel=channel)
    reply = await fake.wait_for_message(channel.id, lambda m: "quoted" in m["content"])
    assert reply["content"].endswith("quoted words")
    assert _seen[-1] == {"who": alice.id, "times": 1, "loud": False, "text": "quoted words"}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ("", "`who` is missing"),
        ("{alice} many", "`times` must be a whole number"),
        ("{alice} 9", "`times` must be between 1 and 5"),
        ("{alice} 1 perhaps", "`loud` must be yes or no"),
        ('{alice} 1 no "unclosed', "A quote is not closed"),
    ],
)
async def test_bad_arguments_answer_with_the_usage_line(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember, arguments: str, complaint: str
) -> None:
    channel = guild.default_channel
    await fake.say("!echo " + arguments.format(alice=alice.id), channel=channel)
    reply = await fake.wait_for_message(channel.id, lambda m: "Usage" in m["content"])
    assert complaint in reply["content"]
    assert "Usage: `!echo <who> <times> [loud] [text]`" in reply["content"]
    assert _seen == []


@pytest.mark.asyncio
async def test_unknown_commands_and_plain_chat_are_ignored(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    channel = guild.default_channel
    await fake.say("!nosuchcommand at all", channel=channel)
    await fake.say("just chatting about !ping", channel=channel)
    await fake.say("!ping", channel=channel)  # a sentinel: once it is answered, the others were handled
    await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
    assert len(_bot_replies(fake, channel.id)) == 1


@pytest.mark.asyncio
async def test_with_the_prefix_known_chat_is_skipped_and_both_prefixes_still_run_commands(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    channel = guild.default_channel
    await fake.say("!ping", channel=channel)  # the first message of the guild: its settings load on the way
    await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
    settings: GuildSettingsService = await resolve(hybrid_bot.container.guild_settings_service)
    assert settings.cached(guild.id) is not None  # from now on chat is told apart without waiting
    await fake.say("hello, is anyone here? !ping", channel=channel)
    await fake.say(f"<@{fake.bot_user_id}> ping", channel=channel, mentions=[guild.bot_member])
    await fake.say("!ping", channel=channel)
    await fake.wait_for_message(channel.id, lambda m: len(_bot_replies(fake, channel.id)) == 3)
    await asyncio.sleep(0.2)
    replies = _bot_replies(fake, channel.id)
    assert [r["embeds"][0]["title"] for r in replies] == ["Pong!"] * 3


@pytest.mark.asyncio
async def test_mention_prefix_works_with_the_content_intent_off(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path, message_content_intent=False):
        identify = fake.identifies[-1]
        assert not int(identify["intents"]) & int(hikari.Intents.MESSAGE_CONTENT)
        channel = guild.default_channel
        await fake.say(f"<@{fake.bot_user_id}> ping", channel=channel, mentions=[guild.bot_member])
        reply = await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
        assert reply["embeds"][0]["title"] == "Pong!"


@pytest.mark.asyncio
async def test_permission_checks_apply_to_the_prefix_path(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
) -> None:
    channel = guild.default_channel
    await fake.say("!secret", channel=channel, author=alice)
    refusal = await fake.wait_for_message(channel.id, lambda m: "permission" in m["content"])
    assert "Manage Server" in refusal["content"]


@pytest.mark.asyncio
async def test_ephemeral_replies_delete_themselves(hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    owner = guild.member(guild.owner_id)
    channel = guild.default_channel
    assert hybrid_bot.app.hybrid is not None
    assert hybrid_bot.app.hybrid.ephemeral_reply_seconds == 30
    hybrid_bot.app.hybrid.ephemeral_reply_seconds = 0.2  # the same path, without waiting half a minute
    await fake.say("!secret", channel=channel, author=owner)
    reply = await fake.wait_for_message(channel.id, lambda m: m["content"] == "only for you")
    await fake.wait_for_request("DELETE", rf"/channels/{channel.id}/messages/{reply['id']}$", timeout=3)


@pytest.mark.asyncio
async def test_slash_only_commands_say_so(hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    channel = guild.default_channel
    await fake.say("!upload", channel=channel)
    reply = await fake.wait_for_message(channel.id, lambda m: "only works as a slash command" in m["content"])
    assert "it needs a file" in reply["content"]


@pytest.mark.asyncio
async def test_every_registered_command_is_hybrid_or_declared_slash_only(hybrid_bot: RunningBot) -> None:
    assert hybrid_bot.app.hybrid is not None
    commands = hybrid_bot.app.hybrid.index.all_commands()
    assert commands
    for command in commands:
        reason = slash_only_reason(command)
        data = command._command_data
        if data.type is hikari.CommandType.SLASH and reason is None:
            # Hybrid: every option type can be given as text.
            assert all(o.type is not hikari.OptionType.ATTACHMENT for o in data.options.values()), data.name
        else:
            assert reason, f"{data.name} is neither hybrid nor declared slash-only"


@pytest.mark.asyncio
async def test_help_shows_the_prefix_form_and_slash_only_reasons(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    reply = await fake.slash("help", {"command": "echo"}, guild=guild)
    fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
    assert fields["As a text command"] == "`!echo <who> <times> [loud] [text]`"
    assert fields["Cooldown per user"] == "5× per 10s"  # the default every command gets

    reply = await fake.slash("help", {"command": "upload"}, guild=guild)
    fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
    assert fields["As a text command"] == "Slash command only: it needs a file."

    # !help is itself a hybrid command; its private answer tidies itself away like every ephemeral reply.
    channel = guild.default_channel
    await fake.say("!help echo", channel=channel)
    reply_message = await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
    assert reply_message["embeds"][0]["title"] == "/echo"


@pytest.mark.asyncio
async def test_a_per_server_prefix_replaces_the_default(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    settings = await hybrid_bot.container.guild_settings_service()
    await settings.update(guild.id, prefix="h!")
    channel = guild.default_channel
    await fake.say("!ping", channel=channel)
    await fake.say("h!ping", channel=channel)
    reply = await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
    assert reply["embeds"][0]["title"] == "Pong!"
    await asyncio.sleep(0.2)
    assert len(_bot_replies(fake, channel.id)) == 1  # the old prefix no longer answers
    help_reply = await fake.slash("help", {"command": "echo"}, guild=guild)
    fields = {f["name"]: f["value"] for f in help_reply.embeds[0]["fields"]}
    assert fields["As a text command"].startswith("`h!echo")


@pytest.mark.asyncio
async def test_settings_prefix_command_changes_the_prefix_for_this_server(
    hybrid_bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember
) -> None:
    owner = guild.member(guild.owner_id)
    changed = await fake.slash("settings prefix", {"prefix": "?"}, user=owner, guild=guild)
    assert changed.ephemeral
    assert "now start with `?`" in changed.content
    bad = await fake.slash("settings prefix", {"prefix": "two words"}, user=owner, guild=guild)
    assert "1 to 5 characters without spaces" in bad.content

    channel = guild.default_channel
    await fake.say("?ping", channel=channel, author=alice)
    reply = await fake.wait_for_message(channel.id, lambda m: bool(m["embeds"]))
    assert reply["embeds"][0]["title"] == "Pong!"

    # The same command by prefix, with the same permission check: alice lacks Manage Server.
    await fake.say("?settings prefix !", channel=channel, author=alice)
    refusal = await fake.wait_for_message(channel.id, lambda m: "permission" in m["content"])
    assert "Manage Server" in refusal["content"]
    await fake.say("?settings prefix reset:yes", channel=channel, author=owner)
    back = await fake.wait_for_message(channel.id, lambda m: "back to" in m["content"])
    assert "`!`" in back["content"]
