"""``benchmark --report --column NAME=DIR ...``: several runners' records side by side."""

from __future__ import annotations

import pytest
from conftest import REPO, SHARED_GLUE

from glue_lit.__main__ import main
from glue_lit.benchmark.baselines import majority_class
from glue_lit.benchmark.records import Record, save_record
from glue_lit.tasks import get_task

RESULTS = REPO / "benchmarks" / "results"
# The results table of the committed records (docs/benchmark.md shows the command).
COLUMNS = [
    "Trainer=benchmarks/results/trainer_recipe",
    "glue_lit=benchmarks/results/glue_lit/version_0",
    "glue_lit, per-task recipe=benchmarks/results/recipes/version_0,benchmarks/results/recipes/version_3,"
    "benchmarks/results/recipes/version_2,benchmarks/results/glue_lit/version_0",
]


def record(runner: str, task: str, seed: int, values: list[float], collapsed: str | None = None) -> Record:
    key = get_task(task).monitor_key
    history = [{"epoch": float(i + 1), "step": 10 * (i + 1), "metrics": {key: v}, "collapsed": collapsed}
               for i, v in enumerate(values)]
    return Record(runner=runner, task=task, seed=seed, history=history, steps=30, wall_s=1.0)


def test_a_recipe_column_takes_each_task_from_its_first_folder_and_compares_with_the_baseline(
        tmp_path, glue_dir, monkeypatch, capsys):
    monkeypatch.setenv("GLUE_DIR", str(glue_dir))  # WNLI's dev labels give its majority class
    for seed, (cola, wnli) in zip((42, 43, 44), ((0.20, 0.50), (0.24, 0.52), (0.22, 0.48))):
        save_record(tmp_path / "trainer", record("trainer", "cola", seed, [cola]))
        save_record(tmp_path / "trainer", record("trainer", "wnli", seed, [wnli]))
        save_record(tmp_path / "shared", record("glue_lit", "cola", seed, [cola + 0.05]))
        save_record(tmp_path / "shared", record("glue_lit", "wnli", seed, [wnli - 0.1]))
        save_record(tmp_path / "recipes", record("glue_lit", "wnli", seed, [0.5634],
                                                 "predicts only 'not_entailment'" if seed == 43 else None))
    assert main(["benchmark", "--report", "--column", f"Trainer={tmp_path / 'trainer'}",
                 "--column", f"glue_lit={tmp_path / 'shared'}",
                 "--column", f"recipe={tmp_path / 'recipes'},{tmp_path / 'shared'}"]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0][2:]: line for line in out.splitlines()
            if line.startswith(("| cola | mcc", "| wnli (adversarial dev set) | accuracy"))}
    # CoLA's recipe cell is the shared runs (no recipe run), WNLI's the recipe runs with its collapse named.
    assert rows["cola"].count("27.00 (27.00 ± 2.00)") == 2
    assert "56.34 (56.34 ± 0.00) **1 of 3 collapsed** (seeds 43)" in rows["wnli (adversarial dev set)"]
    # WNLI's majority class, from its dev labels, stands beside it.
    base = majority_class(get_task("wnli"), str(glue_dir))["val/accuracy"]
    assert 50 <= base < 100
    assert f"| accuracy; majority class {base:.2f} |" in rows["wnli (adversarial dev set)"]
    # The headline average leaves the adversarial WNLI out; then with it: (22 + 50) / 2, (27 + 40) / 2, ...
    assert ("GLUE average of the medians over cola (without wnli: adversarial dev set):\n"
            "- Trainer: 22.00\n- glue_lit: 27.00\n- recipe: 27.00") in out
    assert "With wnli (over cola, wnli):\n- Trainer: 36.00\n- glue_lit: 33.50\n- recipe: 41.67" in out
    # Runners are compared with each other on CoLA, and each with the majority class on WNLI.
    assert "- cola mcc: +5.00 (std 2.00): at or above" in out and "- wnli accuracy:" not in out

    def verdict(median: float) -> str:
        return "at or above the majority class" if median >= base else "below the majority class"

    for name, median, std in (("Trainer", 50.0, 2.0), ("glue_lit", 40.0, 2.0), ("recipe", 56.34, 0.0)):
        line = f"- {name}: {median:.2f} (std {std:.2f}): {median - base:+.2f}, {verdict(median)}"
        assert line + (", with collapsed runs (seeds 43)" if name == "recipe" else "") + "\n" in out


@pytest.mark.skipif(not (SHARED_GLUE / "WNLI").is_dir(), reason="needs the real WNLI dev labels")
def test_the_committed_records_render_the_published_results_table(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("GLUE_DIR", str(SHARED_GLUE))
    assert main(["benchmark", "--report", *(a for c in COLUMNS for a in ("--column", c))]) == 0
    assert capsys.readouterr().out == (REPO / "tests" / "expected" / "results_table.md").read_text()


def test_a_column_needs_report(capsys):
    assert main(["benchmark", "--column", "a=b"]) == 2
    assert "--column makes a table of recorded runs: add --report" in capsys.readouterr().err
