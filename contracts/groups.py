"""Group-level settings of a superset or circuit: rounds, rest, notes and (v1.1) its format."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from contracts.base import WireModel


class GroupFormat(StrEnum):
    """How a group is performed: `rounds` (the v1 meaning), or a timed format."""

    ROUNDS = "rounds"
    EMOM = "emom"
    AMRAP = "amrap"
    FOR_TIME = "forTime"
    TABATA = "tabata"
    INTERVAL = "interval"


Rounds = Annotated[int, Field(ge=1, le=20)]
RestBetweenRoundsSeconds = Annotated[int, Field(ge=0, le=3600)]
GroupNotes = Annotated[str, Field(max_length=500)]
TimeCapSeconds = Annotated[int, Field(ge=1, le=7200)]
IntervalSeconds = Annotated[int, Field(ge=1, le=3600)]
IntervalRestSeconds = Annotated[int, Field(ge=0, le=3600)]


class GroupSettingsInput(WireModel):
    """The settings a command or snapshot may give a group; in `group.update` an absent field is
    kept and null clears it (a cleared `format` is `rounds` again)."""

    rounds: Rounds | None = None
    rest_between_rounds_seconds: RestBetweenRoundsSeconds | None = None
    notes: GroupNotes | None = None
    format: GroupFormat | None = None
    time_cap_seconds: TimeCapSeconds | None = None
    interval_seconds: IntervalSeconds | None = None
    interval_rest_seconds: IntervalRestSeconds | None = None


GROUP_SETTINGS = frozenset(GroupSettingsInput.model_fields)
