"""Settings: one pydantic-settings model read from the environment, `.env` and `<NAME>_FILE` secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

DISCORD_API_URL = "https://discord.com/api/v10"

MISSING_TOKEN_HELP = (
    "DISCORD_TOKEN is not set. Create a bot at https://discord.com/developers/applications "  # noqa: S105
    "(New Application -> Bot -> Reset Token), then put DISCORD_TOKEN=<token> in .env "
    "or point DISCORD_TOKEN_FILE at a file that holds it."
)

# A Discord bot token: base64 user id, a timestamp part and an HMAC part, dot-separated.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


class FileSecretsSource(PydanticBaseSettingsSource):
    """Reads `<NAME>_FILE` variables (Docker and Kubernetes secrets) for every field."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{field_name.upper()}_FILE")
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8").strip(), field_name, False
        except OSError as exc:
            raise SettingsError(f"{field_name.upper()}_FILE: cannot read {path!r} ({exc.strerror})") from None

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


def _split_ids(value: object) -> object:
    """Accept `1,2,3` (and whitespace) as well as a real list for id lists."""
    if isinstance(value, str):
        return [part for part in re.split(r"[\s,]+", value.strip()) if part]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr = Field(description="Bot token from the Discord developer portal")
    discord_rest_url: str = Field(DISCORD_API_URL, description="Discord REST base URL including /api/v10")
    database_url: SecretStr | None = Field(None, description="PostgreSQL URL; unset starts an embedded PostgreSQL")
    data_dir: Path = Field(Path("data"), description="Where the embedded PostgreSQL and other state live")
    redis_url: SecretStr | None = Field(None, description="Redis URL for the shared bus and cache")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = None
    metrics_host: str = "127.0.0.1"
    metrics_enabled: bool = True
    metrics_port: int = Field(9108, ge=0, le=65535, description="0 picks any free port")
    dev_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    owner_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    command_prefix: str = Field("!", min_length=1, max_length=5)
    message_content_intent: bool = True
    db_pool_min: int = Field(2, ge=1, le=100)
    db_pool_max: int = Field(10, ge=1, le=200)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("dev_guild_ids", "owner_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator("discord_token", mode="after")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token:
            raise ValueError("empty")
        if token.lower().startswith(("bot ", "bearer ")):
            raise ValueError("starts with 'Bot '; give the token without a prefix")
        if token[0] in "\"'" or token[-1] in "\"'":
            raise ValueError("is wrapped in quotes; remove them")
        if token != token.strip() or any(ch.isspace() for ch in token):
            raise ValueError("contains whitespace; paste the token alone")
        if not _TOKEN_SHAPE.match(token):
            raise ValueError("does not look like a Discord bot token (three dot-separated parts)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, FileSecretsSource(settings_cls), dotenv_settings

    @property
    def database_kind(self) -> str:
        return "external" if self.database_url else "embedded"


class SettingsError(Exception):
    """A configuration problem, already phrased for the person running the bot."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable: which one, what it got, what is expected. Secrets are never echoed."""
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "?"
        if name == "DISCORD_TOKEN" and item["type"] == "missing":
            lines.append(MISSING_TOKEN_HELP)
            continue
        expected = item["msg"].removeprefix("Value error, ")
        if name in {"DISCORD_TOKEN", "DATABASE_URL", "REDIS_URL"}:
            lines.append(f"{name}: {expected}.")
        else:
            lines.append(f"{name}: got {item.get('input')!r}; expected {expected}.")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings or raise SettingsError with a message fit for a terminal."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
