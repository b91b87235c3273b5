-- A link's raw clicks, newest first (the Shlink-compatible API's visits of a short URL).
CREATE INDEX clicks_link_at_idx ON clicks (link_id, at);
