"""The bench's report: targets as ratios to the floor measured in the same run, the table it prints
and the latency plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.process.metrics import STAGES

RESULTS = Path(__file__).resolve().parent / "results"


RESULTS = Path(__file__).resolve().parent / "results"
# Ratios measured in the same run, not absolute times: this box is shared and noisy.
TARGETS = {
    "series_vs_pgbench_tps": (">=", 1.2),
    "editor_vs_pgbench_tps": (">=", 1.0),
    "p50_at_500_vs_floor": ("<=", 1.5),
    "p99_at_500_vs_floor": ("<=", 2.0),
    "peak_rss_mb": ("<=", 200.0),
    "import_prescriptions_vs_pgbench_tps": (">=", 2.0),
}


def import_anchor(report: dict[str, Any]) -> float | None:
    """pgbench tps around the import: the mean of the runs before and right after it."""
    runs = [
        run["tps"]
        for run in (report.get("pgbench"), report.get("pgbench_after_import"))
        if run is not None
    ]
    return sum(runs) / len(runs) if runs else None


def ratio(value: float | None, anchor: float | None) -> float | None:
    return round(value / anchor, 2) if value is not None and anchor else None


def evaluate(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tps = (report.get("pgbench") or {}).get("tps")
    closed = {r["mix"]: r["commands_per_second"] for r in report["closed_loop"]}
    at = {r["offered_per_second"]: r for r in report["open_loop"]}
    at_500 = at.get(500)
    values = {
        "series_vs_pgbench_tps": ratio(closed.get("series"), tps),
        "editor_vs_pgbench_tps": ratio(closed.get("editor"), tps),
        "p50_at_500_vs_floor": ratio(at_500["result"]["p50_ms"], at_500["floor"]["p50_ms"])
        if at_500
        else None,
        "p99_at_500_vs_floor": ratio(at_500["result"]["p99_ms"], at_500["floor"]["p99_ms"])
        if at_500
        else None,
        "peak_rss_mb": report["service_peak_rss_mb"],
        "import_prescriptions_vs_pgbench_tps": ratio(
            report["import"]["prescriptions_per_second"], import_anchor(report)
        )
        if "import" in report
        else None,
    }
    out = {}
    for name, (op, target) in TARGETS.items():
        value = values[name]
        passed = value is not None and (value >= target if op == ">=" else value <= target)
        out[name] = {"value": value, "target": f"{op} {target:g}", "pass": passed}
    within = [
        rate
        for rate, r in at.items()
        if r["result"].get("p99_ms", float("inf")) <= 2 * r["floor"]["p99_ms"]
    ]
    out["highest_rate_p99_within_2x_floor"] = {
        "value": max(within) if within else None,
        "target": "reported",
        "pass": True,
    }
    if "templates" in report:
        out |= template_targets(report["templates"])
    if "soak" in report:
        soak = report["soak"]
        steady = soak["steady"]
        for metric, name in (
            ("p99_ms", "soak_p99_steady"),
            ("rss_mb", "soak_service_rss_steady"),
            ("broker_cpu_percent", "soak_broker_cpu_steady"),
        ):
            if metric in steady:
                found = steady[metric]
                out[name] = {
                    "value": f"{found['min']}..{found['max']} (median {found['median']})",
                    "target": f"every minute from {steady['from_seconds']} s within ±20 %",
                    "pass": found["steady"],
                }
        out["soak_kept_up"] = {
            "value": "stopped early" if soak["stopped_early"] else f"{soak['seconds']:g} s",
            "target": f"{soak['rate']}/s held for the whole soak",
            "pass": not soak["stopped_early"],
        }
    return out


TEMPLATE_TARGETS = {
    "sync_vs_copy": ("program.sync", 3.0),
    "revert_vs_copy": ("program.revert", 3.0),
}
"""A sync, and a revert, of a 6-session, 8-week copy: at most 3 times the service CPU of
the program.copy that made it."""


def template_targets(templates: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rounds = {r["command"]: r for r in templates["rounds"]}
    out = {}
    for name, (command, target) in TEMPLATE_TARGETS.items():
        value = templates.get(name)
        every = [rounds.get(c) for c in ("program.copy", command)]
        applied = all(r is not None and r["applied"] == r["commands"] for r in every)
        out[f"{name}_cpu_per_command"] = {
            "value": value if applied else f"{value} (not every command applied)",
            "target": f"<= {target:g}",
            "pass": applied and value is not None and value <= target,
        }
    return out


def templates_table(report: dict[str, Any]) -> list[str]:
    t = report["templates"]
    shape = t["template"]
    lines = [
        f"templates: a template of {shape['sessions']} sessions, {shape['exercises']}"
        f" exercises, {shape['weeks']} weeks ({shape['prescriptions']} prescriptions),"
        f" {t['copies']} copies; service CPU counted until what a round sent is published",
        f"  (cpu ms/cmd as for the closed loops; net: less the idle service's"
        f" {t['idle_cpu_percent']} % of a core over the same time; x copy of the net figure)",
        f"  {'command':<15} {'commands':>9} {'applied':>8} {'cmd/s':>8} {'cpu ms/cmd':>11}"
        f" {'net':>8} {'x copy':>7} {'at result':>10} {'versions':>9} {'B/version':>10}",
    ]
    net = "service_cpu_ms_per_command_net_of_idle"
    copy_ms = next((r[net] for r in t["rounds"] if r["command"] == "program.copy"), None)
    for r in t["rounds"]:
        grown = r.get("history") or {}
        versus = ratio(r[net], copy_ms)
        lines.append(
            f"  {r['command']:<15} {r['commands']:>9} {r['applied']:>8}"
            f" {r['commands_per_second']:>8} {r['service_cpu_ms_per_command']:>11}"
            f" {r[net]:>8} {versus if versus is not None else '-':>7}"
            f" {r['service_cpu_ms_per_command_at_last_result']:>10}"
            f" {grown.get('versions_added', '-'):>9}"
            f" {grown.get('bytes_per_added_version') or '-':>10}"
        )
        rss, peak = r["service_rss_mb"], r["service_peak_rss_mb"]
        lines.append(
            f"    service RSS {rss[0]} -> {rss[1]} MB, peak so far {peak[0]} -> {peak[1]} MB"
        )
        if r.get("settled_after_last_result_seconds") is None:
            lines.append("    the service was still busy 60 s after the last result")
        if "first_rejection" in r:
            lines.append(f"    {r['rejected']} rejected, first: {r['first_rejection']}")
        if "sync_reports" in r:
            lines.append(
                "    sync reports: "
                + "; ".join(f"{n} x ({states})" for states, n in r["sync_reports"].items())
            )
    lines.append(
        f"  gross ratios (cpu ms/cmd): sync {t.get('sync_vs_copy_gross')} x copy,"
        f" revert {t.get('revert_vs_copy_gross')} x copy"
    )
    checks = t["checks"]
    if checks:
        lines.append(
            "  checks on one copy: "
            + ", ".join(f"{name} {value}" for name, value in checks.items())
        )
    lines.append(
        f"  one program as stored: template {shape['row_bytes']:,} B,"
        f" a copy {t.get('copy_row_bytes', 0):,} B (its rows, without indexes)"
    )
    return lines


def history_table(report: dict[str, Any]) -> list[str]:
    kept = report["history"]
    lines = [
        "kept versions (program_history: one row per program version after its first;"
        " bytes as stored)",
        f"  {'after':<36} {'versions':>9} {'bytes':>12} {'B/version':>10}"
        f" {'+versions':>10} {'+B/version':>11} {'+B/cmd':>8}",
    ]
    for x in kept["snapshots"]:
        lines.append(
            f"  {x['after']:<36} {x['versions']:>9} {x['bytes']:>12,}"
            f" {x['bytes_per_version'] or '-':>10} {x.get('versions_added', '-'):>10}"
            f" {x.get('bytes_per_added_version') or '-':>11} {x.get('bytes_per_command', '-'):>8}"
        )
    tables = kept["tables"]
    if tables:
        lines.append(
            "  tables (pg_total_relation_size: heap, TOAST, indexes): "
            + ", ".join(
                f"{name} {found['bytes'] / 2**20:.1f} MB ({found['rows']:,} rows)"
                for name, found in tables.items()
            )
        )
        lines.append(
            "  of which heap / TOAST / indexes, and the rows' own bytes (MB): "
            + ", ".join(
                f"{name} {found['heap'] / 2**20:.1f} / {found['toast'] / 2**20:.1f} /"
                f" {found['indexes'] / 2**20:.1f}, {found['row_bytes'] / 2**20:.1f}"
                for name, found in tables.items()
            )
        )
    kept_table = tables.get("program_history", {})
    if "n_tup_ins" in kept_table:
        lines.append(
            f"  program_history rows: {kept_table['n_tup_ins']:,} inserted,"
            f" {kept_table['n_tup_del']:,} pruned (past 100 versions),"
            f" {kept_table['n_dead_tup']:,} dead and not vacuumed yet (in its heap)"
        )
    if kept.get("history_vs_program_tables") is not None:
        lines.append(
            f"  program_history {kept['history_bytes'] / 2**20:.1f} MB ="
            f" {kept['history_vs_program_tables']:.2f} x the program tables"
            f" ({kept['program_tables_bytes'] / 2**20:.1f} MB)"
        )
    return lines


def table(report: dict[str, Any]) -> str:
    lines = [
        "closed loop (as fast as it goes)",
        f"  {'mix':<8} {'commands':>9} {'cmd/s':>9} {'cpu ms/cmd':>11} {'ratio to pgbench':>17}",
    ]
    tps = (report.get("pgbench") or {}).get("tps")
    for r in report["closed_loop"]:
        versus = f"{r['commands_per_second'] / tps:.2f}" if tps else "n/a"
        lines.append(
            f"  {r['mix']:<8} {r['commands']:>9} {r['commands_per_second']:>9} "
            f"{r['service_cpu_ms_per_command']:>11} {versus:>17}"
        )
    if report.get("instances"):
        lines.append("series closed loop with N service processes in one consumer group:")
        for row in report["instances"]:
            versus = f"{row['commands_per_second'] / tps:.2f}" if tps else "n/a"
            lines.append(
                f"  {row['instances']} instance(s): {row['commands_per_second']:>9} cmd/s,"
                f" {row['service_cpu_ms_per_command']} ms CPU/cmd, {versus} x pgbench tps"
            )
    lines += [
        "open loop, editor mix: ms from scheduled send to result, and as a multiple of the floor",
        "  (floor = 2 broker hops measured at the same rate with the same client settings,",
        "   + pgbench's average commit latency on the same PostgreSQL)",
        f"  {'offered/s':>9} {'hop p50':>8} {'hop p99':>8} {'floor p50':>10} {'floor p99':>10}"
        f" {'p50':>8} {'x floor':>8} {'p99':>8} {'x floor':>8} {'max':>8} {'→event p99':>11}",
    ]
    for r in report["open_loop"]:
        res, ev, hop, floor = r["result"], r["prescription_updated"], r["broker_hop"], r["floor"]
        lines.append(
            f"  {r['offered_per_second']:>9} {hop['p50_ms']:>8} {hop['p99_ms']:>8}"
            f" {floor['p50_ms']:>10} {floor['p99_ms']:>10} {res['p50_ms']:>8}"
            f" {ratio(res['p50_ms'], floor['p50_ms']):>8} {res['p99_ms']:>8}"
            f" {ratio(res['p99_ms'], floor['p99_ms']):>8} {res['max_ms']:>8}"
            f" {ev.get('p99_ms', '-'):>11}"
        )
    lines += [
        "where the time goes (service stages, from its program_builder_stage_seconds; the",
        "  outbound hop from each result's record timestamp): mean ms (p50 bucket bound)",
        "  " + f"{'offered/s':>9}" + "".join(f" {stage:>15}" for stage in (*STAGES, "result hop")),
    ]
    for r in report["open_loop"]:
        stages = r.get("stages", {})
        cells = [
            f"{stages[stage]['mean_ms']} ({stages[stage]['p50_under_ms']:g})"
            if stage in stages
            else "-"
            for stage in STAGES
        ]
        hop = r.get("result_hop", {})
        cells.append(f"p50 {hop.get('p50_ms', '-')}")
        lines.append(f"  {r['offered_per_second']:>9}" + "".join(f" {c:>15}" for c in cells))
    lines += [
        "CPU % of one core, by process, during the hop and during the service's run at a rate",
        "  (this box has 2 cores, 200 % in all)",
    ]
    for r in report["open_loop"]:
        for phase, used in (("hop", r["broker_hop"]), ("service", r)):
            if "cpu_percent" in used:
                shares = used["cpu_percent"]
                lines.append(
                    f"  {r['offered_per_second']:>9} {phase:<8} "
                    + " ".join(f"{name} {value:>3}" for name, value in shares.items())
                    + f"  total {sum(shares.values()):>3}"
                )
    if "import" in report:
        imported = report["import"]
        anchor = import_anchor(report)
        versus = f"{imported['prescriptions_per_second'] / anchor:.2f}" if anchor else "n/a"
        lines += [
            f"bulk import (program-builder import, {imported['programs']} legacy programs, "
            f"{imported['prescriptions']} prescriptions, --in-flight {imported['in_flight']}):",
            f"  {imported['seconds']} s: {imported['programs_per_second']} programs/s, "
            f"{imported['prescriptions_per_second']} prescriptions/s, "
            f"{versus} x pgbench tps (mean of before and after: {anchor or 0:.0f}); "
            f"{imported['summary']}",
            "  stages: "
            + ", ".join(
                f"{stage} {values['mean_ms']} ms x{values['count']}"
                for stage, values in imported["stages"].items()
            ),
        ]
        if "cpu_percent" in imported:
            lines.append(
                "  CPU %: " + " ".join(f"{k} {v}" for k, v in imported["cpu_percent"].items())
            )
    if "templates" in report:
        lines += templates_table(report)
    if "history" in report:
        lines += history_table(report)
    lines.append(f"service peak RSS: {report['service_peak_rss_mb']} MB")
    if "soak" in report:
        soak = report["soak"]
        lines.append(f"soak at {soak['rate']}/s for {soak['seconds']:g} s (10 s slices):")
        lines.append(
            f"  {'at s':>6} {'rss MB':>7} {'p99 ms':>7} {'outbox':>8} {'inbox':>8}"
            f" {'broker CPU %':>13} {'broker MB':>10}"
        )
        lines += [
            f"  {x['at_seconds']:>6} {x['rss_mb']:>7} {x['p99_ms']:>7}"
            f" {x['outbox_rows']:>8} {x['inbox_rows']:>8}"
            f" {x.get('broker_cpu_percent', '-'):>13} {x.get('broker_rss_mb', '-'):>10}"
            for x in soak["samples"]
        ]
    if tps:
        bench = report["pgbench"]
        lines.append(
            f"pgbench: {tps:.0f} tps, {bench['latency_average_ms']} ms average ({bench['command']})"
        )
        if "pgbench_after_import" in report:
            after = report["pgbench_after_import"]["tps"]
            lines.append(f"pgbench right after the import: {after:.0f} tps")
    lines.append("targets:")
    for name, check in report["targets"].items():
        verdict = "PASS" if check["pass"] else "FAIL"
        lines.append(f"  {verdict} {name}: {check['value']} (target {check['target']})")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency over time at each offered rate (when the run had rates) and the soak's p99,
    service RSS and broker CPU over time (when it had a soak): one panel per kind of data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [name for name in ("rates", "soak") if _has(report, name)]
    if not panels:
        return
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 5 * len(panels)), squeeze=False)
    for axis, panel in zip(axes[:, 0], panels, strict=True):
        (_plot_rates if panel == "rates" else _plot_soak)(axis, report)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _has(report: dict[str, Any], panel: str) -> bool:
    if panel == "rates":
        return any(r["timeline"] for r in report.get("open_loop", []))
    return bool(report.get("soak", {}).get("samples"))


def _plot_rates(axis: Any, report: dict[str, Any]) -> None:
    for r in report["open_loop"]:
        xs, ys = zip(*r["timeline"], strict=True) if r["timeline"] else ((), ())
        axis.plot(
            xs, [y * 1000 for y in ys], ".", markersize=2, label=f"{r['offered_per_second']}/s"
        )
    axis.set_xlabel("seconds into the run")
    axis.set_ylabel("produce → result latency (ms)")
    axis.set_yscale("log")
    axis.legend()
    axis.set_title("Program Builder: latency over time at fixed offered rates (editor mix)")


def _plot_soak(axis: Any, report: dict[str, Any]) -> None:
    soak = report["soak"]
    samples = soak["samples"]
    minutes = [x["at_seconds"] / 60 for x in samples]
    axis.plot(minutes, [x["p99_ms"] for x in samples], color="tab:red", label="result p99 (ms)")
    axis.set_xlabel("minutes into the soak")
    axis.set_ylabel("p99 of each 10 s slice (ms)", color="tab:red")
    axis.set_yscale("log")
    other = axis.twinx()
    other.plot(minutes, [x["rss_mb"] for x in samples], color="tab:blue", label="service RSS (MB)")
    if any("broker_cpu_percent" in x for x in samples):
        other.plot(
            minutes,
            [x.get("broker_cpu_percent") for x in samples],
            color="tab:green",
            label="broker CPU (% of a core)",
        )
    other.set_ylabel("service RSS (MB) · broker CPU (%)")
    other.set_ylim(bottom=0)
    start = soak["steady"]["from_seconds"] / 60
    axis.axvline(start, color="grey", linestyle=":", label="steady from here")
    lines = axis.get_legend_handles_labels()
    more = other.get_legend_handles_labels()
    axis.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    axis.set_title(
        f"Soak at {soak['rate']} commands/s on {report['settings']['broker']}", fontsize=10
    )
