-- The embedded store's schema: the PostgreSQL tables of V1..V7 as SQLite writes them.
--
-- Times are INTEGER unix microseconds (UTC), the unit the read model's versions use; a
-- click's `at` and the rollups' buckets are unix seconds. Booleans are 0 or 1. Tables are
-- STRICT, so a value of the wrong type is refused as PostgreSQL would refuse it.

-- links: owned by the links service. Ids are leased in blocks of `link_ids.block`.
CREATE TABLE link_ids (
    next  INTEGER NOT NULL,
    block INTEGER NOT NULL CHECK (block > 0)
) STRICT;
INSERT INTO link_ids (next, block) VALUES (1, 1000);

CREATE TABLE links (
    id            INTEGER PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    target_url    TEXT NOT NULL CHECK (length(CAST(target_url AS BLOB)) <= 2048),
    title         TEXT CHECK (length(title) <= 200),
    owner_id      INTEGER,
    redirect_type INTEGER NOT NULL DEFAULT 302 CHECK (redirect_type IN (301, 302, 307, 308)),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    expires_at    INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- Soft delete: the row (and so the code) stays forever, so a code is never reused.
    deleted_at    INTEGER
) STRICT;

-- "My links, newest first" with keyset pagination on (created_at, id).
CREATE INDEX links_owner_created_idx ON links (owner_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND owner_id IS NOT NULL;

CREATE TABLE link_events (
    id       INTEGER PRIMARY KEY,
    link_id  INTEGER NOT NULL REFERENCES links (id),
    user_id  INTEGER,
    kind     TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    at       INTEGER NOT NULL,
    details  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
) STRICT;

CREATE INDEX link_events_link_idx ON link_events (link_id, at);

-- auth: owned by the auth service.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    username      TEXT CHECK (length(username) <= 64),
    -- argon2id PHC string; NULL for accounts without a usable password (imported users).
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    issued_at   INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;

CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- clicks: raw rows (identical clicks in one second folded into one row with a count),
-- dropped by date after CLICK_RETENTION_DAYS instead of by partition.
CREATE TABLE clicks (
    at             INTEGER NOT NULL,
    link_id        INTEGER NOT NULL,
    referrer_host  TEXT,
    agent_class    TEXT NOT NULL CHECK (agent_class IN ('bot', 'mobile', 'desktop', 'other')),
    country        TEXT,
    clicks         INTEGER NOT NULL DEFAULT 1 CHECK (clicks > 0)
) STRICT;

CREATE INDEX clicks_at_idx ON clicks (at);

-- Hourly rollup per link and agent class (`bucket`: the hour's first unix second).
CREATE TABLE click_counts (
    link_id      INTEGER NOT NULL,
    bucket       INTEGER NOT NULL,
    agent_class  TEXT NOT NULL,
    clicks       INTEGER NOT NULL,
    PRIMARY KEY (link_id, bucket, agent_class)
) STRICT, WITHOUT ROWID;

-- Daily rollup per link and referrer host, referred clicks only (`day`: the day's first
-- unix second).
CREATE TABLE click_referrers (
    link_id        INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    referrer_host  TEXT NOT NULL,
    is_bot         INTEGER NOT NULL CHECK (is_bot IN (0, 1)),
    clicks         INTEGER NOT NULL,
    PRIMARY KEY (link_id, day, referrer_host, is_bot)
) STRICT, WITHOUT ROWID;

-- The ids `hop import` has brought in, as ranges, so a second run adds nothing.
CREATE TABLE import_ranges (
    kind        TEXT NOT NULL,
    first_id    INTEGER NOT NULL,
    last_id     INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    PRIMARY KEY (kind, first_id),
    CHECK (first_id <= last_id)
) STRICT;
