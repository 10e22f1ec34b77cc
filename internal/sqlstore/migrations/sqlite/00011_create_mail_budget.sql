-- +goose Up
-- The global mail budget: how many messages every server of the deployment
-- together has taken from the outbox in the current minute. One row, locked
-- by each sender while it claims a batch, so the budget holds across servers.
CREATE TABLE mail_budget (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    window_start INTEGER NOT NULL,
    sent         INTEGER NOT NULL
) STRICT;
INSERT INTO mail_budget (id, window_start, sent) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE mail_budget;
