"""Music pure logic: node settings, positions typed by users, local file names, the queue's remaining time."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanabi.config import LavalinkNodeSpec, SettingsError, load_settings, parse_lavalink_node
from hanabi.errors import InvalidInput, NotFound
from hanabi.infra.lavalink import Track
from hanabi.repositories.music import QueueEntry
from hanabi.services.music import GuildPlayer, MusicOptions, MusicService, format_ms, parse_timestamp
from tests.harness.payloads import TEST_TOKEN

TOKEN = TEST_TOKEN


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    for name in ("LAVALINK_NODES", "LAVALINK_HOST", "LAVALINK_PORT", "LAVALINK_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("main@lavalink:2333", LavalinkNodeSpec("main", "lavalink", 2333, None)),
        ("eu:s3cret@10.0.0.5:2444", LavalinkNodeSpec("eu", "10.0.0.5", 2444, "s3cret")),
        ("lavalink.example.com:443", LavalinkNodeSpec("lavalink.example.com:443", "lavalink.example.com", 443, None)),
        ("https://tls@ll.example.com:443", LavalinkNodeSpec("tls", "ll.example.com", 443, None, secure=True)),
    ],
)
def test_node_entries(entry: str, expected: LavalinkNodeSpec) -> None:
    parsed = parse_lavalink_node(entry)
    assert parsed == expected
    assert parsed.password == expected.password


@pytest.mark.parametrize("entry", ["lavalink", "main@lavalink", "main@lavalink:99999", "a@b@c:1"])
def test_malformed_node_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="name@host:port"):
        parse_lavalink_node(entry)


def test_nodes_from_settings_with_a_shared_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAVALINK_NODES", "a@one:2333, b:own@two:2334")
    monkeypatch.setenv("LAVALINK_HOST", "lavalink")
    monkeypatch.setenv("LAVALINK_PASSWORD", "shared-password")
    specs = load_settings().lavalink_node_specs()
    assert [(s.name, s.host, s.port, s.password) for s in specs] == [
        ("main", "lavalink", 2333, "shared-password"),
        ("a", "one", 2333, "shared-password"),
        ("b", "two", 2334, "own"),
    ]
    assert "shared-password" not in repr(specs)


def test_a_node_without_any_password_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAVALINK_NODES", "a@one:2333")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("LAVALINK_PASSWORD: required")


def test_malformed_nodes_do_not_echo_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAVALINK_NODES", "a:hunter2@one")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("LAVALINK_NODES:")
    assert "hunter2" not in str(info.value)


def test_no_node_means_music_is_off() -> None:
    assert load_settings().lavalink_node_specs() == []


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90", 90_000), ("1:30", 90_000), ("1:02:03", 3_723_000), ("2m5s", 125_000), ("1h", 3_600_000), ("0", 0)],
)
def test_timestamps(text: str, ms: int) -> None:
    assert parse_timestamp(text) == ms


@pytest.mark.parametrize("text", ["", "soon", "1:2:3:4", "-5", "1.5"])
def test_bad_timestamps(text: str) -> None:
    with pytest.raises(InvalidInput, match="not a position"):
        parse_timestamp(text)


def test_format_ms() -> None:
    assert format_ms(187_000) == "3:07"
    assert format_ms(3_723_000) == "1:02:03"


class _Unused:
    """Stands in for collaborators that query resolution never touches."""

    enabled = True

    def set_events(self, events: object) -> None:
        pass


def test_queries_resolve_to_urls_searches_and_local_files(tmp_path: Path) -> None:
    folder = tmp_path / "music"
    (folder / "albums").mkdir(parents=True)
    (folder / "albums" / "song.flac").write_bytes(b"fLaC")
    (folder / "readme.txt").write_text("not audio")
    options = MusicOptions(search_prefix="scsearch", folder=folder, node_folder="/srv/music")
    music = MusicService(_Unused(), _Unused(), _Unused(), options)  # type: ignore[arg-type]
    assert music.resolve_query("https://radio.example/stream") == "https://radio.example/stream"
    assert music.resolve_query("  lo-fi beats ") == "scsearch:lo-fi beats"
    assert music.resolve_query("ytsearch:exact") == "ytsearch:exact"
    assert music.resolve_query("local:albums/song.flac") == "/srv/music/albums/song.flac"
    assert music.local_files("SONG") == ["albums/song.flac"]
    assert music.local_files() == ["albums/song.flac"]
    for escape in ("local:../secret.mp3", "local:/etc/passwd", "local:albums/../../x.mp3"):
        with pytest.raises(InvalidInput):
            music.resolve_query(escape)
    with pytest.raises(NotFound):
        music.resolve_query("local:albums/missing.flac")


def test_remaining_time_skips_streams() -> None:
    def entry(length: int, stream: bool = False) -> QueueEntry:
        return QueueEntry(Track("x", "t", "a", length, is_stream=stream), requester_id=1)

    player = GuildPlayer(1, 2, 3, current=entry(180_000), upcoming=[entry(60_000), entry(2**63 - 1, stream=True)])
    player.position_ms = 30_000
    assert player.remaining_ms == 210_000
