-- Datafeed ingest (keep in step with ../postgres and ../mysql).
-- The shop's product page and description of feed garments.
ALTER TABLE garments ADD COLUMN product_url TEXT NOT NULL DEFAULT '';
ALTER TABLE garments ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- pages through a feed's available garments when marking the missing ones
CREATE INDEX garments_feed_available_id ON garments (feed, available, id);

-- Image analysis results by image URL (its SHA-256) and content hash, so a
-- re-ingest does not analyse an unchanged image again. Empty strings stand for
-- absent validators.
CREATE TABLE image_analyses (
    url_hash TEXT PRIMARY KEY,
    image_url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    etag TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    analyzer BIGINT NOT NULL,
    result TEXT NOT NULL,
    analysed_at BIGINT NOT NULL
);

CREATE INDEX image_analyses_content ON image_analyses (content_hash);
