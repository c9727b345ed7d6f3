"""A benchmark folder and its plan: which (task, seed) runs it holds, which options made them, and
the commands that make its whole table.

``plan.json`` keeps the first command's options and each batch of runs ``--resume`` added; a folder
never mixes runs trained two ways.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from glue_lit.benchmark.records import record_path
from glue_lit.errors import GlueLitError

# What --resume may add to a plan: other tasks or seeds of the same runs. Everything else decides
# how a run trains, and a table must not mix two.
GROWS = ("tasks", "seeds")
# Plan keys that older plan.json files do not have, with the value they meant.
PLAN_DEFAULTS = {"runner": "glue_lit"}


def versions(root: Path) -> list[Path]:
    found = [p for p in root.glob("version_*") if p.name.split("_", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("_", 1)[1]))


def planned_runs(plan: dict) -> set[tuple[str, int]]:
    """Every (task, seed) of the first command and of each batch ``--resume`` added (plan["added"]):
    a union of products, not the product of the unions (five WNLI seeds do not mean five of each task)."""
    batches = [plan, *plan.get("added", [])]
    return {(task, seed) for b in batches for task in b["tasks"] for seed in b["seeds"]}


def _same(plan: dict, earlier: dict, key: str) -> bool:
    return plan.get(key, PLAN_DEFAULTS.get(key)) == earlier.get(key, PLAN_DEFAULTS.get(key))


def choose_folder(root: Path, plan: dict, resume: bool) -> tuple[Path, bool]:
    """The folder to write to and whether it continues an earlier benchmark."""
    found = versions(root)
    newest = root if resume and (root / "plan.json").is_file() else found[-1] if found else None
    plan_file = newest / "plan.json" if newest else None
    earlier = json.loads(plan_file.read_text()) if plan_file and plan_file.is_file() else None
    if resume:
        if earlier is None:
            raise GlueLitError(f"--resume: no earlier benchmark in {root}")
        diff = sorted(k for k in {*plan, *PLAN_DEFAULTS} if k not in GROWS and not _same(plan, earlier, k))
        if diff:
            raise GlueLitError(f"--resume: {newest} was started with other {', '.join(diff)}; "
                               "run the command it was started with (see its plan.json)")
        if not planned_runs(plan) <= planned_runs(earlier):  # the folder's plan names the added runs
            added = [*earlier.get("added", []), {k: plan[k] for k in GROWS}]
            plan_file.write_text(json.dumps({**earlier, "added": added}, indent=1) + "\n", encoding="utf-8")
        return newest, True
    first = {k: v for k, v in (earlier or {}).items() if k != "added"}
    same = earlier is not None and all(_same(plan, first, k) for k in {*plan, *first, *PLAN_DEFAULTS})
    if same and any(not record_path(newest, task, seed).is_file() for task, seed in planned_runs(earlier)):
        return newest, True  # the same command, killed (or with failed runs) before it finished
    folder = root / f"version_{int(newest.name.split('_', 1)[1]) + 1 if newest else 0}"
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
    return folder, False


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
        if plan.get("runner", "glue_lit") != "glue_lit":
            argv += ["--runner", plan["runner"]]
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
