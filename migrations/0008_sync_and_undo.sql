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

-- The origins of the copies made before v1.3 are recovered by the data step of this migration
-- (`service.storage.origins.recover`, run in the same transaction right after this file): it
-- needs uuid5, which PostgreSQL has only in an extension.
