-- Recurring announcements and event reminders (issue 5).
-- Every run is claimed in this database before it is sent, so it is sent exactly once however many bot
-- processes run the scheduler: the claim advances announcements.next_run with a compare-and-set
-- (UPDATE ... WHERE next_run = <old>) and inserts the run row, whose primary key (announcement_id,
-- scheduled_for) cannot be inserted twice.

CREATE TABLE announcements (
    id               bigserial PRIMARY KEY,
    guild_id         bigint NOT NULL,
    channel_id       bigint NOT NULL,
    creator_id       bigint NOT NULL,
    message          text NOT NULL CHECK (char_length(message) BETWEEN 1 AND 4000),
    title            text CHECK (title IS NULL OR char_length(title) BETWEEN 1 AND 256),
    schedule         text NOT NULL CHECK (char_length(schedule) BETWEEN 1 AND 200),
    timezone         text NOT NULL CHECK (char_length(timezone) BETWEEN 1 AND 64),
    anchor           timestamptz NOT NULL,            -- the first run; intervals count from here
    allowed_role_ids bigint[] NOT NULL DEFAULT '{}',  -- the only roles its message may ping
    next_run         timestamptz NOT NULL,
    paused           boolean NOT NULL DEFAULT false,
    pause_reason     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX announcements_due ON announcements (next_run) WHERE NOT paused;
CREATE INDEX announcements_guild ON announcements (guild_id, id);

CREATE TABLE announcement_runs (
    announcement_id bigint NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    scheduled_for   timestamptz NOT NULL,
    claimed_at      timestamptz NOT NULL,
    claimed_by      text NOT NULL,
    status          text NOT NULL DEFAULT 'claimed' CHECK (status IN ('claimed', 'sent', 'failed')),
    message_id      bigint,
    error           text,
    PRIMARY KEY (announcement_id, scheduled_for)
);

CREATE TABLE event_reminders (
    id             bigserial PRIMARY KEY,
    guild_id       bigint NOT NULL,
    event_id       bigint NOT NULL,
    event_name     text NOT NULL CHECK (char_length(event_name) BETWEEN 1 AND 100),
    event_start    timestamptz NOT NULL,
    channel_id     bigint NOT NULL,
    creator_id     bigint NOT NULL,
    minutes_before integer NOT NULL CHECK (minutes_before BETWEEN 1 AND 10080),
    remind_at      timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'claimed', 'sent', 'failed', 'skipped', 'cancelled')),
    claimed_by     text,
    claimed_at     timestamptz,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, channel_id, minutes_before)
);
CREATE INDEX event_reminders_due ON event_reminders (remind_at) WHERE status = 'pending';
