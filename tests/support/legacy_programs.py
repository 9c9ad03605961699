"""Legacy programs as the old app stored them, for the bulk import's tests and the bench: 2-5
sessions of 3-8 exercises, some in supersets, 1-4 weeks of 1-2 split rows per exercise."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any


def legacy_program(rng: random.Random, name: str = "Legacy block") -> dict[str, Any]:
    """A `"format": "legacy"` snapshot; ids from `rng`, so a seed gives the same programs."""
    weeks = rng.randint(1, 4)
    sessions = []
    for s in range(rng.randint(2, 5)):
        exercises = []
        count = rng.randint(3, 8)
        superset = 0
        order = 0
        while order < count:
            size = 1 if rng.random() < 0.6 or count - order < 2 else rng.randint(2, 3)
            size = min(size, count - order)
            superset += 1
            for member in range(size):
                exercises.append(
                    {
                        "programExerciseId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "exerciseId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "name": f"Exercise {s}.{order}",
                        "orderIndex": order,
                        "supersetGroup": superset if size > 1 else None,
                        "supersetOrder": member if size > 1 else None,
                        "prescriptionRows": [
                            {
                                "week": week,
                                "sets": rng.randint(1, 5),
                                "reps": rng.randint(3, 12),
                                "weight": rng.choice([None, 20, 40.5, 60, 80, 100, 140]),
                                "rpe": rng.choice([None, 7, 7.5, 8, 9]),
                                "restSeconds": rng.choice([None, 60, 90, 120, 180]),
                            }
                            for week in range(weeks)
                            for _ in range(rng.randint(1, 2))
                        ],
                    }
                )
                order += 1
        sessions.append(
            {
                "sessionId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "name": f"Day {s + 1}",
                "exercises": exercises,
            }
        )
    return {"format": "legacy", "name": name, "weeks": weeks, "sessions": sessions}


def prescriptions_of(snapshot: dict[str, Any]) -> int:
    """How many prescriptions the import creates: one per exercise and week with rows (and the
    week-0 one of every exercise)."""
    total = 0
    for session in snapshot["sessions"]:
        for exercise in session["exercises"]:
            total += len({row.get("week", 0) for row in exercise["prescriptionRows"]} | {0})
    return total


def import_line(
    rng: random.Random, tenant: str | None = None, program: dict[str, Any] | None = None
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "programId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "program": program if program is not None else legacy_program(rng),
    }
    if tenant is not None:
        line["tenantId"] = tenant
    return line


def write_lines(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    """JSON Lines: a dict is written as JSON, a string as it is (an unreadable line)."""
    with path.open("w") as file:
        for line in lines:
            file.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path
