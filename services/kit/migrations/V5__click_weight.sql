-- Identical clicks in the same second are stored as one raw row with a count.
--
-- A click is (second, link, referrer host, agent class, country). The redirect service
-- folds identical ones in each batch into one row whose `clicks` says how many there were,
-- so a link taking thousands of clicks a second costs Postgres a row per second per
-- distinct visitor kind, not a row per click. Nothing is lost: sum(clicks) over the raw
-- rows is the number of clicks, at one-second resolution. Rows written before this
-- migration (and rows written by hand) count 1.
ALTER TABLE clicks ADD COLUMN clicks integer NOT NULL DEFAULT 1 CHECK (clicks > 0);

-- The rollups are updated in place on every batch while their hour (or day) is current.
-- Room left on each page lets those updates stay on the page (HOT: no new index entry),
-- which keeps the upserts cheap and the tables from bloating between vacuums.
ALTER TABLE click_counts SET (fillfactor = 70);
ALTER TABLE click_referrers SET (fillfactor = 70);
