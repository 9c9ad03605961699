"""The data step of migration 0008: the origins of the copies made before v1.3.

`program.copy` derived every id of a copy as uuid5(commandId, sourceId), and the inbox still
knows the commandIds of the copies it has not pruned (the inbox row of a copy names its source
program). So for each such command and each session, group and program exercise its source holds
now, uuid5(commandId, id) is the id that entity's copy got: where a copy holds it, the source
entity is its origin. An entity whose source entity is gone since, or whose copy command the
inbox forgot, gets none; a copy none of whose sessions could be traced back is marked
`origins_known = false` (it answers `program.sync` with `invariant_violated`). A copy changed
since it was made keeps everything on its first sync but what the coach overrides (below).

Done here rather than in SQL: PostgreSQL has uuid5 only in the `uuid-ossp` extension, which not
every server has.
"""

from __future__ import annotations

from uuid import UUID

from service.domain.ids import uuid5
from service.storage.database import Connection

_COPY_COMMANDS = """
SELECT i.command_id, i.program_id AS source_id
FROM inbox i
WHERE i.command_type = 'program.copy' AND i.status = 'applied'
  AND EXISTS (SELECT 1 FROM programs p WHERE p.source_program_id = i.program_id)
ORDER BY i.program_id
"""
_ENTITIES = """
SELECT 's' AS kind, id FROM sessions WHERE program_id = $1
UNION ALL SELECT 'g', id FROM exercise_groups WHERE program_id = $1
UNION ALL SELECT 'e', id FROM program_exercises WHERE program_id = $1
"""
_TABLES = {"s": "sessions", "g": "exercise_groups", "e": "program_exercises"}
_SET_ORIGINS = """
UPDATE {table} t SET origin_id = m.origin
FROM unnest($1::uuid[], $2::uuid[]) AS m (id, origin), programs p
WHERE t.id = m.id AND p.id = t.program_id AND p.source_program_id = $3
"""
# What a copy went through before v1.3 was not recorded: a copy changed since it was made
# (version > 1) has every session with an origin marked customised, and every session of its
# source it holds no counterpart of remembered as removed. A sync then keeps them all as they are
# (`custom`) unless the coach names them in `override`: athletes' changes are never overwritten
# on a guess; a preview shows what a sync would take.
_CUSTOMISED = """
UPDATE sessions s SET customised = true
FROM programs p
WHERE s.program_id = p.id AND p.source_program_id IS NOT NULL AND p.version > 1
  AND s.origin_id IS NOT NULL
"""
_REMOVED = """
UPDATE programs p SET removed_origins = (
    SELECT coalesce(jsonb_agg(source.id::text ORDER BY source.id), '[]'::jsonb)
    FROM sessions source
    WHERE source.program_id = p.source_program_id
      AND NOT EXISTS (
          SELECT 1 FROM sessions mine WHERE mine.program_id = p.id AND mine.origin_id = source.id
      )
)
WHERE p.source_program_id IS NOT NULL AND p.version > 1
"""
_UNKNOWN = """
UPDATE programs p SET origins_known = false
WHERE p.source_program_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM sessions s WHERE s.program_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.program_id = p.id AND s.origin_id IS NOT NULL)
"""


async def recover(connection: Connection) -> None:
    """Set the origins of every copy whose copy command the inbox knows, mark what a changed
    copy may have customised or removed, and mark the copies whose origins are unknown."""
    commands: dict[UUID, list[UUID]] = {}
    for row in await connection.fetch(_COPY_COMMANDS):
        commands.setdefault(row["source_id"], []).append(row["command_id"])
    for source_id, command_ids in commands.items():
        entities = await connection.fetch(_ENTITIES, source_id)
        for kind, table in _TABLES.items():
            ids: list[UUID] = []
            origins: list[UUID] = []
            for row in entities:
                if row["kind"] != kind:
                    continue
                name = str(row["id"])
                for command_id in command_ids:
                    ids.append(uuid5(command_id, name))
                    origins.append(row["id"])
            if ids:
                await connection.execute(_SET_ORIGINS.format(table=table), ids, origins, source_id)
    await connection.execute(_CUSTOMISED)
    await connection.execute(_REMOVED)
    await connection.execute(_UNKNOWN)
