"""``benchmark --report --column NAME=DIR[,DIR...] ...``: several runners' records side by side.

Each column is one runner; a task's runs come from the first of its folders that has that task, so
a per-task recipe column can take the tasks whose recipe is the shared one from the shared runs
instead of running them twice. Cells are percent: median over seeds (mean ± std); a collapsed run
(one class predicted, a constant output) is named in its cell. A task with an adversarial dev set
(WNLI) is marked so, with its majority-class baseline beside it, computed from its dev labels.

Below the table: the GLUE average of the medians over the tasks every column has, without the
adversarial ones (the headline, as the GLUE and BERT papers report WNLI apart), then with them; each
column's median minus the first column's, against the larger of the two standard deviations; and for
an adversarial task, each column's median against the majority class.
"""

from __future__ import annotations

from pathlib import Path

from glue_lit.benchmark.baselines import majority_class
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


def table(columns: dict[str, dict], tasks: list[str], majority: dict[str, dict]) -> list[str]:
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
            name, label = task, metric_label(key)
            if task in majority:
                name = f"{task} (adversarial dev set)"
                label += f"; majority class {majority[task][key]:.2f}"
            lines.append(f"| {name} | {label} | "
                         + " | ".join(cell(e, key, seeds) for e in entries)
                         + f" | {','.join(map(str, seeds))} | {steps} |")
    return lines


def averages(columns: dict[str, dict], common: list[str]) -> list[str]:
    """The headline average without the adversarial tasks, then (when there are any) with them."""
    rest = [t for t in common if not get_task(t).adversarial_dev]
    left_out = [t for t in common if t not in rest]
    headline = f"GLUE average of the medians over {', '.join(rest)}"
    if left_out:
        headline += f" (without {', '.join(left_out)}: adversarial dev set)"
    lines = []
    for tasks, head in ((rest, headline), (common if left_out else [],
                                           f"With {', '.join(left_out)} (over {', '.join(common)})")):
        if tasks:
            lines += ["", f"{head}:"]
            lines += [f"- {n}: {glue_average({t: s[t] for t in tasks}):.2f}" for n, s in columns.items()]
    return lines


def differences(columns: dict[str, dict], common: list[str]) -> list[str]:
    """Each column's median minus the first column's, per task, against the larger std."""
    first, *others = columns
    lines = []
    for n in others:
        lines += ["", f"{n} minus {first} (median, main metric; the larger std of the two):"]
        for task in (t for t in common if not get_task(t).adversarial_dev):
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


def against_majority(columns: dict[str, dict], tasks: list[str], majority: dict[str, dict]) -> list[str]:
    """An adversarial task's criterion: each column's median against the majority class."""
    lines = []
    for task in tasks:
        key = get_task(task).monitor_key
        base = majority[task][key]
        lines += ["", f"{task} {metric_label(key)} against its majority class ({base:.2f}; the dev set is "
                  "adversarial), median:"]
        for n, stats in columns.items():
            entry = stats.get(task)
            if entry is None or key not in entry["best"]:
                continue
            s = entry["best"][key]
            verdict = "at or above the majority class" if s["median"] >= base else "below the majority class"
            bad = entry["best_collapsed"]
            if bad:
                verdict += f", with collapsed runs (seeds {', '.join(map(str, bad))})"
            diff = s["median"] - base
            lines.append(f"- {n}: {s['median']:.2f} (std {s['std']:.2f}): {diff:+.2f}, {verdict}")
    return lines


def render_columns(specs: list[str], tasks: str | None = None, data_dir: str | None = None) -> str:
    """The side-by-side table of ``--column`` specs over ``tasks`` (default: every task found);
    ``data_dir``: the GLUE folder an adversarial task's dev labels are read from (default ``$GLUE_DIR``,
    else the Hub)."""
    columns = dict(load_column(spec) for spec in specs)
    wanted = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else list(TASKS)
    found = [t for t in wanted if any(t in stats for stats in columns.values())]
    common = [t for t in found if all(t in stats for stats in columns.values())]
    adversarial = [t for t in found if get_task(t).adversarial_dev]
    majority = {t: majority_class(get_task(t), data_dir) for t in adversarial}
    lines = [*table(columns, found, majority), *averages(columns, common), *differences(columns, common),
             *against_majority(columns, adversarial, majority)]
    return "\n".join(lines) + "\n"
