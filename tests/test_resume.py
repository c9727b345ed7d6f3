"""Never lose a run: SIGKILL mid-epoch and resume; the same seed and config give the same run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, fit_args
from lightning.pytorch.callbacks import Callback
from test_cli import tb_scalars

from glue_lit.__main__ import main
from glue_lit.cli import build_run
from glue_lit.data import GLUEDataModule
from glue_lit.resume import ResumableLoader

TESTS = Path(__file__).resolve().parent


class PauseAtStep(Callback):
    """Holds the training process after optimizer step ``step`` (and says so in ``marker``).

    Checkpoint callbacks run after this one, so the newest last.ckpt is from before ``step``.
    """

    def __init__(self, step: int, marker: str):
        self.step = step
        self.marker = marker

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            Path(self.marker).touch()
            time.sleep(600)


def glue_lit(cwd: Path, *args: str) -> subprocess.Popen:
    """``python -m glue_lit ARGS`` in ``cwd``, output to ``cwd/log.txt``; PauseAtStep importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}
    with (cwd / "log.txt").open("w") as log:
        return subprocess.Popen([sys.executable, "-m", "glue_lit", *args], cwd=cwd, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, cwd: Path) -> str:
    proc.wait(timeout=300)
    out = (cwd / "log.txt").read_text()
    assert proc.returncode == 0, out[-3000:]
    return out


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "weights differ"


# 160 train rows / batch 8 = 20 steps per epoch; STS-B's loss and Pearson show any numeric drift.
RUN = ("--trainer.max_epochs", "3", "--last_checkpoint.every_n_train_steps", "5",
       "--early_stopping.patience", "10")


# A LoRA run resumes as exactly: its checkpoints hold only the adapter, head and pooler (and their
# optimizer state); the frozen weights are loaded again from the base model.
@pytest.mark.slow  # a process killed and run again, twice (55 s each on 2 shared cores)
@pytest.mark.parametrize("method", [(), ("--model.peft", "{r: 4, dropout: 0.1}")], ids=["full", "lora"])
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
    tiny_model, glue_dir, tmp_path, monkeypatch, method
):
    monkeypatch.setenv("GLUE_LIT_CACHE", str(tmp_path / "cache"))  # shared by the two first runs
    base = [*fit_args(tiny_model, glue_dir, "stsb"), *RUN, *method]
    (tmp_path / "straight").mkdir()
    (tmp_path / "killed").mkdir()
    marker = tmp_path / "paused"
    straight = glue_lit(tmp_path / "straight", "fit", *base)
    # Step 33 is in the middle of epoch 1; the newest last.ckpt is then from step 30.
    killed = glue_lit(
        tmp_path / "killed", "fit", *base, "--trainer.callbacks+=test_resume.PauseAtStep",
        "--trainer.callbacks.step=33", f"--trainer.callbacks.marker={marker}",
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert killed.poll() is None, (tmp_path / "killed" / "log.txt").read_text()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL

    runs = tmp_path / "killed" / "runs" / "stsb"
    last = runs / "version_0" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 30 and state["epoch"] == 1  # saved mid-epoch, not at its end
    killed_files = {p: p.read_bytes() for p in (runs / "version_0").rglob("*") if p.is_file()}

    out = finish(glue_lit(tmp_path / "killed", "fit", *base, "--ckpt_path", "last"), tmp_path / "killed")
    assert "Restored all states from the checkpoint at runs/stsb/version_0/checkpoints/last.ckpt" in out
    finish(straight, tmp_path / "straight")

    # The resumed run logs to a new version folder; the killed run's files are untouched.
    assert {p: p.read_bytes() for p in (runs / "version_0").rglob("*") if p.is_file()} == killed_files
    resumed = tb_scalars(runs / "version_1")
    reference = tb_scalars(tmp_path / "straight" / "runs" / "stsb" / "version_0")
    assert len(reference["val/loss"]) == 3 and len(resumed["val/loss"]) == 2  # epochs 1 and 2 only
    for key in ("val/loss", "val/pearson", "val/spearman"):
        assert resumed[key][-1] == reference[key][-1], key  # bit for bit
    assert_same_weights(
        runs / "version_1" / "checkpoints" / "last.ckpt",
        tmp_path / "straight" / "runs" / "stsb" / "version_0" / "checkpoints" / "last.ckpt",
    )


def test_ckpt_path_last_finds_the_previous_runs_last_checkpoint(tiny_model, glue_dir, run_dir):
    def fit(epochs: str) -> None:
        args = fit_args(tiny_model, glue_dir, "wnli", "--trainer.max_epochs", epochs)
        assert main(["fit", *args, "--ckpt_path", "last"]) == 0

    with pytest.warns(UserWarning, match="no last.ckpt in .*starting from scratch"):
        fit("1")  # nothing to resume yet: a set-and-forget `--ckpt_path last` starts the run
    runs = run_dir / "runs" / "wnli"
    assert torch.load(runs / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 0
    fit("2")  # continues version_0 in a new version folder: trains epoch 1 only
    assert len(tb_scalars(runs / "version_1")["val/loss"]) == 1
    state = torch.load(runs / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["epoch"] == 1 and state["global_step"] == 2 * 160 // 8


@pytest.mark.parametrize("first, then", [("0.5", "1.0"), ("1.0", "0.5")])
def test_a_resume_with_another_val_check_interval_trains_on(tiny_model, glue_dir, run_dir, first, then):
    # Validations twice an epoch, then once (or the other way): early stopping still finds its metric.
    def fit(epochs: str, interval: str) -> None:
        args = fit_args(tiny_model, glue_dir, "cola", "--trainer.max_epochs", epochs,
                        "--trainer.val_check_interval", interval, "--early_stopping.patience", "100")
        assert main(["fit", *args, "--ckpt_path", "last"]) == 0

    with pytest.warns(UserWarning, match="no last.ckpt"):
        fit("1", first)
    fit("2", then)
    runs = run_dir / "runs" / "cola"
    assert len(tb_scalars(runs / "version_1")["val/loss"]) == (1 if then == "1.0" else 2)
    state = torch.load(runs / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 2 * 160 // 8


def test_ckpt_path_last_in_a_shared_checkpoint_folder(tiny_model, glue_dir, run_dir):
    args = fit_args(tiny_model, glue_dir, "wnli", "--checkpoint.dirpath", "ckpts",
                    "--trainer.max_epochs", "1")
    assert main(["fit", *args]) == 0
    ckpts = run_dir / "ckpts"
    first = {p.name: p.read_bytes() for p in ckpts.iterdir()}
    assert main(["fit", *args]) == 0  # another run into the same folder overwrites nothing
    assert {p.name: p.read_bytes() for p in ckpts.iterdir() if p.name in first} == first
    assert (ckpts / "last-v1.ckpt").is_file()
    assert main(["fit", *args, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    state = torch.load(ckpts / "last-v1.ckpt", weights_only=False)  # the newest run, continued
    assert state["epoch"] == 1 and state["global_step"] == 2 * 160 // 8


def test_loader_resumes_at_the_next_batch_of_the_same_epoch(glue_dir, tiny_model, run_dir):
    dm = GLUEDataModule("sst2", tiny_model, data_dir=str(glue_dir), batch_size=8)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert isinstance(loader, ResumableLoader)
    loader.batch_sampler.sampler.set_epoch(1)
    full = [b["idx"].tolist() for b in loader]
    it = iter(loader)
    seen = [next(it)["idx"].tolist() for _ in range(7)]
    state = loader.state_dict()
    assert state == {"epoch": 1, "batches": 7} and seen == full[:7]

    fresh = dm.train_dataloader()
    fresh.load_state_dict(state)
    fresh.batch_sampler.sampler.set_epoch(1)
    assert len(fresh) == len(full)  # Lightning counts the skipped batches as done
    it = iter(fresh)
    assert [next(it)["idx"].tolist() for _ in range(3)] == full[7:10]
    assert fresh.state_dict() == {"epoch": 1, "batches": 10}  # a second kill in the same epoch
    again = dm.train_dataloader()
    again.load_state_dict(fresh.state_dict())
    again.batch_sampler.sampler.set_epoch(1)
    assert [b["idx"].tolist() for b in again] == full[10:]
    # A checkpoint after an epoch's last batch resumes at the start of the next epoch.
    fresh.load_state_dict({"epoch": 1, "batches": len(full)})
    fresh.batch_sampler.sampler.set_epoch(2)
    assert len([b for b in fresh]) == len(full)


def test_every_epoch_has_its_own_batch_order(tiny_model, glue_dir, run_dir, monkeypatch):
    orders = []
    original = ResumableLoader.__iter__

    def recording(self):
        orders.append([])
        for batch in original(self):
            orders[-1].append(batch["idx"].tolist())
            yield batch

    monkeypatch.setattr(ResumableLoader, "__iter__", recording)
    assert main(["fit", *fit_args(tiny_model, glue_dir, "sst2", "--trainer.max_epochs", "2")]) == 0
    assert len(orders) == 2 and orders[0] != orders[1]
    assert sorted(sum(orders[0], [])) == sorted(sum(orders[1], [])) == list(range(160))


def final_state(run: Path) -> tuple[dict, dict]:
    return tb_scalars(run), weights(run / "checkpoints" / "last.ckpt")


def test_same_seed_same_run_bit_for_bit(tiny_model, glue_dir, run_dir):
    for seed in ("7", "7", "8"):
        args = fit_args(tiny_model, glue_dir, "mrpc", "--seed_everything", seed, "--trainer.max_epochs", "1")
        assert main(["fit", *args]) == 0
    runs = [run_dir / "runs" / "mrpc" / f"version_{i}" for i in range(3)]
    (s0, w0), (s1, w1), (s2, w2) = (final_state(r) for r in runs)
    assert s0["val/loss"] == s1["val/loss"] and s0["train/loss"] == s1["train/loss"]
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    # Another seed changes the head init, the dropout and the data order: a different run.
    assert s2["train/loss"] != s0["train/loss"]
    assert not all(torch.equal(w0[k], w2[k]) for k in w0)


def test_seed_everything_seeds_the_data_order(glue_dir, tiny_model, run_dir):
    def first_batch(*options: str) -> list[int]:
        cli = build_run(fit_args(tiny_model, glue_dir, "sst2", *options))
        # config.yaml keeps data.seed as given: rerun from it, another --seed_everything reorders too.
        assert cli.config.data.seed == (5 if "--data.seed" in options else None)
        dm = cli.datamodule
        dm.setup("fit")
        return next(iter(dm.train_dataloader()))["idx"].tolist()

    assert first_batch("--seed_everything", "1") == first_batch("--seed_everything", "1")
    assert first_batch("--seed_everything", "1") != first_batch("--seed_everything", "2")
    fixed = ("--data.seed", "5")  # --data.seed fixes the data order on its own
    assert first_batch("--seed_everything", "1", *fixed) == first_batch("--seed_everything", "2", *fixed)
    # No seed at all: the data module's own default, 42, as with `--seed_everything 42`.
    assert first_batch("--seed_everything", "false") == first_batch("--seed_everything", "42")
