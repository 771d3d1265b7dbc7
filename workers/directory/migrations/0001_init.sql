-- The directory owns users, credentials, conversations and membership.
CREATE TABLE users (
    id              uuid PRIMARY KEY,
    username        text NOT NULL,
    username_lower  text NOT NULL UNIQUE,
    display_name    text NOT NULL,
    avatar_url      text,
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_username_prefix ON users (username_lower text_pattern_ops);

-- Refresh tokens are stored hashed; a family is one login's chain of rotations, revoked whole
-- when a rotated-out token is presented again (token theft).
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    family_id   uuid NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE conversations (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('direct', 'group')),
    name        text,
    -- "<smaller user id>:<larger user id>" for direct conversations: one per pair.
    direct_key  text UNIQUE,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE members (
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    role            text NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);
