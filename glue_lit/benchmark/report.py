"""Benchmark records -> per-task statistics over seeds -> Markdown, CSV and JSON.

Per task and runner: median, mean and standard deviation over seeds of every dev metric at the best
validation (by the task's monitored metric) and at the last one; the GLUE score from the medians;
steps and wall time; and how many seeds collapsed (one class predicted, a constant regression
output, a NaN metric), with the seeds named, so a collapsed run is never averaged in unseen.
Numbers are percent, as GLUE reports them.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from glue_lit.benchmark.records import Record
from glue_lit.benchmark.references import Reference
from glue_lit.tasks import get_task


def metric_label(key: str) -> str:
    """``val/mcc`` -> ``mcc``; ``val_matched/accuracy`` -> ``matched accuracy``."""
    prefix, name = key.split("/", 1)
    return f"{prefix.removeprefix('val').strip('_')} {name}".strip()


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def aggregate(records: list[Record]) -> dict:
    """Statistics per task over the records of one runner (``{task: {...}}``, in record order)."""
    by_task: dict[str, list[Record]] = {}
    for r in records:
        by_task.setdefault(r.task, []).append(r)
    out = {}
    for name, runs in by_task.items():
        task = get_task(name)
        runs = sorted(runs, key=lambda r: r.seed)
        entry = {"seeds": [r.seed for r in runs]}
        for at in ("best", "last"):
            keys = [k for k in (getattr(runs[0], at) or {}).get("metrics", {})]
            values = {k: [100 * getattr(r, at)["metrics"][k] for r in runs if getattr(r, at)] for k in keys}
            entry[at] = {k: _stats(v) for k, v in values.items() if v}
            entry[f"{at}_collapsed"] = {r.seed: getattr(r, at)["collapsed"] for r in runs
                                        if getattr(r, at) and getattr(r, at)["collapsed"]}
        entry["score"] = task.score({k: s["median"] for k, s in entry["best"].items()})
        entry["steps"] = statistics.median(r.steps for r in runs)
        entry["wall_s"] = statistics.median(r.wall_s for r in runs)
        entry["best_epochs"] = [r.best["epoch"] if r.best else None for r in runs]
        out[name] = entry
    return out


def glue_average(stats: dict) -> float | None:
    scores = [s["score"] for s in stats.values()]
    return sum(scores) / len(scores) if scores and None not in scores else None


def _cell(s: dict | None) -> str:
    if not s:
        return "-"
    return f"{s['median']:.2f} ({s['mean']:.2f} ± {s['std']:.2f})" if s["n"] > 1 else f"{s['median']:.2f}"


def _collapsed(entry: dict, at: str = "best") -> str:
    bad = entry[f"{at}_collapsed"]
    if not bad:
        return ""
    seeds = "; ".join(f"seed {seed}: {why}" for seed, why in bad.items())
    return f"**{len(bad)} of {len(entry['seeds'])} collapsed** ({seeds})"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _metrics(stats: dict) -> str:
    return ", ".join(f"{metric_label(k)} {_cell(s)}" for k, s in stats.items())


def runner_table(runner: str, stats: dict, references: list[Reference]) -> list[str]:
    """One row per task: best and last dev metrics over seeds, score, steps, wall time, collapses."""
    head = ["task", "seeds", "best: dev metrics", "last: dev metrics", "score", "steps", "wall s",
            "collapsed", *(f"{r.checkpoint} (published)" for r in references)]
    lines = [f"## {runner}", "", _row(head), "|" + "---|" * len(head)]
    for name, e in stats.items():
        refs = [_fmt(get_task(name).score(r.dev.get(name, {}))) for r in references]
        seeds = ",".join(map(str, e["seeds"]))
        lines.append(_row([name, seeds, _metrics(e["best"]), _metrics(e["last"]), _fmt(e["score"]),
                           f"{e['steps']:.0f}", f"{e['wall_s']:.0f}", _collapsed(e), *refs]))
    average = ["**GLUE average**", "", "", "", f"**{_fmt(glue_average(stats))}**", "", "", "",
               *(_fmt(_ref_average(r, stats)) for r in references)]
    return [*lines, _row(average), ""]


def render_markdown(runners: dict[str, dict], references: list[Reference], others: list[Reference],
                    models: list[str], command: str) -> str:
    """One table per runner, then (with two runners) the side-by-side table of monitored metrics."""
    lines = [
        "# glue_lit benchmark", "",
        f"Model: {', '.join(f'`{m}`' for m in models) or '?'}. Dev-set metrics in percent: median over "
        "seeds (mean ± standard deviation) at the best validation by the task's metric and at the last; "
        "score is the task's GLUE score from the medians (MCC for CoLA, mean of F1 and accuracy for MRPC "
        "and QQP, of Pearson and Spearman for STS-B, MNLI matched and mismatched).", "",
    ]
    for runner, stats in runners.items():
        lines += runner_table(runner, stats, references)
    if len(runners) == 2:
        lines += side_by_side(runners)
    if others:
        lines += ["## Published results of other checkpoints", "",
                  "Not this run's model: what those Hub checkpoints reach when fine-tuned.", ""]
        for r in others:
            scores = {t: get_task(t).score(d) for t, d in r.dev.items()}
            text = ", ".join(f"{t} {v:.2f}" for t, v in scores.items() if v is not None)
            lines.append(f"- `{r.checkpoint}` ({r.source}): {text}")
        lines.append("")
    lines += [f"- `{r.checkpoint}` (published): {r.source}." for r in references]
    if "\n" in command:  # runs that --resume added come after the first command, one line each
        lines += ["", "Commands:", "", *(f"- `{c}`" for c in command.splitlines()), ""]
    else:
        lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def _ref_average(ref: Reference, stats: dict) -> float | None:
    scores = [get_task(t).score(ref.dev.get(t, {})) for t in stats]
    return sum(scores) / len(scores) if scores and None not in scores else None


def side_by_side(runners: dict[str, dict]) -> list[str]:
    """task | metric | runner A median (± std) | runner B median (± std) | seeds | steps."""
    (a, sa), (b, sb) = runners.items()
    head = ["task", "metric (best validation)", f"{a} median (± std)", f"{b} median (± std)", "seeds",
            "steps"]
    lines = [f"## {a} beside {b}", "", _row(head), "|" + "---|" * len(head)]
    common = [t for t in sa if t in sb]
    for name in common:
        key = get_task(name).monitor_key
        cells = []
        for e in (sa[name], sb[name]):
            s = e["best"].get(key)
            flag = f" ({len(e['best_collapsed'])} collapsed)" if e["best_collapsed"] else ""
            spread = f"± {s['std']:.2f}" if s and s["n"] > 1 else "1 seed"
            cells.append(f"{s['median']:.2f} ({spread}){flag}" if s else "-")
        seeds = [",".join(map(str, e["seeds"])) for e in (sa[name], sb[name])]
        seeds = seeds[0] if seeds[0] == seeds[1] else " / ".join(seeds)
        steps = f"{sa[name]['steps']:.0f} / {sb[name]['steps']:.0f}"
        lines.append(_row([name, metric_label(key), *cells, seeds, steps]))
    avg = [_fmt(glue_average({t: s[t] for t in common})) for s in (sa, sb)]
    return [*lines, _row(["**GLUE average**", "score", f"**{avg[0]}**", f"**{avg[1]}**", "", ""]), ""]


def _run_metrics(record: Record, at: str) -> dict[str, float]:
    return (getattr(record, at) or {}).get("metrics") or {}


def write_csv(path: Path, records: list[Record], runners: dict[str, dict]) -> None:
    """One row per run (best and last metrics), then median/mean/std rows per runner and task."""
    keys = sorted({k for r in records for at in ("best", "last") for k in _run_metrics(r, at)})
    fields = ["row", "runner", "task", "seed", *(f"{at} {k}" for at in ("best", "last") for k in keys),
              "best epoch", "collapsed", "score", "steps", "wall_s"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        for r in records:
            row = {"row": "run", "runner": r.runner, "task": r.task, "seed": r.seed,
                   "steps": r.steps, "wall_s": r.wall_s}
            for at in ("best", "last"):
                for k, v in _run_metrics(r, at).items():
                    row[f"{at} {k}"] = round(100 * v, 4)
            if r.best:
                row["best epoch"], row["collapsed"] = r.best["epoch"], r.best["collapsed"] or ""
                row["score"] = round(100 * get_task(r.task).score(r.best["metrics"]), 4)
            writer.writerow(row)
        for runner, stats in runners.items():
            for name, e in stats.items():
                for stat in ("median", "mean", "std"):
                    seeds = ",".join(map(str, e["seeds"]))
                    row = {"row": stat, "runner": runner, "task": name, "seed": seeds}
                    for at in ("best", "last"):
                        row.update({f"{at} {k}": round(s[stat], 4) for k, s in e[at].items()})
                    if stat == "median":
                        row.update(score=_fmt(e["score"]), steps=e["steps"], wall_s=e["wall_s"],
                                   collapsed=len(e["best_collapsed"]))
                    writer.writerow(row)
