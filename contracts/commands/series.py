"""Commands that edit one prescription's series (the sets of one exercise in one week)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from contracts.base import WireModel
from contracts.commands.common import CommandEnvelope, Position, Week
from contracts.series import PrescriptionSeriesData, PrescriptionSeriesPatch, Series


class SeriesReplaceBody(WireModel):
    type: Literal["series.replace"]
    program_exercise_id: UUID
    week: Week = 0
    series: Series


class SeriesReplace(CommandEnvelope, SeriesReplaceBody, in_batch=True): ...


class SeriesAddBody(WireModel):
    type: Literal["series.add"]
    program_exercise_id: UUID
    week: Week = 0
    set: PrescriptionSeriesData
    position: Position | None = None


class SeriesAdd(CommandEnvelope, SeriesAddBody, in_batch=True): ...


class SeriesUpdateBody(WireModel):
    type: Literal["series.update"]
    program_exercise_id: UUID
    week: Week = 0
    index: Position
    set: PrescriptionSeriesPatch


class SeriesUpdate(CommandEnvelope, SeriesUpdateBody, in_batch=True): ...


class SeriesRemoveBody(WireModel):
    type: Literal["series.remove"]
    program_exercise_id: UUID
    week: Week = 0
    index: Position


class SeriesRemove(CommandEnvelope, SeriesRemoveBody, in_batch=True): ...


class SeriesMoveBody(WireModel):
    type: Literal["series.move"]
    program_exercise_id: UUID
    week: Week = 0
    from_: Annotated[Position, Field(alias="from")]
    to: Position


class SeriesMove(CommandEnvelope, SeriesMoveBody, in_batch=True): ...
