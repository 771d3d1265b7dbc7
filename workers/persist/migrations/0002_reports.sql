-- Reported messages, with a snapshot of what was reported (an edit or delete afterwards does
-- not erase the evidence), awaiting moderation.
CREATE TABLE reports (
    id               uuid PRIMARY KEY,
    conversation_id  uuid NOT NULL,
    message_id       uuid NOT NULL REFERENCES messages (id),
    reporter_id      uuid NOT NULL,
    sender_id        uuid NOT NULL,
    body_snapshot    text NOT NULL,
    reason           text NOT NULL,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'dismissed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, reporter_id)
);
CREATE INDEX reports_open ON reports (created_at) WHERE status = 'open';
