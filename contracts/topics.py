"""Topic names of the contract, derived from one prefix (default `program-builder`)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "program-builder"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = DEFAULT_PREFIX

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def command_results(self) -> str:
        return f"{self.prefix}.command-results"

    @property
    def prescription_updated(self) -> str:
        return f"{self.prefix}.prescription-updated"

    @property
    def session_updated(self) -> str:
        return f"{self.prefix}.session-updated"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.commands.dlq"

    @property
    def program_updated(self) -> str:
        """v1.1: program snapshots, keyed by programId."""
        return f"{self.prefix}.program-updated"

    def all(self) -> tuple[str, ...]:
        return (
            self.commands,
            self.command_results,
            self.prescription_updated,
            self.session_updated,
            self.dead_letters,
            self.program_updated,
        )
