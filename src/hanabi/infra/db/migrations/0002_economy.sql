-- The points economy (issue 3): global wallets, a ledger that never loses a point, daily claims, per-server
-- shops and inventories, and a maintained rank structure for the global leaderboard.

-- One wallet per Discord user, shared by every server. The ledger rows of a user always sum to the balance.
CREATE TABLE wallets (
    user_id     bigint PRIMARY KEY,
    balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    streak      integer NOT NULL DEFAULT 0 CHECK (streak >= 0),
    last_daily  date,  -- calendar day of the last daily claim, in the economy's time zone
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Top-N pages of the global board walk this index; ranks come from leaderboard_buckets.
CREATE INDEX wallets_by_balance ON wallets (balance DESC, user_id);

CREATE TABLE ledger (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES wallets (user_id),
    delta           bigint NOT NULL CHECK (delta <> 0),
    balance_after   bigint NOT NULL CHECK (balance_after >= 0),
    kind            text NOT NULL CHECK (
        kind IN ('daily', 'transfer_in', 'transfer_out', 'purchase', 'refund', 'grant', 'revoke')
    ),
    reference       text NOT NULL CHECK (char_length(reference) BETWEEN 1 AND 64),
    guild_id        bigint,
    counterparty_id bigint,
    note            text CHECK (note IS NULL OR char_length(note) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind IN ('daily', 'transfer_in', 'refund', 'grant')) = (delta > 0))
);
CREATE INDEX ledger_by_user ON ledger (user_id, id DESC);

-- At most one claim per user and calendar day; the interaction id makes a retried claim pay only once.
CREATE TABLE daily_claims (
    user_id     bigint NOT NULL REFERENCES wallets (user_id),
    day         date NOT NULL,
    reference   text NOT NULL UNIQUE,
    amount      bigint NOT NULL CHECK (amount > 0),
    streak      integer NOT NULL CHECK (streak >= 1),
    claimed_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, day)
);

-- Who has used the economy in which server: the server leaderboard ranks these.
CREATE TABLE economy_members (
    guild_id    bigint NOT NULL,
    user_id     bigint NOT NULL REFERENCES wallets (user_id),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, user_id)
);

-- Rank structure: how many wallets with a positive balance fall in each radix-256 bucket of the balance, at
-- eight levels (level L groups balances by balance >> 8L). Updated in the same transaction as the balances,
-- in a sorted order, so "how many wallets are richer than B" sums at most 255 rows per level.
CREATE TABLE leaderboard_buckets (
    level       smallint NOT NULL CHECK (level BETWEEN 0 AND 7),
    bucket      bigint NOT NULL CHECK (bucket >= 0),
    -- No CHECK (wallets >= 0): INSERT .. ON CONFLICT checks the proposed row (a negative delta) before it
    -- finds the conflict. The tests compare these counts with a full count instead.
    wallets     bigint NOT NULL,
    PRIMARY KEY (level, bucket)
);

-- Items are per server. A removed item keeps its row (removed_at) so inventories keep what members own.
CREATE TABLE shop_items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id    bigint NOT NULL,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 200),
    price       bigint NOT NULL CHECK (price >= 1),
    role_id     bigint,
    stock       bigint CHECK (stock IS NULL OR stock >= 0),  -- NULL: unlimited
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz
);
CREATE UNIQUE INDEX shop_items_name ON shop_items (guild_id, lower(name)) WHERE removed_at IS NULL;

CREATE TABLE inventories (
    user_id     bigint NOT NULL REFERENCES wallets (user_id),
    item_id     bigint NOT NULL REFERENCES shop_items (id),
    guild_id    bigint NOT NULL,
    quantity    bigint NOT NULL CHECK (quantity >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX inventories_by_guild_user ON inventories (guild_id, user_id);

CREATE TABLE purchases (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id    bigint NOT NULL,
    user_id     bigint NOT NULL REFERENCES wallets (user_id),
    item_id     bigint NOT NULL REFERENCES shop_items (id),
    quantity    bigint NOT NULL CHECK (quantity >= 1),
    total       bigint NOT NULL CHECK (total >= 1),
    reference   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    refunded_at timestamptz
);
