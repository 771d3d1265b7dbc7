-- Per-user privacy settings and blocks.
ALTER TABLE users
    ADD COLUMN read_receipts    boolean NOT NULL DEFAULT true,
    ADD COLUMN presence_privacy text    NOT NULL DEFAULT 'everyone'
        CHECK (presence_privacy IN ('everyone', 'contacts', 'nobody'));

-- `blocker` blocked `blocked`: no direct messages between them, no presence either way.
CREATE TABLE blocks (
    blocker    uuid NOT NULL REFERENCES users (id),
    blocked    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker, blocked),
    CHECK (blocker <> blocked)
);
CREATE INDEX blocks_by_blocked ON blocks (blocked);
