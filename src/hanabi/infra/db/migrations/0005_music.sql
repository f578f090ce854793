-- Music: each server's player and queue, saved as they change so a restarted bot rejoins and resumes.
CREATE TABLE music_players (
    guild_id          bigint PRIMARY KEY,
    voice_channel_id  bigint NOT NULL,
    text_channel_id   bigint NOT NULL,
    loop_mode         text NOT NULL DEFAULT 'off' CHECK (loop_mode IN ('off', 'track', 'queue')),
    volume            integer NOT NULL DEFAULT 100 CHECK (volume BETWEEN 0 AND 150),
    paused            boolean NOT NULL DEFAULT false,
    position_ms       bigint NOT NULL DEFAULT 0 CHECK (position_ms >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The queue in order. The entry with is_current (always slot 0) is the track playing now; the rest are upcoming.
CREATE TABLE music_queue_entries (
    guild_id      bigint NOT NULL REFERENCES music_players (guild_id) ON DELETE CASCADE,
    slot          integer NOT NULL CHECK (slot >= 0),
    is_current    boolean NOT NULL,
    encoded       text NOT NULL,
    title         text NOT NULL,
    author        text NOT NULL,
    uri           text,
    artwork_url   text,
    source        text NOT NULL,
    identifier    text NOT NULL DEFAULT '',
    length_ms     bigint NOT NULL CHECK (length_ms >= 0),
    is_stream     boolean NOT NULL,
    is_seekable   boolean NOT NULL,
    requester_id  bigint NOT NULL,
    failures      integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    PRIMARY KEY (guild_id, slot),
    CHECK (NOT is_current OR slot = 0)
);

-- Per-server music settings. dj_role_id NULL: everyone in the bot's channel may control playback.
CREATE TABLE music_settings (
    guild_id    bigint PRIMARY KEY,
    dj_role_id  bigint,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Lavalink session ids, so a restarted bot resumes its sessions (and the node keeps playing meanwhile).
-- node_key is the node's name and the shards of the process that owns the session: `main@0,1` or `main@all`.
CREATE TABLE music_node_sessions (
    node_key    text PRIMARY KEY,
    session_id  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
