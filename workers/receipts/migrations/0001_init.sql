-- receipts owns the per-member delivered/read watermarks.

-- One row per (conversation, member): monotonic watermarks, never a row per message.
CREATE TABLE watermarks (
    conversation_id uuid   NOT NULL,
    user_id         uuid   NOT NULL,
    delivered_seq   bigint NOT NULL DEFAULT 0,
    read_seq        bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id),
    CHECK (read_seq <= delivered_seq)
);
CREATE INDEX watermarks_by_user ON watermarks (user_id);

-- The highest seq each conversation has, learned from chat.evt.msg.>: a watermark never
-- points past it.
CREATE TABLE conversations (
    conversation_id uuid PRIMARY KEY,
    last_seq        bigint NOT NULL
);
