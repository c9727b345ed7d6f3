"""``glue_lit tune``: its command line (``fit``'s parser plus the ``tune`` group) and the study run."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sys
import warnings
from pathlib import Path

import optuna
import yaml

from glue_lit.cli import GlueCLI, build_run
from glue_lit.errors import GlueLitError
from glue_lit.tasks import get_task
from glue_lit.tune.options import TuneOptions, TuneSetup
from glue_lit.tune.report import write_reports
from glue_lit.tune.space import merge_entries, one_key_entries
from glue_lit.tune.study import hide_password, open_study, run_study
from glue_lit.tune.trial import Objective
from glue_lit.tune.workers import run_workers

DESCRIPTION = (
    "Run an Optuna study whose trials are fit runs with the options below: each trial trains on "
    "tune.train_subset of the train split with values sampled from tune.space, validates on the "
    "whole dev set and can be pruned at every validation. Results go to <study_dir>/<study_name>/: "
    "study.db (run the same command again to resume), trial_<n>/ logs, trials.csv, best.yaml (add "
    "it to fit's configs) and plots/. Example: glue_lit tune --config configs/cola.yaml --config "
    "configs/minilm.yaml --config configs/tune/cola.yaml"
)


class TuneCLI(GlueCLI):
    """``fit``'s parser with the ``tune`` group added. It only parses: each trial builds its own run."""

    def add_arguments_to_parser(self, parser) -> None:
        super().add_arguments_to_parser(parser)
        parser.add_class_arguments(TuneOptions, "tune")

    def before_instantiate_classes(self) -> None:
        pass  # device defaults and the log folder are decided in each trial's own build_run

    def instantiate_classes(self) -> None:
        pass


def parse(argv: list[str]) -> TuneSetup:
    """Parse ``tune``'s command line with jsonargparse; a value it rejects is a GlueLitError."""
    if any(a.startswith("--print_config") for a in argv):
        print_config(argv)
    argv, entries = one_key_entries(argv)
    cli = build_run(argv, TuneCLI, prog="glue_lit tune", description=DESCRIPTION)
    config = cli.config.clone()
    tune_config = config.pop("tune").as_dict()
    tune_config["space"] = merge_entries(tune_config.get("space"), entries)
    options = TuneOptions(**tune_config)
    task = get_task(config.data.task_name)
    if not task.monitor_key:
        raise GlueLitError(f"task {task.name!r} has no labelled dev split to tune on")
    # The files fit takes as they are, for the command best.yaml's header suggests.
    files = [Path(str(c)) for c in config.get("config") or []]
    fit_configs = [str(f) for f in files
                   if f.is_file() and "tune" not in (yaml.safe_load(f.read_text()) or {})]
    # skip_none=False: an option set to null where its default is not must stay null in the trials.
    return TuneSetup(options, task, cli.parser.dump(config, skip_none=False, skip_check=True), fit_configs)


def print_config(argv: list[str]) -> None:
    """``--print_config`` with storage passwords masked: jsonargparse prints values as they were given."""
    argv, entries = one_key_entries(argv)
    if entries:  # printed as the merged space, a form jsonargparse reads back
        config = build_run([a for a in argv if not a.startswith("--print_config")], TuneCLI).config
        argv = [*argv, "--tune.space", json.dumps(merge_entries(config.tune.space, entries))]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            build_run(argv, TuneCLI, prog="glue_lit tune", description=DESCRIPTION)
            code = 0
        except SystemExit as exit_:  # how jsonargparse ends after printing
            code = exit_.code
    sys.stdout.write(hide_password(printed.getvalue()))
    raise SystemExit(code)


def main(argv: list[str]) -> None:
    setup = parse(argv)
    with warnings.catch_warnings():
        # Heartbeats and their retry callback are "experimental" in Optuna; they are what we need.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if setup.options.workers > 1:
            run_workers(argv, setup)
        else:
            tune(setup)


def tune(setup: TuneSetup) -> None:
    """Run trials of the study in this process until it is complete; then write the reports."""
    setup.folder.mkdir(parents=True, exist_ok=True)
    study = open_study(setup)
    error: GlueLitError | None = None
    interrupted = False
    sigint = signal.getsignal(signal.SIGINT)
    try:
        run_study(study, Objective(setup), setup.options)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, sigint)  # Lightning left Ctrl-C ignored
        interrupted = True
    except GlueLitError as err:
        error = err
    write_reports(study, setup)
    if error:
        raise error
    if interrupted:
        print("interrupted: finished trials are kept; run the same command to resume", file=sys.stderr)
        sys.exit(130)
