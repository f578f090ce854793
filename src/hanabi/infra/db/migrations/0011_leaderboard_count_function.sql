-- The count behind every global rank, in the database, so that a query can read it beside the wallet in the same
-- round trip (/balance). It must agree with hanabi.repositories.leaderboard, which stages the deltas: 8 levels of
-- 8 bits; at level L a wallet of balance B sits in bucket B >> 8L, and the wallets above B are, per level, those in
-- the buckets after B's up to the end of its parent bucket, (B >> 8L, (B >> 8L) | 255]. Deltas not folded yet
-- count too. plpgsql, so each session plans the query once.
CREATE FUNCTION leaderboard_count_above(p_balance bigint) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (
        SELECT COALESCE(SUM(b.wallets), 0)::bigint
        FROM generate_series(0, 7) AS l(level)
        CROSS JOIN LATERAL (SELECT GREATEST(p_balance, 0) >> (8 * l.level) AS mine) AS m
        CROSS JOIN LATERAL (
            SELECT wallets FROM leaderboard_buckets
            WHERE level = l.level AND bucket > m.mine AND bucket <= (m.mine | 255)
            UNION ALL
            SELECT delta FROM leaderboard_bucket_deltas
            WHERE level = l.level AND bucket > m.mine AND bucket <= (m.mine | 255)
        ) AS b(wallets)
    );
END
$$;
