"""Faults: checkpoints cut short, finished runs resumed, runs started together, checkpoints of another
task, and users' own files that are empty, lack a column or are not UTF-8.

Each ends in exit status 0 with the right outcome, or 2 with one ``glue_lit: error:`` line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, fit_args, work_in
from test_errors import assert_untouched, fails

from glue_lit.__main__ import main
from glue_lit.checkpoint import GlueCheckpoint
from glue_lit.checkpoint_io import AtomicCheckpointIO
from glue_lit.errors import GlueLitError
from glue_lit.tasks import get_task

QUICK = ("--trainer.max_epochs", "1", "--early_stopping.patience", "10")


def step_of(ckpt: Path) -> int:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]


@pytest.fixture(scope="module")
def cola_run(tmp_path_factory, tiny_model, glue_dir) -> Path:
    """A finished one-epoch CoLA fit (20 steps): its version_0 folder."""
    root = tmp_path_factory.mktemp("cola_run")
    with pytest.MonkeyPatch.context() as mp:
        work_in(root, mp)
        assert main(["fit", *fit_args(tiny_model, glue_dir, "cola", *QUICK)]) == 0
    run = root / "runs" / "cola" / "version_0"
    assert step_of(run / "checkpoints" / "last.ckpt") == 20
    return run


@pytest.fixture
def earlier(cola_run, run_dir) -> dict[Path, bytes]:
    """A copy of the finished CoLA run in this test's runs/cola/version_0; its files and bytes."""
    shutil.copytree(cola_run, run_dir / "runs" / "cola" / "version_0")
    return {p: p.read_bytes() for p in (run_dir / "runs").rglob("*") if p.is_file()}


def best_of(run: Path) -> Path:
    return next((run / "checkpoints").glob("best-*.ckpt"))


# --- checkpoint writes ----------------------------------------------------------------------------


def test_a_failed_checkpoint_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    import lightning.fabric.plugins.io.torch_io as torch_io

    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(1000)}, path)
    before = path.read_bytes()

    def disk_full(checkpoint, filepath):  # half the bytes reach the disk, then the write fails
        Path(filepath).write_bytes(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch_io, "_atomic_save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind
    monkeypatch.undo()
    assert io.load_checkpoint(path)["global_step"] == 1


def test_last_skips_a_checkpoint_cut_short_and_resumes_from_the_one_before(
    earlier, tiny_model, glue_dir, run_dir, caplog
):
    # A later run killed while writing its last.ckpt (or on a full disk): half a file, newer.
    whole = run_dir / "runs" / "cola" / "version_0" / "checkpoints" / "last.ckpt"
    cut = run_dir / "runs" / "cola" / "version_1" / "checkpoints" / "last.ckpt"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(whole.read_bytes()[:5000])
    assert main(["fit", *fit_args(tiny_model, glue_dir, "cola", "--ckpt_path", "last")]) == 0
    said = caplog.text
    assert f"glue_lit: --ckpt_path last: skipped {cut.relative_to(run_dir)} (cut short" in said
    assert f"glue_lit: --ckpt_path last: resuming from {whole.relative_to(run_dir)}" in said
    # It trained on from step 20 to the end of epoch 2, in a folder of its own.
    assert step_of(run_dir / "runs" / "cola" / "version_2" / "checkpoints" / "last.ckpt") == 40
    assert_untouched(earlier)


def test_last_with_only_unreadable_checkpoints_is_one_line(earlier, tiny_model, glue_dir, run_dir, capsys):
    last = run_dir / "runs" / "cola" / "version_0" / "checkpoints" / "last.ckpt"
    data = bytearray(last.read_bytes())
    middle = len(data) // 2
    data[middle: middle + 64] = bytes(b ^ 0x5A for b in data[middle: middle + 64])  # damaged in place
    last.write_bytes(bytes(data))
    files = {p: p.read_bytes() for p in earlier}
    line = fails(["fit", *fit_args(tiny_model, glue_dir, "cola", "--ckpt_path", "last")], capsys, files)
    where = f"runs/cola/*/checkpoints; skipped {last.relative_to(run_dir)}"
    assert line.startswith(f"glue_lit: error: --ckpt_path last: no readable last.ckpt in {where} (corrupted: "
                           "record "), line
    assert not (run_dir / "runs" / "cola" / "version_1").exists()  # the failed run left no folder


@pytest.mark.parametrize("command", ["validate", "predict", "fit"])
def test_an_unreadable_checkpoint_is_one_line_naming_it(command, earlier, tiny_model, glue_dir, run_dir,
                                                        capsys):
    broken = run_dir / "broken.ckpt"
    broken.write_bytes(best_of(run_dir / "runs" / "cola" / "version_0").read_bytes()[:-100])
    args = fit_args(tiny_model, glue_dir, "cola", "--ckpt_path", str(broken))
    line = fails([command, *args], capsys, earlier)
    assert line == (f"glue_lit: error: {broken}: not a readable checkpoint (cut short, or not a checkpoint: "
                    "no complete zip archive)")


# --- finished runs --------------------------------------------------------------------------------


def test_resuming_a_finished_run_says_so(earlier, tiny_model, glue_dir, run_dir, capsys):
    last = run_dir / "runs" / "cola" / "version_0" / "checkpoints" / "last.ckpt"
    assert main(["fit", *fit_args(tiny_model, glue_dir, "cola", *QUICK, "--ckpt_path", "last")]) == 0
    out = capsys.readouterr().out
    said = f"glue_lit: {last.relative_to(run_dir)} is a finished run (epoch 1, step 20; --trainer.max_epochs"
    assert said in out, out
    assert "nothing to train; raise --trainer.max_epochs to train on" in out
    assert not list((run_dir / "runs" / "cola" / "version_1").rglob("*.ckpt"))  # nothing new saved
    assert_untouched(earlier)


def test_a_finished_run_with_more_epochs_trains_on(earlier, tiny_model, glue_dir, run_dir, capsys):
    last = run_dir / "runs" / "cola" / "version_0" / "checkpoints" / "last.ckpt"
    assert main(["fit", *fit_args(tiny_model, glue_dir, "cola", "--ckpt_path", str(last))]) == 0
    assert "finished run" not in capsys.readouterr().out
    assert step_of(run_dir / "runs" / "cola" / "version_1" / "checkpoints" / "last.ckpt") == 40


def test_a_resumed_run_reports_the_best_checkpoint_of_the_whole_run(earlier, tiny_model, glue_dir, run_dir,
                                                                    capsys):
    # The dev table of a resumed run covers the earlier validations too; the checkpoint it names as
    # the best is the one the table marks, even when that one was saved before the resume.
    last = run_dir / "runs" / "cola" / "version_0" / "checkpoints" / "last.ckpt"
    assert main(["fit", *fit_args(tiny_model, glue_dir, "cola", "--ckpt_path", str(last))]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line.split() for line in lines if line.startswith("epoch  step"))
    marked = dict(zip(header, next(line.split() for line in lines if line.endswith("<- best"))))
    score, path = next(line for line in lines if line.startswith("best val/mcc ")).split()[2:]
    path = run_dir / path
    assert step_of(path) == int(marked["step"]), out
    assert score == marked["val/mcc"] + ":", out
    # Here the earlier run's validation stays the best: it is named, and the resumed run keeps no
    # checkpoint of a validation that did not beat it.
    assert path == best_of(run_dir / "runs" / "cola" / "version_0"), out
    assert not list((run_dir / "runs" / "cola" / "version_1" / "checkpoints").glob("best-*.ckpt"))
    assert_untouched(earlier)


def test_a_fit_without_validation_ends_with_its_summary(tiny_model, glue_dir, run_dir, capsys):
    args = fit_args(tiny_model, glue_dir, "cola", *QUICK, "--trainer.limit_val_batches", "0",
                    "--trainer.limit_train_batches", "3")
    assert main(["fit", *args]) == 0
    assert (run_dir / "runs" / "cola" / "version_0" / "checkpoints" / "last.ckpt").is_file()


# --- runs started together ------------------------------------------------------------------------


def test_three_fits_started_together_get_three_folders(tiny_model, glue_dir, run_dir):
    args = fit_args(tiny_model, glue_dir, "sst2", *QUICK, "--trainer.limit_train_batches", "2",
                    "--trainer.limit_val_batches", "1")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "glue_lit", "fit", *args], cwd=run_dir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(e[-2000:] for e in errors)
    runs = sorted(p.name for p in (run_dir / "runs" / "sst2").iterdir())
    assert runs == ["version_0", "version_1", "version_2"]
    for run in runs:
        folder = run_dir / "runs" / "sst2" / run
        assert (folder / "config.yaml").is_file() and (folder / "checkpoints" / "last.ckpt").is_file()


def test_claim_version_never_gives_a_folder_twice(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from glue_lit.versions import claim_version

    (tmp_path / "version_3").mkdir()
    (tmp_path / "version_x").mkdir()
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda _: claim_version(tmp_path), range(16)))
    assert sorted(claimed) == list(range(4, 20))


# --- a checkpoint belongs to its task -------------------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "validate", "fit"])
def test_a_checkpoint_of_another_task_is_refused(command, earlier, tiny_model, glue_dir, run_dir, capsys):
    best = best_of(run_dir / "runs" / "cola" / "version_0")
    args = fit_args(tiny_model, glue_dir, "mrpc", "--ckpt_path", str(best), "--predictions.output_dir", "out")
    line = fails([command, *args], capsys, earlier)
    assert line == (f"glue_lit: error: {best} is a cola checkpoint (single_label_classification, labels: "
                    "unacceptable, acceptable); mrpc needs a checkpoint fine-tuned on mrpc "
                    "(single_label_classification, labels: not_equivalent, equivalent): give that, or "
                    "--data.task_name cola")
    assert not (run_dir / "out").exists() and not (run_dir / "runs" / "mrpc").exists()


def test_export_refuses_a_checkpoint_of_another_task(earlier, run_dir, capsys):
    best = best_of(run_dir / "runs" / "cola" / "version_0")
    line = fails(["export", "--ckpt_path", str(best), "--out", "exported", "--data.task_name", "stsb"],
                 capsys, earlier)
    assert f"{best} is a cola checkpoint" in line and "stsb needs a checkpoint fine-tuned on stsb" in line
    assert not (run_dir / "exported").exists()


def test_task_check_takes_the_model_task_and_refuses_another_label_set():
    mnli = GlueCheckpoint(Path("m.ckpt"), {"hyper_parameters": {"task_name": "mnli"}})
    mnli.check_task(get_task("ax"))  # AX is predicted with an MNLI model
    mnli.check_task(get_task("mnli"))
    relabelled = GlueCheckpoint(Path("c.ckpt"), {
        "hyper_parameters": {"task_name": "cola"},
        "hf_config": '{"id2label": {"0": "bad", "1": "good", "2": "maybe"}, "problem_type": '
                     '"single_label_classification"}',
    })
    with pytest.raises(GlueLitError, match="c.ckpt is a cola checkpoint .*labels: bad, good, maybe.*; "
                                           "cola needs .*labels: unacceptable, acceptable"):
        relabelled.check_task(get_task("cola"))


# --- users' own files -----------------------------------------------------------------------------


def own_fit(tiny_model, glue_dir, tmp_path, task: str, *extra: str, **files: str) -> list[str]:
    data_files = "{" + ", ".join(f"{split}: {tmp_path / name}" for split, name in files.items()) + "}"
    return ["fit", *fit_args(tiny_model, glue_dir, task, *QUICK, "--data.data_files", data_files, *extra)]


def test_own_file_that_is_not_utf8_names_the_line(tiny_model, glue_dir, run_dir, tmp_path, capsys):
    (tmp_path / "mine.csv").write_bytes("sentence,label\na cat,1\nun caf\u00e9,0\n".encode("latin-1"))
    line = fails(own_fit(tiny_model, glue_dir, tmp_path, "sst2", train="mine.csv"), capsys, {})
    assert line == (f"glue_lit: error: {tmp_path}/mine.csv:3: not UTF-8 text (byte 0xe9); "
                    "save the file as UTF-8")
    assert not (run_dir / "runs").exists()  # the folder claimed for the run was given back


def test_own_files_with_a_bom_another_label_column_and_an_unlabelled_test_split(
    tiny_model, glue_dir, run_dir, tmp_path, capsys
):
    # The label column's name differs from the task's: set with --data.label_column, the fit runs
    # (its validation scores the labels read from the file); the test split has none and predicts.
    rows = [("the cat sat", 1), ("not a dog", 0)] * 8
    train = "\ufeffsentence,verdict\r\n" + "".join(f"{s},{y}\r\n" for s, y in rows)
    (tmp_path / "train.csv").write_text(train, encoding="utf-8")
    (tmp_path / "dev.jsonl").write_text("".join(f'{{"sentence": "{s}", "verdict": {y}}}\n' for s, y in rows))
    (tmp_path / "test.tsv").write_text("sentence\n" + "".join(f"{s}\n" for s, _ in rows))
    args = own_fit(tiny_model, glue_dir, tmp_path, "sst2", "--data.label_column", "verdict",
                   train="train.csv", validation="dev.jsonl", test="test.tsv")
    assert main(args) == 0
    assert "val/accuracy" in capsys.readouterr().out
    ckpt = next((run_dir / "runs" / "sst2" / "version_0" / "checkpoints").glob("best-*.ckpt"))
    predict = ["predict", *args[1:], "--ckpt_path", str(ckpt), "--predictions.output_dir", "out"]
    assert main(predict) == 0
    assert len((run_dir / "out" / "test.predictions.tsv").read_text().splitlines()) == 1 + len(rows)
