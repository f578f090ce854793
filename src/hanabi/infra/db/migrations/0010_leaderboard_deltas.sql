-- Balance changes append their bucket deltas here instead of updating leaderboard_buckets in place: wallets that
-- share a balance share its level-0 bucket row, and every transfer between them queued on that row's lock until
-- the previous one committed. Appends never wait on each other. Counts read both tables; a background fold
-- (PostgresLeaderboardIndex.fold) moves the deltas into leaderboard_buckets in one statement.
CREATE TABLE leaderboard_bucket_deltas (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    level   smallint NOT NULL CHECK (level BETWEEN 0 AND 7),
    bucket  bigint NOT NULL CHECK (bucket >= 0),
    delta   bigint NOT NULL CHECK (delta <> 0)
);
CREATE INDEX leaderboard_bucket_deltas_range ON leaderboard_bucket_deltas (level, bucket) INCLUDE (delta);
