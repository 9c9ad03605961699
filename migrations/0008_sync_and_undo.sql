-- v1.3 templates that stay in sync, and undo: where each entity of a copy came from, which
-- sessions the copy customised or removed, the sync report of a program.sync's result, and the
-- history of every program's last 100 versions.

-- In a copy: the entity of the source program it was copied from (NULL: none, added in the copy
-- or not a copy). No foreign key: the source may delete it, and the copy keeps the origin.
ALTER TABLE sessions
    ADD COLUMN origin_id uuid,
    ADD COLUMN customised boolean NOT NULL DEFAULT false;
ALTER TABLE exercise_groups ADD COLUMN origin_id uuid;
ALTER TABLE program_exercises ADD COLUMN origin_id uuid;

-- removed_origins: the origins of the sessions the copy removed, as a JSON array of ids (a sync
-- keeps them removed). origins_known: false for a copy made before v1.3 whose origins this
-- migration could not recover (it cannot be synced).
ALTER TABLE programs
    ADD COLUMN removed_origins jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(removed_origins) = 'array'),
    ADD COLUMN origins_known boolean NOT NULL DEFAULT true;

-- The sync report of an applied program.sync, as its result carries it (its duplicates too).
ALTER TABLE inbox ADD COLUMN sync jsonb;

-- One row per version of a program after its first: what the command that made `version`
-- changed, as it was at version - 1 (the program's own fields, each session it touched, whole,
-- and each prescription it changed; null where the entity did not exist). The state at version
-- k is the current state with the rows of versions > k laid over it, newest first. Versions a
-- command did not touch share everything; a creation (import, copy) writes no row. Rows more
-- than 100 versions old are pruned as programs move on.
CREATE TABLE program_history (
    program_id  uuid NOT NULL REFERENCES programs (id) ON DELETE CASCADE,
    version     bigint NOT NULL,
    undo        jsonb NOT NULL,
    PRIMARY KEY (program_id, version)
);

-- The origins of the copies made before v1.3. program.copy derived every id of the copy as
-- uuid5(commandId, sourceId), and the inbox still knows the commandIds of the copies it has not
-- pruned: each (copy command, entity of its source program) gives the id that entity's copy got.
-- An entity of a copy found that way gets the source entity as origin; one whose source entity
-- is gone since, or whose copy command the inbox forgot, gets none.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

CREATE TEMPORARY TABLE copied (id uuid PRIMARY KEY, origin uuid NOT NULL) ON COMMIT DROP;
INSERT INTO copied (id, origin)
SELECT DISTINCT ON (1) uuid_generate_v5(i.command_id, e.id::text), e.id
FROM inbox i
JOIN (SELECT id, program_id FROM sessions
      UNION ALL SELECT id, program_id FROM exercise_groups
      UNION ALL SELECT id, program_id FROM program_exercises) e ON e.program_id = i.program_id
WHERE i.command_type = 'program.copy' AND i.status = 'applied';

UPDATE sessions t SET origin_id = c.origin
FROM copied c, programs p
WHERE t.id = c.id AND p.id = t.program_id AND p.source_program_id IS NOT NULL;
UPDATE exercise_groups t SET origin_id = c.origin
FROM copied c, programs p
WHERE t.id = c.id AND p.id = t.program_id AND p.source_program_id IS NOT NULL;
UPDATE program_exercises t SET origin_id = c.origin
FROM copied c, programs p
WHERE t.id = c.id AND p.id = t.program_id AND p.source_program_id IS NOT NULL;

-- A copy that holds sessions none of which could be traced back: its origins are unknown.
UPDATE programs p SET origins_known = false
WHERE p.source_program_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM sessions s WHERE s.program_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.program_id = p.id AND s.origin_id IS NOT NULL);
