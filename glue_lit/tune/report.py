"""What ``tune`` leaves in the study folder: the trial table (printed and ``trials.csv``, with a
``seed_<n>`` column per seed of ``tune.seeds``), the best trial's values as a ``fit`` config
(``best.yaml``) and Optuna's plots (``plots/*.html``).

Every worker of a study rewrites them from the storage when it stops, so the last one to stop
leaves the complete picture; files are replaced atomically, never half-written.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from glue_lit.tune.options import TuneSetup
from glue_lit.tune.space import nested


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _seed_notes(t: FrozenTrial) -> list[str]:
    """Per seed: taken from the trial this one retries, or validations that collapsed."""
    notes, reused = [], {}
    for seed, done in (t.user_attrs.get("seeds") or {}).items():
        if done.get("from_trial") is not None:
            reused.setdefault(done["from_trial"], []).append(seed)
        if done.get("collapsed"):
            notes.append(f"seed {seed}: {len(done['collapsed'])} of {len(done['curve'])} validations "
                         "collapsed, not scored")
    notes[:0] = [f"seed {', '.join(seeds)} from trial {n}" for n, seeds in reused.items()]
    return notes


def trial_rows(study: optuna.Study, keys: list[str], seeds: list[int] | None = None) -> list[dict]:
    """One row per trial: number, state, value, training steps, validations, values, each seed's
    value (with ``seeds``), note."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        notes = []
        if t.system_attrs.get("failed_trial") is not None:
            notes.append(f"retry of trial {t.system_attrs['failed_trial']}")
        notes += _seed_notes(t)
        if t.state == TrialState.FAIL:  # no reason: the heartbeat stopped, its worker died
            notes.append(t.user_attrs.get("fail_reason") or "no heartbeat: its worker died")
        elif t.state == TrialState.PRUNED and t.user_attrs.get("seeds") and t.user_attrs.get("pruned"):
            notes.append(t.user_attrs["pruned"])
        elif t.user_attrs.get("collapsed") and not t.user_attrs.get("seeds"):
            notes.append(f"{len(t.user_attrs['collapsed'])} of {t.user_attrs.get('validations', '?')} "
                         "validations collapsed, not scored")
        done = t.user_attrs.get("seeds") or {}
        rows.append({
            "trial": t.number,
            "state": t.state.name,
            "value": t.value,
            **{f"seed_{s}": (done.get(str(s)) or {}).get("value") for s in seeds or []},
            "steps": t.user_attrs.get("steps"),
            "validations": len(t.intermediate_values),
            **{k: t.params.get(k) for k in keys},
            "seconds": round(t.duration.total_seconds(), 1) if t.duration else None,
            "note": "; ".join(dict.fromkeys(notes)),
        })
    return rows


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "(no trials)"
    cols = list(rows[0])
    cells = [[_cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def best_config(study: optuna.Study, setup: TuneSetup) -> str | None:
    """The best trial's values as a ``fit`` config to put after the configs the study used."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best, folder, opts = study.best_trial, setup.folder, setup.options
    subset = opts.train_subset
    data = "the configured train split" if subset is None else (
        f"{subset:.0%} of the train split" if subset <= 1 else f"{int(subset)} train examples")
    configs = " ".join(f"--config {c}" for c in setup.fit_configs)
    value = f"{best.value:.4f}"
    if opts.seed_list:
        done = best.user_attrs.get("seeds") or {}
        each = ", ".join(f"{(done.get(str(s)) or {}).get('value', math.nan):.4f}" for s in opts.seed_list)
        value = f"{value}, the {opts.seed_score} over seeds {', '.join(map(str, opts.seed_list))} ({each})"
    header = (
        f"# Best of study {study.study_name!r}: trial {best.number}, {setup.task.monitor_key} = "
        f"{value} (trained on {data}; {len(complete)} complete trials).\n"
        f"# Train the final model on the full data, after the configs the study used:\n"
        f"#   python -m glue_lit fit {configs} --config {folder / 'best.yaml'}\n"
    )
    ordered = {k: best.params[k] for k in opts.space if k in best.params}
    return header + yaml.safe_dump(nested(ordered), sort_keys=False)


def write_plots(study: optuna.Study, folder: Path) -> list[str]:
    """Optimization history, parameter importances and intermediate values as HTML files."""
    from optuna import visualization as vis

    folder.mkdir(exist_ok=True)
    skipped = []
    plots = {
        "optimization_history": vis.plot_optimization_history,
        "param_importances": vis.plot_param_importances,
        "intermediate_values": vis.plot_intermediate_values,
    }
    for name, plot in plots.items():
        try:
            # "directory": one plotly.min.js beside the pages, which then open offline.
            tmp = folder / f".{name}.{os.getpid()}.html"
            plot(study).write_html(tmp, include_plotlyjs="directory")
            os.replace(tmp, folder / f"{name}.html")
        except (ImportError, ValueError, RuntimeError) as err:  # e.g. too few complete trials
            skipped.append(f"{name} ({str(err).splitlines()[0] if str(err) else type(err).__name__})")
    return skipped


def write_reports(study: optuna.Study, setup: TuneSetup) -> None:
    folder, task = setup.folder, setup.task
    rows = trial_rows(study, list(setup.options.space), setup.options.seed_list)
    print(format_table(rows))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["trial"])
    writer.writeheader()
    writer.writerows(rows)
    _write(folder / "trials.csv", out.getvalue())
    counts = {s.name.lower(): sum(r["state"] == s.name for r in rows) for s in TrialState}
    steps = sum(r["steps"] or 0 for r in rows)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    print(f"study {study.study_name!r}: {len(rows)} trials ({summary or 'none'}), {steps} training steps")
    best = best_config(study, setup)
    if best:
        _write(folder / "best.yaml", best)
        print(f"best trial {study.best_trial.number}: {task.monitor_key} = {study.best_value:.4f} "
              f"-> {folder / 'best.yaml'}")
    skipped = write_plots(study, folder / "plots")
    print(f"trials.csv, plots in {folder}" + (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
