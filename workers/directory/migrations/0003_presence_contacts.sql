-- Presence and last seen are shown to people one shares a conversation with, not to every
-- stranger who knows a user id, unless the user chooses otherwise. Existing accounts keep
-- what they have.
ALTER TABLE users ALTER COLUMN presence_privacy SET DEFAULT 'contacts';
