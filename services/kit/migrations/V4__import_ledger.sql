-- Rows `hop import` has already brought in, by source file kind and source id, so a second
-- run of the same files adds nothing.
CREATE TABLE import_ledger (
    kind       text NOT NULL,
    source_id  bigint NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, source_id)
);
