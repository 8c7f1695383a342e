-- The email outbox: a message is written in the same transaction as the change that causes it,
-- and a worker (in any server process) delivers it. `locked_until` is a lease so that one
-- process at a time delivers a message; `failed_at` is set when delivery was given up.

CREATE TABLE email_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT,
    sent_at         BIGINT,
    last_error      TEXT,
    failed_at       BIGINT
);
-- Only undelivered messages are ever looked up by due time, so the index holds only those.
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at, id)
    WHERE sent_at IS NULL AND failed_at IS NULL;
