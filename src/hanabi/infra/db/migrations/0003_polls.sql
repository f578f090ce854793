-- Polls (issue 4): a poll, its options (2..25, in order) and one row per vote.
CREATE TABLE polls (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id    bigint NOT NULL,
    channel_id  bigint NOT NULL,
    message_id  bigint UNIQUE,
    creator_id  bigint NOT NULL,
    question    text NOT NULL CHECK (char_length(question) BETWEEN 1 AND 200),
    multiple    boolean NOT NULL DEFAULT false,
    anonymous   boolean NOT NULL DEFAULT false,
    role_id     bigint,
    created_at  timestamptz NOT NULL,
    closes_at   timestamptz CHECK (closes_at IS NULL OR closes_at > created_at),
    closed_at   timestamptz
);
-- The deadline runner asks "which open polls are due" twice a second.
CREATE INDEX polls_due ON polls (closes_at) WHERE closed_at IS NULL AND closes_at IS NOT NULL;
CREATE INDEX polls_guild ON polls (guild_id, id DESC);
CREATE INDEX polls_open_channel ON polls (channel_id) WHERE closed_at IS NULL;

CREATE TABLE poll_options (
    poll_id   bigint NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    position  smallint NOT NULL CHECK (position BETWEEN 0 AND 24),
    label     text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 80),
    PRIMARY KEY (poll_id, position)
);
-- No duplicate options, case-insensitively.
CREATE UNIQUE INDEX poll_options_label ON poll_options (poll_id, lower(label));

CREATE TABLE poll_votes (
    poll_id   bigint NOT NULL,
    user_id   bigint NOT NULL,
    option    smallint NOT NULL,
    voted_at  timestamptz NOT NULL,
    FOREIGN KEY (poll_id, option) REFERENCES poll_options (poll_id, position) ON DELETE CASCADE,
    -- One vote per user per option; single-choice polls are enforced by the service inside one transaction.
    CONSTRAINT poll_votes_one_per_option UNIQUE (poll_id, user_id, option)
);
CREATE INDEX poll_votes_option ON poll_votes (poll_id, option);

-- One click = one round trip. Returns no row when the poll is closed or past its deadline; otherwise whether the
-- click removed a vote and the voter's options afterwards. Modes:
--   'toggle-single'  the option replaces the voter's vote, or removes it when it already was their vote;
--   'toggle'         the option is added, or removed when already chosen (multiple choice buttons);
--   'set'            the voter's options become exactly p_options (multiple choice select menu).
CREATE FUNCTION poll_cast_vote(p_poll bigint, p_user bigint, p_options smallint[], p_now timestamptz, p_mode text)
RETURNS TABLE (removed boolean, chosen smallint[])
LANGUAGE plpgsql AS $$
DECLARE
    v_open boolean;
    v_removed boolean := false;
BEGIN
    -- FOR SHARE: voters do not block each other, but closing waits for votes in flight.
    SELECT p.closed_at IS NULL AND (p.closes_at IS NULL OR p.closes_at > p_now) INTO v_open
    FROM polls p WHERE p.id = p_poll FOR SHARE;
    IF NOT coalesce(v_open, false) THEN
        RETURN;
    END IF;
    -- Serialise one voter's clicks on one poll (double clicks) without blocking anyone else.
    PERFORM pg_advisory_xact_lock(hashtextextended('poll:' || p_poll || ':' || p_user, 0));
    IF p_mode = 'set' THEN
        DELETE FROM poll_votes v WHERE v.poll_id = p_poll AND v.user_id = p_user AND NOT (v.option = ANY (p_options));
        INSERT INTO poll_votes (poll_id, user_id, option, voted_at)
        SELECT p_poll, p_user, o, p_now FROM unnest(p_options) AS o
        ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM poll_votes v WHERE v.poll_id = p_poll AND v.user_id = p_user AND v.option = p_options[1];
        IF FOUND THEN
            v_removed := true;
        ELSE
            IF p_mode = 'toggle-single' THEN
                DELETE FROM poll_votes v WHERE v.poll_id = p_poll AND v.user_id = p_user;
            END IF;
            INSERT INTO poll_votes (poll_id, user_id, option, voted_at) VALUES (p_poll, p_user, p_options[1], p_now);
        END IF;
    END IF;
    RETURN QUERY
        SELECT v_removed, coalesce(array_agg(v.option ORDER BY v.option), '{}'::smallint[])
        FROM poll_votes v WHERE v.poll_id = p_poll AND v.user_id = p_user;
END
$$;
