"""``python -m glue_lit benchmark --tasks cola,mrpc --seeds 42,43,44``: fit tasks over seeds, tabulate.

Each (task, seed) is one ordinary CLI run: ``configs/<task>.yaml``, then the options you add (for
example ``--config configs/minilm.yaml --trainer.max_epochs 1``), then ``--recipes DIR/<task>.yaml``
where it exists, with ``--seed_everything`` set to the seed; so a benchmark trains exactly what
``python -m glue_lit fit`` would. Every finished run is written at once to
``runs/benchmark/version_N/runs/<task>-seed<seed>.json``; the same command started again (after a
kill, say) continues that folder and runs only what has no record yet. ``--resume`` continues the
newest folder (or ``--out`` itself when it is one) with other tasks or seeds if you give them, as
long as the options that decide how a run trains are the same (plan.json lists each batch of added
runs, and ``results.md`` the command for each). ``results.md``, ``results.csv`` and
``results.json`` hold the per-seed runs and their median, mean and spread per task, with collapsed
runs named.
``--baseline DIR`` puts the records of another runner (``benchmarks/trainer_recipe.py``) beside.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import zipfile
from pathlib import Path

from glue_lit.benchmark.records import load_records, portable, record_path, save_record
from glue_lit.benchmark.references import REFERENCES
from glue_lit.benchmark.report import aggregate, glue_average, render_markdown, write_csv
from glue_lit.errors import GlueLitError
from glue_lit.tasks import get_task
from glue_lit.versions import claim_version


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="glue_lit benchmark",
        allow_abbrev=False,  # so `--config` goes to the CLI, not to --config_dir
        description="Fine-tune each task with configs/<task>.yaml plus the remaining options (passed to "
        "`glue_lit fit`, e.g. --config configs/minilm.yaml --trainer.max_epochs 1), once per seed, and "
        "write a table of dev results over seeds (Markdown, CSV, JSON). Started again, the same command "
        "continues where it stopped.",
    )
    parser.add_argument("--tasks", required=True, help="comma-separated tasks, e.g. cola,mrpc,stsb")
    parser.add_argument("--seeds", default="42",
                        help="comma-separated seeds (42,43,44) or a count (3 means 42,43,44); default 42")
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
                        help="with --resume: only write the tables from the runs already recorded")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a folder of another runner's records (benchmarks/trainer_recipe.py --out) "
                        "to tabulate beside these")
    return parser.parse_known_args(argv)


def parse_seeds(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.lstrip("-").isdigit() for p in parts):
        raise GlueLitError(f"--seeds {text!r}: give seeds like 42,43,44 or a count like 3")
    if len(parts) == 1 and 0 < int(parts[0]) < 42:
        return [42 + i for i in range(int(parts[0]))]
    return list(dict.fromkeys(int(p) for p in parts))


def _versions(root: Path) -> list[Path]:
    found = [p for p in root.glob("version_*") if p.name.split("_", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("_", 1)[1]))


# What --resume may add to a plan: other tasks or seeds of the same runs (the trainer_recipe.py script
# allows the same). Everything else decides how a run trains, and a table must not mix two.
GROWS = ("tasks", "seeds")


def planned_runs(plan: dict) -> set[tuple[str, int]]:
    """Every (task, seed) of the first command and of each batch ``--resume`` added (plan["added"]):
    a union of products, not the product of the unions (five WNLI seeds do not mean five of each task)."""
    batches = [plan, *plan.get("added", [])]
    return {(task, seed) for b in batches for task in b["tasks"] for seed in b["seeds"]}


def choose_folder(root: Path, plan: dict, resume: bool) -> tuple[Path, bool]:
    """The folder to write to and whether it continues an earlier benchmark."""
    versions = _versions(root)
    newest = root if resume and (root / "plan.json").is_file() else versions[-1] if versions else None
    plan_file = newest / "plan.json" if newest else None
    earlier = json.loads(plan_file.read_text()) if plan_file and plan_file.is_file() else None
    if resume:
        if earlier is None:
            raise GlueLitError(f"--resume: no earlier benchmark in {root}")
        diff = sorted(k for k in plan if k not in GROWS and plan[k] != earlier.get(k))
        if diff:
            raise GlueLitError(f"--resume: {newest} was started with other {', '.join(diff)}; "
                               "run the command it was started with (see its plan.json)")
        if not planned_runs(plan) <= planned_runs(earlier):  # the folder's plan names the added runs
            added = [*earlier.get("added", []), {k: plan[k] for k in GROWS}]
            plan_file.write_text(json.dumps({**earlier, "added": added}, indent=1) + "\n", encoding="utf-8")
        return newest, True
    first = {k: v for k, v in (earlier or {}).items() if k != "added"}
    if first == plan and any(not record_path(newest, task, seed).is_file()
                             for task, seed in planned_runs(earlier)):
        return newest, True  # the same command, killed (or with failed runs) before it finished
    folder = root / f"version_{claim_version(root)}"  # benchmarks started together get one each
    (folder / "plan.json").write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
    return folder, False


def main(argv: list[str]) -> None:
    args, options = parse_args(argv)
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
    seeds = parse_seeds(args.seeds)
    plan = {"tasks": [t.name for t in tasks], "seeds": seeds, "options": options,
            "config_dir": str(args.config_dir), "recipes": str(args.recipes) if args.recipes else None,
            "max_train": args.max_train, "submission": args.submission}
    if args.report and not args.resume:
        raise GlueLitError("--report tables an earlier benchmark: add --resume")
    folder, resumed = choose_folder(args.out, plan, args.resume)
    if resumed:
        done = len(load_records(folder))
        doing = "tabulating them" if args.report else "running the rest"
        print(f"glue_lit: benchmark: continuing {folder}: {done} runs done, {doing}", file=sys.stderr)
    from glue_lit.benchmark.runs import run_one, task_args  # Lightning: only once the input is checked

    submission = folder / "submission" if args.submission else None
    failed = []
    for task in tasks:
        for seed in seeds:
            if args.report or record_path(folder, task.name, seed).is_file():
                continue
            cli_args = task_args(task, args.config_dir, options, args.recipes)
            try:
                record = run_one(task, seed, cli_args, args.max_train,
                                 submission if seed == seeds[0] else None, folder / "logs")
            except GlueLitError as err:
                failed.append(f"{task.name} seed {seed}: {err}")
                print(f"glue_lit: benchmark: {task.name} seed {seed} failed: {err}", file=sys.stderr)
                continue
            save_record(folder, record)
    plan = json.loads((folder / "plan.json").read_text())  # with the runs --resume added
    write_results(folder, plan_command(plan, folder, args.baseline), args.baseline, failed, submission)
    if failed:
        raise GlueLitError(f"{len(failed)} of {len(tasks) * len(seeds)} runs failed "
                           f"({'; '.join(failed)}); see {folder}")


def plan_command(plan: dict, folder: Path, baseline: Path | None) -> str:
    """The commands that make the folder's whole table (not the one typed last): the first, then one
    line per batch of runs that ``--resume`` added, with paths under the working folder relative."""
    here = Path.cwd().resolve()

    def shown(path: Path) -> str:
        full = path.resolve()
        return str(full.relative_to(here)) if full.is_relative_to(here) else str(path)

    def command(batch: dict, out: list[str]) -> str:
        argv = ["--tasks", ",".join(batch["tasks"]), "--seeds", ",".join(map(str, batch["seeds"])),
                *plan["options"]]
        if plan["config_dir"] != "configs":
            argv += ["--config_dir", plan["config_dir"]]
        for flag, key in (("--recipes", "recipes"), ("--max_train", "max_train")):
            if plan[key] is not None:
                argv += [flag, str(plan[key])]
        if plan["submission"]:
            argv.append("--submission")
        argv += out
        if baseline is not None:
            argv += ["--baseline", shown(baseline)]
        return shlex.join(["python", "-m", "glue_lit", "benchmark", *argv])

    lines = [command(plan, ["--out", shown(folder.parent)])]
    lines += [command(batch, ["--out", shown(folder), "--resume"]) for batch in plan.get("added", [])]
    return "\n".join(lines)


def write_results(folder: Path, command: str, baseline: Path | None, failed: list[str],
           submission: Path | None = None) -> str:
    """Write results.md/.csv/.json for the records in ``folder`` (and ``baseline``'s beside them)."""
    records = load_records(folder)
    others = load_records(baseline) if baseline else []
    runners = {"glue_lit": aggregate(records)}
    if others:
        runners[others[0]["runner"]] = aggregate([r for r in others if r["task"] in runners["glue_lit"]])
    models = sorted({r["model"] for r in records + others})
    references = [ref for ref in REFERENCES if any(ref.applies_to(m) for m in models)]
    other_refs = [ref for ref in REFERENCES if ref not in references]
    markdown = render_markdown(runners, references, other_refs, models, command)
    if failed:
        markdown += "\nFailed runs (run the command again to retry them):\n"
        markdown += "".join(f"- {f}\n" for f in failed)
    result = {"command": command, "runners": runners,
              "glue_average": {name: glue_average(s) for name, s in runners.items()},
              "runs": [portable(r, folder) for r in records] + others, "failed": failed,
              "references": [vars(r) for r in REFERENCES]}
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
