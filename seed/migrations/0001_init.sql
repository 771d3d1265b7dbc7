-- The seeder's own bookkeeping: one row per seed run, and the constraints a running load has
-- dropped (so an interrupted load can put them back).
CREATE TABLE seed_runs (
    id               bigserial PRIMARY KEY,
    seed             bigint NOT NULL,
    preset           text NOT NULL,
    users            bigint NOT NULL,
    conversations    bigint NOT NULL,
    messages         bigint NOT NULL,
    until_day        date NOT NULL,
    -- Sum over watermarks of messages from others after read_seq, as generated.
    expected_unread  bigint,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    seconds          double precision
);

CREATE TABLE dropped_constraints (
    table_name  text NOT NULL,
    name        text NOT NULL,
    definition  text NOT NULL,
    -- 'p'/'u' are rebuilt before 'f' (a foreign key needs the key it references).
    kind        "char" NOT NULL,
    PRIMARY KEY (table_name, name)
);
