"""Shared base for every wire model: camelCase on the wire, snake_case in Python, strict types."""

from __future__ import annotations

from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError


class WireModel(BaseModel):
    """A JSON object of the contract: unknown fields are errors, types are not coerced."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
        allow_inf_nan=False,
        ser_json_inf_nan="null",
        # Every field is serialised, defaults included: the published schemas say so.
        json_schema_serialization_defaults_required=True,
    )

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready dict exactly as it goes on the wire."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


Location = tuple[str | int, ...]


def fail_at(location: Location, reason: str, value: Any) -> NoReturn:
    """Raise a validation error that points at `location` (wire names) below the current model."""
    raise ValidationError.from_exception_data(
        "contract",
        [
            InitErrorDetails(
                type=PydanticCustomError("contract_rule", "{reason}", {"reason": reason}),
                loc=location,
                input=value,
            )
        ],
    )
