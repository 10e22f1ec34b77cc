-- +goose Up
-- Coarse client of each session (network prefix and browser family), shown
-- to the customer in the session list.
ALTER TABLE web_sessions ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE token_families ADD COLUMN client TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE token_families DROP COLUMN client;
ALTER TABLE web_sessions DROP COLUMN client;
