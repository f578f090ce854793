-- Automod configuration per server. NULL / '{}' means "use the documented default".
CREATE TABLE automod_config (
    guild_id              bigint PRIMARY KEY,
    -- Per-rule overrides: {"flood": {"enabled": true, "count": 6, "seconds": 5, ...}, ...}
    rules                 jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(rules) = 'object'),
    -- Escalation ladder as text, e.g. 'warn, 10m, 1h, kick'; NULL = default.
    ladder                text CHECK (ladder IS NULL OR char_length(ladder) BETWEEN 1 AND 200),
    strike_window_seconds integer CHECK (strike_window_seconds IS NULL OR strike_window_seconds BETWEEN 60 AND 2592000),
    link_allowlist        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(link_allowlist) <= 100),
    invite_allowlist      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(invite_allowlist) <= 100),
    exempt_role_ids       bigint[] NOT NULL DEFAULT '{}' CHECK (cardinality(exempt_role_ids) <= 50),
    exempt_channel_ids    bigint[] NOT NULL DEFAULT '{}' CHECK (cardinality(exempt_channel_ids) <= 100),
    dry_run               boolean NOT NULL DEFAULT false,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Every moderation action (automod or manual) is a case. Clearing keeps the row for the audit trail.
CREATE TABLE moderation_cases (
    id              bigserial PRIMARY KEY,
    guild_id        bigint NOT NULL,
    user_id         bigint NOT NULL,
    moderator_id    bigint,                       -- NULL: automod
    rule            text NOT NULL CHECK (char_length(rule) BETWEEN 1 AND 32),
    action          text NOT NULL CHECK (action IN ('none', 'warn', 'timeout', 'kick')),
    timeout_seconds integer NOT NULL DEFAULT 0 CHECK (timeout_seconds BETWEEN 0 AND 2419200),
    strike          integer NOT NULL CHECK (strike >= 0),
    deleted_count   integer NOT NULL DEFAULT 0 CHECK (deleted_count >= 0),
    channel_id      bigint,
    reason          text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 200),
    evidence        text NOT NULL DEFAULT '' CHECK (char_length(evidence) <= 400),
    created_at      timestamptz NOT NULL DEFAULT now(),
    cleared_at      timestamptz,
    cleared_by      bigint
);

CREATE INDEX moderation_cases_member ON moderation_cases (guild_id, user_id, created_at DESC);
