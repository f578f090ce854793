"""/help end to end: generated from the registered commands, sections per extension, details, locale."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import hikari
import pytest
import pytest_asyncio

from hanabi.bot import Hanabi
from tests.harness.bot import RunningBot, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember

JSON = dict[str, Any]
SAMPLE_EXTENSION = "tests.e2e.help_sample_extension"


def load_sample_extension(app: Hanabi) -> None:
    """Load a test-only extension the way the bot loads its own, before the client starts."""

    async def load(_: hikari.StartingEvent) -> None:
        await app.client.load_extensions(SAMPLE_EXTENSION)

    app.bot.subscribe(hikari.StartingEvent, load)


@pytest_asyncio.fixture
async def helpbot(
    fake: FakeDiscord, database_url: str, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[RunningBot]:
    async with running_bot(
        fake,
        database_url,
        tmp_path,
        overrides={"clock": clock},
        command_cooldown_uses=0,
        prepare=load_sample_extension,
    ) as bot:
        yield bot


def alice_of(guild: FakeGuild) -> FakeMember:
    return next(m for m in guild.members.values() if m.username == "alice")


def registered_paths(fake: FakeDiscord) -> list[str]:
    """Every slash command path Discord knows of, subcommands expanded."""
    paths: list[str] = []
    for command in fake.global_commands:
        if command.get("type", 1) != 1:
            continue
        subs = [o for o in command.get("options") or [] if o["type"] in (1, 2)]
        if not subs:
            paths.append(command["name"])
        for sub in subs:
            if sub["type"] == 1:
                paths.append(f"{command['name']} {sub['name']}")
            else:
                paths += [f"{command['name']} {sub['name']} {leaf['name']}" for leaf in sub.get("options") or []]
    return paths


def fields(embed: JSON) -> dict[str, str]:
    return {str(f["name"]): str(f["value"]) for f in embed.get("fields") or []}


@pytest.mark.asyncio
async def test_the_overview_lists_every_registered_command_by_extension(
    helpbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    reply = await fake.slash("help", user=alice_of(guild), guild=guild)
    assert reply.ephemeral
    (embed,) = reply.embeds
    assert embed["title"] == "Hanabi commands"
    paths = registered_paths(fake)
    assert {"help", "ping", "poll create", "poll results", "launch"} <= set(paths)
    for path in paths:
        assert f"`/{path}`" in reply.text, path
    sections = fields(embed)
    assert any(name.startswith("Polls (") for name in sections)
    assert any(name.startswith("Meta (") for name in sections)
    assert "`/launch` 🔒" in sections["Help Sample Extension (1)"]  # alice lacks Manage Server
    assert "🔒 marks commands you can't use here." in embed["description"]

    menu = reply.component("help:section")
    values = [o["value"] for o in menu["options"]]
    assert values[0] == "overview"
    assert {"polls", "meta", "help", "help_sample_extension"} <= set(values)

    polls = await fake.select(reply, "help:section", ["polls"], user=alice_of(guild))
    assert polls.type == 7
    (section,) = polls.embeds
    assert section["title"] == "Polls commands"
    details = fields(section)
    assert "`/poll create`" in details
    assert "`question` (text, required)" in details["`/poll create`"]
    assert "`duration` (text, optional)" in details["`/poll create`"]
    assert "`role` (role, optional)" in details["`/poll create`"]
    chosen = next(o for o in polls.component("help:section")["options"] if o.get("default"))
    assert chosen["value"] == "polls"

    back = await fake.select(polls.message or reply, "help:section", ["overview"], user=alice_of(guild))
    assert back.embeds[0]["title"] == "Hanabi commands"


@pytest.mark.asyncio
async def test_a_command_in_detail_with_usage_options_example_and_permissions(
    helpbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice = alice_of(guild)
    choices = await fake.autocomplete("help", {"command": "poll c"}, "command", user=alice, guild=guild)
    assert [c["value"] for c in choices][:2] == ["poll close", "poll create"]
    assert choices[1]["name"].startswith("/poll create — ")

    reply = await fake.slash("help", {"command": "poll create"}, user=alice, guild=guild)
    (embed,) = reply.embeds
    assert embed["title"] == "/poll create"
    info = fields(embed)
    assert info["Usage"] == (
        "`/poll create question:<question> options:<options> [duration:<duration>] [multiple:<multiple>] "
        "[anonymous:<anonymous>] [role:<role>]`"
    )
    assert "`options` — text, required:" in info["Options"]
    assert "`multiple` — true/false, optional: Let voters choose several options" in info["Options"]
    assert info["Example"] == "`/poll create question:text options:text duration:text`"
    assert info["Section"] == "Polls"
    assert "🔒" not in embed["description"]

    launch = await fake.slash("help", {"command": "/launch"}, user=alice, guild=guild)
    info = fields(launch.embeds[0])
    assert info["Required permissions"] == "Manage Server"
    assert "🔒 You can't use this command here." in launch.embeds[0]["description"]
    assert info["Example"] == "`/launch count:3 colour:red`"
    assert "`count` — whole number, required" in info["Options"]

    group = await fake.slash("help", {"command": "poll"}, user=alice, guild=guild)
    assert "`/poll export`" in fields(group.embeds[0])["Subcommands"]

    unknown = await fake.slash("help", {"command": "fly"}, user=alice, guild=guild)
    assert unknown.ephemeral
    assert unknown.content == "There is no command called `fly`. Use `/help` to see them all."


@pytest.mark.asyncio
async def test_a_caller_with_the_permission_sees_no_lock(
    helpbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    from tests.harness.payloads import Perm

    managers = guild.add_role("Managers", permissions=Perm.MANAGE_GUILD)
    manager = guild.add_member("manager", roles=[managers])
    reply = await fake.slash("help", user=manager, guild=guild)
    assert "`/launch`" in reply.text
    assert "`/launch` 🔒" not in reply.text


@pytest.mark.asyncio
async def test_help_follows_the_callers_locale_and_falls_back_to_english(
    helpbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice = alice_of(guild)
    german = await fake.slash("help", user=alice, guild=guild, locale="de")
    assert german.embeds[0]["title"] == "Hanabi-Befehle"
    assert german.component("help:section")["placeholder"] == "Bereich wählen"
    detail = await fake.slash("help", {"command": "poll create"}, user=alice, guild=guild, locale="de")
    assert {"Verwendung", "Optionen", "Beispiel"} <= set(fields(detail.embeds[0]))
    french = await fake.slash("help", {"command": "launch"}, user=alice, guild=guild, locale="fr")
    assert "Tu ne peux pas utiliser cette commande ici." in french.embeds[0]["description"]
    japanese = await fake.slash("help", user=alice, guild=guild, locale="ja")
    assert japanese.embeds[0]["title"] == "Hanabi commands"
