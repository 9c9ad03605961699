"""The command handlers of the domain core, one module per family, and the table that names them.

`apply` is the single entry. `reads_of` and `ids_created_by` tell the service layer what to load
and which ids to check before applying, without it naming any command type.
"""

from service.domain.commands import (  # noqa: F401
    athletes,
    calendar,
    programs,
    series,
    structure,
    templates,
    weeks,
)
from service.domain.commands.dispatch import Applied, apply
from service.domain.commands.registry import (
    Context,
    Reads,
    ids_created_by,
    reads_of,
    reads_others,
)

__all__ = [
    "Applied",
    "Context",
    "Reads",
    "apply",
    "ids_created_by",
    "reads_of",
    "reads_others",
]
