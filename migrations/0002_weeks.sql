-- v1.1 weeks: labels per week, and prescriptions that move between weeks (week.insert/remove).

-- Labels by week, ordered by week: [{"week": 3, "label": "deload"}, ...].
ALTER TABLE programs
    ADD COLUMN week_labels jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(week_labels) = 'array' AND jsonb_array_length(week_labels) <= 52);

-- Shifting weeks moves many prescriptions of one exercise inside one transaction: check the
-- one-prescription-per-week rule at commit, as the order uniques are.
ALTER TABLE prescriptions
    DROP CONSTRAINT prescriptions_exercise_week_key,
    ADD CONSTRAINT prescriptions_exercise_week_key
        UNIQUE (program_exercise_id, week) DEFERRABLE INITIALLY DEFERRED;
