"""Automod, the mod log, /cases, /automod, /settings modlog, native AutoMod, cooldowns and token hygiene, end to
end: MESSAGE_CREATE streams from the fake Discord into the real bot, REST calls checked on the way out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hikari
import pytest
import pytest_asyncio

from hanabi.repositories.moderation import Case
from hanabi.services.moderation import ModerationService
from hanabi.wiring import resolve
from tests.harness.bot import RunningBot, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember, RecordedRequest
from tests.harness.payloads import Perm, parse_iso

JSON = dict[str, Any]
PACE = 0.03  # seconds between user messages, so the bot reads the manual clock after each advance


@dataclass
class World:
    bot: RunningBot
    fake: FakeDiscord
    guild: FakeGuild
    clock: ManualClock
    general: FakeChannel
    modlog: FakeChannel
    alice: FakeMember
    bob: FakeMember

    async def cases(self, member: FakeMember) -> list[Case]:
        service: ModerationService = await resolve(self.bot.container.moderation_service)
        return await service.cases(self.guild.id, member.id)


@pytest_asyncio.fixture
async def world(fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    # Real wall time: timeouts are absolute timestamps and the fake compares them with its own clock.
    clock = ManualClock(datetime.now(UTC))
    modlog = guild.add_text_channel("mod-log")
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}) as bot:
        reply = await fake.slash("settings modlog", {"channel": modlog}, user=fake.owner_id)
        assert "mod-log" in (reply.content or "") or str(modlog.id) in (reply.content or "")
        alice = next(m for m in guild.members.values() if m.username == "alice")
        bob = next(m for m in guild.members.values() if m.username == "bob")
        yield World(bot, fake, guild, clock, guild.channel("general"), modlog, alice, bob)


async def say_all(w: World, texts: list[str], *, author: FakeMember, every: float, **extra: Any) -> list[JSON]:
    sent = []
    for text in texts:
        sent.append(await w.fake.say(text, author=author, channel=w.general, **extra))
        w.clock.advance(seconds=every)
        await asyncio.sleep(PACE)
    return sent


def requests(w: World, method: str, fragment: str) -> list[RecordedRequest]:
    return [r for r in w.fake.requests if r.method == method and fragment in r.path]


def member_patches(w: World, member: FakeMember) -> list[RecordedRequest]:
    return [r for r in requests(w, "PATCH", f"/members/{member.id}") if "communication_disabled_until" in r.json]


def modlog_embeds(w: World) -> list[JSON]:
    return [e for m in w.fake.messages.get(w.modlog.id, []) for e in m.get("embeds") or []]


def modlog_texts(w: World) -> list[str]:
    return [str(m.get("content") or "") for m in w.fake.messages.get(w.modlog.id, [])]


def field(embed: JSON, name: str) -> str:
    return next(str(f["value"]) for f in embed.get("fields") or [] if f["name"] == name)


async def settle(w: World) -> None:
    await asyncio.sleep(0.1)
    await w.fake.quiesce()


# -- automod ------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_flood_is_bulk_deleted_and_member_timed_out_with_modlog_and_case(world: World) -> None:
    w = world
    sent = await say_all(w, [f"spam {i}" for i in range(10)], author=w.alice, every=0.2)  # 10 messages in 2 s
    await w.fake.wait_for_request("POST", r"/messages/bulk-delete$")
    await w.fake.wait_for_message(w.modlog, lambda m: bool(m.get("embeds")))
    await settle(w)

    (bulk,) = requests(w, "POST", "/bulk-delete")
    assert len(bulk.json["messages"]) == 7  # more than 6 in 5 s: the 7th message triggers
    single = {r.path.rsplit("/", 1)[-1] for r in requests(w, "DELETE", f"/channels/{w.general.id}/messages/")}
    deleted = set(bulk.json["messages"]) | single
    assert deleted == {m["id"] for m in sent}, "every message of the flood is deleted"
    assert not [m for m in w.fake.messages[w.general.id] if m["author"]["id"] == str(w.alice.id)]

    (patch,) = member_patches(w, w.alice)  # one timeout for the incident, not one per message
    until = parse_iso(patch.json["communication_disabled_until"])
    assert abs((until - w.clock.now()).total_seconds() - 600) < 5
    assert w.alice.timed_out

    (embed,) = modlog_embeds(w)
    assert embed["title"] == "Automod · flood"
    assert str(w.alice.id) in field(embed, "Member")
    assert "deleted 7 message(s)" in field(embed, "Action")
    assert "timeout 10m" in field(embed, "Action")
    assert field(embed, "Strike") == "1"
    assert "spam 6" in field(embed, "Evidence")

    (case,) = await w.cases(w.alice)
    assert (case.rule, case.action, case.timeout_seconds, case.strike, case.deleted_count) == (
        "flood",
        "timeout",
        600,
        1,
        7,
    )
    assert embed["footer"]["text"] == f"Case #{case.id}"
    counter = w.bot.app.metrics.registry.get_sample_value
    assert counter("hanabi_automod_actions_total", {"rule": "flood", "action": "timeout"}) == 1.0


@pytest.mark.asyncio
async def test_messages_reach_automod_raw_and_hikari_builds_no_message_events(world: World) -> None:
    w = world
    event_manager = w.bot.app.bot.event_manager
    # No hikari listener for message events: hikari skips MESSAGE_CREATE instead of building a Message for
    # every chat line; automod and prefix commands read the gateway payload (hanabi.infra.gateway_messages).
    for event_type in (hikari.GuildMessageCreateEvent, hikari.DMMessageCreateEvent):
        assert not event_manager.get_listeners(event_type), event_type
    # Chat from a member whose roles automod has not seen yet (a lookup first), then from one it has.
    await say_all(w, ["hello", "how are you"], author=w.bob, every=3)
    sent = await say_all(w, [f"spam {i}" for i in range(8)], author=w.alice, every=0.2)
    await w.fake.wait_for_request("POST", r"/messages/bulk-delete$")
    await settle(w)
    (bulk,) = requests(w, "POST", "/bulk-delete")
    assert set(bulk.json["messages"]) == {m["id"] for m in sent[:7]}
    assert [m["content"] for m in w.fake.messages[w.general.id] if m["author"]["id"] == str(w.bob.id)] == [
        "hello",
        "how are you",
    ]
    assert w.bot.app.intake.counts["MESSAGE_CREATE"] >= 10


@pytest.mark.asyncio
async def test_duplicates_are_deleted_and_warned(world: World) -> None:
    w = world
    sent = await say_all(
        w, ["FREE   nitro here", "free nitro HERE", "free nitro here", "free nitro here"], author=w.bob, every=3
    )
    await w.fake.wait_for_request("POST", r"/messages/bulk-delete$")
    await w.fake.wait_for_message(w.modlog, lambda m: bool(m.get("embeds")))
    await settle(w)
    (bulk,) = requests(w, "POST", "/bulk-delete")
    assert set(bulk.json["messages"]) == {m["id"] for m in sent}
    warning = next(m for m in w.fake.messages[w.general.id] if "automod" in (m.get("content") or ""))
    assert f"<@{w.bob.id}>" in warning["content"]
    assert "strike 1" in warning["content"]
    assert not member_patches(w, w.bob)
    (embed,) = modlog_embeds(w)
    assert embed["title"] == "Automod · duplicates"
    assert "warn" in field(embed, "Action")


@pytest.mark.asyncio
async def test_mention_spam_counts_roles_and_everyone_attempts(world: World) -> None:
    w = world
    roles = [w.guild.add_role(f"team{i}") for i in range(2)]
    carol = w.guild.add_member(username="carol")
    dave = w.guild.add_member(username="dave")
    # Five distinct targets (bob, carol, dave, two roles): below the threshold of 6.
    calm = await w.fake.say(
        "hi all", author=w.alice, mentions=[w.bob, carol, dave, w.bob], mention_roles=roles, channel=w.general
    )
    await settle(w)
    assert w.fake.find_message(int(calm["id"])) is not None
    # The same plus an @everyone attempt without the permission: six, so it is mention spam.
    loud = await w.fake.say(
        "@everyone look", author=w.alice, mentions=[w.bob, carol, dave], mention_roles=roles, channel=w.general
    )
    await w.fake.wait_for_request("DELETE", rf"/messages/{loud['id']}$")
    embed = (await w.fake.wait_for_message(w.modlog, lambda m: bool(m.get("embeds"))))["embeds"][0]
    assert embed["title"] == "Automod · mentions"
    assert "6 mentions" in embed["description"]
    assert "@everyone" in embed["description"]


@pytest.mark.asyncio
async def test_invite_filter_and_escalation_over_three_offences(world: World) -> None:
    w = world
    for i in range(3):
        message = await w.fake.say(f"join discord.gg/cool{i}", author=w.bob, channel=w.general)
        await w.fake.wait_for_request("DELETE", rf"/messages/{message['id']}$")
        await w.fake.wait_for_message(w.modlog, lambda m: bool(m.get("embeds")))
        w.clock.advance(minutes=5)
    await settle(w)
    embeds = modlog_embeds(w)
    assert [field(e, "Strike") for e in embeds] == ["1", "2", "3"]
    assert [field(e, "Action").split(" · ")[-1] for e in embeds] == ["warn", "timeout 10m", "timeout 1h"]
    patches = member_patches(w, w.bob)
    # Strike 2 (10 min) came 10 minutes ago and strike 3 (1 h) 5 minutes ago.
    remaining = [
        round((parse_iso(p.json["communication_disabled_until"]) - w.clock.now()).total_seconds() / 60) for p in patches
    ]
    assert remaining == [0, 55]
    cases = await w.cases(w.bob)
    assert [(c.strike, c.action) for c in reversed(cases)] == [(1, "warn"), (2, "timeout"), (3, "timeout")]

    # /cases user lists them; /cases clear user clears them and the strikes.
    reply = await w.fake.slash("cases user", {"member": w.bob}, user=w.fake.owner_id)
    assert reply.ephemeral
    assert "3 open case(s)" in reply.text
    reply = await w.fake.slash("cases clear user", {"member": w.bob}, user=w.fake.owner_id)
    assert "Cleared 3 case(s)" in reply.text
    assert await w.cases(w.bob) == []
    message = await w.fake.say("discord.gg/again", author=w.bob, channel=w.general)
    await w.fake.wait_for_request("DELETE", rf"/messages/{message['id']}$")
    embed = (await w.fake.wait_for_message(w.modlog, lambda m: bool(m.get("embeds"))))["embeds"][0]
    assert field(embed, "Strike") == "1"


@pytest.mark.asyncio
async def test_a_ladder_ending_in_kick_kicks(world: World) -> None:
    w = world
    reply = await w.fake.slash("automod ladder", {"steps": "warn, kick"}, user=w.fake.owner_id)
    assert "warn → kick" in reply.text
    for i in range(2):
        message = await w.fake.say(f"discord.gg/spam{i}", author=w.bob, channel=w.general)
        await w.fake.wait_for_request("DELETE", rf"/messages/{message['id']}$")
    await w.fake.wait_for_request("DELETE", rf"/guilds/{w.guild.id}/members/{w.bob.id}$")
    assert w.bob.id not in w.guild.members
    await w.fake.wait_for_message(w.modlog, lambda m: "kick" in str(m.get("embeds")))


@pytest.mark.asyncio
async def test_exemptions_moderator_exempt_role_and_bots(world: World) -> None:
    w = world
    mod_role = w.guild.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)
    trusted = w.guild.add_role("Trusted")
    mod = w.guild.add_member(username="mod", roles=[mod_role])
    regular = w.guild.add_member(username="regular", roles=[trusted])
    other_bot = w.guild.add_member(username="otherbot", bot=True)
    reply = await w.fake.slash("automod exempt", {"role": trusted}, user=w.fake.owner_id)
    assert "Trusted" in reply.text or str(trusted.id) in reply.text
    for member in (mod, regular, other_bot):
        await say_all(w, ["discord.gg/invite"] + ["x"] * 9, author=member, every=0.1)
    await settle(w)
    assert not requests(w, "DELETE", "/messages/")
    assert not requests(w, "POST", "/bulk-delete")
    assert not modlog_embeds(w)
    # Removing the exemption makes the same member subject to automod again.
    await w.fake.slash("automod exempt", {"role": trusted, "remove": True}, user=w.fake.owner_id)
    message = await w.fake.say("discord.gg/invite", author=regular, channel=w.general)
    await w.fake.wait_for_request("DELETE", rf"/messages/{message['id']}$")


@pytest.mark.asyncio
async def test_a_role_change_reaches_automod_at_once(world: World) -> None:
    # Automod remembers each author's standing per channel; a role update must make it forget.
    w = world
    helpers = w.guild.add_role("Helpers")
    helper = w.guild.add_member(username="helper", roles=[helpers])
    first = await w.fake.say("discord.gg/invite", author=helper, channel=w.general)
    await w.fake.wait_for_request("DELETE", rf"/messages/{first['id']}$")

    helpers.permissions = Perm.MANAGE_MESSAGES  # now a moderator: exempt
    w.fake.notify("GUILD_ROLE_UPDATE", {"guild_id": str(w.guild.id), "role": helpers.payload()}, guild_id=w.guild.id)
    await settle(w)
    second = await w.fake.say("discord.gg/invite", author=helper, channel=w.general)
    await settle(w)
    assert not requests(w, "DELETE", f"/messages/{second['id']}")


@pytest.mark.asyncio
async def test_a_personal_overwrite_is_not_shared_with_members_of_the_same_roles(world: World) -> None:
    w = world
    trusted = w.guild.add_member(username="trusted")  # no roles, like alice
    w.general.set_overwrite(trusted.id, allow=Perm.MANAGE_MESSAGES, member=True)
    w.fake.notify("CHANNEL_UPDATE", w.general.payload(), guild_id=w.guild.id)
    await settle(w)
    first = await w.fake.say("discord.gg/invite", author=w.alice, channel=w.general)
    await w.fake.wait_for_request("DELETE", rf"/messages/{first['id']}$")
    second = await w.fake.say("discord.gg/invite", author=trusted, channel=w.general)  # a moderator here
    third = await w.fake.say("discord.gg/invite", author=w.alice, channel=w.general)
    await w.fake.wait_for_request("DELETE", rf"/messages/{third['id']}$")
    await settle(w)
    assert not requests(w, "DELETE", f"/messages/{second['id']}")


@pytest.mark.asyncio
async def test_dry_run_acts_on_nothing_but_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    w = world
    reply = await w.fake.slash("automod dryrun", {"mode": "on"}, user=w.fake.owner_id)
    assert "Dry run **on**" in reply.text
    caplog.set_level(logging.INFO, logger="extensions.moderation")
    await say_all(w, [f"spam {i}" for i in range(10)], author=w.alice, every=0.1)
    await w.fake.wait_for_message(w.modlog, lambda m: bool(m.get("embeds")))
    await settle(w)
    assert not requests(w, "DELETE", "/messages/")
    assert not requests(w, "POST", "/bulk-delete")
    assert not member_patches(w, w.alice)
    assert not w.alice.timed_out
    (embed,) = modlog_embeds(w)
    assert embed["title"] == "Automod · flood (dry run)"
    assert "delete 7 message(s) and timeout 10m" in field(embed, "Would have")
    assert await w.cases(w.alice) == []
    assert any("dry run" in r.getMessage() for r in caplog.records)
    status = await w.fake.slash("automod status", user=w.fake.owner_id)
    assert "dry run" in status.text


@pytest.mark.asyncio
async def test_missing_permission_is_reported_once_not_per_message(world: World) -> None:
    w = world
    w.guild.set_bot_permissions(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.READ_MESSAGE_HISTORY)
    for i in range(4):
        await w.fake.say(f"discord.gg/spam{i}", author=w.bob, channel=w.general)
        w.clock.advance(minutes=1)
        await asyncio.sleep(0.15)
    await settle(w)
    assert not requests(w, "DELETE", "/messages/"), "no doomed delete attempts without Manage Messages"
    assert not member_patches(w, w.bob), "no doomed timeouts without Moderate Members"
    texts = [t for t in modlog_texts(w) if t]
    assert sum("Manage Messages" in t for t in texts) == 1
    assert sum("Moderate Members" in t for t in texts) == 1  # strikes 2 and 3 would time out: one notice
    # Warnings (strike 1) still went out, since Send Messages is there.
    assert any(f"<@{w.bob.id}>" in (m.get("content") or "") for m in w.fake.messages[w.general.id])


@pytest.mark.asyncio
async def test_owner_and_members_at_or_above_the_bot_are_never_actioned(world: World) -> None:
    w = world
    senior = w.guild.add_role("Senior")
    senior.position = w.guild.bot_role.position + 5
    w.guild.set_bot_permissions(Perm.ADMINISTRATOR)  # announces roles again
    w.fake.notify("GUILD_ROLE_UPDATE", {"guild_id": str(w.guild.id), "role": senior.payload()}, guild_id=w.guild.id)
    elder = w.guild.add_member(username="elder", roles=[senior])
    owner = w.guild.member(w.fake.owner_id)
    for member in (owner, elder):
        await say_all(w, ["@everyone discord.gg/raid"] * 3 + [f"m{i}" for i in range(8)], author=member, every=0.1)
    await settle(w)
    assert not requests(w, "DELETE", "/messages/")
    assert not requests(w, "POST", "/bulk-delete")
    assert not requests(w, "PATCH", "/members/")
    assert not requests(w, "DELETE", "/members/")
    assert not modlog_embeds(w)


# -- /automod and native AutoMod ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_automod_set_status_and_permissions(world: World) -> None:
    w = world
    registered = {c["name"]: c for c in w.fake.global_commands}
    for name in ("automod", "settings", "cases"):
        assert int(registered[name]["default_member_permissions"]) != 0
    assert int(registered["automod"]["default_member_permissions"]) == Perm.MANAGE_GUILD

    reply = await w.fake.slash(
        "automod set", {"rule": "links", "enabled": True, "allowlist": "github.com, youtube.com"}, user=w.fake.owner_id
    )
    assert "links" in reply.text
    assert "github.com" in reply.text
    bad = await w.fake.slash("automod set", {"rule": "links", "allowlist": "not a domain!"}, user=w.fake.owner_id)
    assert bad.ephemeral
    assert "domains" in bad.text
    await w.fake.slash("automod ladder", {"steps": "warn, 30m, kick", "window": "12h"}, user=w.fake.owner_id)
    status = await w.fake.slash("automod status", user=w.fake.owner_id)
    assert "warn → timeout 30m → kick within 12h" in status.text
    assert "github.com" in status.text
    assert f"<#{w.modlog.id}>" in status.text

    message = await w.fake.say("look https://evil.example/x", author=w.alice, channel=w.general)
    await w.fake.wait_for_request("DELETE", rf"/messages/{message['id']}$")
    ok = await w.fake.say("look https://github.com/x", author=w.alice, channel=w.general)
    await settle(w)
    assert w.fake.find_message(int(ok["id"])) is not None


@pytest.mark.asyncio
async def test_native_automod_rest_payloads_quota_and_disable(world: World) -> None:
    w = world
    # Someone already created the server's one allowed spam rule by hand.
    w.guild.automod_rules[1] = {
        "id": "1",
        "guild_id": str(w.guild.id),
        "name": "Manual spam rule",
        "creator_id": str(w.fake.owner_id),
        "event_type": 1,
        "trigger_type": 3,
        "trigger_metadata": {},
        "actions": [{"type": 1, "metadata": {}}],
        "enabled": True,
        "exempt_roles": [],
        "exempt_channels": [],
    }
    reply = await w.fake.slash("automod native enable", {"profanity": True, "slurs": True}, user=w.fake.owner_id)
    created = {r.json["trigger_type"]: r.json for r in requests(w, "POST", "/auto-moderation/rules")}
    assert set(created) == {4, 5}
    mention = created[5]
    assert mention["name"] == "Hanabi: mention spam"
    assert mention["event_type"] == 1
    assert mention["trigger_metadata"]["mention_total_limit"] == 6
    assert mention["trigger_metadata"]["mention_raid_protection_enabled"] is True
    assert mention["enabled"] is True
    action_types = [a["type"] for a in mention["actions"]]
    assert action_types == [1, 2]
    assert int(mention["actions"][1]["metadata"]["channel_id"]) == w.modlog.id
    assert sorted(created[4]["trigger_metadata"]["presets"]) == [1, 3]
    assert "spam: skipped" in reply.text
    assert "1 of 1" in reply.text
    assert "mention spam 1/1" in reply.text

    # Enabling again updates Hanabi's rules in place instead of creating duplicates.
    await w.fake.slash("automod native enable", {"profanity": True}, user=w.fake.owner_id)
    assert len(requests(w, "POST", "/auto-moderation/rules")) == 2
    assert len(requests(w, "PATCH", "/auto-moderation/rules/")) == 2

    reply = await w.fake.slash("automod native disable", user=w.fake.owner_id)
    disables = [r for r in requests(w, "PATCH", "/auto-moderation/rules/") if r.json == {"enabled": False}]
    assert len(disables) == 2
    assert w.guild.automod_rules[1]["enabled"] is True, "a rule Hanabi did not create is never touched"
    assert "disabled" in reply.text


@pytest.mark.asyncio
async def test_native_automod_names_the_missing_bot_permission(world: World) -> None:
    w = world
    w.guild.set_bot_permissions(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    reply = await w.fake.slash("automod native enable", user=w.fake.owner_id)
    assert reply.ephemeral
    assert "Manage Server" in reply.text
    assert not requests(w, "POST", "/auto-moderation/rules")


# -- commands: cooldowns, mentions, secrets -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_per_user_cooldown_answers_try_again(world: World) -> None:
    w = world
    admin_role = w.guild.add_role("Admins", permissions=Perm.MANAGE_GUILD)
    admin = w.guild.add_member(username="admin", roles=[admin_role])
    for _ in range(5):
        reply = await w.fake.slash("automod status", user=admin)
        assert reply.embeds
    refused = await w.fake.slash("automod status", user=admin)
    assert refused.ephemeral
    assert "try again <t:" in refused.text
    w.clock.advance(seconds=11)
    again = await w.fake.slash("automod status", user=admin)
    assert again.embeds


@pytest.mark.asyncio
async def test_no_reply_echoes_a_mention(world: World) -> None:
    w = world
    team = w.guild.add_role("team")
    hostile = f"@everyone @here <@&{team.id}> <@{w.bob.id}> discord.gg/pwned"
    await w.fake.say(hostile, author=w.alice, channel=w.general, mention_everyone=False, mention_roles=[team])
    await w.fake.wait_for_message(w.modlog, lambda m: bool(m.get("embeds")))
    await w.fake.slash("automod set", {"rule": "invites", "allowlist": hostile}, user=w.fake.owner_id)
    await w.fake.slash("automod set", {"rule": "links", "allowlist": hostile}, user=w.fake.owner_id)
    await w.fake.slash("automod ladder", {"steps": hostile}, user=w.fake.owner_id)
    await w.fake.slash("cases user", {"member": w.alice}, user=w.fake.owner_id)
    await settle(w)
    evidence = field(modlog_embeds(w)[0], "Evidence")
    assert "@everyone" in evidence, "the evidence quotes the message..."

    bodies = []
    for request in w.fake.requests:
        body = request.json if isinstance(request.json, dict) else None
        if body is None or request.method not in ("POST", "PATCH"):
            continue
        data = body.get("data") if "/callback" in request.path else body
        if isinstance(data, dict) and ("content" in data or "embeds" in data):
            bodies.append((request.path, data))
    assert len(bodies) >= 6
    for path, data in bodies:
        allowed = data.get("allowed_mentions")
        assert allowed is not None, f"{path}: no allowed_mentions"
        assert allowed["parse"] == [], f"{path}: parses mentions {allowed}"
        assert not allowed.get("roles"), f"{path}: allows role pings"
        assert set(allowed.get("users") or []) <= {str(w.alice.id), w.alice.id}, f"{path}: pings other users"


@pytest.mark.asyncio
async def test_full_run_never_logs_the_token(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    capture = Capture(logging.DEBUG)
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        clock = ManualClock(datetime.now(UTC))
        modlog = guild.add_text_channel("mod-log")
        async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}) as bot:
            await fake.slash("settings modlog", {"channel": modlog}, user=fake.owner_id)
            await fake.slash("ping", guild=guild)
            await fake.slash("about", guild=guild)
            await fake.slash("automod status", user=fake.owner_id)
            await fake.slash("automod native enable", user=fake.owner_id)
            alice = next(m for m in guild.members.values() if m.username == "alice")
            for i in range(8):
                await fake.say(f"flood {i}", author=alice)
            await fake.wait_for_request("POST", r"/bulk-delete$")
            await fake.quiesce()
            assert bot.app.info is not None
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
    text = "\n".join(records)
    assert len(records) > 50, "the run logged at DEBUG"
    assert fake.token not in text
    assert fake.token.split(".")[-1] not in text, "not even the token's secret part"
