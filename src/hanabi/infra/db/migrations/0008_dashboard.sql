-- Web dashboard (issue 13): server-side sessions, the log of every change made from the dashboard, and the
-- per-server switch for the public leaderboard page.

-- One row per browser session. `id_hash` is a keyed hash of the cookie value, so the table alone lets nobody
-- take over a session; `data` holds the Discord user and access token, which never reach the browser.
CREATE TABLE dashboard_sessions (
    id_hash     text PRIMARY KEY CHECK (char_length(id_hash) = 64),
    data        jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- Every change made from the dashboard, with who made it: the dashboard's own kind of case.
CREATE TABLE dashboard_changes (
    id          bigserial PRIMARY KEY,
    guild_id    bigint NOT NULL,
    user_id     bigint NOT NULL,
    username    text NOT NULL CHECK (char_length(username) <= 100),
    action      text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
    detail      text NOT NULL DEFAULT '' CHECK (char_length(detail) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboard_changes_guild ON dashboard_changes (guild_id, created_at DESC);

CREATE TABLE dashboard_guild_options (
    guild_id            bigint PRIMARY KEY,
    public_leaderboard  boolean NOT NULL DEFAULT false,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
