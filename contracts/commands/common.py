"""What the command families share: a program's limits, the envelope every command carries, and
the field types of more than one family."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field, StringConstraints

from contracts.base import WireModel, fail_at

MAX_WEEKS = 52
MAX_SESSIONS_PER_PROGRAM = 50
MAX_GROUPS_PER_SESSION = 60
MAX_EXERCISES_PER_GROUP = 12
MAX_COMMAND_BYTES = 256 * 1024

TenantId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Position = Annotated[int, Field(ge=0)]
Week = Annotated[int, Field(ge=0, le=MAX_WEEKS - 1)]


def check_distinct_weeks(weeks: list[int], field: str) -> None:
    """Refuse a week given twice, at the path of its second appearance."""
    seen: set[int] = set()
    for at, week in enumerate(weeks):
        if week in seen:
            fail_at((field, at), f"week {week} is given more than once", week)
        seen.add(week)


class CommandEnvelope(WireModel):
    """Fields every command carries.

    A command type is this envelope around its body, declared in one line that also says whether
    the body may stand in a `batch`: `class X(CommandEnvelope, XBody, in_batch=True): ...`.
    """

    in_batch: ClassVar[bool]
    body: ClassVar[type[WireModel]]

    command_id: UUID
    tenant_id: TenantId
    program_id: UUID
    expected_version: Annotated[int, Field(ge=0)] | None = None
    issued_at: AwareDatetime | None = None

    def __init_subclass__(cls, *, in_batch: bool, **kwargs: Any) -> None:
        # Required, so that no command type can leave its batch membership unsaid.
        super().__init_subclass__(**kwargs)
        bases = cls.__bases__
        body = bases[-1]
        if bases[0] is not CommandEnvelope or len(bases) != 2 or not issubclass(body, WireModel):
            raise TypeError(f"declare {cls.__name__} as (CommandEnvelope, its body, in_batch=...)")
        cls.in_batch = in_batch
        cls.body = body
