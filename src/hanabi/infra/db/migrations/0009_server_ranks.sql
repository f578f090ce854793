-- Server ranks without a join over every member of the server: each membership row carries its wallet's
-- balance, kept in step by triggers inside the transaction that changes the balance, and an index answers
-- "how many members of this server hold more" with a range count.
ALTER TABLE economy_members ADD COLUMN balance bigint NOT NULL DEFAULT 0;
UPDATE economy_members m SET balance = w.balance FROM wallets w WHERE w.user_id = m.user_id;
CREATE INDEX economy_members_rank ON economy_members (guild_id, balance DESC, user_id);
CREATE INDEX economy_members_user ON economy_members (user_id);

CREATE FUNCTION economy_members_copy_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.balance := coalesce((SELECT balance FROM wallets WHERE user_id = NEW.user_id), 0);
    RETURN NEW;
END
$$;

CREATE TRIGGER economy_members_balance_on_insert
    BEFORE INSERT ON economy_members
    FOR EACH ROW EXECUTE FUNCTION economy_members_copy_balance();

CREATE FUNCTION wallets_propagate_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE economy_members SET balance = NEW.balance WHERE user_id = NEW.user_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER wallets_balance_to_members
    AFTER UPDATE OF balance ON wallets
    FOR EACH ROW WHEN (OLD.balance IS DISTINCT FROM NEW.balance)
    EXECUTE FUNCTION wallets_propagate_balance();
