-- v1.2 from template to athlete: the athlete of an assigned program, and what a coach attaches to
-- a program exercise (notes, allowed swaps, a progression rule for the athlete's app).

-- The athlete as the contract publishes it (athleteId, maxes ordered by exerciseId,
-- trainingMaxPercent, rounding, unit): a value of the program, read and written whole with it.
-- NULL: the program is a template.
ALTER TABLE programs
    ADD COLUMN athlete jsonb
        CHECK (athlete IS NULL OR (jsonb_typeof(athlete) = 'object'
               AND jsonb_typeof(athlete -> 'maxes') = 'array'
               AND jsonb_array_length(athlete -> 'maxes') <= 200));

ALTER TABLE program_exercises
    ADD COLUMN notes text CHECK (length(notes) <= 500),
    ADD COLUMN alternatives jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(alternatives) = 'array' AND jsonb_array_length(alternatives) <= 10),
    ADD COLUMN progression jsonb CHECK (progression IS NULL OR jsonb_typeof(progression) = 'object');
