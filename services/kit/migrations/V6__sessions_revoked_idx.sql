-- The Redis deny-list is rebuilt from the sessions revoked within an access token's
-- lifetime (auth, every 30 s and whenever Redis comes back): only revoked rows are indexed.
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
