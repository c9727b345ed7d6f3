"""benchmarks/results_table.py: the README's table of several runners from their records."""

from __future__ import annotations

import importlib.util

from conftest import REPO

from glue_lit.benchmark.records import best_and_last, save_record
from glue_lit.tasks import get_task

spec = importlib.util.spec_from_file_location("results_table", REPO / "benchmarks" / "results_table.py")
results_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_table)


def record(runner: str, task: str, seed: int, values: list[float], collapsed: str | None = None) -> dict:
    key = get_task(task).monitor_key
    history = [{"epoch": float(i + 1), "step": 10 * (i + 1), "metrics": {key: v},
                "collapsed": collapsed} for i, v in enumerate(values)]
    return {"runner": runner, "task": task, "seed": seed, "history": history, "steps": 30, "wall_s": 1.0,
            **best_and_last(get_task(task), history)}


def test_a_recipe_column_takes_each_task_from_its_first_folder_and_compares_with_the_baseline(
        tmp_path, capsys):
    for seed, (cola, wnli) in zip((42, 43, 44), ((0.20, 0.50), (0.24, 0.52), (0.22, 0.48))):
        save_record(tmp_path / "trainer", record("trainer", "cola", seed, [cola]))
        save_record(tmp_path / "trainer", record("trainer", "wnli", seed, [wnli]))
        save_record(tmp_path / "shared", record("glue_lit", "cola", seed, [cola + 0.05]))
        save_record(tmp_path / "shared", record("glue_lit", "wnli", seed, [wnli - 0.1]))
        save_record(tmp_path / "recipes", record("glue_lit", "wnli", seed, [0.5634],
                                                 "predicts only 'not_entailment'" if seed == 43 else None))
    results_table.main(["--column", f"Trainer={tmp_path / 'trainer'}",
                        "--column", f"glue_lit={tmp_path / 'shared'}",
                        "--column", f"recipe={tmp_path / 'recipes'},{tmp_path / 'shared'}"])
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0][2:]: line for line in out.splitlines()
            if line.startswith(("| cola | mcc", "| wnli | accuracy"))}
    # CoLA's recipe cell is the shared runs (no recipe run), WNLI's the recipe runs with its collapse named.
    assert rows["cola"].count("27.00 (27.00 ± 2.00)") == 2
    assert "56.34 (56.34 ± 0.00) **1 of 3 collapsed** (seeds 43)" in rows["wnli"]
    # GLUE averages: (22 + 50) / 2, (27 + 40) / 2, (27 + 56.34) / 2
    assert "- Trainer: 36.00\n- glue_lit: 33.50\n- recipe: 41.67" in out
    assert "Without WNLI (over cola):\n- Trainer: 22.00\n- glue_lit: 27.00\n- recipe: 27.00" in out
    assert "- wnli accuracy: -10.00 (std 2.00): BELOW by more than 1 std" in out
    assert "- wnli accuracy: +6.34 (std 2.00): at or above, with collapsed runs (seeds 43)" in out
