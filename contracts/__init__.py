"""Wire contract of the Program Builder service: commands, results, events and how to parse them.

Other services import these models (Python) or read the JSON Schemas in `contracts/schemas/`.
"""

from contracts.commands import COMMAND_TYPES, Command
from contracts.dlq import DeadLetterCode
from contracts.events import GroupKind, PrescriptionUpdated, ProgramUpdated, SessionUpdated
from contracts.parsing import DeadLetter, Parsed, Refused, parse_command
from contracts.results import CommandError, CommandResult, CommandStatus, ErrorCode, ErrorDetail
from contracts.series import PrescriptionSeriesData
from contracts.topics import Topics

__all__ = [
    "COMMAND_TYPES",
    "Command",
    "CommandError",
    "CommandResult",
    "CommandStatus",
    "DeadLetter",
    "DeadLetterCode",
    "ErrorCode",
    "ErrorDetail",
    "GroupKind",
    "Parsed",
    "PrescriptionSeriesData",
    "PrescriptionUpdated",
    "ProgramUpdated",
    "Refused",
    "SessionUpdated",
    "Topics",
    "parse_command",
]
