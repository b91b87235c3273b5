-- links: tags, owned by the links service. An array on the link (normalised, sorted, at
-- most 20 of 50 characters: the service checks), found by a GIN index.
ALTER TABLE links ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX links_tags_idx ON links USING gin (tags) WHERE deleted_at IS NULL;
