"""The bench's soak verdicts (every minute from minute 5 within ±20 % of the median minute) and
its picture: a panel for each kind of data the run has, none for what it lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.loads import steadiness
from bench.report import plot


def samples(minutes: int, p99: float = 40.0, rss: float = 90.0, cpu: float = 30.0) -> list[Any]:
    return [
        {
            "at_seconds": 10.0 * (n + 1),
            "p99_ms": p99,
            "rss_mb": rss,
            "broker_cpu_percent": cpu,
            "outbox_rows": 0,
            "inbox_rows": 0,
        }
        for n in range(minutes * 6)
    ]


def test_a_flat_soak_is_steady_from_minute_five() -> None:
    found = steadiness(samples(30), 1800)
    assert found["from_seconds"] == 300
    assert found["minutes"] == 25
    for metric in ("p99_ms", "rss_mb", "broker_cpu_percent"):
        assert found[metric]["steady"], metric


def test_a_minute_off_by_more_than_a_fifth_is_not_steady_but_the_warm_up_does_not_count() -> None:
    run = samples(30)
    for sample in run[:30]:  # the first five minutes: warming up, ignored
        sample["p99_ms"] = 900.0
    assert steadiness(run, 1800)["p99_ms"]["steady"]
    for sample in run[-6:]:  # the last minute: the broker grew slower
        sample["broker_cpu_percent"] = 37.0
    verdict = steadiness(run, 1800)
    assert not verdict["broker_cpu_percent"]["steady"]
    assert verdict["broker_cpu_percent"]["max"] == 37.0
    assert verdict["rss_mb"]["steady"]


def test_one_slow_slice_in_a_minute_does_not_move_its_median_p99() -> None:
    run = samples(10)
    run[40]["p99_ms"] = 5000.0
    assert steadiness(run, 600)["p99_ms"]["steady"]


def test_the_picture_has_the_soak_without_rates_and_nothing_without_either(tmp_path: Path) -> None:
    run = samples(12)
    report = {
        "settings": {"broker": "Apache Kafka 4.1.2"},
        "open_loop": [],
        "soak": {"rate": 200, "samples": run, "steady": steadiness(run, 720)},
    }
    plot(report, tmp_path / "soak.png")
    assert (tmp_path / "soak.png").stat().st_size > 10_000
    plot({"open_loop": []}, tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()
