-- Spikeproof outfit server schema (MySQL/MariaDB). Keep in step with ../sqlite.
-- VARCHAR rather than TEXT: sqlx's Any driver decodes VARCHAR as text on MySQL,
-- and unique keys need bounded lengths.
CREATE TABLE users (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash VARCHAR(64) NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE profiles (
    user_id BIGINT NOT NULL PRIMARY KEY,
    body VARCHAR(8000) NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE garments (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    feed VARCHAR(128) NOT NULL,
    external_id VARCHAR(191) NOT NULL,
    title VARCHAR(500) NOT NULL,
    brand VARCHAR(200) NOT NULL,
    slot VARCHAR(16) NOT NULL,
    gender VARCHAR(16) NOT NULL,
    sizes VARCHAR(1000) NOT NULL,
    colors VARCHAR(1000) NOT NULL,
    pattern VARCHAR(16) NOT NULL,
    styles BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL,
    available BIGINT NOT NULL,
    image_url VARCHAR(2048) NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY garments_feed_external (feed, external_id),
    KEY garments_slot_id (slot, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE feedback (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    action VARCHAR(16) NOT NULL,
    outfit_id VARCHAR(32) NOT NULL,
    garment_ids VARCHAR(1000) NOT NULL,
    idempotency_key VARCHAR(128) NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY feedback_user_key (user_id, idempotency_key),
    KEY feedback_user_action_id (user_id, action, id),
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
