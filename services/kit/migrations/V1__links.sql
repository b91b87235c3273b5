-- links: owned by the links service (write side); read by redirect by its unique code.

-- Ids are leased in blocks: one nextval hands an instance the ids [v, v + increment).
-- The block size is this sequence's increment; the links service reads it at start.
CREATE SEQUENCE link_ids INCREMENT BY 1000 START WITH 1 MINVALUE 1;

CREATE TABLE links (
    id            bigint PRIMARY KEY,
    code          text COLLATE "C" NOT NULL,
    target_url    text NOT NULL CHECK (octet_length(target_url) <= 2048),
    title         text CHECK (char_length(title) <= 200),
    owner_id      bigint,
    redirect_type smallint NOT NULL DEFAULT 302 CHECK (redirect_type IN (301, 302, 307, 308)),
    is_active     boolean NOT NULL DEFAULT true,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: the row (and so the code) stays forever, so a code is never reused.
    deleted_at    timestamptz,
    CONSTRAINT links_code_key UNIQUE (code)
);

-- "My links, newest first" with keyset pagination on (created_at, id).
CREATE INDEX links_owner_created_idx ON links (owner_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE link_events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    link_id  bigint NOT NULL REFERENCES links (id),
    user_id  bigint,
    kind     text NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    at       timestamptz NOT NULL DEFAULT now(),
    details  jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX link_events_link_idx ON link_events (link_id, at);
