"""Rejections: each is one error code of the contract, raised before the aggregate is touched."""

from __future__ import annotations

from uuid import UUID

from contracts.results import CommandError, ErrorCode, ErrorDetail


class Rejection(Exception):
    """A command the contract refuses; it becomes a `rejected` result and changes nothing."""

    code: ErrorCode = ErrorCode.INVARIANT_VIOLATED

    def __init__(self, message: str, *, path: str = "", reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = [ErrorDetail(path=path, reason=reason or message)] if path else []

    def to_error(self) -> CommandError:
        return CommandError(code=self.code, message=self.message, details=self.details)

    def prefixed(self, prefix: str) -> Rejection:
        """The same rejection located inside a batch operation (`operations[3].`)."""
        copy = type(self)(self.message)
        copy.message = f"{prefix.rstrip('.')}: {self.message}"
        copy.details = [
            ErrorDetail(path=f"{prefix}{d.path}" if d.path else prefix.rstrip("."), reason=d.reason)
            for d in self.details
        ] or [ErrorDetail(path=prefix.rstrip("."), reason=self.message)]
        return copy


class NotFound(Rejection):
    code = ErrorCode.NOT_FOUND


class Conflict(Rejection):
    code = ErrorCode.CONFLICT


class InvariantViolated(Rejection):
    code = ErrorCode.INVARIANT_VIOLATED


class ValidationFailed(Rejection):
    code = ErrorCode.VALIDATION_FAILED


class PrescriptionsNotLoaded(Exception):
    """A command needs stored prescriptions its caller did not load: load them and apply again.

    Never a rejection: `reads_of` names what a command reads on the stored structure, and this
    covers what an earlier operation of the same batch made it need besides."""

    def __init__(self, program_exercise_id: UUID) -> None:
        super().__init__(f"prescriptions of program exercise {program_exercise_id} not loaded")
        self.program_exercise_id = program_exercise_id
