from __future__ import annotations

from pathlib import Path

import pytest

from hanabi.config import MISSING_TOKEN_HELP, SettingsError, load_settings
from tests.harness.payloads import TEST_TOKEN

TOKEN = TEST_TOKEN


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "DISCORD_TOKEN",
        "DISCORD_TOKEN_FILE",
        "DEV_GUILD_IDS",
        "OWNER_IDS",
        "METRICS_PORT",
        "LOG_LEVEL",
        "SHARD_COUNT",
        "SHARD_IDS",
        "SHARDS_PER_POD",
        "POD_NAME",
    ):
        monkeypatch.delenv(name, raising=False)


def test_missing_token_explains_how_to_get_one() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == MISSING_TOKEN_HELP
    assert "developers/applications" in str(info.value)


def test_token_from_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    monkeypatch.setenv("DISCORD_TOKEN_FILE", str(secret))
    assert load_settings().discord_token.get_secret_value() == TOKEN


def test_token_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nOWNER_IDS=1, 2\n")
    settings = load_settings()
    assert settings.discord_token.get_secret_value() == TOKEN
    assert settings.owner_ids == [1, 2]


@pytest.mark.parametrize(
    ("token", "phrase"),
    [
        (f"Bot {TOKEN}", "without a prefix"),
        (f'"{TOKEN}"', "quotes"),
        (f"{TOKEN} ", "whitespace"),
        ("hello", "does not look like a Discord bot token"),
    ],
)
def test_malformed_token_is_explained_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, token: str, phrase: str
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", token)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert phrase in str(info.value)
    assert TOKEN not in str(info.value)


def test_malformed_value_names_variable_value_and_expectation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("METRICS_PORT", "eighty")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("METRICS_PORT: got 'eighty'; expected")
    assert "integer" in message


def test_id_lists_accept_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("DEV_GUILD_IDS", "111, 222 333")
    assert load_settings().dev_guild_ids == [111, 222, 333]


def test_env_example_lists_every_setting() -> None:
    from hanabi.config import Settings

    example = (Path(__file__).parents[2] / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    assert listed == {name.upper() for name in Settings.model_fields}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHARD_COUNT": "16", "SHARD_IDS": "0-3,8"}, [0, 1, 2, 3, 8]),
        ({"SHARD_COUNT": "6", "SHARDS_PER_POD": "2", "POD_NAME": "hanabi-2"}, [4, 5]),
        ({"SHARD_COUNT": "5", "SHARDS_PER_POD": "2", "POD_NAME": "hanabi-2"}, [4]),
    ],
)
def test_shard_ids_from_ranges_and_pod_ordinals(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: list[int]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_settings().shard_ids == expected


@pytest.mark.parametrize(
    ("env", "phrase"),
    [
        ({"SHARD_IDS": "0-3"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0-3"}, "must be below SHARD_COUNT"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3-1"}, "runs backwards"),
        ({"SHARD_COUNT": "4", "SHARDS_PER_POD": "2", "POD_NAME": "hanabi"}, "POD_NAME ending in the pod ordinal"),
        ({"SHARD_COUNT": "4", "SHARDS_PER_POD": "2", "POD_NAME": "hanabi-7"}, "has no shards"),
    ],
)
def test_inconsistent_shard_settings_are_explained(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], phrase: str
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert phrase in str(info.value)
    assert TOKEN not in str(info.value)


def test_readme_documents_every_setting() -> None:
    from hanabi.config import Settings

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    undocumented = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert undocumented == []
