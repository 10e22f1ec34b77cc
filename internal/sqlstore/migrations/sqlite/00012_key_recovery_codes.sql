-- +goose Up
-- Recovery codes are stored as an HMAC under a pepper key (kept outside the
-- database), no longer as a bare SHA-256, so a dump alone cannot test
-- guesses. pepper_key_id names the key; NULL marks a code still in the old
-- unkeyed form, which the server converts at start (the HMAC is taken over
-- the old digest, so no code needs to be known to convert it).
ALTER TABLE recovery_codes ADD COLUMN pepper_key_id INTEGER;

-- +goose Down
ALTER TABLE recovery_codes DROP COLUMN pepper_key_id;
