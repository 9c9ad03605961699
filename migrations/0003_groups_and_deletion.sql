-- v1.1 group formats (timed circuits), deleted programs (ids never reused), tombstones.

ALTER TABLE exercise_groups
    ADD COLUMN format text NOT NULL DEFAULT 'rounds'
        CHECK (format IN ('rounds', 'emom', 'amrap', 'forTime', 'tabata', 'interval')),
    ADD COLUMN time_cap_seconds integer CHECK (time_cap_seconds BETWEEN 1 AND 7200),
    ADD COLUMN interval_seconds integer CHECK (interval_seconds BETWEEN 1 AND 3600),
    ADD COLUMN interval_rest_seconds integer CHECK (interval_rest_seconds BETWEEN 0 AND 3600);

-- A deleted program's id is never reused: create, import and copy into it are conflicts.
CREATE TABLE deleted_programs (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);

-- A tombstone (null value) follows each deleted entity's last event on its topic.
ALTER TABLE outbox ALTER COLUMN value DROP NOT NULL;

-- The template a program.copy made a program from (announced in every program.updated).
ALTER TABLE programs
    ADD COLUMN source_program_id uuid,
    ADD COLUMN source_program_version bigint,
    ADD CONSTRAINT programs_source_check
        CHECK ((source_program_id IS NULL) = (source_program_version IS NULL));
