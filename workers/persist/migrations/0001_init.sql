-- persist owns the sequenced message store.

-- One row per conversation: the sequence allocator. `UPDATE ... RETURNING last_seq` inside the
-- storing transaction makes seq contiguous: a rolled-back transaction gives its seq back.
CREATE TABLE conversations (
    conversation_id uuid PRIMARY KEY,
    last_seq        bigint NOT NULL
);

-- Current state of every message; `seq` is the seq of its creation.
CREATE TABLE messages (
    id               uuid PRIMARY KEY,
    conversation_id  uuid NOT NULL,
    seq              bigint NOT NULL,
    sender_id        uuid NOT NULL,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL,
    edited_at        timestamptz,
    deleted_at       timestamptz,
    reply_to         jsonb,
    forwarded_from   jsonb,
    mentions         uuid[] NOT NULL DEFAULT '{}',
    reactions        jsonb NOT NULL DEFAULT '[]',
    UNIQUE (conversation_id, seq)
);

-- The log: one row per accepted command, keyed by the command id (the idempotency key).
CREATE TABLE events (
    conversation_id  uuid NOT NULL,
    seq              bigint NOT NULL,
    command_id       uuid NOT NULL UNIQUE,
    kind             text NOT NULL,
    message_id       uuid NOT NULL,
    actor_id         uuid NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
