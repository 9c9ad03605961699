"""The README's metric names are the ones `/metrics` serves (the service's own families)."""

from __future__ import annotations

import re
from pathlib import Path

from service.process.metrics import Metrics

README = Path(__file__).resolve().parents[3] / "README.md"


def served_families() -> set[str]:
    """Each metric family of the service's registry, by the name a scrape shows (a counter's
    with `_total`; the `_created` series that come with counters and histograms are not
    families of their own)."""
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in Metrics().registry.collect()
    }


def documented() -> set[str]:
    section = README.read_text().split("## Observability", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(program_builder_\w+)", section))


def test_every_metric_the_readme_names_is_served() -> None:
    assert documented() - served_families() == set()


def test_every_metric_served_is_in_the_readme() -> None:
    assert served_families() - documented() == set()
