"""How much training pruning saves: one tuning study with a pruner (median by default), one without.

Both studies run the same search space (configs/tune/cola.yaml by default), seed and trial count
on real CoLA with the packaged MiniLM, 1/10 of the train split and the whole dev set, through
``python -m glue_lit tune``. Printed: trials pruned, total training steps and time of each study,
the ratios, and the best dev score each found. Targets: at least a third of the pruned study's
trials pruned, and its training steps at most 60% of the unpruned study's.

    GLUE_DIR=/data/glue nice -n 5 python -m benchmarks.experiments.tune_pruning --out /tmp/tune_bench

The studies resume (``--run_dir`` of an earlier run), so they can also run side by side, then be
compared: ``--pruners median --run_dir D`` and ``--pruners none --run_dir D``, then ``--run_dir D``.
Minutes are the sum of the trials' durations, so a resumed study is timed right.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path

import optuna
from optuna.trial import TrialState

from benchmarks import REPO
from glue_lit.__main__ import main as glue_lit


def run_study(out: Path, pruner: str, args: argparse.Namespace) -> dict:
    name = f"cola_{pruner}"
    argv = [
        "tune", "--config", str(REPO / "configs" / "cola.yaml"),
        "--config", str(REPO / "configs" / "minilm.yaml"), "--config", str(args.space),
        # Unset: null, so the data module reads $GLUE_DIR (a config's own folder would win over it).
        "--data.data_dir", str(args.data_dir) if args.data_dir else "null",
        "--trainer.enable_progress_bar", "false",
        "--tune.study_dir", str(out), "--tune.study_name", name, "--tune.pruner", pruner,
        "--tune.n_trials", str(args.trials), "--tune.train_subset", str(args.train_subset),
    ]
    if glue_lit(argv) != 0:
        raise SystemExit(f"the {pruner} study failed")
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / name / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    return {
        "pruner": pruner,
        "trials": len(trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "steps": sum(t.user_attrs.get("steps", 0) for t in trials),
        "seconds": sum(t.duration.total_seconds() for t in trials if t.duration),
        "best": study.best_value,
        "best_params": study.best_params,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/glue_lit_tune_bench"))
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--train_subset", type=float, default=0.1)
    parser.add_argument("--space", type=Path, default=REPO / "configs" / "tune" / "cola.yaml")
    parser.add_argument("--data_dir", type=Path, help="GLUE folder (default: $GLUE_DIR)")
    parser.add_argument("--pruners", nargs="+", default=["median", "none"],
                        choices=["median", "hyperband", "none"], help="the pruned study first, then none")
    parser.add_argument("--run_dir", type=Path, help="resume or compare the studies of an earlier run")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # A new folder unless resuming: never mix in an earlier run's studies by accident.
    out = args.run_dir or args.out / datetime.now().strftime("run_%Y%m%d_%H%M%S")
    results = [run_study(out, pruner, args) for pruner in args.pruners]
    if len(results) < 2:
        return
    pruned, full = results
    print(f"\n{args.trials}-trial studies on CoLA, train_subset {args.train_subset}, studies in {out}")
    head = ("pruner", "trials", "pruned", "failed", "steps", "minutes", "best MCC")
    print(f"{head[0]:8} " + " ".join(f"{h:>7}" for h in head[1:]))
    for r in results:
        print(f"{r['pruner']:8} {r['trials']:7d} {r['pruned']:7d} {r['failed']:7d} {r['steps']:7d} "
              f"{r['seconds'] / 60:7.1f} {r['best']:7.4f}")
    share, ratio = pruned["pruned"] / pruned["trials"], pruned["steps"] / full["steps"]
    print(f"pruned share {share:.2f} (target >= 0.33: {'met' if share >= 1 / 3 else 'MISSED'}); "
          f"steps ratio {ratio:.2f} (target <= 0.60: {'met' if ratio <= 0.6 else 'MISSED'}); "
          f"time ratio {pruned['seconds'] / full['seconds']:.2f}")
    for r in results:
        print(f"best of {r['pruner']}: {r['best_params']}")


if __name__ == "__main__":
    main()
