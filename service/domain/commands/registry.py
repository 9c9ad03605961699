"""One table from command type to what it needs: the prescriptions it reads, the ids it creates,
and the function that applies it. Each command family registers its types with `@handles`.

A new command type touches its contract model, one family module and their tests; the service
layer asks this table (`reads_of`, `ids_created_by`) and never names a command type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from service.domain.changes import Changes
from service.domain.history import Undo
from service.domain.ids import IdDeriver
from service.domain.model import Program


def _none(program_id: UUID) -> None:
    return None


def _no_history(program_id: UUID) -> Iterable[Undo]:
    return ()


@dataclass(frozen=True, slots=True)
class Context:
    """What a command may know besides the program: the time, which ids are taken elsewhere,
    the other programs it reads (a copy's source: `Reads.source`) and a program's
    history (`Reads.history`)."""

    now: datetime
    id_taken: Callable[[UUID], bool]
    program_of: Callable[[UUID], Program | None] = _none
    history_of: Callable[[UUID], Iterable[Undo]] = _no_history


@dataclass(slots=True)
class Step:
    """What a handler works with besides the program and its body."""

    changes: Changes
    context: Context
    ids: IdDeriver
    # A command that makes another program (program.copy) leaves it here: that program is then
    # what `changes` describe and what gets written, and the command's own program is unchanged.
    output: Program | None = None
    # What the result adds (program.sync's `sync`), and a command that only reports (a dry
    # run): nothing of it is then written or announced, and the version stays.
    report: dict[str, Any] | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Reads:
    """The stored prescriptions a command reads before it can apply (beyond the structure)."""

    exercises: frozenset[UUID] = frozenset()
    whole_program: bool = False
    source: bool = False  # Also the whole program the copy was made from
    history: bool = False  # Also the program's kept versions

    def __or__(self, other: Reads) -> Reads:
        return Reads(
            self.exercises | other.exercises,
            self.whole_program or other.whole_program,
            self.source or other.source,
            self.history or other.history,
        )


NOTHING = Reads()
WHOLE_PROGRAM = Reads(whole_program=True)


def exercises(*ids: UUID) -> Reads:
    return Reads(frozenset(ids))


def sessions(
    program: Program,
    session_ids: Iterable[UUID | None] = (),
    *,
    holding: Iterable[UUID | None] = (),
) -> Reads:
    """Every exercise of the named sessions and of those holding the named groups or program
    exercises: a structure change there can shift, and so re-announce, any of them."""
    wanted = set(session_ids)
    members = set(holding)
    found: set[UUID] = set()
    for session in program.sessions:
        if session.id not in wanted and not any(
            group.id in members or any(e.id in members for e in group.exercises)
            for group in session.groups
        ):
            continue
        found |= {exercise.id for exercise in session.exercises()}
    return Reads(frozenset(found))


# What most command types read, declared once for all of them.


def its_session(program: Program, body: Any) -> Reads:
    """Every exercise of the session the body names (`sessionId`)."""
    return sessions(program, [body.session_id])


def its_exercise(program: Program, body: Any) -> Reads:
    """The prescriptions of the program exercise the body names (`programExerciseId`)."""
    return exercises(body.program_exercise_id)


def whole_program(program: Program, body: Any) -> Reads:
    return WHOLE_PROGRAM


IdPaths = Iterable[tuple[str, UUID | None]]
"""Client-given ids a command creates, each with its path in the command (None: not given)."""

B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class Handler:
    """How one command type applies.

    `apply` changes the program in place. `copies` is False for commands that only replace
    immutable prescriptions (series edits) or change nothing, so no copy of the aggregate is
    needed for a rejection to leave it untouched. `versioned` is False for a command that
    changes nothing (republish): the version stays.
    """

    body: type
    apply: Callable[[Program, Any, Step], None]
    reads: Callable[[Program, Any], Reads]
    creates: Callable[[Any], IdPaths]
    creates_program: bool = False
    copies: bool = True
    versioned: bool = True
    reads_others: bool = False  # Its reads may name another program or the history


_HANDLERS: dict[type, Handler] = {}


def _no_ids(body: Any) -> IdPaths:
    return ()


def _reads_nothing(program: Program, body: Any) -> Reads:
    return NOTHING


def handles(
    body: type,
    *,
    reads: Callable[[Program, Any], Reads] = _reads_nothing,
    creates: Callable[[Any], IdPaths] = _no_ids,
    creates_program: bool = False,
    copies: bool = True,
    versioned: bool = True,
    reads_others: bool = False,
) -> Callable[[Callable[[Program, B, Step], None]], Callable[[Program, B, Step], None]]:
    """Register the decorated function as the handler of `body` (a contract body model)."""

    def register(
        function: Callable[[Program, B, Step], None],
    ) -> Callable[[Program, B, Step], None]:
        if body in _HANDLERS:
            raise TypeError(f"{body.__name__} has two handlers")
        _HANDLERS[body] = Handler(
            body, function, reads, creates, creates_program, copies, versioned, reads_others
        )
        return function

    return register


def handler_of(body: object) -> Handler:
    """The handler of a command or batch operation (a command is its body plus the envelope)."""
    for kind in type(body).__mro__:
        found = _HANDLERS.get(kind)
        if found is not None:
            return found
    raise TypeError(f"no handler for {type(body).__name__}")


def registered() -> Iterator[Handler]:
    yield from _HANDLERS.values()


def reads_of(program: Program | None, command: object) -> Reads:
    """The stored prescriptions `command` reads, judged on the stored structure of `program`.

    Loading them up front is an optimisation (one query per batch): `apply` raises
    `PrescriptionsNotLoaded` naming anything else it turns out to need."""
    if program is None:
        return NOTHING
    return handler_of(command).reads(program, command)


def reads_others(command: object) -> bool:
    """Whether `command` may read besides its own program (a copy's source, the program's
    history): asked before `reads_of`, which every command would otherwise pay for twice."""
    return handler_of(command).reads_others


def ids_created_by(command: object) -> list[tuple[str, UUID]]:
    """The client-given ids `command` creates, with their paths, to check in one query."""
    return [(path, value) for path, value in handler_of(command).creates(command) if value]
