"""The README's results table: benchmark records of several runners side by side, per task.

Each ``--column "NAME=FOLDER[,FOLDER...]"`` is one runner; a task's runs come from the first of its
folders that has that task, so a per-task recipe column can take the tasks whose recipe is the
shared one from the shared runs instead of running them twice. Cells are percent: median over
seeds (mean ± std); a collapsed run (one class predicted, a constant output) is named in its cell.
Below the table: the GLUE average of the medians over the tasks every column has (and without WNLI,
as the BERT paper averages), and each column's median minus the first column's, against the larger
of the two standard deviations::

    python benchmarks/results_table.py \\
        --column "Trainer=benchmarks/results/trainer_recipe" \\
        --column "glue_lit=benchmarks/results/glue_lit/version_0" \\
        --column "recipes=benchmarks/results/recipes/version_0,benchmarks/results/glue_lit/version_0"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from glue_lit.benchmark.records import load_records  # noqa: E402
from glue_lit.benchmark.report import aggregate, glue_average, metric_label  # noqa: E402
from glue_lit.tasks import get_task  # noqa: E402


def column(spec: str) -> tuple[str, dict]:
    """``NAME=FOLDER[,FOLDER...]`` -> (name, per-task statistics, each task from its first folder)."""
    name, _, folders = spec.partition("=")
    if not folders:
        raise SystemExit(f"results_table.py: error: --column {spec!r}: give NAME=FOLDER[,FOLDER...]")
    stats: dict = {}
    for folder in folders.split(","):
        if not (Path(folder) / "runs").is_dir():
            raise SystemExit(f"results_table.py: error: --column {name}: no runs/ folder in {folder}")
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--column", action="append", required=True, help="NAME=FOLDER[,FOLDER...], repeated")
    p.add_argument("--tasks", default="cola,sst2,mrpc,stsb,rte,wnli")
    args = p.parse_args(argv)
    columns = dict(column(spec) for spec in args.column)
    tasks = [t for t in args.tasks.split(",") if any(t in stats for stats in columns.values())]
    names = list(columns)
    print("| task | dev metric (best validation) | " + " | ".join(f"{n}: median (mean ± std)" for n in names)
          + " | seeds | steps (" + " / ".join(names) + ") |")
    print("|---|---|" + "---|" * len(names) + "---|---|")
    for task in tasks:
        entries = [columns[n].get(task) for n in names]
        seeds = sorted({s for e in entries if e for s in e["seeds"]})
        for key in get_task(task).metric_keys[get_task(task).validation[0].name]:
            steps = " / ".join(f"{e['steps']:.0f}" if e else "-" for e in entries)
            print(f"| {task} | {metric_label(key)} | " + " | ".join(cell(e, key, seeds) for e in entries)
                  + f" | {','.join(map(str, seeds))} | {steps} |")
    common = [t for t in tasks if all(t in stats for stats in columns.values())]
    print(f"\nGLUE average of the medians over {', '.join(common)}:")
    for n in names:
        print(f"- {n}: {glue_average({t: columns[n][t] for t in common}):.2f}")
    rest = [t for t in common if t != "wnli"]
    if len(rest) < len(common) and rest:  # the BERT paper's average leaves WNLI's adversarial dev set out
        print(f"\nWithout WNLI (over {', '.join(rest)}):")
        for n in names:
            print(f"- {n}: {glue_average({t: columns[n][t] for t in rest}):.2f}")
    first = names[0]
    for n in names[1:]:
        print(f"\n{n} minus {first} (median, main metric; the larger std of the two):")
        for task in common:
            key = get_task(task).monitor_key
            a, b = columns[first][task]["best"][key], columns[n][task]["best"][key]
            diff, std = b["median"] - a["median"], max(a["std"], b["std"])
            below = "within 1 std" if -diff <= std else "BELOW by more than 1 std"
            verdict = "at or above" if diff >= 0 else below
            bad = columns[n][task]["best_collapsed"]
            if bad:
                verdict += f", with collapsed runs (seeds {', '.join(map(str, bad))})"
            print(f"- {task} {metric_label(key)}: {diff:+.2f} (std {std:.2f}): {verdict}")


if __name__ == "__main__":
    main()
