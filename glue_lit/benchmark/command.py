"""``python -m glue_lit benchmark``: parse the options, plan the runs, run what has no record yet,
write the tables (and the submission zip); or, with ``--report --column``, table several folders."""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

from glue_lit.benchmark.columns import render_columns
from glue_lit.benchmark.plan import choose_folder, plan_command
from glue_lit.benchmark.records import load_records, record_path, save_record
from glue_lit.benchmark.references import REFERENCES
from glue_lit.benchmark.report import aggregate, glue_average, render_markdown, write_csv
from glue_lit.errors import GlueLitError
from glue_lit.seeds import parse_seeds
from glue_lit.tasks import get_task

RUNNERS = ("glue_lit", "trainer")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="glue_lit benchmark",
        allow_abbrev=False,  # so `--config` goes to the CLI, not to --config_dir
        description="Fine-tune each task with configs/<task>.yaml plus the remaining options (passed to "
        "`glue_lit fit`, e.g. --config configs/minilm.yaml --trainer.max_epochs 1), once per seed, and "
        "write a table of dev results over seeds (Markdown, CSV, JSON). Started again, the same command "
        "continues where it stopped.",
    )
    parser.add_argument("--tasks", help="comma-separated tasks, e.g. cola,mrpc,stsb")
    parser.add_argument("--seeds", default="42", help="seeds: 42,43,44 or a range 42-46 (default 42)")
    parser.add_argument("--runner", choices=RUNNERS, default="glue_lit",
                        help="glue_lit: `fit` itself; trainer: the same model, data, batch size, learning "
                        "rate, epochs, weight decay and seeds through transformers.Trainer with its "
                        "defaults (the Hugging Face notebook's recipe), for a baseline")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"),
                        help="results go to a version_N folder inside (default: runs/benchmark)")
    parser.add_argument("--config_dir", type=Path, default=Path("configs"),
                        help="folder of the per-task configs <task>.yaml (default: configs)")
    parser.add_argument("--recipes", type=Path, default=None,
                        help="folder of per-task recipes <task>.yaml applied after your options "
                        "(e.g. configs/minilm)")
    parser.add_argument("--max_train", type=int, default=None,
                        help="train on a seeded subset of at most this many examples per task")
    parser.add_argument("--submission", action="store_true",
                        help="also predict the test sets and zip the GLUE submission files")
    parser.add_argument("--resume", action="store_true",
                        help="continue the newest folder in --out (or --out itself, when it is a "
                        "benchmark folder), keeping its finished runs; --tasks and --seeds may add more")
    parser.add_argument("--report", action="store_true",
                        help="only write tables: with --resume, of the runs already recorded; with "
                        "--column, of several folders side by side")
    parser.add_argument("--column", action="append", default=[], metavar="NAME=DIR[,DIR...]",
                        help="with --report: one column of the side-by-side table, repeated; a task's "
                        "runs come from the first DIR that has it. WNLI's majority class is computed "
                        "from its dev labels (GLUE_DIR or --data.data_dir; neither: the Hub)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a folder of another runner's records (e.g. --runner trainer --out DIR) "
                        "to tabulate beside these")
    return parser.parse_known_args(argv)


def main(argv: list[str], callbacks: list | tuple = ()) -> None:
    """The command; ``callbacks`` join every run (Lightning callbacks for the glue_lit runner,
    ``transformers.TrainerCallback`` for the trainer runner)."""
    args, options = parse_args(argv)
    if args.column:
        if not args.report:
            raise GlueLitError("--column makes a table of recorded runs: add --report")
        # An adversarial task's majority class is read from its dev labels: GLUE_DIR or --data.data_dir.
        data = argparse.ArgumentParser(add_help=False)
        data.add_argument("--data.data_dir", dest="data_dir")
        print(render_columns(args.column, args.tasks, data.parse_known_args(options)[0].data_dir), end="")
        return
    if not args.tasks:
        raise GlueLitError("--tasks is required; name tasks like --tasks cola,mrpc")
    tasks = [get_task(n) for n in dict.fromkeys(t.strip() for t in args.tasks.split(",") if t.strip())]
    if not tasks:
        raise GlueLitError("--tasks is empty; name tasks like --tasks cola,mrpc")
    for task in tasks:
        if task.train is None:
            raise GlueLitError(f"{task.name} has no training data; benchmark {task.model_task} with "
                               f"--submission to predict {task.name} with its model")
    if args.max_train is not None and args.max_train < 1:
        raise GlueLitError(f"--max_train {args.max_train} must be a positive number of examples")
    if args.baseline is not None and not (args.baseline / "runs").is_dir():
        raise GlueLitError(f"--baseline {args.baseline}: no runs/ folder of benchmark records there")
    if args.submission and args.runner != "glue_lit":
        raise GlueLitError("--submission predicts with glue_lit's checkpoints: use --runner glue_lit")
    seeds = parse_seeds(args.seeds)
    plan = {"tasks": [t.name for t in tasks], "seeds": seeds, "options": options,
            "config_dir": str(args.config_dir), "recipes": str(args.recipes) if args.recipes else None,
            "max_train": args.max_train, "submission": args.submission}
    if args.runner != "glue_lit":
        plan["runner"] = args.runner
    if args.report and not args.resume:
        raise GlueLitError("--report tables an earlier benchmark: add --resume (or give --column)")
    folder, resumed = choose_folder(args.out, plan, args.resume)
    if resumed:
        done = len(load_records(folder))
        doing = "tabulating them" if args.report else "running the rest"
        print(f"glue_lit: benchmark: continuing {folder}: {done} runs done, {doing}", file=sys.stderr)
    # Lightning and transformers: only once the input is checked.
    from glue_lit.benchmark.runs import run_one, task_args
    from glue_lit.benchmark.trainer_runner import run_trainer

    run = run_trainer if args.runner == "trainer" else run_one
    submission = folder / "submission" if args.submission else None
    failed = []
    for task in tasks:
        for seed in seeds:
            if args.report or record_path(folder, task.name, seed).is_file():
                continue
            cli_args = task_args(task, args.config_dir, options, args.recipes)
            try:
                record = run(task, seed, cli_args, args.max_train,
                             submission if seed == seeds[0] else None, folder / "logs", callbacks)
            except GlueLitError as err:
                failed.append(f"{task.name} seed {seed}: {err}")
                print(f"glue_lit: benchmark: {task.name} seed {seed} failed: {err}", file=sys.stderr)
                continue
            save_record(folder, record)
    plan = json.loads((folder / "plan.json").read_text())  # with the runs --resume added
    write_results(folder, plan_command(plan, folder, args.baseline), args.baseline, failed, submission,
                  runner=plan.get("runner", "glue_lit"))
    if failed:
        raise GlueLitError(f"{len(failed)} of {len(tasks) * len(seeds)} runs failed "
                           f"({'; '.join(failed)}); see {folder}")


def write_results(folder: Path, command: str, baseline: Path | None, failed: list[str],
                  submission: Path | None = None, runner: str = "glue_lit") -> str:
    """Write results.md/.csv/.json for the records in ``folder`` (and ``baseline``'s beside them)."""
    records = load_records(folder)
    others = load_records(baseline) if baseline else []
    runners = {runner: aggregate(records)}
    if others:
        runners[others[0].runner] = aggregate([r for r in others if r.task in runners[runner]])
    models = sorted({r.model for r in records + others if r.model})
    references = [ref for ref in REFERENCES if any(ref.applies_to(m) for m in models)]
    other_refs = [ref for ref in REFERENCES if ref not in references]
    markdown = render_markdown(runners, references, other_refs, models, command)
    if failed:
        markdown += "\nFailed runs (run the command again to retry them):\n"
        markdown += "".join(f"- {f}\n" for f in failed)
    result = {"command": command, "runners": runners,
              "glue_average": {name: glue_average(s) for name, s in runners.items()},
              "runs": [r.to_json(folder) for r in records] + [r.to_json(baseline) for r in others],
              "failed": failed, "references": [vars(r) for r in REFERENCES]}
    if submission is not None and submission.is_dir():
        names = sorted(p.name for p in submission.iterdir() if p.is_file())
        with zipfile.ZipFile(folder / "submission.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for name in names:
                z.write(submission / name, arcname=name)
        result["submission"] = {"zip": str(folder / "submission.zip"), "files": names}
    (folder / "results.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    write_csv(folder / "results.csv", records + others, runners)
    (folder / "results.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"glue_lit: benchmark results in {folder}")
    return markdown
