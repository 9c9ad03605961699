"""Commands on the athlete of a program: assign, unassign, and set maxes.

Each changes what every relative load of the program resolves to, so each compares the resolved
loads of every prescription before and after and announces those that changed (with the
program itself, whose `program.updated` carries the athlete).
"""

from __future__ import annotations

from contracts import commands as c
from contracts.athletes import MAX_MAXES, Athlete, Max
from service.domain.commands.registry import Step, handles, whole_program
from service.domain.derived import loads_of
from service.domain.errors import InvariantViolated
from service.domain.loads import resolution_of
from service.domain.model import Program, normalized_athlete


def change_athlete(program: Program, athlete: Athlete | None, step: Step) -> None:
    """Give the program this athlete (None: a template) and announce every prescription whose
    resolved loads or warm-up sets differ: a new plate increment moves warm-ups even where
    no load is relative. Needs the whole program's prescriptions."""
    before, after = resolution_of(program.athlete), resolution_of(athlete)
    program.athlete = athlete
    step.changes.program_row = True
    for session in program.sessions:
        for exercise in session.exercises():
            for week, prescription in program.prescriptions_of(exercise.id).items():
                series = prescription.series
                if loads_of(before, exercise, series) != loads_of(after, exercise, series):
                    step.changes.series_changed(exercise.id, week)


@handles(c.ProgramAssignBody, reads=whole_program)
def program_assign(program: Program, body: c.ProgramAssignBody, step: Step) -> None:
    change_athlete(program, normalized_athlete(body.athlete), step)


def _assigned(program: Program, command: str) -> Athlete:
    if program.athlete is None:
        raise InvariantViolated(
            f"program {program.id} is a template (no athlete): {command} needs an assigned "
            "program (program.assign)"
        )
    return program.athlete


@handles(c.ProgramUnassignBody, reads=whole_program)
def program_unassign(program: Program, body: c.ProgramUnassignBody, step: Step) -> None:
    _assigned(program, "program.unassign")
    change_athlete(program, None, step)


@handles(c.MaxesSetBody, reads=whole_program)
def maxes_set(program: Program, body: c.MaxesSetBody, step: Step) -> None:
    athlete = _assigned(program, "maxes.set")
    maxes = {m.exercise_id: m for m in athlete.maxes}
    for change in body.maxes:
        if change.value is None:
            maxes.pop(change.exercise_id, None)
        else:
            assert change.unit is not None  # the contract model requires it with a value
            maxes[change.exercise_id] = Max(
                exercise_id=change.exercise_id, value=change.value, unit=change.unit
            )
    if len(maxes) > MAX_MAXES:
        raise InvariantViolated(
            f"the athlete would have {len(maxes)} maxes; an athlete holds at most {MAX_MAXES}",
            path="maxes",
        )
    change_athlete(
        program,
        normalized_athlete(athlete.model_copy(update={"maxes": list(maxes.values())})),
        step,
    )
