"""Music end to end: the real bot against the fake Discord (voice events) and fake Lavalink v4 nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hanabi.services.music import MusicService
from tests.harness.bot import RunningBot, running_bot
from tests.harness.clock import ManualClock
from tests.harness.discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember
from tests.harness.lavalink import FakeLavalink, make_track

NO_NODE = "Music is not enabled on this bot: no Lavalink node is configured"


@pytest_asyncio.fixture
async def node() -> AsyncIterator[FakeLavalink]:
    lavalink = FakeLavalink(name="main")
    await lavalink.start()
    try:
        yield lavalink
    finally:
        await lavalink.stop()


@pytest.fixture
def voice(guild: FakeGuild) -> FakeChannel:
    return guild.add_voice_channel("Music")


@pytest.fixture
def alice(guild: FakeGuild) -> FakeMember:
    return guild.resolve_member(None)


def music_settings(tmp_path: Path, *nodes: FakeLavalink, **extra: Any) -> dict[str, Any]:
    folder = tmp_path / "music"
    folder.mkdir(exist_ok=True)
    return {
        "lavalink_nodes": [n.spec for n in nodes],
        "music_sweep_interval": 0.05,
        "music_folder": folder,
        "command_cooldown_uses": 0,  # tests queue many tracks quickly; the default per-user cooldown is not tested here
        **extra,
    }


@pytest_asyncio.fixture
async def music_bot(
    fake: FakeDiscord,
    voice: FakeChannel,
    database_url: str,
    tmp_path: Path,
    clock: ManualClock,
    node: FakeLavalink,
) -> AsyncIterator[RunningBot]:
    async with running_bot(
        fake, database_url, tmp_path, overrides={"clock": clock}, **music_settings(tmp_path, node)
    ) as running:
        await node.wait_for(lambda: node.connected, what="the bot's websocket")
        yield running


def service(running: RunningBot) -> MusicService:
    music = running.app.container.music_service()
    if isinstance(music, asyncio.Future):
        music = music.result()  # a Singleton over an async Resource: built (and finished) during startup
    assert isinstance(music, MusicService)
    return music


async def start_playing(
    fake: FakeDiscord,
    node: FakeLavalink,
    guild: FakeGuild,
    voice: FakeChannel,
    member: FakeMember,
    query: str = "alpha",
) -> Any:
    await fake.set_voice_state(member, voice)
    reply = await fake.slash("play", {"query": query}, user=member)
    await node.wait_playing(guild.id, query)
    return reply


@pytest.mark.asyncio
async def test_play_joins_and_sends_voice_data_to_lavalink(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    reply = await start_playing(fake, node, guild, voice, alice)
    assert reply.deferred
    assert "Now playing" in reply.text
    assert "alpha" in reply.text
    assert f"<#{voice.id}>" in reply.text
    (join,) = [r for r in fake.voice_requests if r.get("channel_id")]
    assert join["guild_id"] == str(guild.id)
    assert join["channel_id"] == str(voice.id)
    assert join["self_deaf"] is True
    call = await node.wait_for_call("PATCH", rf"/v4/sessions/\w+/players/{guild.id}$", lambda c: "voice" in c.body)
    session_id = call.path.split("/")[3]
    assert session_id in node.sessions
    assert call.body["voice"]["endpoint"] == "voice.fake-discord.test:443"
    assert call.body["voice"]["token"]
    assert call.body["voice"]["sessionId"]
    assert call.body["voice"]["channelId"] == str(voice.id)
    assert node.handshakes[0]["User-Id"] == str(fake.bot_user_id)
    assert node.handshakes[0]["Client-Name"].startswith("Lavalink.py/")


async def queue_tracks(fake: FakeDiscord, member: FakeMember, *queries: str, position: str = "end") -> list[Any]:
    return [await fake.slash("play", {"query": q, "position": position}, user=member) for q in queries]


def upcoming_titles(running: RunningBot, guild: FakeGuild) -> list[str]:
    player = service(running).player(guild.id)
    assert player is not None
    return [entry.track.title for entry in player.upcoming]


@pytest.mark.asyncio
async def test_queue_order_next_and_end_and_queue_embed(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    beta, gamma = await queue_tracks(fake, alice, "beta", "gamma")
    assert "position 1" in beta.text
    assert "position 2" in gamma.text
    (delta,) = await queue_tracks(fake, alice, "delta", position="next")
    assert "position 1" in delta.text
    assert upcoming_titles(music_bot, guild) == ["delta", "beta", "gamma"]

    reply = await fake.slash("queue", user=alice)
    text = reply.text
    assert "Now playing" in text
    assert "alpha" in text
    assert text.index("delta") < text.index("beta") < text.index("gamma")
    assert f"<@{alice.id}>" in text  # who asked, shown without pinging (embeds never ping)
    assert "Remaining" in text
    assert "11m" in text


@pytest.mark.asyncio
async def test_track_end_starts_the_next_and_queue_end_goes_idle(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    await queue_tracks(fake, alice, "beta")
    await node.end_track(guild.id)
    await node.wait_playing(guild.id, "beta")
    await node.end_track(guild.id)
    music = service(music_bot)
    await node.wait_for(lambda: (p := music.player(guild.id)) is not None and p.current is None, what="idle")
    player = music.player(guild.id)
    assert player is not None
    assert player.idle_since is not None
    assert not player.upcoming


@pytest.mark.asyncio
async def test_skip_and_skip_count(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    await queue_tracks(fake, alice, "beta", "gamma", "delta")
    reply = await fake.slash("skip", user=alice)
    assert "Skipped" in reply.text
    assert "alpha" in reply.text
    assert "Now playing" in reply.text
    await node.wait_playing(guild.id, "beta")
    reply = await fake.slash("skip", {"count": 2}, user=alice)
    assert "Skipped 2 tracks" in reply.text
    await node.wait_playing(guild.id, "delta")
    reply = await fake.slash("skip", {"count": 5}, user=alice)
    assert "The queue is empty now" in reply.text
    await node.wait_for(lambda: (p := node.player(guild.id)) is not None and p.track is None, what="stopped")


@pytest.mark.asyncio
async def test_loop_track_and_loop_queue(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    await queue_tracks(fake, alice, "beta")
    reply = await fake.slash("loop", {"mode": "track"}, user=alice)
    assert "this track" in reply.text
    starts = len(node.calls_to("PATCH", "/players/"))
    await node.end_track(guild.id)
    await node.wait_for(lambda: len(node.calls_to("PATCH", "/players/")) > starts, what="a replay")
    await node.wait_playing(guild.id, "alpha")
    assert upcoming_titles(music_bot, guild) == ["beta"]

    await fake.slash("loop", {"mode": "queue"}, user=alice)
    await node.end_track(guild.id)
    await node.wait_playing(guild.id, "beta")
    assert upcoming_titles(music_bot, guild) == ["alpha"]
    await node.end_track(guild.id)
    await node.wait_playing(guild.id, "alpha")
    assert upcoming_titles(music_bot, guild) == ["beta"]

    await fake.slash("loop", {"mode": "off"}, user=alice)
    await node.end_track(guild.id)
    await node.wait_playing(guild.id, "beta")
    assert upcoming_titles(music_bot, guild) == []


@pytest.mark.asyncio
async def test_shuffle_remove_move_and_clear(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    names = [f"song {n}" for n in range(1, 11)]
    replies = await queue_tracks(fake, alice, *names)
    assert all("Added" in r.text for r in replies), [r.text for r in replies]
    reply = await fake.slash("shuffle", user=alice)
    assert "Shuffled 10" in reply.text
    shuffled = upcoming_titles(music_bot, guild)
    assert sorted(shuffled) == sorted(names)
    assert shuffled != names

    before = upcoming_titles(music_bot, guild)
    reply = await fake.slash("move", {"from": 3, "to": 1}, user=alice)
    assert before[2] in reply.text
    assert "position 1" in reply.text
    assert upcoming_titles(music_bot, guild) == [before[2], before[0], before[1], *before[3:]]

    after_move = upcoming_titles(music_bot, guild)
    reply = await fake.slash("remove", {"position": 2}, user=alice)
    assert after_move[1] in reply.text
    assert upcoming_titles(music_bot, guild) == [after_move[0], *after_move[2:]]

    reply = await fake.slash("remove", {"position": 42}, user=alice)
    assert reply.ephemeral
    assert "from 1 to 9" in reply.text

    reply = await fake.slash("clear", user=alice)
    assert "Cleared 9" in reply.text
    assert upcoming_titles(music_bot, guild) == []
    reply = await fake.slash("shuffle", user=alice)
    assert reply.ephemeral
    assert "nothing to shuffle" in reply.text


@pytest.mark.asyncio
async def test_volume_bounds(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    reply = await fake.slash("volume", {"level": 150}, user=alice)
    assert "150%" in reply.text
    await node.wait_for(lambda: (p := node.player(guild.id)) is not None and p.volume == 150, what="volume 150")
    reply = await fake.slash("volume", {"level": 0}, user=alice)
    await node.wait_for(lambda: (p := node.player(guild.id)) is not None and p.volume == 0, what="volume 0")
    # Discord itself refuses values outside the registered bounds...
    command = next(c for c in fake.global_commands if c["name"] == "volume")
    (option,) = command["options"]
    assert (option["min_value"], option["max_value"]) == (0, 150)
    with pytest.raises(ValueError, match="max_value"):
        await fake.slash("volume", {"level": 151}, user=alice)
    # ...and the service enforces them too, for any other caller.
    from hanabi.errors import InvalidInput
    from hanabi.services.music import Caller

    with pytest.raises(InvalidInput, match="0 to 150"):
        await service(music_bot).set_volume(guild.id, Caller(alice.id, voice.id), 151)


@pytest.mark.asyncio
async def test_pause_resume_and_seek(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    reply = await fake.slash("pause", user=alice)
    assert "Paused" in reply.text
    await node.wait_for(lambda: (p := node.player(guild.id)) is not None and p.paused, what="paused")
    reply = await fake.slash("pause", user=alice)
    assert reply.ephemeral
    assert "already paused" in reply.text
    reply = await fake.slash("resume", user=alice)
    assert "Resumed" in reply.text
    await node.wait_for(lambda: (p := node.player(guild.id)) is not None and not p.paused, what="resumed")

    reply = await fake.slash("seek", {"position": "1:30"}, user=alice)
    assert "1:30" in reply.text
    await node.wait_for_call("PATCH", "/players/", lambda c: c.body.get("position") == 90_000)
    player = node.player(guild.id)
    assert player is not None
    assert player.position == 90_000
    reply = await fake.slash("seek", {"position": "10:00"}, user=alice)
    assert reply.ephemeral
    assert "3:00 long" in reply.text
    reply = await fake.slash("seek", {"position": "soon"}, user=alice)
    assert reply.ephemeral
    assert "not a position" in reply.text

    reply = await fake.slash("leave", user=alice)
    assert "Left the voice channel" in reply.text
    await node.wait_for_call("DELETE", rf"/players/{guild.id}$")
    assert fake.voice_requests[-1]["channel_id"] is None
    reply = await fake.slash("pause", user=alice)
    assert reply.ephemeral
    assert "not playing anything" in reply.text


@pytest.mark.asyncio
async def test_load_failures_and_empty_searches_are_explained(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await fake.set_voice_state(alice, voice)
    node.set_error("ytsearch:broken", "This video is unavailable")
    reply = await fake.slash("play", {"query": "broken"}, user=alice)
    assert "I could not load `broken`: This video is unavailable." in reply.text
    node.set_empty("ytsearch:nothing at all")
    reply = await fake.slash("play", {"query": "nothing at all"}, user=alice)
    assert "Nothing found for `nothing at all`." in reply.text
    reply = await fake.slash("play", {"query": "local:../etc/passwd"}, user=alice)
    assert "file name from the music folder" in reply.text
    reply = await fake.slash("play", {"query": "local:missing.mp3"}, user=alice)
    assert "no file `missing.mp3`" in reply.text


@pytest.mark.asyncio
async def test_exception_event_moves_on_with_a_message(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    general = guild.default_channel
    await start_playing(fake, node, guild, voice, alice)
    await queue_tracks(fake, alice, "beta")
    await node.fail_track(guild.id, "Something broke while playing")
    message = await fake.wait_for_message(general, lambda m: "Could not play" in m["content"])
    assert "alpha" in message["content"]
    assert "Something broke while playing" in message["content"]
    await node.wait_playing(guild.id, "beta")
    await node.stuck(guild.id)
    await fake.wait_for_message(general, lambda m: "stopped sending audio" in m["content"])


@pytest.mark.asyncio
async def test_a_track_failing_repeatedly_is_skipped_even_when_looping(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    general = guild.default_channel
    await fake.set_voice_state(alice, voice)
    broken = node.load("ytsearch:cursed")["data"][0]["encoded"]
    node.unplayable[broken] = "Unplayable file"
    await fake.slash("play", {"query": "beta"}, user=alice)
    await node.wait_playing(guild.id, "beta")
    await queue_tracks(fake, alice, "cursed", "gamma")
    await fake.slash("loop", {"mode": "track"}, user=alice)
    await node.end_track(guild.id)  # beta loops: still beta
    await node.wait_playing(guild.id, "beta")
    await fake.slash("skip", user=alice)  # to cursed, which fails three times and is dropped
    dropped = await fake.wait_for_message(general, lambda m: "several times" in m["content"])
    assert "cursed" in dropped["content"]
    await node.wait_playing(guild.id, "gamma")
    assert upcoming_titles(music_bot, guild) == []
    failures = [m for m in fake.messages.get(general.id, []) if m["content"].startswith("⚠️")]
    assert len(failures) == 3  # two retries announced (looping), then the drop


@pytest.mark.asyncio
async def test_idle_disconnect_with_a_message(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
    clock: ManualClock,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    await fake.slash("stop", user=alice)
    clock.advance(seconds=299)
    await asyncio.sleep(0.2)  # a few sweeps: not yet
    assert service(music_bot).player(guild.id) is not None
    clock.advance(seconds=2)
    message = await fake.wait_for_message(guild.default_channel, lambda m: "Nothing was playing" in m["content"])
    assert "5m" in message["content"]
    await node.wait_for_call("DELETE", rf"/players/{guild.id}$")
    assert fake.voice_requests[-1]["channel_id"] is None
    assert service(music_bot).player(guild.id) is None


@pytest.mark.asyncio
async def test_alone_disconnect_with_a_message(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
    clock: ManualClock,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    music = service(music_bot)
    await fake.set_voice_state(alice, None)
    await node.wait_for(lambda: (p := music.player(guild.id)) is not None and p.alone_since is not None, what="alone")
    clock.advance(seconds=61)
    await fake.wait_for_message(guild.default_channel, lambda m: "Everyone left" in m["content"])
    assert fake.voice_requests[-1]["channel_id"] is None
    assert music.player(guild.id) is None


@pytest.mark.asyncio
async def test_no_node_configured(bot: RunningBot, fake: FakeDiscord, guild: FakeGuild, alice: FakeMember) -> None:
    voice = guild.channel("General")
    await fake.set_voice_state(alice, voice)
    for name, options in [
        ("play", {"query": "alpha"}),
        ("pause", None),
        ("skip", None),
        ("queue", None),
        ("nowplaying", None),
        ("volume", {"level": 50}),
        ("loop", {"mode": "off"}),
    ]:
        reply = await fake.slash(name, options, user=alice)
        assert reply.text == NO_NODE, name
    assert bot.app.info is not None
    assert bot.app.info.music == "disabled: no node configured"
    about = await fake.slash("about")
    assert "disabled: no node configured" in about.text
    choices = await fake.autocomplete("play", {"query": "alp"}, "query", user=alice)
    assert choices == []


@pytest.mark.asyncio
async def test_caller_must_be_in_voice_and_in_the_bots_channel(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    reply = await fake.slash("play", {"query": "alpha"}, user=alice)
    assert reply.ephemeral
    assert "Join a voice channel first" in reply.text
    await start_playing(fake, node, guild, voice, alice)
    bob = next(m for m in guild.members.values() if m.username == "bob")
    reply = await fake.slash("skip", user=bob)
    assert reply.ephemeral
    assert f"<#{voice.id}>" in reply.text
    await fake.set_voice_state(bob, guild.channel("General"))
    reply = await fake.slash("pause", user=bob)
    assert reply.ephemeral
    assert f"You need to be in <#{voice.id}>" in reply.text
    reply = await fake.slash("play", {"query": "beta"}, user=bob)
    assert f"I am playing in <#{voice.id}>" in reply.text


@pytest.mark.asyncio
async def test_bot_without_connect_or_speak_says_what_is_missing(
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
    database_url: str,
    tmp_path: Path,
) -> None:
    from tests.harness.payloads import Perm

    guild.set_bot_permissions(Perm.EVERYONE_DEFAULT)
    voice.set_overwrite(guild.bot_role.id, deny=Perm.CONNECT | Perm.SPEAK)
    async with running_bot(fake, database_url, tmp_path, **music_settings(tmp_path, node)):
        await fake.set_voice_state(alice, voice)
        reply = await fake.slash("play", {"query": "alpha"}, user=alice)
        assert reply.ephemeral
        assert reply.text == f"I need the **Connect** and **Speak** permission in <#{voice.id}> to play there."
        assert not [r for r in fake.voice_requests if r.get("channel_id")]


@pytest.mark.asyncio
async def test_dj_role_limits_skip_stop_volume_and_clear(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    dj = guild.add_role("DJ")
    bob = next(m for m in guild.members.values() if m.username == "bob")
    bob.roles.append(dj.id)
    owner = guild.member(guild.owner_id)
    reply = await fake.slash("djrole", {"role": dj}, user=owner)
    assert reply.ephemeral
    assert f"<@&{dj.id}>" in reply.text
    await start_playing(fake, node, guild, voice, alice)
    await queue_tracks(fake, alice, "beta")
    for name, options in [("skip", None), ("stop", None), ("volume", {"level": 80}), ("clear", None)]:
        reply = await fake.slash(name, options, user=alice)
        assert reply.ephemeral, name
        assert "Only DJs" in reply.text, name
    reply = await fake.slash("pause", user=alice)  # not a DJ-only action
    assert "Paused" in reply.text
    await fake.set_voice_state(bob, voice)
    reply = await fake.slash("skip", user=bob)
    assert "Skipped" in reply.text
    await fake.slash("djrole", user=owner)
    reply = await fake.slash("volume", {"level": 80}, user=alice)
    assert "80%" in reply.text


@pytest.mark.asyncio
async def test_nowplaying_buttons_control_playback(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    await queue_tracks(fake, alice, "beta")
    reply = await fake.slash("nowplaying", user=alice)
    (embed,) = reply.embeds
    assert embed["title"] == "alpha"
    assert embed["url"].startswith("https://")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Loop"] == "Off"
    assert fields["Volume"] == "100%"
    toggle = str(reply.component(label="Pause/Resume")["custom_id"])
    after = await fake.click(reply, toggle, user=alice)
    assert {f["name"]: f["value"] for f in after.embeds[0]["fields"]}["State"] == "Paused"
    await node.wait_for(lambda: (p := node.player(guild.id)) is not None and p.paused, what="paused")
    loop = str(reply.component(label="Loop")["custom_id"])
    after = await fake.click(reply, loop, user=alice)
    assert {f["name"]: f["value"] for f in after.embeds[0]["fields"]}["Loop"] == "This track"
    skip = str(reply.component(label="Skip")["custom_id"])
    await fake.click(reply, skip, user=alice)
    await node.wait_playing(guild.id, "beta")
    bob = next(m for m in guild.members.values() if m.username == "bob")
    denied = await fake.click(reply, skip, user=bob)
    assert denied.ephemeral
    assert f"<#{voice.id}>" in denied.text


@pytest.mark.asyncio
async def test_playlists_are_capped_and_autocomplete_offers_files_and_searches(
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
    database_url: str,
    tmp_path: Path,
) -> None:
    settings = music_settings(tmp_path, node, music_playlist_cap=3)
    (settings["music_folder"] / "song.mp3").write_bytes(b"ID3")
    (settings["music_folder"] / "notes.txt").write_text("not audio")
    url = "https://example.com/mix"
    node.set_playlist(url, "Road Trip", [make_track(f"trip {n}") for n in range(5)])
    async with running_bot(fake, database_url, tmp_path, **settings):
        await node.wait_for(lambda: node.connected)
        await fake.set_voice_state(alice, voice)
        reply = await fake.slash("play", {"query": url}, user=alice)
        assert "Added **3 tracks** from playlist **Road Trip**" in reply.text
        assert "The playlist has 5 tracks; I added the first 3." in reply.text
        await node.wait_playing(guild.id, "trip 0")

        choices = await fake.autocomplete("play", {"query": "local:so"}, "query", user=alice)
        assert [c["value"] for c in choices] == ["local:song.mp3"]
        reply = await fake.slash("play", {"query": "local:song.mp3"}, user=alice)
        assert "song.mp3" in reply.text
        await node.wait_for_call("GET", "/v4/loadtracks", lambda c: c.query["identifier"] == "/music/song.mp3")

        choices = await fake.autocomplete("play", {"query": "lofi"}, "query", user=alice)
        assert choices[0]["name"].startswith("lofi — lofi Artist (3:00)")
        assert choices[0]["value"].startswith("https://www.youtube.com/")


@pytest.mark.asyncio
async def test_queue_pages_with_buttons(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    await start_playing(fake, node, guild, voice, alice)
    node.set_playlist("https://example.com/long", "Long", [make_track(f"item {n:02d}") for n in range(1, 26)])
    await fake.slash("play", {"query": "https://example.com/long"}, user=alice)
    reply = await fake.slash("queue", user=alice)
    assert "item 01" in reply.text
    assert "item 11" not in reply.text
    assert "Page 1/3" in reply.text
    page2 = await fake.click(reply, str(reply.component(label="Next")["custom_id"]), user=alice)
    assert "`11.`" in page2.text
    assert "item 11" in page2.text


@pytest.mark.asyncio
async def test_node_loss_moves_the_player_to_the_other_node_with_its_position(
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
    database_url: str,
    tmp_path: Path,
) -> None:
    backup = FakeLavalink(name="backup")
    await backup.start()
    backup.system_load = 0.9  # busier: new players go to `node` first
    try:
        async with running_bot(fake, database_url, tmp_path, **music_settings(tmp_path, node, backup)) as running:
            assert running.app.info is not None
            assert running.app.info.music == "2 Lavalink nodes"
            await node.wait_for(lambda: node.connected and backup.connected, what="both nodes")
            await start_playing(fake, node, guild, voice, alice)
            assert backup.player(guild.id) is None
            await node.report_position(guild.id, 42_000)
            await asyncio.sleep(0.05)
            await node.drop()
            moved = await backup.wait_playing(guild.id, "alpha")
            assert 42_000 <= moved.position < 45_000
            assert moved.voice.get("endpoint") == "voice.fake-discord.test:443"
            await backup.end_track(guild.id)  # playback goes on, on the new node
            music = service(running)
            await backup.wait_for(lambda: (p := music.player(guild.id)) is not None and p.current is None)
            await node.revive()
    finally:
        await backup.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("session_survives", [True, False], ids=["session-resumed", "session-lost"])
async def test_restart_restores_queue_and_position(
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
    database_url: str,
    tmp_path: Path,
    session_survives: bool,
) -> None:
    settings = music_settings(tmp_path, node)
    async with running_bot(fake, database_url, tmp_path, **settings):
        await node.wait_for(lambda: node.connected)
        await start_playing(fake, node, guild, voice, alice)
        await queue_tracks(fake, alice, "beta", "gamma")
        await fake.slash("volume", {"level": 70}, user=alice)
        await node.report_position(guild.id, 61_000)
        await asyncio.sleep(0.05)
        first_session = next(iter(node.sessions))
    joins_before = len([r for r in fake.voice_requests if r.get("channel_id")])
    if not session_survives:
        node.sessions.clear()
    patches_before = len(node.calls)

    async with running_bot(fake, database_url, tmp_path, **settings) as running:
        message = await fake.wait_for_message(guild.default_channel, lambda m: "Back after a restart" in m["content"])
        assert "alpha" in message["content"]
        assert "1:01" in message["content"]
        assert node.handshakes[-1].get("Session-Id") == first_session
        assert len([r for r in fake.voice_requests if r.get("channel_id") == str(voice.id)]) > joins_before
        await node.wait_for_call(
            "PATCH", "/players/", lambda c: "voice" in (c.body or {}) and c in node.calls[patches_before:]
        )
        player = service(running).player(guild.id)
        assert player is not None
        assert player.current is not None
        assert player.current.track.title == "alpha"
        assert [e.track.title for e in player.upcoming] == ["beta", "gamma"]
        assert player.volume == 70
        assert 61_000 <= player.position_ms < 64_000
        if not session_survives:
            call = await node.wait_for_call(
                "PATCH", "/players/", lambda c: "track" in (c.body or {}) and c in node.calls[patches_before:]
            )
            assert 61_000 <= call.body["position"] < 64_000
            assert call.body["volume"] == 70
        playing = await node.wait_playing(guild.id, "alpha")
        assert playing.position >= 61_000
        if session_survives:  # the node kept playing: the bot took the player over without restarting the track
            assert not [c for c in node.calls[patches_before:] if "track" in (c.body or {})]
        await node.end_track(guild.id)
        await node.wait_playing(guild.id, "beta")


@pytest.mark.asyncio
async def test_music_by_text_prefix(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    """`!play` runs the same command: it joins, defers (typing) and replies with the same embed."""
    await fake.set_voice_state(alice, voice)
    channel = guild.default_channel
    said = await fake.say("!play alpha", author=alice, channel=channel)
    await node.wait_playing(guild.id, "alpha")
    reply = await fake.wait_for_message(
        channel.id, lambda m: (m.get("message_reference") or {}).get("message_id") == said["id"]
    )
    assert "Now playing" in str(reply["embeds"]) + reply["content"]
    said = await fake.say("!volume 151", author=alice, channel=channel)
    refusal = await fake.wait_for_message(channel.id, lambda m: "Usage" in m["content"])
    assert "`level` must be between 0 and 150" in refusal["content"]
    assert "Usage: `!volume <level>`" in refusal["content"]


@pytest.mark.asyncio
async def test_music_metrics_show_nodes_and_players(
    music_bot: RunningBot,
    fake: FakeDiscord,
    guild: FakeGuild,
    voice: FakeChannel,
    alice: FakeMember,
    node: FakeLavalink,
) -> None:
    import aiohttp

    async def scrape() -> str:
        async with aiohttp.ClientSession() as http, http.get(f"{music_bot.metrics_url}/metrics") as response:
            return await response.text()

    before = await scrape()
    assert 'hanabi_lavalink_nodes{state="available"} 1.0' in before
    assert "hanabi_music_players 0.0" in before
    await start_playing(fake, node, guild, voice, alice)
    after = await scrape()
    assert "hanabi_music_players 1.0" in after
    assert 'hanabi_lavalink_frame_deficit{node="main"}' in after
