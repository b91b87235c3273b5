-- A link's raw clicks, newest first (the Shlink-compatible API's visits of a short URL):
-- without this, listing one link's visits reads every partition whole. Created on the
-- partitioned table, so each daily partition gets its own.
CREATE INDEX clicks_link_at_idx ON clicks (link_id, at);
