"""``python -m glue_lit tune``: tiny-model studies on the little GLUE folder."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import torch
import yaml
from conftest import REPO
from docstring_parser import parse as parse_docstring
from lightning.pytorch.callbacks import Callback
from optuna.trial import TrialState

from glue_lit.__main__ import main
from glue_lit.cli import build_run, cli_main
from glue_lit.errors import GlueLitError
from glue_lit.model import GLUETransformer
from glue_lit.tune import TuneOptions, parse
from glue_lit.tune import study as study_module
from glue_lit.tune.seeds import parse_seeds, score
from glue_lit.tune.space import as_override, suggest
from glue_lit.tune.study import hide_password, scrub
from glue_lit.tune.workers import worker_envs

TUNE_CONFIGS = sorted((REPO / "configs" / "tune").glob("*.yaml"))
# STS-B: its Pearson score moves with every step even for a tiny model, so trials differ; below
# ~1e-3 the tiny model's output stays constant (a collapsed run, never scored).
SPACE = {
    "model.learning_rate": {"type": "float", "low": 2.0e-3, "high": 3.0e-2, "log": True},
    "trainer.max_epochs": {"type": "int", "low": 2, "high": 3},
}


@pytest.fixture
def base(tiny_model, glue_dir, run_dir) -> Path:
    """A fit config of the tiny model on the little STS-B (2 steps per epoch on a tenth of train)."""
    path = run_dir / "base.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"task_name": "stsb", "data_dir": str(glue_dir), "batch_size": 8},
        "model": {"model_name_or_path": tiny_model, "learning_rate": 1.0e-3},
        # fp32, as the tests were written for: the CPU default is timed (tests/test_precision.py).
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "precision": "32-true",
                    "enable_progress_bar": False, "enable_model_summary": False},
    }))
    return path


def write_space(run_dir: Path, space: dict | None = None, **options) -> Path:
    path = run_dir / f"space_{uuid.uuid4().hex[:6]}.yaml"
    tune = {"val_checks_per_epoch": 2, "heartbeat_interval": 1, "pruner": "none", **options}
    path.write_text(yaml.safe_dump({"tune": {**tune, "space": space or SPACE}}))
    return path


def tune_args(base: Path, space: Path, *extra: str) -> list[str]:
    return ["tune", "--config", str(base), "--config", str(space), *extra]


def load(run_dir: Path, name: str = "stsb") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir / 'studies' / name / 'study.db'}")


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials()]


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


# A tune config that changes another one goes after it (its header says so).
AFTER = {"recipe_seeds.yaml": "recipe.yaml"}


@pytest.mark.parametrize("config", TUNE_CONFIGS, ids=lambda p: p.name)
def test_every_search_space_config_samples_values_fit_accepts(config, tiny_model, run_dir):
    task_config = REPO / "configs" / f"{config.stem}.yaml"  # the task config it is meant to follow
    configs = [str(task_config)] if task_config.is_file() else []
    tune_configs = [str(config.with_name(AFTER[config.name]))] if config.name in AFTER else []
    setup = parse([arg for c in [*configs, *tune_configs, str(config)] for arg in ("--config", c)])
    assert setup.options.space and setup.fit_configs == configs
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    values = {key: suggest(trial, key, dist) for key, dist in setup.options.distributions().items()}
    cli = build_run(["--config", setup.fit_config, "--model.model_name_or_path", tiny_model,
                     "--trainer.logger", "false", *(as_override(k, v) for k, v in values.items())])
    parsed = cli.config.as_dict()
    for key, value in values.items():
        node = parsed
        for part in key.split("."):
            node = node[part]
        assert node == value, key


def test_tune_sections_are_parsed_with_the_fit_options(run_dir):
    both = run_dir / "both.yaml"  # a fit config with a tune section: fit gets the rest
    both.write_text(yaml.safe_dump({"model": {"learning_rate": 1e-4},
                                    "tune": {"n_trials": 3, "pruner": "hyperband", "space": SPACE}}))
    later = write_space(run_dir, {"data.batch_size": {"type": "categorical", "choices": [8, 16]}})
    setup = parse(["--config", str(both), "--data.batch_size", "8", "--config", str(later),
                   "--tune.n_trials=5", "--tune.study_name", "mine"])
    fit = yaml.safe_load(setup.fit_config)
    assert "tune" not in fit and fit["model"]["learning_rate"] == 1e-4 and fit["data"]["batch_size"] == 8
    assert setup.fit_configs == []  # neither file can go to `fit` as it is
    # Later configs and the command line win, option by option; a later space replaces the earlier.
    assert (setup.options.n_trials, setup.options.study_name) == (5, "mine")
    assert setup.options.pruner == "none"  # write_space's default, after both.yaml's hyperband
    assert list(setup.options.space) == ["data.batch_size"]
    assert setup.options.distributions()["data.batch_size"].choices == (8, 16)
    space = '{"trainer.max_epochs": {type: int, low: 1, high: 2}}'
    assert list(parse(["--config", str(both), "--tune.space", space]).options.space) == ["trainer.max_epochs"]


def test_the_task_of_the_study_is_the_one_fit_would_train(run_dir, base):
    assert parse(["--config", str(base), "--config", str(write_space(run_dir))]).task.name == "stsb"
    assert parse(["--config", str(write_space(run_dir))]).task.name == "cola"  # GLUEDataModule's default
    space = write_space(run_dir)
    assert main(["tune", "--config", str(base), "--config", str(space), "--data.task_name", "colaa"]) == 2


@pytest.mark.parametrize("spec, message", [
    ({"type": "uniform", "low": 0, "high": 1}, "Got value: uniform"),  # from the parser
    ({"type": "float", "low": 1.0, "hgh": 2.0}, "hgh"),  # from the parser
    ({"type": "float", "low": 1.0}, "tune.space.model.learning_rate: missing field 'high'"),
    ({"type": "float", "low": 1.0, "high": 0.1}, "tune.space.model.learning_rate"),
    ({"type": "categorical", "choices": [1, 2], "log": True}, "unknown field(s) log"),
])
def test_a_bad_search_space_is_one_clear_error(base, run_dir, capsys, spec, message):
    space = write_space(run_dir, {"model.learning_rate": spec})
    assert main(tune_args(base, space)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glue_lit: error: ") and "tune.space" in err[0], err
    assert message in err[0]
    assert not (run_dir / "studies").exists()


def test_a_bad_tune_option_names_the_option(base, run_dir, capsys):
    space = write_space(run_dir)
    for option, value in (("--tune.pruner", "median-ish"), ("--tune.n_trials", "0"), ("--tune.nope", "1")):
        assert main(tune_args(base, space, option, value)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("glue_lit: error: ") and option[2:] in err[0], err


@pytest.mark.slow  # a study (10 s)
def test_an_enqueued_recipe_keeps_the_fit_value_of_every_key_it_leaves_out(base, run_dir, capsys):
    # Optuna alone draws a left-out key at random: "the untuned recipe" would not be the fit's.
    space = {**SPACE, "model.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.5}}
    enqueue = "[{model.learning_rate: 5.0e-3}]"
    args = tune_args(base, write_space(run_dir, space), "--tune.n_trials", "1", "--tune.enqueue", enqueue)
    assert main(args) == 0
    trial = load(run_dir).get_trials()[0]
    assert trial.params == {"model.learning_rate": 5.0e-3, "trainer.max_epochs": 2, "model.warmup_ratio": 0.0}
    # A left-out key whose fit value the space excludes is drawn, and the warning says so.
    space["model.warmup_ratio"]["low"] = 0.1
    args = tune_args(base, write_space(run_dir, space), "--tune.study_name", "other", "--tune.n_trials", "1",
                     "--tune.enqueue", enqueue)
    assert main(args) == 0
    assert ("glue_lit: warning: tune.enqueue entry 0 leaves out model.warmup_ratio and its fit value 0.0 is "
            "outside tune.space: it is drawn at random") in capsys.readouterr().err
    assert 0.1 <= load(run_dir, "other").get_trials()[0].params["model.warmup_ratio"] <= 0.5


@pytest.mark.parametrize("pruner", ["median", pytest.param("hyperband", marks=pytest.mark.slow)])
def test_a_short_study_prunes_and_leaves_its_outputs(base, run_dir, capsys, pruner):
    # Two trials whose rate learns the little task finish first; then two whose rate is too low to
    # learn anything in 3 epochs are stopped early (hyperband: as their brackets allow).
    rates = (5e-3, 6e-3, 1e-5, 1.2e-5)
    space = write_space(run_dir, {"model.learning_rate": SPACE["model.learning_rate"] | {"low": 1e-5}},
                        n_trials=4, train_subset=1.0, pruner=pruner, pruner_startup_trials=2,
                        enqueue=[{"model.learning_rate": lr} for lr in rates])
    assert main(tune_args(base, space, "--trainer.max_epochs", "3")) == 0
    study = load(run_dir)
    trials = study.get_trials()
    assert [t.params["model.learning_rate"] for t in trials] == list(rates)
    assert [t.state for t in trials[:2]] == [TrialState.COMPLETE] * 2
    pruned = sum(t.state == TrialState.PRUNED for t in trials[2:])
    assert pruned == 2 if pruner == "median" else pruned >= 1
    for t in trials:  # pruned: fewer steps than 3 epochs of 20; never a checkpoint file
        assert t.user_attrs["steps"] < 60 if t.state == TrialState.PRUNED else t.user_attrs["steps"] == 60
        folder = run_dir / "studies" / "stsb" / f"trial_{t.number}"
        assert list(folder.glob("events.out.tfevents.*")) and not list(folder.rglob("*.ckpt"))
    rows = read_csv(run_dir / "studies" / "stsb" / "trials.csv")
    assert [r["state"] for r in rows] == states(study)
    assert {"trial", "value", "steps", "validations", "model.learning_rate"} <= set(rows[0])
    out = capsys.readouterr().out
    assert "PRUNED" in out and "model.learning_rate" in out
    best = yaml.safe_load((run_dir / "studies" / "stsb" / "best.yaml").read_text())
    assert best == {"model": {"learning_rate": study.best_params["model.learning_rate"]}}
    for plot in ("optimization_history", "param_importances", "intermediate_values"):
        assert (run_dir / "studies" / "stsb" / "plots" / f"{plot}.html").stat().st_size > 1000


@pytest.mark.parametrize("early_stopping", [False, True])
def test_trials_train_their_sampled_epochs_unless_early_stopping_is_asked(base, run_dir, early_stopping):
    # A rate too small to move the score: fit's early stopping (patience 1 epoch) would stop it.
    space = write_space(run_dir, n_trials=1, early_stopping=early_stopping, val_checks_per_epoch=1,
                        enqueue=[{"model.learning_rate": 1e-4, "trainer.max_epochs": 3}])
    assert main(tune_args(base, space, "--early_stopping.patience", "1",
                          "--early_stopping.min_delta", "0.5")) == 0
    steps = load(run_dir).get_trials()[0].user_attrs["steps"]
    assert steps == (4 if early_stopping else 6)  # 2 steps per epoch: stopped after epoch 2, or all 3


@pytest.mark.slow  # two studies (11 s)
def test_running_tune_again_resumes_the_study(base, run_dir):
    space = write_space(run_dir, n_trials=2)
    assert main(tune_args(base, space)) == 0
    first = [(t.number, t.params, t.value) for t in load(run_dir).get_trials()]
    assert main(tune_args(base, space, "--tune.n_trials", "3")) == 0
    trials = load(run_dir).get_trials()
    assert [(t.number, t.params, t.value) for t in trials[:2]] == first
    assert states(load(run_dir)) == ["COMPLETE"] * 3
    # Trial 2's values are new, not a replay of trial 0's from the same seed.
    assert trials[2].params != trials[0].params
    assert main(tune_args(base, space, "--tune.n_trials", "3")) == 0  # reached: runs nothing
    assert len(load(run_dir).get_trials()) == 3


def test_the_best_config_trains_with_fit_on_the_full_data(base, run_dir):
    space = write_space(run_dir, n_trials=1)
    assert main(tune_args(base, space)) == 0
    best = load(run_dir).best_params
    cli = cli_main(["fit", "--config", str(base), "--config", str(run_dir / "studies/stsb/best.yaml")])
    assert cli.model.hparams.learning_rate == best["model.learning_rate"]
    assert cli.trainer.max_epochs == best["trainer.max_epochs"]
    assert cli.datamodule.hparams.train_subset is None  # tuning's subset does not leak into fit
    assert cli.trainer.global_step == best["trainer.max_epochs"] * 20  # 160 examples, batch 8


def test_failed_trials_are_recorded_with_their_reason_and_the_study_goes_on(base, run_dir):
    space = {**SPACE, "data.max_length": {"type": "int", "low": 32, "high": 64}}
    enqueue = [{"model.learning_rate": 1.0e20}, {"data.max_length": 100_000}, {"model.learning_rate": 5e-3}]
    # One validation per epoch: the loss diverges before a validation sees it (early stopping would).
    path = write_space(run_dir, space, n_trials=1, enqueue=enqueue, val_checks_per_epoch=1)
    assert main(tune_args(base, path)) == 0
    study = load(run_dir)
    assert states(study) == ["FAIL", "FAIL", "COMPLETE"]
    reasons = [t.user_attrs["fail_reason"] for t in study.get_trials()[:2]]
    assert "training loss is nan" in reasons[0]
    assert "max_length 100000" in reasons[1]
    rows = read_csv(run_dir / "studies" / "stsb" / "trials.csv")
    assert [r["note"] for r in rows[:2]] == reasons


def test_a_collapsed_validation_never_becomes_a_trial_s_score(base, run_dir, glue_dir, monkeypatch):
    # As on WNLI, where the majority class (56% of dev) beats every model that learned something:
    # here one class for every example scores the majority share, both classes alternating less.
    def predictions(self, logits):
        if self.hparams.learning_rate == 1e-2 or self.current_epoch == 0:
            return torch.zeros(len(logits), dtype=torch.long)  # 'negative', the majority
        return torch.arange(len(logits)) % 2

    monkeypatch.setattr(GLUETransformer, "predictions", predictions)
    space = write_space(run_dir, n_trials=2, val_checks_per_epoch=1, enqueue=[
        {"model.learning_rate": 5e-3, "trainer.max_epochs": 3},   # epoch 1 collapses, 2 and 3 do not
        {"model.learning_rate": 1e-2, "trainer.max_epochs": 2}])  # every validation collapses
    assert main(tune_args(base, space, "--data.task_name", "sst2")) == 0
    first, second = load(run_dir, "sst2").get_trials()
    assert first.state == TrialState.COMPLETE
    values = first.intermediate_values  # the collapsed validation reaches the pruner as NaN
    assert sorted(values) == [0, 1, 2] and math.isnan(values[0])
    labels = [line.split("\t")[-1] for line in (glue_dir / "SST-2" / "dev.tsv").read_text().splitlines()[1:]]
    majority = labels.count("0") / len(labels)
    assert first.value == max(values[1], values[2]) < majority  # the higher collapsed score is not kept
    assert [c[:27] for c in first.user_attrs["collapsed"]] == ["validation 1: predicts only"]
    assert second.state == TrialState.PRUNED  # learned nothing: never the best, not a failure to retry
    assert len(second.user_attrs["collapsed"]) == 2
    rows = read_csv(run_dir / "studies" / "sst2" / "trials.csv")
    assert [r["note"] for r in rows] == ["1 of 3 validations collapsed, not scored",
                                         "2 of 2 validations collapsed, not scored"]
    best = yaml.safe_load((run_dir / "studies" / "sst2" / "best.yaml").read_text())
    assert best["model"]["learning_rate"] == 5e-3


def test_a_broken_setup_stops_after_repeated_failures(base, run_dir, capsys):
    space = write_space(run_dir, {"data.batch_size": {"type": "categorical", "choices": ["eight"]}},
                        max_consecutive_failures=2)
    assert main(tune_args(base, space)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("glue_lit: error")]
    assert len(err) == 1 and "2 trials failed in a row" in err[0] and "data.batch_size" in err[0]
    assert states(load(run_dir)) == ["FAIL", "FAIL"]


class InterruptTrial(Callback):
    """Presses Ctrl-C (SIGINT to this process) during the given trial's first training step."""

    def __init__(self, trial: str):
        self.trial = trial

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.logger.version == self.trial:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_cleanly_and_keeps_the_finished_trials(base, run_dir, capsys):
    space = write_space(run_dir, n_trials=3)
    stop = yaml.safe_dump({"class_path": "test_tune.InterruptTrial", "init_args": {"trial": "trial_1"}})
    # Python's own handler, as in a terminal (a shell's background job inherits SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(tune_args(base, space, f"--trainer.callbacks+={stop}"))
    finally:
        restored = signal.signal(signal.SIGINT, previous)
    assert exit_info.value.code == 130
    assert restored is signal.default_int_handler  # Lightning had set it to "ignore"
    study = load(run_dir)
    assert states(study) == ["COMPLETE", "FAIL"]
    assert study.get_trials()[1].user_attrs["fail_reason"] == "interrupted (Ctrl-C)"
    assert len(read_csv(run_dir / "studies" / "stsb" / "trials.csv")) == 2
    assert "run the same command to resume" in capsys.readouterr().err
    # Resuming runs the interrupted trial again first, then the rest of the study.
    assert main(tune_args(base, space)) == 0
    trials = load(run_dir).get_trials()
    assert states(load(run_dir)) == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[2].system_attrs["failed_trial"] == 1 and trials[2].params == trials[1].params
    assert read_csv(run_dir / "studies" / "stsb" / "trials.csv")[2]["note"].startswith("retry of trial 1")


def _wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 600):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"the worker exited ({proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        try:
            if condition():
                return
        except (KeyError, optuna.exceptions.OptunaError, sqlalchemy.exc.SQLAlchemyError):
            pass  # the worker is still creating the study
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _worker(args: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **env}
    return subprocess.Popen([sys.executable, "-m", "glue_lit", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # a worker process killed mid-trial (20 s)
def test_a_killed_worker_s_trial_is_retried_when_tune_runs_again(base, run_dir):
    space = write_space(run_dir, {"model.learning_rate": SPACE["model.learning_rate"]}, n_trials=3,
                        grace_period=2)
    args = tune_args(base, space, "--trainer.max_epochs", "4")
    proc = _worker(args, run_dir)

    def mid_trial() -> bool:
        if not (run_dir / "studies" / "stsb" / "study.db").is_file():
            return False
        trials = load(run_dir).get_trials()
        running = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
        return bool(running) and TrialState.COMPLETE in {t.state for t in trials}

    _wait_for(mid_trial, "a trial ran while another one had finished", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: t for t in load(run_dir).get_trials()}
    killed = next(t for t in before.values() if t.state == TrialState.RUNNING)
    assert main(args) == 0
    after = load(run_dir).get_trials()
    assert after[killed.number].state == TrialState.FAIL
    retries = [t for t in after if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    for number, t in before.items():  # no finished trial lost
        if t.state == TrialState.COMPLETE:
            assert after[number].state == TrialState.COMPLETE and after[number].value == t.value
    assert sum(t.state == TrialState.COMPLETE for t in after) == 3
    rows = read_csv(run_dir / "studies" / "stsb" / "trials.csv")
    assert rows[killed.number]["note"] == "no heartbeat: its worker died"
    assert rows[retries[0].number]["note"].startswith(f"retry of trial {killed.number}")


@pytest.mark.postgres
def test_two_workers_share_one_study_on_postgresql(base, run_dir):
    url = os.environ.get("GLUE_LIT_PG_URL")
    if not url:
        pytest.skip("GLUE_LIT_PG_URL is not set (.ci/postgres.sh starts a server and prints it)")
    name = f"two_workers_{uuid.uuid4().hex[:8]}"
    # A generous grace period: on a loaded machine a live worker's heartbeat can be late.
    space = write_space(run_dir, n_trials=8, study_name=name, grace_period=60)
    # The URL from the environment, as on a cluster: no file or command line holds the password.
    workers = [_worker(tune_args(base, space), run_dir, GLUE_LIT_STORAGE=url) for _ in range(2)]
    for proc in workers:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
    trials = optuna.load_study(study_name=name, storage=url).get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    # A worker stops when finished + running trials reach 8; only two workers finishing in the
    # same instant could both start one more.
    assert 8 <= len(finished) == len(trials) <= 9
    pids = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials}
    assert pids == {str(p.pid) for p in workers}  # both worked on it
    assert len({t.params["model.learning_rate"] for t in trials}) == len(trials)  # no duplicates
    for t in trials:  # every trial ran exactly once: one TensorBoard run in its folder
        assert len(list((run_dir / "studies" / name / f"trial_{t.number}").glob("events.*"))) == 1


@pytest.mark.slow  # two worker processes (24 s)
def test_two_workers_started_by_one_command_share_one_study(base, run_dir, capfd):
    # Each trial on two seeds: a worker runs a trial's seeds one after the other.
    space = write_space(run_dir, {"model.learning_rate": SPACE["model.learning_rate"]}, n_trials=2,
                        seeds="1,2", train_subset=0.5,
                        enqueue=[{"model.learning_rate": 5e-3}, {"model.learning_rate": 8e-3}])
    assert main(tune_args(base, space, "--tune.workers", "2")) == 0
    err = capfd.readouterr().err
    pids = set(re.findall(r"tune: worker \d \(pid (\d+)\) on CPU, 1 threads", err))  # 2 cores here
    assert len(pids) == 2 and str(os.getpid()) not in pids, err[-3000:]
    trials = load(run_dir).get_trials()
    assert states(load(run_dir)).count("COMPLETE") in (2, 3) and "FAIL" not in states(load(run_dir))
    assert all(sorted(t.user_attrs["seeds"]) == ["1", "2"] for t in trials)
    assert {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials} <= pids  # run by the workers
    assert (run_dir / "studies" / "stsb" / "best.yaml").is_file()


def test_each_worker_gets_its_own_gpu_or_a_share_of_the_cores():
    # Four GPUs, three workers: GPUs 0, 1, 2; CUDA_VISIBLE_DEVICES ids are kept; more workers than
    # GPUs take them in turn. Without GPUs the cores are split, unless the user set the threads.
    assert [e["CUDA_VISIBLE_DEVICES"] for e in worker_envs(3, {}, gpus=4, cpus=8)] == ["0", "1", "2"]
    env = {"CUDA_VISIBLE_DEVICES": "3,5", "PATH": "/bin"}
    envs = worker_envs(3, env, gpus=2, cpus=8)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["3", "5", "3"] and envs[0]["PATH"] == "/bin"
    assert all("OMP_NUM_THREADS" not in e for e in envs)
    assert [e["OMP_NUM_THREADS"] for e in worker_envs(2, {}, gpus=0, cpus=8)] == ["4", "4"]
    assert [e["OMP_NUM_THREADS"] for e in worker_envs(3, {}, gpus=0, cpus=2)] == ["1", "1", "1"]
    assert worker_envs(2, {"OMP_NUM_THREADS": "2"}, gpus=0, cpus=8)[1]["OMP_NUM_THREADS"] == "2"
    assert "CUDA_VISIBLE_DEVICES" not in worker_envs(2, {}, gpus=0, cpus=8)[0]


@pytest.mark.parametrize("url, shown, password", [
    ("postgresql://tuner:S3cret@db.example:5432/studies", "postgresql://tuner:***@db.example:5432/studies",
     "S3cret"),
    ("postgresql+psycopg2://tuner:p%40ss@db/studies?sslmode=require",
     "postgresql+psycopg2://tuner:***@db/studies?sslmode=require", "p@ss"),
    ("mysql://tuner:p@ss@db/studies", "mysql://tuner:***@db/studies", "p@ss"),  # an unquoted @
    ("postgresql://tuner@db/studies", "postgresql://tuner@db/studies", None),
    ("sqlite:///studies/cola/study.db", "sqlite:///studies/cola/study.db", None),
])
def test_storage_urls_are_shown_without_their_password(url, shown, password):
    assert hide_password(url) == shown
    # A driver's error message may quote the URL or the password itself.
    message = scrub(f"cannot connect to {url}: password {password} rejected", url)
    assert message == f"cannot connect to {shown}: password {'***' if password else None} rejected"


PASSWORD = "Pw-9f3kQz"
PG_URL = f"postgresql://tuner:{PASSWORD}@db.example:5432/studies"


@pytest.mark.parametrize("where", ["environment", "command line"])
def test_no_file_or_line_tune_writes_holds_the_storage_password(base, run_dir, capfd, monkeypatch, where):
    opened = []
    real = study_module.RDBStorage

    def storage(url, **kwargs):  # the PostgreSQL study, kept in SQLite: no server needed
        opened.append(url)
        return real(f"sqlite:///{run_dir / 'server.db'}", **kwargs)

    monkeypatch.setattr(study_module, "RDBStorage", storage)
    space = write_space(run_dir, n_trials=2)
    if where == "environment":
        monkeypatch.setenv("GLUE_LIT_STORAGE", PG_URL)
        assert main(tune_args(base, space)) == 0
    else:
        assert main(tune_args(base, space, "--tune.storage", PG_URL)) == 0
    assert opened == [PG_URL]
    out, err = capfd.readouterr()
    study = optuna.load_study(study_name="stsb", storage=f"sqlite:///{run_dir / 'server.db'}")
    assert states(study) == ["COMPLETE", "COMPLETE"]
    written = [p for p in (run_dir / "studies").rglob("*") if p.is_file()]
    assert any(p.name == "config.yaml" for p in written) and any(p.name == "best.yaml" for p in written)
    assert any(p.name.startswith("events.out.tfevents") for p in written)  # TensorBoard, hparams too
    for path in [*written, run_dir / "server.db"]:
        assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in out + err


def test_a_storage_that_cannot_be_opened_is_named_without_its_password(base, run_dir, capfd):
    url = f"postgresql://tuner:{PASSWORD}@127.0.0.1:1/studies"  # nothing listens on port 1
    assert main(tune_args(base, write_space(run_dir), "--tune.storage", url)) == 2
    out, err = capfd.readouterr()
    assert "glue_lit: error: cannot open the study storage postgresql://tuner:***@127.0.0.1:1/studies" in err
    assert PASSWORD not in out + err
    assert all(PASSWORD.encode() not in p.read_bytes() for p in run_dir.rglob("*") if p.is_file())


def test_print_config_masks_the_storage_password(base, run_dir, capsys):
    url = f"postgresql://tuner:{PASSWORD}@db.example/studies"
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--config", str(base), "--tune.storage", url, "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "storage: postgresql://tuner:***@db.example/studies" in out and PASSWORD not in out


def test_tune_help_documents_every_tune_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    text = " ".join(out.split())
    assert out.startswith("usage: glue_lit tune ") and "--model.learning_rate" in out  # fit's options too
    docs = {p.arg_name: p.description for p in parse_docstring(TuneOptions.__doc__).params}
    for field in dataclasses.fields(TuneOptions):
        assert f"--tune.{field.name} " in out, field.name
        assert " ".join(docs[field.name].split()[:6]) in text, field.name


# tune.seeds: each trial trains its values on every seed; its value is their median.


def test_seeds_are_a_list_or_a_range_and_a_number_is_one_seed(run_dir):
    assert [parse_seeds(s) for s in ("1,2,3", "1-3", " 4 - 5 ", [7, 7, 8], 3, "3", None)] == [
        [1, 2, 3], [1, 2, 3], [4, 5], [7, 8], [3], [3], None]
    for bad in ("3-1", "1,a", "1,,2", "", [], True):
        with pytest.raises(GlueLitError, match="tune.seeds"):
            parse_seeds(bad)
    assert score([0.5, 0.9, 0.6], "median", "maximize") == 0.6
    assert score([0.5, 0.9, 0.6], "min", "maximize") == 0.5 and score([0.5, 0.9], "min", "minimize") == 0.9
    assert score([0.5, 0.9, 0.7], "mean", "maximize") == pytest.approx(0.7)
    # The seed is tune.seeds' to choose: a space that also searches it is one clear error.
    space = write_space(run_dir, {**SPACE, "seed_everything": {"type": "categorical", "choices": [1, 2]}})
    with pytest.raises(GlueLitError, match="tune.seeds and tune.space.seed_everything"):
        parse(["--config", str(space), "--tune.seeds", "1-2"])


def test_a_trial_trains_on_every_seed_and_scores_their_median(base, run_dir, capsys):
    space = write_space(run_dir, n_trials=1, val_checks_per_epoch=1, seeds="1-3", train_subset=0.5,
                        enqueue=[{"model.learning_rate": 5e-3, "trainer.max_epochs": 2}])
    assert main(tune_args(base, space)) == 0
    trial = load(run_dir).get_trials()[0]
    seeds = trial.user_attrs["seeds"]
    values = [seeds[s]["value"] for s in ("1", "2", "3")]
    assert len(set(values)) == 3  # three initialisations and data orders, three scores
    assert trial.state == TrialState.COMPLETE and trial.value == sorted(values)[1]
    assert trial.user_attrs["steps"] == 3 * 20  # 2 epochs of 10 steps on each seed
    # The pruner saw the first seed's validations, as they ran.
    assert list(trial.intermediate_values.values()) == seeds["1"]["curve"] and len(seeds["1"]["curve"]) == 2
    folder = run_dir / "studies" / "stsb"
    assert [float(read_csv(folder / "trials.csv")[0][f"seed_{s}"]) for s in (1, 2, 3)] == values
    assert all(list((folder / "trial_0" / f"seed_{s}").glob("events.*")) for s in (1, 2, 3))
    header = (folder / "best.yaml").read_text().splitlines()[0]
    assert f"the median over seeds 1, 2, 3 ({values[0]:.4f}, {values[1]:.4f}, {values[2]:.4f})" in header
    # Each seed is a plain run on that seed: a one-seed study of seed 2 scores seed 2's value.
    assert main(tune_args(base, space, "--tune.seeds", "2", "--tune.study_name", "seed2")) == 0
    assert load(run_dir, "seed2").get_trials()[0].value == values[1]


class KillOnSeed(Callback):
    """SIGKILLs its own process at the first training step of the given trial's given seed."""

    def __init__(self, version: str):
        self.version = version

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.logger.version == self.version:
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_multi_seed_trial_is_retried_without_losing_a_finished_seed(base, run_dir):
    space = write_space(run_dir, n_trials=1, val_checks_per_epoch=1, seeds="1,2,3", grace_period=1,
                        train_subset=0.5, enqueue=[{"model.learning_rate": 5e-3, "trainer.max_epochs": 2}])
    kill = yaml.safe_dump({"class_path": "test_tune.KillOnSeed", "init_args": {"version": "trial_0/seed_2"}})
    proc = _worker(tune_args(base, space, f"--trainer.callbacks+={kill}"), run_dir,
                   PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err[-3000:]
    killed = load(run_dir).get_trials()[0]
    assert killed.state == TrialState.RUNNING and list(killed.user_attrs["seeds"]) == ["1"]
    assert main(tune_args(base, space)) == 0  # the same study, run again
    killed, retry = load(run_dir).get_trials()
    assert killed.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert retry.system_attrs["failed_trial"] == 0 and retry.params == killed.params
    seeds = retry.user_attrs["seeds"]
    assert seeds["1"] == {**killed.user_attrs["seeds"]["1"], "from_trial": 0}  # kept, not rerun
    assert retry.user_attrs["steps"] == 2 * 20  # only seeds 2 and 3 trained
    folder = run_dir / "studies" / "stsb"
    assert sorted(p.name for p in (folder / "trial_1").iterdir()) == ["seed_2", "seed_3"]
    assert retry.value == sorted(seeds[s]["value"] for s in ("1", "2", "3"))[1]
    assert list(retry.intermediate_values.values()) == seeds["1"]["curve"]  # the pruner's view is kept
    rows = read_csv(folder / "trials.csv")
    assert rows[1]["note"].startswith("retry of trial 0; seed 1 from trial 0")
    assert [r["seed_1"] for r in rows] == [str(seeds["1"]["value"])] * 2 and rows[0]["seed_2"] == ""


# One entry of the space on the command line: merged into the space of the configs.


def test_one_key_of_the_space_on_the_command_line_merges_into_the_config_s_space(run_dir, capsys):
    space = write_space(run_dir)  # model.learning_rate and trainer.max_epochs (2-3)
    setup = parse(["--config", str(space), "--tune.space.trainer.max_epochs", "{type: int, low: 1, high: 5}",
                   "--tune.space.data.batch_size={type: categorical, choices: [8, 16]}"])
    assert list(setup.options.space) == ["model.learning_rate", "trainer.max_epochs", "data.batch_size"]
    assert setup.options.space["model.learning_rate"] == SPACE["model.learning_rate"]
    dists = setup.options.distributions()
    assert (dists["trainer.max_epochs"].low, dists["trainer.max_epochs"].high) == (1, 5)
    assert dists["data.batch_size"].choices == (8, 16)
    # Without a config's space, the command line's entries are the space; null removes an entry.
    setup = parse(["--tune.space.model.warmup_ratio", "{type: float, low: 0.0, high: 0.1}"])
    assert list(setup.options.space) == ["model.warmup_ratio"]
    setup = parse(["--config", str(space), "--tune.space.trainer.max_epochs=null"])
    assert list(setup.options.space) == ["model.learning_rate"]
    # --print_config shows the merged space, in a form the parser reads back.
    with pytest.raises(SystemExit):
        main(["tune", "--config", str(space), "--tune.space.data.batch_size", "{type: int, low: 8, high: 16}",
              "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)["tune"]["space"]
    assert printed == {**SPACE, "data.batch_size": {"type": "int", "low": 8, "high": 16}}


@pytest.mark.parametrize("value, reason", [
    ("{type: int, low: 1}", "missing field 'high'"),
    ("{type: int, low: 1, hgh: 3}", "Unexpected keys: {'hgh'}"),
    ("3", "Expected a <class 'dict'>"),
    ("{type: int, low: 1, high: 3", "Expected a <class 'dict'>"),  # unclosed
    (None, "needs a value"),
])
def test_a_malformed_one_key_space_entry_is_one_clear_error_showing_the_form(base, run_dir, capsys, value,
                                                                             reason):
    entry = ["--tune.space.trainer.max_epochs", *([value] if value else [])]
    args = tune_args(base, write_space(run_dir), *entry)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glue_lit: error: --tune.space.trainer.max_epochs"), err
    assert reason in err[0]
    assert "Accepted: --tune.space.<dotted fit option> '{type: float|int, low: L, high: H" in err[0]
    assert not (run_dir / "studies").exists()
