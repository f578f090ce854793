"""Settings: one pydantic-settings model read from the environment, `.env` and `<NAME>_FILE` secrets."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
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


@dataclasses.dataclass(frozen=True, slots=True)
class LavalinkNodeSpec:
    """One Lavalink node from LAVALINK_NODES (or LAVALINK_HOST); the password is never shown in a repr."""

    name: str
    host: str
    port: int
    password: str | None = dataclasses.field(default=None, repr=False)
    secure: bool = False


_NODE_SHAPE = re.compile(
    r"^(?:(?P<scheme>https|wss|http|ws)://)?(?:(?P<user>[^@]+)@)?(?P<host>[^@:/]+):(?P<port>\d{1,5})/?$"
)


def parse_lavalink_node(entry: str) -> LavalinkNodeSpec:
    """`name@host:port`, `name:password@host:port` or `host:port`; `https://` in front means TLS."""
    match = _NODE_SHAPE.match(entry)
    if match is None or not 1 <= int(match.group("port")) <= 65535:
        raise ValueError("entries like name@host:port or name:password@host:port, separated by commas")
    name, _, password = (match.group("user") or "").partition(":")
    host, port = match.group("host"), int(match.group("port"))
    return LavalinkNodeSpec(
        name=name or f"{host}:{port}",
        host=host,
        port=port,
        password=password or None,
        secure=match.group("scheme") in {"https", "wss"},
    )


def parse_shard_ids(text: str) -> list[int]:
    """`0-3,8` -> [0, 1, 2, 3, 8]."""
    shards: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        bounds = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if bounds:
            low, high = int(bounds.group(1)), int(bounds.group(2))
            if low > high:
                raise ValueError(f"range {part} runs backwards")
            shards.update(range(low, high + 1))
        elif part.isdigit():
            shards.add(int(part))
        else:
            raise ValueError(f"{part!r} is not a shard number or range like 0-3")
    return sorted(shards)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr = Field(description="Bot token from the Discord developer portal")
    discord_rest_url: str = Field(DISCORD_API_URL, description="Discord REST base URL including /api/v10")
    database_url: SecretStr | None = Field(None, description="PostgreSQL URL; unset starts an embedded PostgreSQL")
    data_dir: Path = Field(Path("data"), description="Where the embedded PostgreSQL and other state live")
    redis_url: SecretStr | None = Field(None, description="Redis URL for the shared bus and cache")
    redis_namespace: str = Field("hanabi", pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="Prefix of every Redis key")
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

    # --- sharding (scale-out) ---
    shard_count: int | None = Field(None, ge=1, le=10_000, description="Total shards; unset: Discord's recommendation")
    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, description="This process's shards")
    shards_per_pod: int | None = Field(None, ge=1, le=1000, description="Derive SHARD_IDS from POD_NAME's ordinal")
    pod_name: str | None = Field(None, description="StatefulSet pod name, e.g. hanabi-2")

    # --- music ---
    lavalink_nodes: Annotated[list[LavalinkNodeSpec], NoDecode] = Field(
        default_factory=list,
        description="Lavalink nodes, comma-separated: name@host:port or name:password@host:port",
    )
    lavalink_host: str | None = Field(None, description="Host of one Lavalink node (the common case)")
    lavalink_port: int = Field(2333, ge=1, le=65535, description="Port of LAVALINK_HOST")
    lavalink_password: SecretStr | None = Field(
        None, validate_default=True, description="Password of every node that has none of its own"
    )
    lavalink_resume_timeout: int = Field(60, ge=1, le=3600, description="Seconds a node keeps our session")
    music_search_prefix: str = Field("ytsearch", min_length=1, max_length=32, description="Search source prefix")
    music_folder: Path = Field(Path("music"), description="Local audio files offered by /play local:<file>")
    music_node_folder: str = Field("/music", min_length=1, description="The same folder as the node sees it")
    music_playlist_cap: int = Field(500, ge=1, le=10000, description="Most tracks one playlist enqueues")
    music_idle_timeout: float = Field(300, gt=0, description="Seconds with nothing playing before leaving")
    music_alone_timeout: float = Field(60, ge=0, description="Seconds alone in the channel before leaving")
    music_sweep_interval: float = Field(5, gt=0, le=300, description="How often idle/alone timers are checked")

    # --- scheduler ---
    scheduler_enabled: bool = Field(True, description="Run the announcement/reminder runner in this process")
    scheduler_poll_seconds: float = Field(0.5, ge=0.05, le=60, description="How often the runner checks for due runs")

    # --- moderation ---
    command_cooldown_uses: int = Field(5, ge=0, le=100, description="Uses of one command per user per window; 0 off")
    command_cooldown_seconds: float = Field(10, ge=0, le=3600, description="Default per-user command cooldown window")
    automod_max_tracked_members: int = Field(
        100_000, ge=1000, le=10_000_000, description="Most members whose recent messages automod keeps at once"
    )

    # --- integrations ---
    weather_api_url: str = Field("https://api.open-meteo.com", description="Open-Meteo forecast API base URL")
    geocoding_api_url: str = Field(
        "https://geocoding-api.open-meteo.com", description="Open-Meteo geocoding API base URL"
    )
    translate_api_url: str | None = Field(None, description="LibreTranslate-compatible API base URL; unset: off")
    translate_api_key: SecretStr | None = Field(None, description="API key for TRANSLATE_API_URL, if it needs one")
    deepl_api_key: SecretStr | None = Field(None, description="DeepL API key; set: DeepL is a second provider")
    deepl_api_url: str = Field("https://api-free.deepl.com", description="DeepL API base URL (Pro: api.deepl.com)")
    wiki_api_url: str = Field("https://{lang}.wikipedia.org", description="Wikipedia base URL; {lang} is replaced")
    upstream_connect_timeout: float = Field(3, gt=0, le=60, description="Seconds to connect to an upstream API")
    upstream_total_timeout: float = Field(8, gt=0, le=120, description="Seconds for one whole upstream request")
    upstream_max_retries: int = Field(2, ge=0, le=2, description="Retries on 429/5xx/connection errors (at most 2)")
    upstream_backoff_seconds: float = Field(0.5, ge=0, le=30, description="First retry delay; doubles, plus jitter")
    upstream_breaker_failures: int = Field(5, ge=1, le=100, description="Failed calls in a row that open the breaker")
    upstream_breaker_cooldown: float = Field(60, gt=0, le=3600, description="Seconds an open breaker skips the API")
    integrations_cache_size: int = Field(2048, ge=1, le=1_000_000, description="In-process cache entries (no Redis)")
    integrations_cooldown_seconds: float = Field(3, ge=0, le=3600, description="Per-user cooldown on these commands")
    translate_daily_quota: int = Field(500, ge=0, description="Translations per server per UTC day; 0 = unlimited")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ranges(cls, value: object) -> object:
        return parse_shard_ids(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _shards_consistent(self) -> Settings:
        if self.shards_per_pod is not None:
            if self.shard_count is None:
                raise ValueError("SHARDS_PER_POD needs SHARD_COUNT")
            if self.shard_ids:
                raise ValueError("set either SHARD_IDS or SHARDS_PER_POD, not both")
            ordinal = re.search(r"-(\d+)$", self.pod_name or "")
            if ordinal is None:
                raise ValueError("SHARDS_PER_POD needs POD_NAME ending in the pod ordinal, like hanabi-2")
            first = int(ordinal.group(1)) * self.shards_per_pod
            self.shard_ids = [s for s in range(first, first + self.shards_per_pod) if s < self.shard_count]
            if not self.shard_ids:
                raise ValueError(f"pod {self.pod_name} has no shards: SHARD_COUNT={self.shard_count} is too small")
        if self.shard_ids:
            if self.shard_count is None:
                raise ValueError("SHARD_IDS needs SHARD_COUNT")
            if max(self.shard_ids) >= self.shard_count:
                raise ValueError(f"SHARD_IDS must be below SHARD_COUNT ({self.shard_count})")
        return self

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

    @field_validator("lavalink_nodes", mode="before")
    @classmethod
    def _nodes(cls, value: object) -> object:
        if isinstance(value, str):
            return [parse_lavalink_node(part) for part in re.split(r"[\s,]+", value.strip()) if part]
        return value

    @field_validator("lavalink_password", mode="after")
    @classmethod
    def _node_passwords(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            return value
        nodes: list[LavalinkNodeSpec] = info.data.get("lavalink_nodes") or []
        if info.data.get("lavalink_host") or any(node.password is None for node in nodes):
            raise ValueError(
                "required by LAVALINK_HOST and by every LAVALINK_NODES entry without its own password "
                "(name:password@host:port)"
            )
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

    def lavalink_node_specs(self) -> list[LavalinkNodeSpec]:
        """Every configured node with its effective password: LAVALINK_HOST first, then LAVALINK_NODES."""
        shared = self.lavalink_password.get_secret_value() if self.lavalink_password else None
        specs = []
        if self.lavalink_host:
            specs.append(LavalinkNodeSpec("main", self.lavalink_host, self.lavalink_port, shared))
        for node in self.lavalink_nodes:
            specs.append(dataclasses.replace(node, password=node.password or shared))
        return specs

    # --- economy ---
    economy_currency_name: str = Field("points", min_length=1, max_length=32, description="Name of the currency")
    economy_currency_symbol: str = Field("🪙", max_length=16, description="Symbol shown before amounts")
    economy_daily_base: int = Field(100, ge=1, le=10**12, description="Points of a daily claim on streak day 1")
    economy_daily_streak_bonus: int = Field(10, ge=0, le=10**12, description="Extra points per further streak day")
    economy_daily_streak_cap: int = Field(100, ge=0, le=10**12, description="Largest total streak bonus")
    economy_timezone: str = Field("UTC", description="IANA time zone in which the daily reward's day turns")
    economy_transfer_cap: int = Field(1_000_000, ge=1, le=2**53, description="Most points one /pay may send")

    @field_validator("economy_timezone", mode="after")
    @classmethod
    def _economy_zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone name such as UTC or Europe/Berlin") from None
        return value

    # --- operations ---
    log_format: Literal["text", "json"] = Field(
        "text", description="text: human-readable (coloured on a terminal); json: one JSON object per line"
    )
    log_levels: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="Per-logger levels, e.g. hikari=WARNING,hanabi.services=DEBUG"
    )

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_levels", mode="before")
    @classmethod
    def _logger_levels(cls, value: object) -> object:
        from hanabi.infra.logging import parse_logger_levels

        return parse_logger_levels(value) if isinstance(value, str) else value

    # --- performance --- (figures in docs/benchmarks.md)
    http_keepalive: bool = Field(
        True, description="Reuse REST connections to Discord (hikari closes each one after a request otherwise)"
    )
    direct_interaction_answers: bool = Field(
        True,
        description="Answer interactions over keep-alive connections of Hanabi's own instead of through hikari's "
        "REST client (a fifth to a quarter less CPU per command; files, 429s and server errors still go through "
        "hikari)",
    )
    gc_tuning: bool = Field(True, description="After startup: gc.freeze() and higher thresholds (shorter GC pauses)")
    # On by default: 6-10 % less CPU per interaction and lower tails (docs/benchmarks.md, section 24).
    uvloop: bool = Field(True, description="Run on uvloop (Linux/macOS; Windows always uses asyncio's loop)")

    # --- dashboard --- (issue 13; on only when the four OAuth/session settings are all set)
    web_host: str = Field("127.0.0.1", description="Address the web dashboard listens on")
    web_port: int = Field(8080, ge=0, le=65535, description="Port of the web dashboard (0 picks a free one)")
    web_in_bot: bool = Field(True, description="Serve the dashboard inside the bot process (else python -m hanabi.web)")
    discord_client_id: int | None = Field(None, description="OAuth2 client id (the application id)")
    discord_client_secret: SecretStr | None = Field(None, description="OAuth2 client secret")
    dashboard_url: str | None = Field(None, description="Public base URL of the dashboard, for the OAuth redirect")
    session_secret: SecretStr | None = Field(None, description="Secret keying dashboard sessions and CSRF tokens")
    discord_oauth_url: str = Field("https://discord.com", description="Discord OAuth2 base URL (tests: the fake)")

    @field_validator("discord_client_id", "discord_client_secret", "dashboard_url", "session_secret", mode="before")
    @classmethod
    def _dashboard_blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("dashboard_url", "discord_oauth_url", mode="after")
    @classmethod
    def _dashboard_urls(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("an http(s) URL such as https://hanabi.example.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _dashboard_complete(self) -> Settings:
        names = ("discord_client_id", "discord_client_secret", "dashboard_url", "session_secret")
        missing = [name.upper() for name in names if getattr(self, name) is None]
        if 0 < len(missing) < len(names):
            raise ValueError(f"the web dashboard needs {', '.join(missing)} as well (or none of the four)")
        if self.session_secret is not None and len(self.session_secret.get_secret_value()) < 32:
            raise ValueError("SESSION_SECRET must be at least 32 random characters (secrets.token_urlsafe(48))")
        return self

    @property
    def dashboard_enabled(self) -> bool:
        return None not in (self.discord_client_id, self.discord_client_secret, self.dashboard_url, self.session_secret)


class SettingsError(Exception):
    """A configuration problem, already phrased for the person running the bot."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable: which one, what it got, what is expected. Secrets are never echoed."""
    lines = []
    for item in error.errors():
        if not item["loc"]:  # a rule across several variables: the message names them; never echo the input
            lines.append(item["msg"].removeprefix("Value error, ") + ".")
            continue
        name = str(item["loc"][0]).upper()
        if name == "DISCORD_TOKEN" and item["type"] == "missing":
            lines.append(MISSING_TOKEN_HELP)
            continue
        expected = item["msg"].removeprefix("Value error, ")
        if name in {"DISCORD_TOKEN", "DATABASE_URL", "REDIS_URL", "LAVALINK_NODES", "LAVALINK_PASSWORD"}:
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
