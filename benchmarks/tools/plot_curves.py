"""Dev metric by epoch, per task, for each runner of one or more benchmark folders, as a PNG.

Reads the run records (``FOLDER/runs/<task>-seed<n>.json``) that ``python -m glue_lit benchmark``
writes (either runner), and draws one panel per task: for each folder (runner), the
median over seeds as a line and each seed as a faint line; validations whose predictions had
collapsed to one class are marked x. The metric is the task's monitored one (``val/mcc`` for CoLA).

    python -m benchmarks.tools.plot_curves benchmarks/results/glue_lit/version_0 \\
        benchmarks/results/trainer_recipe --out curves.png
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from glue_lit.benchmark.records import Record, load_records
from glue_lit.tasks import get_task

RUNNER_NAMES = {"glue_lit": "glue_lit", "trainer": "transformers.Trainer"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="benchmark folders (each holds runs/*.json)")
    p.add_argument("--out", type=Path, default=Path("curves.png"), help="PNG to write")
    p.add_argument("--tasks", help="comma-separated tasks to draw (default: every task found)")
    p.add_argument("--title", help="title above the panels")
    return p.parse_args(argv)


def curves(folders: list[Path], tasks: list[str] | None) -> dict[str, dict[str, list[Record]]]:
    """task -> series label -> records. A label is the runner, plus the folder where a runner
    appears in more than one folder."""
    loaded = [(folder, load_records(folder)) for folder in folders]
    runners = defaultdict(set)
    for folder, records in loaded:
        for record in records:
            runners[record.runner].add(folder)
    out: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for folder, records in loaded:
        for record in records:
            if tasks and record.task not in tasks:
                continue
            name = RUNNER_NAMES.get(record.runner, record.runner)
            label = name if len(runners[record.runner]) == 1 else f"{name} ({folder.name})"
            out[record.task][label].append(record)
    return out


def points(record: Record, key: str) -> list[tuple[float, float, bool]]:
    """(epoch, metric, collapsed) of each validation of a run that logged ``key``."""
    return [(h["epoch"], h["metrics"][key], bool(h.get("collapsed"))) for h in record.history
            if h["metrics"].get(key) is not None and h["metrics"][key] == h["metrics"][key]]


def median_curve(runs: list[list[tuple[float, float, bool]]]) -> tuple[list[float], list[float]]:
    """The median over runs at every epoch some run was validated at."""
    by_epoch = defaultdict(list)
    for run in runs:
        for epoch, value, _ in run:
            by_epoch[round(epoch, 3)].append(value)
    epochs = sorted(by_epoch)
    return epochs, [statistics.median(by_epoch[e]) for e in epochs]


def plot(data: dict[str, dict[str, list[dict]]], out: Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed (CI, clusters)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not data:
        raise SystemExit("plot_curves: no run records found (FOLDER/runs/<task>-seed<n>.json)")
    tasks = sorted(data)
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    labels = sorted({label for series in data.values() for label in series})
    colors = {label: f"C{i}" for i, label in enumerate(labels)}
    for ax, task_name in zip(axes.flat, tasks):
        key = get_task(task_name).monitor_key
        for label, records in sorted(data[task_name].items()):
            runs = [points(r, key) for r in sorted(records, key=lambda r: r.seed)]
            runs = [run for run in runs if run]
            color = colors[label]
            for run in runs:
                epochs, values, collapsed = zip(*run)
                ax.plot(epochs, values, color=color, alpha=0.25, linewidth=1)
                marked = [(e, v) for e, v, c in run if c]
                if marked:
                    ax.scatter(*zip(*marked), color=color, marker="x", alpha=0.6, s=18)
            if runs:
                epochs, medians = median_curve(runs)
                ax.plot(epochs, medians, color=color, linewidth=2.2, marker="o", markersize=3,
                        label=f"{label} (median of {len(runs)} seed{'s' * (len(runs) > 1)})")
        ax.set_title(task_name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"dev {key}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    out = plot(curves(args.folders, tasks), args.out, args.title)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
