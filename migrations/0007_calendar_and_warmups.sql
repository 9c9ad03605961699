-- v1.3 the athlete's calendar and warm-up sets: a program's start date, each session's day of the
-- week and the weeks it was moved to another date, and a program exercise's warm-up steps.

-- The first day of week 0 (NULL: the program is not on a calendar).
ALTER TABLE programs
    ADD COLUMN start_date date
        CHECK (start_date BETWEEN DATE '2000-01-01' AND DATE '2099-12-31');

-- The day of every week the session falls on (0..6, NULL: none), and its reschedulings as the
-- contract publishes them: [{"week", "date"}] ordered by week, a value of the session read and
-- written whole with it (at most one per week of a program).
ALTER TABLE sessions
    ADD COLUMN day_offset smallint CHECK (day_offset BETWEEN 0 AND 6),
    ADD COLUMN rescheduled jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(rescheduled) = 'array' AND jsonb_array_length(rescheduled) <= 52);

-- The warm-up as the contract publishes it ({"steps": [...], "minLoad": {...} or null}); NULL:
-- no warm-up.
ALTER TABLE program_exercises
    ADD COLUMN warmup jsonb
        CHECK (warmup IS NULL OR (jsonb_typeof(warmup) = 'object'
               AND jsonb_typeof(warmup -> 'steps') = 'array'
               AND jsonb_array_length(warmup -> 'steps') BETWEEN 1 AND 8));
