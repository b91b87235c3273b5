-- links: tags (as migrations/V9__tags.sql), a JSON array of strings on the link.
ALTER TABLE links ADD COLUMN tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags));
