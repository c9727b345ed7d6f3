"""LoRA adapters (``--model.peft``) on the tiny BERT: what trains and is saved, export merged and as
an adapter, a tune study over rank and alpha, and the LoRA vs full fine-tuning script. Resuming after
SIGKILL is tested beside full fine-tuning in test_resume.py; bad LoRA options in test_errors.py."""

from __future__ import annotations

import json
import sys

import pytest
import test_export
import test_tune
import torch
import yaml
from conftest import REPO, fit_args
from optuna.trial import TrialState
from test_export import assert_pipeline_predicts, predict_dev
from test_tune import load, tune_args

from glue_lit.__main__ import main
from glue_lit.cli import build_run, cli_main
from glue_lit.tasks import get_task

LORA = ("--model.peft", "{r: 4, alpha: 8}")
# Fixtures of the full fine-tuning tests, used here too: 3-step fits of a copy of the tiny model
# (trained(task, *options)), and a tune base config of the tiny model on the little STS-B.
trained = test_export.trained
base = test_tune.base


def test_lora_trains_and_saves_only_the_adapter_head_and_pooler(trained, tiny_model, glue_dir, run_dir):
    ckpt_path = trained("stsb", *LORA)
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert ckpt["adapter"] == {"r": 4, "alpha": 8.0, "dropout": 0.0, "target_modules": ["query", "value"]}
    saved = set(ckpt["state_dict"])
    adapters = {k for k in saved if ".lora_A." in k or ".lora_B." in k}
    assert {k.split(".")[-4] for k in adapters} == {"query", "value"}
    # The head and the pooler train in full and are saved (peft #310, #577); nothing frozen is.
    assert {k.split(".modules_to_save.")[0] for k in saved - adapters} == {
        "model.base_model.model.classifier", "model.base_model.model.bert.pooler"}
    assert len(ckpt["optimizer_states"][0]["state"]) == len(saved)  # Adam state of those alone
    full = torch.load(trained("stsb"), map_location="cpu", weights_only=True)["state_dict"]
    assert sum(v.numel() for v in ckpt["state_dict"].values()) < 0.15 * sum(v.numel() for v in full.values())

    # validate needs no --model.peft: Lightning reads it from the checkpoint; the score is fit's.
    fitted = next(v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint"))
    cli = cli_main(["validate", *fit_args(tiny_model, glue_dir, "stsb"), "--ckpt_path", ckpt_path])
    assert float(cli.trainer.callback_metrics["val/pearson"]) == pytest.approx(
        float(fitted["best_model_score"]), abs=1e-6)
    assert cli.model.hparams.peft == ckpt["adapter"]


def test_full_fine_tuning_is_unchanged_without_peft(tiny_model, glue_dir, run_dir):
    model = build_run([*fit_args(tiny_model, glue_dir, "cola"), "--trainer.logger", "false"]).model
    assert model.hparams.peft is None and type(model.model).__name__ == "BertForSequenceClassification"
    assert all(p.requires_grad for p in model.parameters())


def test_default_targets_follow_the_architecture(tiny_model, glue_dir, run_dir, tmp_path):
    # DistilBERT (the Hub default model) names its attention projections q_lin and v_lin, BERT query
    # and value: `--model.peft '{}'` adapts those on either, and the checkpoint records which.
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128)
    distilbert = tmp_path / "tiny-distilbert"
    DistilBertForSequenceClassification(config).save_pretrained(distilbert)
    tokenizer.save_pretrained(distilbert)
    for model, targets in ((str(distilbert), ["q_lin", "v_lin"]), (tiny_model, ["query", "value"])):
        cli = cli_main(["fit", *fit_args(model, glue_dir, "sst2", "--model.peft", "{}",
                                         "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2")])
        ckpt = torch.load(cli.trainer.checkpoint_callback.best_model_path, map_location="cpu",
                          weights_only=True)
        assert ckpt["adapter"]["target_modules"] == targets
        adapted = {k.split(".lora_A.")[0].rsplit(".", 1)[-1] for k in ckpt["state_dict"] if ".lora_A." in k}
        assert adapted == set(targets)


@pytest.mark.parametrize("task", ["cola", "stsb"])
def test_lora_export_merged_and_as_adapter_both_predict_like_predict(task, trained, glue_dir, run_dir,
                                                                     monkeypatch):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    ckpt = trained(task, *LORA)
    assert main(["export", "--ckpt_path", ckpt, "--out", "merged"]) == 0
    assert main(["export", "--ckpt_path", ckpt, "--out", "adapter", "--adapter"]) == 0
    ours = predict_dev(trained, glue_dir, task, ckpt, run_dir)

    # Merged: a plain transformers folder; it loads and predicts with peft unavailable.
    assert not (run_dir / "merged" / "adapter_config.json").exists()
    query = "bert.encoder.layer.0.attention.self.query.weight"
    merged, original = (load_file(p / "model.safetensors")[query] for p in (run_dir / "merged", trained.base))
    assert not torch.equal(merged, original)  # the adapter is in the weights
    with monkeypatch.context() as mp:
        mp.setitem(sys.modules, "peft", None)
        assert_pipeline_predicts(pipeline("text-classification", model=str(run_dir / "merged"), device="cpu"),
                                 glue_dir, task, ours)

    # Adapter: the peft folder, head included, on the base model built with the task's labels.
    t = get_task(task)
    base_model = AutoModelForSequenceClassification.from_pretrained(
        trained.base, num_labels=t.num_labels, id2label=t.id2label, label2id=t.label2id,
        problem_type=t.problem_type, ignore_mismatched_sizes=True)
    model = PeftModel.from_pretrained(base_model, run_dir / "adapter").get_base_model().eval()
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    assert_pipeline_predicts(pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu"),
                             glue_dir, task, ours)
    size = (run_dir / "adapter" / "adapter_model.safetensors").stat().st_size
    assert size < 0.15 * (run_dir / "merged" / "model.safetensors").stat().st_size


def test_export_adapter_of_a_full_checkpoint_is_an_error(trained, run_dir, capsys):
    assert main(["export", "--ckpt_path", trained("cola"), "--out", "x", "--adapter"]) == 2
    assert "is a full fine-tuning checkpoint: it has no adapter" in capsys.readouterr().err
    assert not (run_dir / "x").exists()


@pytest.mark.slow  # a study (10 s)
def test_a_lora_tune_study_searches_rank_and_alpha_beside_the_rate(base, run_dir):
    space = REPO / "configs" / "tune" / "lora.yaml"
    # Rates at the top of the space, on the whole little train split: below them the tiny model's
    # adapter leaves its output constant, a collapsed trial that tune prunes instead of scoring.
    assert main(tune_args(base, space, "--tune.n_trials", "2", "--tune.heartbeat_interval", "1",
                          "--tune.train_subset", "1.0", "--tune.enqueue",
                          "[{model.learning_rate: 3.0e-3}, {model.learning_rate: 2.5e-3}]")) == 0
    trials = load(run_dir).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:  # each trial trained the adapter it sampled
        assert {"model.learning_rate", "model.peft.r", "model.peft.alpha"} <= set(t.params)
        logged = yaml.safe_load((run_dir / "studies" / "stsb" / f"trial_{t.number}" / "hparams.yaml")
                                .read_text())
        assert (logged["peft"]["r"], logged["peft"]["alpha"]) == (t.params["model.peft.r"],
                                                                  t.params["model.peft.alpha"])
    best = run_dir / "studies" / "stsb" / "best.yaml"
    model = build_run(["--config", str(base), "--config", str(best), "--trainer.logger", "false"]).model
    params = load(run_dir).best_params
    assert (model.hparams.peft["r"], model.hparams.peft["alpha"]) == (params["model.peft.r"],
                                                                      params["model.peft.alpha"])
    assert model.hparams.learning_rate == params["model.learning_rate"]


@pytest.mark.slow  # two benchmarks and a process per method for peak memory (37 s)
def test_lora_vs_full_script_tabulates_both_and_reuses_finished_runs(tiny_model, glue_dir, run_dir,
                                                                     monkeypatch):
    from benchmarks.experiments import lora_vs_full as script

    options = ["--tasks", "stsb", "--seeds", "1", "--full_lr", "1e-3", "--lora", "{r: 4}", "--out", "out",
               "--steps", "2", "--warmup", "1", "--rounds", "2", "--max_train", "40",
               *fit_args(tiny_model, glue_dir, "stsb", "--trainer.max_epochs", "1")[2:]]
    script.main(options)
    rows = {r["method"]: r for r in json.loads((run_dir / "out" / "lora_vs_full.json").read_text())}
    full, lora = rows["full"], rows["lora"]
    assert lora["trainable"] < 0.15 * full["trainable"] and lora["ckpt_mb"] < full["ckpt_mb"]
    for r in rows.values():
        assert r["step_s"] > 0 and len(r["rounds_s"]) == 2 and r["memory"]["rss_mb"] > 0
    assert full["metric"]["n"] == lora["metric"]["n"] == 1
    table = (run_dir / "out" / "lora_vs_full.md").read_text()
    assert "| stsb | full | 0.001 | pearson" in table and "| stsb | lora | 0.001 | pearson" in table

    # Again, with the full fine-tuning records of that run: nothing is trained again. (Peak memory,
    # a fresh process per method, was checked above; here it would only cost CI two more imports.)
    records = {p: p.read_bytes() for p in (run_dir / "out").glob("*/version_*/runs/*.json")}
    monkeypatch.setattr(script, "peak_memory", lambda *_: {"rss_mb": 1.0})
    script.main([*options, "--full_from", str(run_dir / "out" / "full")])
    assert {p: p.read_bytes() for p in (run_dir / "out").glob("*/version_*/runs/*.json")} == records
    assert not list((run_dir / "out").glob("*/version_1"))
