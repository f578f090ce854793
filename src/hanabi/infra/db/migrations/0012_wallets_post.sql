-- Every balance change in one statement, so a transfer is one round trip instead of six (BEGIN, lock, members,
-- balances and ledger, rank deltas, COMMIT): create and lock the wallets in user-id order (two writers never
-- deadlock), refuse a change that would take a balance below zero or past bigint, then write the balances, the
-- ledger rows (balance_after per entry, in entry order), the server memberships and the rank-bucket deltas.
-- Called alone (the statement is its own transaction) or inside a transaction that locked the wallets first
-- (hanabi.repositories.wallets.post). The refusal is SQLSTATE P0001 with the balances as JSON in DETAIL; it rolls
-- back the wallets it created. The bucket arithmetic must agree with leaderboard_count_above (migration 0011):
-- 8 levels of 8 bits, only positive balances counted.
CREATE FUNCTION wallets_post(
    p_users bigint[],
    p_deltas bigint[],
    p_kinds text[],
    p_references text[],
    p_guilds bigint[],
    p_counterparties bigint[],
    p_notes text[],
    p_at timestamptz,
    p_guild_id bigint,
    p_members bigint[]
) RETURNS TABLE (user_id bigint, old_balance bigint, balance bigint, streak integer, last_daily date, version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids bigint[];
    v_old bigint[];
    v_new numeric[];
    v_version bigint;
BEGIN
    WITH locked AS (
        INSERT INTO wallets AS w (user_id)
        SELECT DISTINCT t.id FROM unnest(p_users) AS t(id) ORDER BY t.id
        ON CONFLICT (user_id) DO UPDATE SET user_id = w.user_id
        RETURNING w.user_id, w.balance
    ), totals AS (
        SELECT e.u, sum(e.d) AS total FROM unnest(p_users, p_deltas) AS e(u, d) GROUP BY e.u
    )
    SELECT array_agg(l.user_id ORDER BY l.user_id), array_agg(l.balance ORDER BY l.user_id),
           array_agg(l.balance + t.total ORDER BY l.user_id)
    INTO v_ids, v_old, v_new
    FROM locked l JOIN totals t ON t.u = l.user_id;

    IF EXISTS (SELECT 1 FROM unnest(v_new) AS n(b) WHERE n.b < 0 OR n.b > 9223372036854775807) THEN
        RAISE EXCEPTION 'balance out of range'
            USING DETAIL = (SELECT json_object_agg(o.i, o.b) FROM unnest(v_ids, v_old) AS o(i, b))::text;
    END IF;

    IF p_guild_id IS NOT NULL AND cardinality(p_members) > 0 THEN
        -- Before the balances: the insert trigger copies the old balance, the update trigger then the new one.
        INSERT INTO economy_members (guild_id, user_id, first_seen)
        SELECT p_guild_id, m.id, p_at FROM (SELECT DISTINCT t.id FROM unnest(p_members) AS t(id)) AS m ORDER BY m.id
        ON CONFLICT DO NOTHING;
    END IF;

    WITH changed AS (
        SELECT c.i, c.o, c.n::bigint AS n FROM unnest(v_ids, v_old, v_new) AS c(i, o, n) WHERE c.n <> c.o
    ), balances AS (
        UPDATE wallets w SET balance = c.n, updated_at = p_at FROM changed c WHERE w.user_id = c.i
    ), entries AS (
        INSERT INTO ledger (user_id, delta, balance_after, kind, reference, guild_id, counterparty_id, note, created_at)
        SELECT e.u, e.d, o.b + sum(e.d) OVER (PARTITION BY e.u ORDER BY e.ord), e.k, e.r, e.g, e.c, e.n, p_at
        FROM unnest(p_users, p_deltas, p_kinds, p_references, p_guilds, p_counterparties, p_notes)
            WITH ORDINALITY AS e(u, d, k, r, g, c, n, ord)
        JOIN unnest(v_ids, v_old) AS o(i, b) ON o.i = e.u
        ORDER BY e.ord
        RETURNING id
    ), bucket_deltas AS (
        INSERT INTO leaderboard_bucket_deltas (level, bucket, delta)
        SELECT d.level, d.bucket, sum(d.delta)
        FROM (
            SELECT l.level, c.o >> (8 * l.level), -1 FROM changed c CROSS JOIN generate_series(0, 7) AS l(level)
            WHERE c.o > 0
            UNION ALL
            SELECT l.level, c.n >> (8 * l.level), 1 FROM changed c CROSS JOIN generate_series(0, 7) AS l(level)
            WHERE c.n > 0
        ) AS d(level, bucket, delta)
        GROUP BY d.level, d.bucket HAVING sum(d.delta) <> 0
        ORDER BY d.level, d.bucket
    )
    SELECT COALESCE(max(entries.id), 0) INTO v_version FROM entries;

    RETURN QUERY
    SELECT c.i, c.o, c.n::bigint, w.streak, w.last_daily, v_version
    FROM unnest(v_ids, v_old, v_new) AS c(i, o, n) JOIN wallets w ON w.user_id = c.i
    ORDER BY c.i;
END
$$;
