-- Export the legacy app's programs as `program-builder import` JSON Lines, one program per row:
--   psql "$LEGACY_DATABASE_URL" --no-align --tuples-only --quiet -f docs/legacy-export.sql > programs.jsonl
-- The legacy tables, as the pre-refactor snapshot shape describes them (rename to yours):
--   legacy_programs          (id uuid, tenant_id text, name text, weeks integer)
--   legacy_sessions          (id uuid, program_id uuid, name text, position integer)
--   legacy_exercises         (id uuid, session_id uuid, exercise_id uuid, name text,
--                             order_index integer, superset_group integer, superset_order integer)
--   legacy_prescription_rows (exercise_id uuid, week integer, position integer, sets integer,
--                             reps integer, weight numeric, rpe numeric, rest_seconds integer)
-- Nulls stay null (a standalone exercise has no superset_group; a row without weight has no load).
SELECT json_build_object(
    'tenantId', p.tenant_id,
    'programId', p.id,
    'program', json_build_object(
        'format', 'legacy',
        'name', p.name,
        'weeks', p.weeks,
        'sessions', COALESCE((
            SELECT json_agg(json_build_object(
                'sessionId', s.id,
                'name', s.name,
                'exercises', COALESCE((
                    SELECT json_agg(json_build_object(
                        'programExerciseId', e.id,
                        'exerciseId', e.exercise_id,
                        'name', e.name,
                        'orderIndex', e.order_index,
                        'supersetGroup', e.superset_group,
                        'supersetOrder', e.superset_order,
                        'prescriptionRows', COALESCE((
                            SELECT json_agg(json_build_object(
                                'week', r.week,
                                'sets', r.sets,
                                'reps', r.reps,
                                'weight', r.weight,
                                'rpe', r.rpe,
                                'restSeconds', r.rest_seconds
                            ) ORDER BY r.week, r.position)
                            FROM legacy_prescription_rows AS r WHERE r.exercise_id = e.id
                        ), '[]'::json)
                    ) ORDER BY e.order_index)
                    FROM legacy_exercises AS e WHERE e.session_id = s.id
                ), '[]'::json)
            ) ORDER BY s.position)
            FROM legacy_sessions AS s WHERE s.program_id = p.id
        ), '[]'::json)
    )
)
FROM legacy_programs AS p
ORDER BY p.id;
