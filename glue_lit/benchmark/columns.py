"""``benchmark --report --column NAME=DIR[,DIR...] ...``: several runners' records side by side.

Each column is one runner; a task's runs come from the first of its folders that has that task, so
a per-task recipe column can take the tasks whose recipe is the shared one from the shared runs
instead of running them twice. Cells are percent: median over seeds (mean ± std); a collapsed run
(one class predicted, a constant output) is named in its cell. Below the table: the GLUE average of
the medians over the tasks every column has (and without WNLI, as the BERT paper averages), and each
column's median minus the first column's, against the larger of the two standard deviations.
"""

from __future__ import annotations

from pathlib import Path

from glue_lit.benchmark.records import load_records
from glue_lit.benchmark.report import aggregate, glue_average, metric_label
from glue_lit.errors import GlueLitError
from glue_lit.tasks import TASKS, get_task


def load_column(spec: str) -> tuple[str, dict]:
    """``NAME=DIR[,DIR...]`` -> (name, per-task statistics, each task from its first folder)."""
    name, _, folders = spec.partition("=")
    if not name or not folders:
        raise GlueLitError(f"--column {spec!r}: give NAME=DIR[,DIR...]")
    stats: dict = {}
    for folder in folders.split(","):
        if not (Path(folder) / "runs").is_dir():
            raise GlueLitError(f"--column {name}: no runs/ folder of benchmark records in {folder}")
        for task, entry in aggregate(load_records(Path(folder))).items():
            stats.setdefault(task, entry)
    return name, stats


def cell(entry: dict | None, key: str, seeds: list[int]) -> str:
    s = entry and entry["best"].get(key)
    if not s:
        return "not run"
    text = f"{s['median']:.2f} ({s['mean']:.2f} ± {s['std']:.2f})"
    if entry["seeds"] != seeds:
        text += f" seeds {','.join(map(str, entry['seeds']))} only"
    bad = entry["best_collapsed"]
    if bad:
        text += f" **{len(bad)} of {len(entry['seeds'])} collapsed** (seeds {', '.join(map(str, bad))})"
    return text


def table(columns: dict[str, dict], tasks: list[str]) -> list[str]:
    """One row per task and dev metric: each column's cell, the seeds and the median steps."""
    names = list(columns)
    lines = ["| task | dev metric (best validation) | "
             + " | ".join(f"{n}: median (mean ± std)" for n in names)
             + " | seeds | steps (" + " / ".join(names) + ") |",
             "|---|---|" + "---|" * len(names) + "---|---|"]
    for task in tasks:
        entries = [columns[n].get(task) for n in names]
        seeds = sorted({s for e in entries if e for s in e["seeds"]})
        for key in get_task(task).metric_keys[get_task(task).validation[0].name]:
            steps = " / ".join(f"{e['steps']:.0f}" if e else "-" for e in entries)
            lines.append(f"| {task} | {metric_label(key)} | "
                         + " | ".join(cell(e, key, seeds) for e in entries)
                         + f" | {','.join(map(str, seeds))} | {steps} |")
    return lines


def averages(columns: dict[str, dict], common: list[str]) -> list[str]:
    lines = ["", f"GLUE average of the medians over {', '.join(common)}:"]
    lines += [f"- {n}: {glue_average({t: stats[t] for t in common}):.2f}" for n, stats in columns.items()]
    rest = [t for t in common if t != "wnli"]
    if len(rest) < len(common) and rest:  # the BERT paper's average leaves WNLI's adversarial dev set out
        lines += ["", f"Without WNLI (over {', '.join(rest)}):"]
        lines += [f"- {n}: {glue_average({t: stats[t] for t in rest}):.2f}" for n, stats in columns.items()]
    return lines


def differences(columns: dict[str, dict], common: list[str]) -> list[str]:
    """Each column's median minus the first column's, per task, against the larger std."""
    first, *others = columns
    lines = []
    for n in others:
        lines += ["", f"{n} minus {first} (median, main metric; the larger std of the two):"]
        for task in common:
            key = get_task(task).monitor_key
            a, b = columns[first][task]["best"][key], columns[n][task]["best"][key]
            diff, std = b["median"] - a["median"], max(a["std"], b["std"])
            below = "within 1 std" if -diff <= std else "BELOW by more than 1 std"
            verdict = "at or above" if diff >= 0 else below
            bad = columns[n][task]["best_collapsed"]
            if bad:
                verdict += f", with collapsed runs (seeds {', '.join(map(str, bad))})"
            lines.append(f"- {task} {metric_label(key)}: {diff:+.2f} (std {std:.2f}): {verdict}")
    return lines


def render_columns(specs: list[str], tasks: str | None = None) -> str:
    """The side-by-side table of ``--column`` specs over ``tasks`` (default: every task found)."""
    columns = dict(load_column(spec) for spec in specs)
    wanted = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else list(TASKS)
    found = [t for t in wanted if any(t in stats for stats in columns.values())]
    common = [t for t in found if all(t in stats for stats in columns.values())]
    return "\n".join([*table(columns, found), *averages(columns, common),
                      *differences(columns, common)]) + "\n"
