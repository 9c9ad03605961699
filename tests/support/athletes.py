"""An athlete's resolution (maxes, training max, plate increments) for the tests of loads resolved
from it: percent of 1RM and effort."""

from __future__ import annotations

from uuid import UUID

from contracts.athletes import Athlete
from service.domain.loads import Resolution, resolution_of


def athlete(
    *maxes: tuple[UUID, float, str],
    training_max: float = 100,
    kg: float = 2.5,
    lb: float = 5,
    unit: str | None = None,
) -> Resolution:
    resolution = resolution_of(
        Athlete.model_validate(
            {
                "athleteId": "a",
                "maxes": [
                    {"exerciseId": str(e), "value": value, "unit": u} for e, value, u in maxes
                ],
                "trainingMaxPercent": training_max,
                "rounding": {"kg": kg, "lb": lb},
                "unit": unit,
            },
            strict=False,
        )
    )
    assert resolution is not None
    return resolution
