"""End-to-end CLI runs of the tiny model on the little GLUE folder, and the command line's help."""

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, fit_args, tb_scalars

from glue_lit.__main__ import main
from glue_lit.cli import cli_main

CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and "class_path" not in value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_every_config_loads_and_applies_its_values(config, tiny_model, run_dir):
    if config.parent.name == "tune":
        pytest.skip("search spaces are checked by the tune tests")
    raw = yaml.safe_load(config.read_text()) or {}
    # Hub models cannot be fetched offline: the tiny model stands in, everything else is real.
    cli = cli_main(["--config", str(config), "--model.model_name_or_path", tiny_model,
                    "--trainer.logger", "false"], run=False)
    parsed = flatten(cli.config.as_dict())
    for key, value in flatten(raw).items():
        if key != "model.model_name_or_path":
            assert parsed[key] == value, key
    task = raw.get("data", {}).get("task_name", "cola")
    assert cli.datamodule.task.name == task == cli.model.task.name
    assert cli.datamodule.hparams.model_name_or_path == tiny_model
    assert cli.trainer.checkpoint_callback.monitor == (cli.model.task.monitor_key or None)


@pytest.mark.parametrize("task", ["cola", "sst2", "mrpc", "qqp", "stsb", "qnli", "rte", "wnli"])
def test_fit_logs_the_task_metrics_and_saves_checkpoints(tiny_model, glue_dir, run_dir, task):
    assert main(["fit", *fit_args(tiny_model, glue_dir, task)]) == 0
    run = run_dir / "runs" / task / "version_0"
    scalars = tb_scalars(run)
    for metric in __import__("glue_lit").get_task(task).metrics:
        assert f"val/{metric}" in scalars
    assert "train/loss" in scalars and "val/loss" in scalars
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert any(p.name.startswith("best-") for p in (run / "checkpoints").iterdir())


def test_mnli_reports_matched_and_mismatched(tiny_model, glue_dir, run_dir):
    assert main(["fit", *fit_args(tiny_model, glue_dir, "mnli")]) == 0
    scalars = tb_scalars(run_dir / "runs" / "mnli" / "version_0")
    assert {"val_matched/accuracy", "val_mismatched/accuracy"} <= set(scalars)


def test_tiny_model_learns_the_little_task(tiny_model, glue_dir, run_dir):
    args = fit_args(tiny_model, glue_dir, "sst2", "--trainer.max_epochs", "15",
                    "--model.learning_rate", "3e-3", "--early_stopping.patience", "20")
    assert main(["fit", *args]) == 0
    scalars = tb_scalars(run_dir / "runs" / "sst2" / "version_0")
    dev = (glue_dir / "SST-2" / "dev.tsv").read_text().splitlines()[1:]
    majority = max(sum(r.endswith("\t1") for r in dev), sum(r.endswith("\t0") for r in dev))
    assert max(scalars["val/accuracy"]) >= majority / len(dev) + 0.15


def test_validate_on_the_best_checkpoint_matches_fit(tiny_model, glue_dir, run_dir, capsys):
    cli = cli_main(["fit", *fit_args(tiny_model, glue_dir, "cola")])
    best = cli.trainer.checkpoint_callback.best_model_path
    best_score = float(cli.trainer.checkpoint_callback.best_model_score)
    # fit ends by naming the checkpoint to use next, and its score
    assert f"best val/mcc {best_score:.4f}: {best}" in capsys.readouterr().out.splitlines()
    cli = cli_main(["validate", *fit_args(tiny_model, glue_dir, "cola"), "--ckpt_path", best])
    assert cli.trainer.callback_metrics["val/mcc"].item() == pytest.approx(best_score, abs=1e-6)


def test_test_on_hidden_glue_labels_points_to_predict(tiny_model, glue_dir, run_dir, capsys):
    assert main(["test", *fit_args(tiny_model, glue_dir, "rte")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("glue_lit: error:")]
    assert len(errors) == 1 and "has no labels" in errors[0] and "predict" in errors[0]
    assert "Traceback" not in err


def test_runs_never_overwrite_each_other(tiny_model, glue_dir, run_dir):
    for _ in range(2):
        assert main(["fit", *fit_args(tiny_model, glue_dir, "wnli", "--trainer.max_epochs", "1")]) == 0
    versions = sorted(p.name for p in (run_dir / "runs" / "wnli").iterdir())
    assert versions == ["version_0", "version_1"]


LIGHTWEIGHT = [["--help"], ["export", "--help"], ["clear-cache", "--cache_dir", "empty-cache"]]


@pytest.mark.parametrize("args", LIGHTWEIGHT, ids=" ".join)
def test_help_export_and_clear_cache_start_without_lightning_or_torch(args, run_dir):
    # Importing Lightning takes seconds; these answer at once.
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "glue_lit", *args], cwd=run_dir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("lightning", "torch", "transformers")}


def test_top_level_help_names_glue_lit_and_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: glue_lit ") and "GLUE" in out.split("\n\n")[1]
    for name in ("fit", "validate", "test", "predict", "tune", "benchmark", "export", "clear-cache"):
        described = re.search(rf"^    {name}\s+(\S.*)$|^    {name}\n\s+(\S.*)$", out, re.MULTILINE)
        assert described, f"{name} is not listed with a description:\n{out}"
    with pytest.raises(SystemExit) as exit_info:
        main(["fitt"])
    assert exit_info.value.code == 2 and "invalid choice: 'fitt'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # a subcommand's help comes from its own parser
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and out.startswith("usage: glue_lit") and "--model.learning_rate" in out
