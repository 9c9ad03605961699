-- Program Builder schema: the program aggregate, the inbox (idempotency) and the outbox (events).
-- Every table carries program_id so one indexed query per table loads a program's aggregate.

CREATE TABLE programs (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL CHECK (length(tenant_id) BETWEEN 1 AND 100),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    weeks       integer NOT NULL CHECK (weeks BETWEEN 1 AND 52),
    version     bigint NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    program_id   uuid NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    order_index  integer NOT NULL CHECK (order_index >= 0 AND order_index < 50),
    -- Reordering shifts many rows inside one transaction: check uniqueness at commit.
    CONSTRAINT sessions_program_order_key UNIQUE (program_id, order_index) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT sessions_id_program_key UNIQUE (id, program_id)
);

CREATE TABLE exercise_groups (
    id                           uuid PRIMARY KEY,
    program_id                   uuid NOT NULL,
    session_id                   uuid NOT NULL,
    order_index                  integer NOT NULL CHECK (order_index >= 0 AND order_index < 60),
    rounds                       integer CHECK (rounds BETWEEN 1 AND 20),
    rest_between_rounds_seconds  integer CHECK (rest_between_rounds_seconds BETWEEN 0 AND 3600),
    notes                        text CHECK (length(notes) <= 500),
    CONSTRAINT exercise_groups_session_fkey FOREIGN KEY (session_id, program_id)
        REFERENCES sessions (id, program_id) ON DELETE CASCADE,
    CONSTRAINT exercise_groups_session_order_key UNIQUE (session_id, order_index) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT exercise_groups_id_session_key UNIQUE (id, session_id)
);

CREATE TABLE program_exercises (
    id                  uuid PRIMARY KEY,
    program_id          uuid NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    session_id          uuid NOT NULL,
    group_id            uuid NOT NULL,
    order_within_group  integer NOT NULL CHECK (order_within_group >= 0 AND order_within_group < 12),
    exercise_id         uuid NOT NULL,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The exercise's session is its group's session: the database holds them together.
    CONSTRAINT program_exercises_group_fkey FOREIGN KEY (group_id, session_id)
        REFERENCES exercise_groups (id, session_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT program_exercises_group_order_key UNIQUE (group_id, order_within_group) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE prescriptions (
    id                   uuid PRIMARY KEY,
    program_id           uuid NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    program_exercise_id  uuid NOT NULL REFERENCES program_exercises (id) ON DELETE CASCADE,
    week                 integer NOT NULL CHECK (week >= 0 AND week < 52),
    version              bigint NOT NULL CHECK (version >= 1),
    series               jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(series) = 'array' AND jsonb_array_length(series) <= 50),
    CONSTRAINT prescriptions_exercise_week_key UNIQUE (program_exercise_id, week)
);

-- Loading an aggregate reads each table by program; cascades need the referencing columns indexed.
CREATE INDEX sessions_program_idx ON sessions (program_id);
CREATE INDEX exercise_groups_program_idx ON exercise_groups (program_id);
CREATE INDEX exercise_groups_session_program_idx ON exercise_groups (session_id, program_id);
CREATE INDEX program_exercises_program_idx ON program_exercises (program_id);
CREATE INDEX program_exercises_group_session_idx ON program_exercises (group_id, session_id);
CREATE INDEX prescriptions_program_idx ON prescriptions (program_id);

-- One row per processed commandId: the idempotency record with the first outcome.
CREATE TABLE inbox (
    command_id       uuid PRIMARY KEY,
    command_type     text NOT NULL,
    program_id       uuid,
    status           text NOT NULL CHECK (status IN ('applied', 'rejected')),
    program_version  bigint,
    error            jsonb,
    processed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);

-- Messages committed with the state that caused them, published by the relay in id order per lane.
-- value holds the exact bytes to publish; lane = hash(key) mod 16 keeps one key on one lane.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    key         bytea,
    value       bytea NOT NULL,
    header_names   text[] NOT NULL DEFAULT '{}',
    header_values  bytea[] NOT NULL DEFAULT '{}',
    lane        smallint NOT NULL CHECK (lane >= 0 AND lane < 16),
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (lane, id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Wake the relay once per inserting statement; it polls as well, so a lost notification only delays.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('program_builder_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
