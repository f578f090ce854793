"""Polls end to end: /poll create|close|results|export|list, buttons and select menus, live updates, deadlines,
deleted messages, and a restart on the same database."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.harness.bot import RunningBot, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeDiscord, FakeGuild, FakeMember, RecordedRequest, Reply
from tests.harness.payloads import Perm

JSON = dict[str, Any]


@pytest_asyncio.fixture
async def pollbot(
    fake: FakeDiscord, database_url: str, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[RunningBot]:
    # No per-user command cooldown here: these tests run many /poll commands as the same member.
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}, command_cooldown_uses=0) as bot:
        yield bot


def members(guild: FakeGuild) -> tuple[FakeMember, FakeMember]:
    alice = next(m for m in guild.members.values() if m.username == "alice")
    bob = next(m for m in guild.members.values() if m.username == "bob")
    return alice, bob


def option_lines(embed: JSON) -> list[str]:
    return [line for line in str(embed.get("description") or "").split("\n") if line]


def counts(message: JSON) -> list[int]:
    """Votes per option as shown on the poll message."""
    (embed,) = message["embeds"]
    found = []
    for line in option_lines(embed):
        if line.startswith("`"):
            found.append(int(line.split("` ", 1)[1].split(" vote", 1)[0]))
    return found


def field(embed: JSON, name: str) -> str:
    return next(str(f["value"]) for f in embed.get("fields") or [] if f["name"] == name)


def poll_id_of(reply: Reply) -> int:
    end = next(cid for cid in reply.custom_ids if cid.endswith(":end"))
    return int(end.split(":")[1])


def edits_of(fake: FakeDiscord, message: JSON) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if r.method == "PATCH" and r.path == f"/channels/{message['channel_id']}/messages/{message['id']}"
    ]


async def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def create(fake: FakeDiscord, guild: FakeGuild, user: FakeMember, options: str, **extra: Any) -> Reply:
    reply = await fake.slash("poll create", {"question": "Lunch?", "options": options, **extra}, user=user, guild=guild)
    assert not reply.ephemeral, reply.content
    return reply


@pytest.mark.asyncio
async def test_two_options_get_buttons_and_votes_update_the_embed(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = members(guild)
    reply = await create(fake, guild, alice, "Pizza | Pasta")
    pid = poll_id_of(reply)
    assert reply.custom_ids == [f"poll:{pid}:vote:0", f"poll:{pid}:vote:1", f"poll:{pid}:end"]
    (embed,) = reply.embeds
    assert "Lunch?" in embed["title"]
    assert field(embed, "Created by") == f"<@{alice.id}>"
    assert field(embed, "Voters") == "0"

    vote = await fake.click(reply, f"poll:{pid}:vote:1", user=bob)
    assert vote.ephemeral
    assert vote.content == "You voted for **Pasta**."
    assert reply.message is not None
    await eventually(lambda: _assert(counts(reply.message) == [0, 1]))
    assert field(reply.message["embeds"][0], "Voters") == "1"
    assert "100%" in reply.message["embeds"][0]["description"]


def _assert(condition: bool) -> None:
    assert condition


@pytest.mark.asyncio
async def test_five_options_get_buttons_and_twenty_five_get_a_select_menu(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = members(guild)
    five = await create(fake, guild, alice, "A | B | C | D | E")
    pid = poll_id_of(five)
    assert five.custom_ids == [*(f"poll:{pid}:vote:{i}" for i in range(5)), f"poll:{pid}:end"]

    labels = [f"Option {i}" for i in range(25)]
    many = await create(fake, guild, alice, " | ".join(labels))
    pid = poll_id_of(many)
    assert many.custom_ids == [f"poll:{pid}:select", f"poll:{pid}:end"]
    menu = many.component(f"poll:{pid}:select")
    assert menu["type"] == 3
    assert [o["value"] for o in menu["options"]] == [str(i) for i in range(25)]
    assert (menu.get("min_values", 1), menu["max_values"]) == (1, 1)
    assert len(option_lines(many.embeds[0])) == 50  # label line + bar line per option

    vote = await fake.select(many, f"poll:{pid}:select", ["24"], user=bob)
    assert vote.content == "You voted for **Option 24**."
    assert many.message is not None
    await eventually(lambda: _assert(counts(many.message)[24] == 1))


@pytest.mark.asyncio
async def test_invalid_input_is_refused_with_a_message_saying_what_is_accepted(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, _ = members(guild)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"options": "Only one"}, "at least 2 options"),
        ({"options": " | ".join(f"o{i}" for i in range(26))}, "at most 25 options; you gave 26"),
        ({"options": "Pizza | pasta | PIZZA"}, "`PIZZA` appears twice"),
        ({"options": "short | " + "x" * 81}, "at most 80 characters"),
        ({"options": "A | B", "duration": "soon"}, "not a duration I understand"),
        ({"options": "A | B", "duration": "31d"}, "from 1 minute to 30 days"),
        ({"options": "A | B", "duration": "30s"}, "from 1 minute to 30 days"),
    ]
    for options, expected in cases:
        reply = await fake.slash("poll create", {"question": "Q?", **options}, user=alice, guild=guild)
        assert reply.ephemeral, options
        assert expected in (reply.content or ""), (options, reply.content)
    # Exactly 80 characters and a compound duration are fine.
    ok = await create(fake, guild, alice, "short | " + "x" * 80, duration="1d12h")
    closes = field(ok.embeds[0], "Closes")
    assert closes.startswith("<t:")
    # Nothing was stored for the refused ones.
    listed = await fake.slash("poll list", user=alice, guild=guild)
    assert listed.text.count("**#") == 1


@pytest.mark.asyncio
async def test_voting_changing_and_removing_a_vote(pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    alice, bob = members(guild)
    reply = await create(fake, guild, alice, "Pizza | Pasta | Salad")
    pid = poll_id_of(reply)
    message = reply.message
    assert message is not None

    assert (await fake.click(reply, f"poll:{pid}:vote:0", user=bob)).content == "You voted for **Pizza**."
    assert (await fake.click(reply, f"poll:{pid}:vote:0", user=alice)).content == "You voted for **Pizza**."
    await eventually(lambda: _assert(counts(message) == [2, 0, 0]))
    # A new choice replaces the old one.
    assert (await fake.click(reply, f"poll:{pid}:vote:2", user=bob)).content == "You voted for **Salad**."
    await eventually(lambda: _assert(counts(message) == [1, 0, 1]))
    # Pressing the current choice again removes the vote.
    removed = await fake.click(reply, f"poll:{pid}:vote:2", user=bob)
    assert removed.ephemeral
    assert removed.content == "Your vote was removed."
    await eventually(lambda: _assert(counts(message) == [1, 0, 0]), timeout=6)
    assert field(message["embeds"][0], "Voters") == "1"


@pytest.mark.asyncio
async def test_multiple_choice_with_buttons_and_with_a_select_menu(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = members(guild)
    reply = await create(fake, guild, alice, "Mon | Tue | Wed", multiple=True)
    pid = poll_id_of(reply)
    assert (await fake.click(reply, f"poll:{pid}:vote:0", user=bob)).content == "You voted for **Mon**."
    both = await fake.click(reply, f"poll:{pid}:vote:2", user=bob)
    assert both.content == "Your votes: **Mon**, **Wed**."
    again = await fake.click(reply, f"poll:{pid}:vote:0", user=bob)
    assert again.content == "Removed that choice. Your votes now: **Wed**."
    await fake.click(reply, f"poll:{pid}:vote:1", user=bob)
    assert reply.message is not None
    await eventually(lambda: _assert(counts(reply.message) == [0, 1, 1]), timeout=6)
    assert field(reply.message["embeds"][0], "Voters") == "1"
    assert "Several choices allowed" in reply.message["embeds"][0]["footer"]["text"]

    days = [f"Day {i}" for i in range(1, 8)]
    week = await create(fake, guild, alice, " | ".join(days), multiple=True)
    wid = poll_id_of(week)
    menu = week.component(f"poll:{wid}:select")
    assert (menu.get("min_values"), menu["max_values"]) == (0, 7)
    picked = await fake.select(week, f"poll:{wid}:select", ["1", "3", "6"], user=bob)
    assert picked.content == "Your votes: **Day 2**, **Day 4**, **Day 7**."
    narrowed = await fake.select(week, f"poll:{wid}:select", ["3"], user=bob)
    assert narrowed.content == "You voted for **Day 4**."
    cleared = await fake.select(week, f"poll:{wid}:select", [], user=bob)
    assert cleared.content == "You have no vote in this poll."


@pytest.mark.asyncio
async def test_a_role_limited_poll_refuses_members_without_the_role(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = members(guild)
    voters = guild.add_role("Voters")
    carol = guild.add_member("carol", roles=[voters])
    reply = await create(fake, guild, alice, "Yes | No", role=voters)
    pid = poll_id_of(reply)
    assert field(reply.embeds[0], "Who can vote") == f"<@&{voters.id}>"
    refused = await fake.click(reply, f"poll:{pid}:vote:0", user=bob)
    assert refused.ephemeral
    assert refused.content == f"Only members with the <@&{voters.id}> role can vote in this poll."
    accepted = await fake.click(reply, f"poll:{pid}:vote:0", user=carol)
    assert accepted.content == "You voted for **Yes**."
    assert reply.message is not None
    await eventually(lambda: _assert(counts(reply.message) == [1, 0]))


@pytest.mark.asyncio
async def test_a_vote_storm_edits_at_most_once_per_two_seconds_and_ends_on_the_right_counts(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, _ = members(guild)
    voters = [guild.add_member(f"voter{i}") for i in range(200)]
    reply = await create(fake, guild, alice, "Red | Green | Blue")
    pid = poll_id_of(reply)
    message = reply.message
    assert message is not None

    async def vote(member: FakeMember, option: int, delay: float) -> Reply:
        await asyncio.sleep(delay)
        return await fake.click(message, f"poll:{pid}:vote:{option}", user=member, settle=False)

    started = time.monotonic()
    replies = await asyncio.gather(*(vote(m, i % 3, i / 200) for i, m in enumerate(voters)))
    assert time.monotonic() - started < 3
    assert all(r.ephemeral and (r.content or "").startswith("You voted for") for r in replies)

    expected = [67, 67, 66]
    await eventually(lambda: _assert(counts(message) == expected), timeout=8)
    assert field(message["embeds"][0], "Voters") == "200"
    await asyncio.sleep(2.2)  # nothing more is pending: the final state was the last edit
    edits = edits_of(fake, message)
    assert 1 <= len(edits) <= 4
    gaps = [b.time - a.time for a, b in itertools.pairwise(edits)]
    assert all(gap >= 2.0 for gap in gaps), gaps
    assert counts(message) == expected


@pytest.mark.asyncio
async def test_a_poll_closes_at_its_deadline_and_refuses_later_votes(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, clock: ManualClock
) -> None:
    alice, bob = members(guild)
    reply = await create(fake, guild, alice, "Tea | Coffee", duration="30m")
    pid = poll_id_of(reply)
    message = reply.message
    assert message is not None
    await fake.click(reply, f"poll:{pid}:vote:1", user=alice)

    clock.advance(minutes=29)
    await asyncio.sleep(0.7)
    assert "(closed)" not in message["embeds"][0]["title"]

    clock.advance(minutes=2)
    late = await fake.click(message, f"poll:{pid}:vote:0", user=bob)  # the buttons were still enabled
    assert late.ephemeral
    assert late.content == "This poll has closed; votes are no longer accepted."

    def closed() -> None:
        embed = message["embeds"][0]
        assert "(closed)" in embed["title"]
        assert all(c.get("disabled") for row in message["components"] for c in row["components"])

    await eventually(closed, timeout=5)
    embed = message["embeds"][0]
    assert "🏆 **2. Coffee**" in embed["description"]
    assert field(embed, "Winner") == "**Coffee**"
    assert counts(message) == [0, 1]


@pytest.mark.asyncio
async def test_ending_a_poll_by_button_creator_and_moderator_allowed_others_refused(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    alice, bob = members(guild)
    mods = guild.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)
    moderator = guild.add_member("mod", roles=[mods])

    first = await create(fake, guild, alice, "Yes | No")
    pid = poll_id_of(first)
    await fake.click(first, f"poll:{pid}:vote:0", user=bob)
    refused = await fake.click(first, f"poll:{pid}:end", user=bob)
    assert refused.ephemeral
    assert refused.content == "Only the poll's creator or someone with **Manage Messages** can end this poll."
    ended = await fake.click(first, f"poll:{pid}:end", user=moderator)
    assert ended.type == 7  # the poll message itself was updated
    assert "(closed)" in ended.embeds[0]["title"]
    assert field(ended.embeds[0], "Winner") == "**Yes**"
    assert all(c.get("disabled") for row in ended.components for c in row["components"])

    second = await create(fake, guild, alice, "Up | Down")
    sid = poll_id_of(second)
    by_creator = await fake.click(second, f"poll:{sid}:end", user=alice)
    assert by_creator.type == 7
    assert field(by_creator.embeds[0], "Winner") == "No votes were cast."

    # /poll close follows the same rule.
    third = await create(fake, guild, alice, "Left | Right")
    tid = poll_id_of(third)
    denied = await fake.slash("poll close", {"poll": str(tid)}, user=bob, guild=guild)
    assert denied.ephemeral
    assert "Only the poll's creator" in (denied.content or "")
    closed = await fake.slash("poll close", {"poll": str(tid)}, user=alice, guild=guild)
    assert closed.ephemeral
    assert "(closed)" in closed.embeds[0]["title"]
    assert third.message is not None
    await eventually(lambda: _assert("(closed)" in third.message["embeds"][0]["title"]))
    again = await fake.slash("poll close", {"poll": str(tid)}, user=alice, guild=guild)
    assert again.content == "This poll is already closed."


@pytest.mark.asyncio
async def test_results_export_list_and_autocomplete(pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    alice, bob = members(guild)
    public = await create(fake, guild, alice, "Cats | Dogs")
    pid = poll_id_of(public)
    await fake.click(public, f"poll:{pid}:vote:0", user=alice)
    await fake.click(public, f"poll:{pid}:vote:1", user=bob)
    secret = await fake.slash(
        "poll create", {"question": "Secret?", "options": "Yes | No", "anonymous": True}, user=alice, guild=guild
    )
    sid = poll_id_of(secret)
    await fake.click(secret, f"poll:{sid}:vote:1", user=bob)

    choices = await fake.autocomplete("poll results", {"poll": "lun"}, "poll", user=bob, guild=guild)
    assert [c["value"] for c in choices] == [str(pid)]
    assert choices[0]["name"].startswith(f"#{pid} Lunch?")

    results = await fake.slash("poll results", {"poll": str(pid)}, user=bob, guild=guild)
    assert results.ephemeral
    assert "Lunch?" in results.embeds[0]["title"]
    next_id = str(results.component(label="Next")["custom_id"])
    page = await fake.click(results, next_id, user=bob)
    assert page.embeds[0]["title"] == "Who voted for Cats"
    assert page.embeds[0]["description"] == f"<@{alice.id}>"

    hidden = await fake.slash("poll results", {"poll": str(sid)}, user=alice, guild=guild)
    assert "anonymous" in hidden.text
    assert str(bob.id) not in hidden.text
    assert hidden.components == []

    export = await fake.slash("poll export", {"poll": str(pid)}, user=bob, guild=guild)
    assert export.ephemeral
    (sent,) = export.attachments
    assert sent.filename == f"poll-{pid}.csv"
    rows = list(csv.reader(io.StringIO(sent.data.decode())))
    assert rows[0] == ["option", "label", "votes", "percent"]
    assert rows[1][:3] == ["1", "Cats", "1"]
    assert rows[2][:3] == ["2", "Dogs", "1"]
    voters = {(r[0], r[2]) for r in rows[5:]}
    assert voters == {(str(alice.id), "Cats"), (str(bob.id), "Dogs")}
    # An answer with a file is multipart: hikari sends it, not Hanabi's JSON-only answer path (hanabi.infra.rest).
    (export_answer,) = [r for r in fake.requests if r.path.startswith(f"/interactions/{export.interaction_id}/")]
    assert export_answer.files
    assert "Hanabi/" not in export_answer.headers["User-Agent"]
    registry = pollbot.app.metrics.registry
    assert registry.get_sample_value("hanabi_interaction_answer_fallbacks_total", {"reason": "files"}) == 1

    anonymous_export = await fake.slash("poll export", {"poll": str(sid)}, user=bob, guild=guild)
    anonymous_rows = list(csv.reader(io.StringIO(anonymous_export.attachments[0].data.decode())))
    assert [r[:3] for r in anonymous_rows] == [["option", "label", "votes"], ["1", "Yes", "0"], ["2", "No", "1"]]

    listed = await fake.slash("poll list", user=bob, guild=guild)
    assert listed.ephemeral
    text = listed.text
    assert f"**#{pid}**" in text
    assert f"**#{sid}**" in text
    assert public.message is not None
    assert f"/channels/{guild.id}/{public.message['channel_id']}/{public.message['id']})" in text

    await fake.click(public, f"poll:{pid}:end", user=alice)
    assert f"**#{pid}**" not in (await fake.slash("poll list", user=bob, guild=guild)).text

    unknown = await fake.slash("poll results", {"poll": "nonsense"}, user=bob, guild=guild)
    assert unknown.ephemeral
    assert "can't find that poll" in (unknown.content or "")


@pytest.mark.asyncio
async def test_a_deleted_poll_message_closes_the_poll_quietly(
    pollbot: RunningBot, fake: FakeDiscord, guild: FakeGuild, clock: ManualClock
) -> None:
    alice, _ = members(guild)
    # Deleted while the bot watches: MESSAGE_DELETE closes the poll.
    watched = await create(fake, guild, alice, "A | B")
    wid = poll_id_of(watched)
    assert watched.message is not None
    fake.remove_message(watched.message)
    fake.notify(
        "MESSAGE_DELETE",
        {"id": watched.message["id"], "channel_id": watched.message["channel_id"], "guild_id": str(guild.id)},
        guild_id=guild.id,
    )

    async def listed() -> str:
        return (await fake.slash("poll list", user=alice, guild=guild)).text

    for _ in range(40):
        if f"**#{wid}**" not in await listed():
            break
        await asyncio.sleep(0.05)
    assert f"**#{wid}**" not in await listed()

    # Deleted while the bot missed it: the deadline's edit answers 404 and the poll closes without an error.
    missed = await create(fake, guild, alice, "C | D", duration="5m")
    mid = poll_id_of(missed)
    assert missed.message is not None
    fake.remove_message(missed.message)
    gone = missed.message
    clock.advance(minutes=6)

    def answered_not_found() -> None:
        edits = edits_of(fake, gone)
        assert edits
        assert edits[-1].status == 404

    await eventually(answered_not_found)
    results = await fake.slash("poll results", {"poll": str(mid)}, user=alice, guild=guild)
    assert "(closed)" in results.embeds[0]["title"]


@pytest.mark.asyncio
async def test_polls_survive_a_restart_and_still_close_at_their_deadline(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    alice, bob = members(guild)
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}):
        reply = await create(fake, guild, alice, "Keep | Change", duration="1h")
        pid = poll_id_of(reply)
        await fake.click(reply, f"poll:{pid}:vote:0", user=alice)
        message = reply.message
        assert message is not None
        await eventually(lambda: _assert(counts(message) == [1, 0]))

    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}):
        vote = await fake.click(message, f"poll:{pid}:vote:1", user=bob)
        assert vote.content == "You voted for **Change**."
        await eventually(lambda: _assert(counts(message) == [1, 1]))
        again = await fake.click(message, f"poll:{pid}:vote:1", user=alice)
        assert again.content == "You voted for **Change**."  # alice's earlier vote was still known
        await eventually(lambda: _assert(counts(message) == [0, 2]), timeout=6)
        clock.advance(hours=1, minutes=1)
        await eventually(lambda: _assert("(closed)" in message["embeds"][0]["title"]), timeout=5)
        assert field(message["embeds"][0], "Winner") == "**Change**"


@pytest.mark.asyncio
async def test_polls_past_their_deadline_while_the_bot_was_down_close_at_startup(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    alice, _ = members(guild)
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}):
        reply = await create(fake, guild, alice, "Now | Later", duration="10m")
    clock.advance(minutes=15)
    message = reply.message
    assert message is not None
    assert "(closed)" not in message["embeds"][0]["title"]
    async with running_bot(fake, database_url, tmp_path, overrides={"clock": clock}):
        await eventually(lambda: _assert("(closed)" in message["embeds"][0]["title"]), timeout=5)
