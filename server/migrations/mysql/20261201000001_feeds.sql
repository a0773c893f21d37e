-- Datafeed ingest (keep in step with ../sqlite and ../postgres).
-- The shop's product page and description of feed garments.
ALTER TABLE garments
    ADD COLUMN product_url VARCHAR(2048) NOT NULL DEFAULT '',
    ADD COLUMN description VARCHAR(4000) NOT NULL DEFAULT '',
    ADD KEY garments_feed_available_id (feed, available, id);

-- Image analysis results by image URL (its SHA-256) and content hash, so a
-- re-ingest does not analyse an unchanged image again. Empty strings stand for
-- absent validators.
CREATE TABLE image_analyses (
    url_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    image_url VARCHAR(2048) NOT NULL,
    content_hash VARCHAR(64) NOT NULL,
    etag VARCHAR(256) NOT NULL,
    last_modified VARCHAR(64) NOT NULL,
    analyzer BIGINT NOT NULL,
    result VARCHAR(2000) NOT NULL,
    analysed_at BIGINT NOT NULL,
    KEY image_analyses_content (content_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
