-- The import ledger as ranges of source ids. An export numbers its rows consecutively, so
-- one import of millions of events is a handful of ranges instead of a row (and an index
-- entry) per event; a second run of the same files still adds nothing.
CREATE TABLE import_ranges (
    kind        text NOT NULL,
    first_id    bigint NOT NULL,
    last_id     bigint NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, first_id),
    CHECK (first_id <= last_id)
);

-- What earlier imports recorded one id at a time, as the runs of consecutive ids it holds.
INSERT INTO import_ranges (kind, first_id, last_id, imported_at)
SELECT kind, min(source_id), max(source_id), min(imported_at)
FROM (
    SELECT kind, source_id, imported_at,
           source_id - row_number() OVER (PARTITION BY kind ORDER BY source_id) AS run
    FROM import_ledger
) ids
GROUP BY kind, run;

DROP TABLE import_ledger;
