-- Per-server settings. NULL means "use the bot-wide default".
CREATE TABLE guild_settings (
    guild_id       bigint PRIMARY KEY,
    prefix         text CHECK (prefix IS NULL OR char_length(prefix) BETWEEN 1 AND 5),
    locale         text CHECK (locale IS NULL OR char_length(locale) BETWEEN 2 AND 10),
    timezone       text CHECK (timezone IS NULL OR char_length(timezone) BETWEEN 1 AND 64),
    modlog_channel_id bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
