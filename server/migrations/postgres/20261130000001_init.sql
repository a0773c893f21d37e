-- Spikeproof outfit server schema (PostgreSQL). Keep in step with ../sqlite.
-- Integers are BIGINT-compatible everywhere so the `Any` driver decodes them as i64.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE profiles (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE garments (
    id BIGSERIAL PRIMARY KEY,
    feed TEXT NOT NULL,
    external_id TEXT NOT NULL,
    title TEXT NOT NULL,
    brand TEXT NOT NULL,
    slot TEXT NOT NULL,
    gender TEXT NOT NULL,
    sizes TEXT NOT NULL,
    colors TEXT NOT NULL,
    pattern TEXT NOT NULL,
    styles BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    available BIGINT NOT NULL,
    image_url TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (feed, external_id)
);

CREATE INDEX garments_slot_id ON garments (slot, id);

CREATE TABLE feedback (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    action TEXT NOT NULL,
    outfit_id TEXT NOT NULL,
    garment_ids TEXT NOT NULL,
    idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, idempotency_key)
);

CREATE INDEX feedback_user_action_id ON feedback (user_id, action, id);
