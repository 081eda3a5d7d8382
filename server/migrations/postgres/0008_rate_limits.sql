-- A tenant's rate limits (NULL: the documented default).
ALTER TABLE tenants ADD COLUMN rate_key_per_minute BIGINT;
ALTER TABLE tenants ADD COLUMN rate_key_burst BIGINT;
ALTER TABLE tenants ADD COLUMN rate_tenant_per_minute BIGINT;
ALTER TABLE tenants ADD COLUMN rate_tenant_burst BIGINT;

-- The token buckets every replica shares: `scope` is `key:<id>`,
-- `token:<root jti>` or `tenant:<id>`; `tokens` as of `refilled_at`.
CREATE TABLE rate_buckets (
    scope TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    refilled_at TIMESTAMPTZ NOT NULL
);

-- Takes `cost` tokens from two buckets at once, or from neither: each is
-- refilled at `rate` tokens a second up to `burst` since it was last
-- touched (by the database's clock, the same for every replica), then
-- both are charged only if both hold `cost`. Rows are locked in argument
-- order: callers pass the scopes sorted, so two requests never wait on
-- each other in a cycle. Answers each bucket's tokens afterwards and
-- whether the cost was taken.
CREATE FUNCTION lictor_rate_take(
    scope_a TEXT, burst_a DOUBLE PRECISION, rate_a DOUBLE PRECISION,
    scope_b TEXT, burst_b DOUBLE PRECISION, rate_b DOUBLE PRECISION,
    cost DOUBLE PRECISION
) RETURNS TABLE (left_a DOUBLE PRECISION, left_b DOUBLE PRECISION, granted BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    now_at TIMESTAMPTZ := clock_timestamp();
    held DOUBLE PRECISION;
    since TIMESTAMPTZ;
    have_a DOUBLE PRECISION;
    have_b DOUBLE PRECISION;
BEGIN
    INSERT INTO rate_buckets AS b (scope, tokens, refilled_at)
    VALUES (scope_a, burst_a, now_at), (scope_b, burst_b, now_at)
    ON CONFLICT (scope) DO NOTHING;
    SELECT b.tokens, b.refilled_at INTO held, since FROM rate_buckets b WHERE b.scope = scope_a FOR UPDATE;
    have_a := LEAST(burst_a, held + GREATEST(0, EXTRACT(EPOCH FROM now_at - since)) * rate_a);
    SELECT b.tokens, b.refilled_at INTO held, since FROM rate_buckets b WHERE b.scope = scope_b FOR UPDATE;
    have_b := LEAST(burst_b, held + GREATEST(0, EXTRACT(EPOCH FROM now_at - since)) * rate_b);
    granted := have_a >= cost AND have_b >= cost;
    IF granted THEN
        have_a := have_a - cost;
        have_b := have_b - cost;
    END IF;
    UPDATE rate_buckets b SET tokens = have_a, refilled_at = now_at WHERE b.scope = scope_a;
    UPDATE rate_buckets b SET tokens = have_b, refilled_at = now_at WHERE b.scope = scope_b;
    left_a := have_a;
    left_b := have_b;
    RETURN NEXT;
END;
$$;
