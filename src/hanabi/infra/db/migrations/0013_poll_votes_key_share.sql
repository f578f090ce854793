-- Votes lock their poll FOR KEY SHARE instead of FOR SHARE (docs/benchmarks.md, section 38). FOR SHARE is a
-- second lock mode beside the foreign key's KEY SHARE, written into the poll row by every vote: on one hot poll
-- concurrent voters then share the row through multixacts, and every vote dirties the row's page. Closing now
-- takes FOR UPDATE (hanabi.repositories.polls), which conflicts with KEY SHARE, so a close still waits for the
-- votes in flight and a vote that waited for a close sees the poll closed.
CREATE OR REPLACE FUNCTION poll_cast_vote(p_poll bigint, p_user bigint, p_options smallint[], p_now timestamptz, p_mode text)
RETURNS TABLE (removed boolean, chosen smallint[])
LANGUAGE plpgsql AS $$
DECLARE
    v_open boolean;
    v_removed boolean := false;
BEGIN
    -- FOR KEY SHARE: voters do not block each other, and closing (which takes FOR UPDATE) waits for votes in
    -- flight. It is the lock the poll_votes foreign key takes anyway, so a vote locks the poll row once.
    SELECT p.closed_at IS NULL AND (p.closes_at IS NULL OR p.closes_at > p_now) INTO v_open
    FROM polls p WHERE p.id = p_poll FOR KEY SHARE;
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
