"""predict -> GLUE submission files and predictions on the user's files; export -> a Hugging Face folder."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_GLUE, fit_args, work_in

from glue_lit import get_task
from glue_lit.__main__ import main
from glue_lit.cli import cli_main
from glue_lit.sources import read_glue_split

# What the GLUE leaderboard accepts in each file (GLUE_FORMATS.md); STS-B is checked as a float.
NLI3 = {"entailment", "neutral", "contradiction"}
NLI2 = {"entailment", "not_entailment"}
BINARY = {"0", "1"}
SUBMISSIONS = {
    "cola": {"CoLA.tsv": BINARY}, "sst2": {"SST-2.tsv": BINARY}, "mrpc": {"MRPC.tsv": BINARY},
    "qqp": {"QQP.tsv": BINARY}, "stsb": {"STS-B.tsv": None},
    "mnli": {"MNLI-m.tsv": NLI3, "MNLI-mm.tsv": NLI3}, "qnli": {"QNLI.tsv": NLI2},
    "rte": {"RTE.tsv": NLI2}, "wnli": {"WNLI.tsv": BINARY}, "ax": {"AX.tsv": NLI3},
}


def read_submission(path: Path) -> tuple[list[int], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "index\tprediction"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 2 for r in rows)
    return [int(r[0]) for r in rows], [r[1] for r in rows]


def check_submission(path: Path, allowed: set[str] | None, rows: int) -> list[str]:
    index, values = read_submission(path)
    assert index == list(range(rows))
    if allowed is None:  # STS-B: a float with three decimals in [0, 5]
        assert all(len(v.split(".")[1]) == 3 and 0.0 <= float(v) <= 5.0 for v in values)
    else:
        assert set(values) <= allowed
    return values


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="," if path.suffix == ".csv" else "\t"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, glue_dir):
    """``trained(task, *options)``: best checkpoint of a 3-step fit of a copy of the tiny model
    (``base``) with the fit ``options``."""
    root = tmp_path_factory.mktemp("trained")
    base = shutil.copytree(tiny_model, root / "base")
    checkpoints: dict[tuple[str, ...], str] = {}

    def get(task: str, *options: str) -> str:
        if (task, *options) not in checkpoints:
            with pytest.MonkeyPatch.context() as mp:
                work_in(root, mp)
                cli = cli_main(["fit", *fit_args(str(base), glue_dir, task, "--trainer.max_epochs", "1",
                                                 "--trainer.limit_train_batches", "3", *options)])
            checkpoints[(task, *options)] = str(root / cli.trainer.checkpoint_callback.best_model_path)
        return checkpoints[(task, *options)]

    get.base = base
    return get


def predict_args(trained, glue_dir: Path, task: str, *extra: str) -> list[str]:
    return ["predict", *fit_args(str(trained.base), glue_dir, task, *extra)]


@pytest.mark.parametrize("task", SUBMISSIONS)
def test_predict_writes_the_glue_submission_file(task, tiny_model, glue_dir, run_dir):
    args = fit_args(tiny_model, glue_dir, task, "--predictions.output_dir", "out")
    assert main(["predict", *args]) == 0
    assert sorted(p.name for p in (run_dir / "out").iterdir()) == sorted(SUBMISSIONS[task])
    for name, allowed in SUBMISSIONS[task].items():
        check_submission(run_dir / "out" / name, allowed, rows=20)


def test_stsb_submission_clips_to_0_5_with_three_decimals():
    stsb = get_task("stsb")
    assert [stsb.submission_value(x) for x in (-0.4, 2.34567, 7.1)] == ["0.000", "2.346", "5.000"]
    assert get_task("rte").submission_value(1) == "not_entailment"
    assert get_task("wnli").submission_value(1) == "1"


def test_without_output_dir_predictions_go_into_the_run_folder(tiny_model, glue_dir, run_dir):
    assert main(["predict", *fit_args(tiny_model, glue_dir, "rte")]) == 0
    check_submission(run_dir / "runs" / "rte" / "version_0" / "predictions" / "RTE.tsv", NLI2, rows=20)


def test_mnli_checkpoint_predicts_matched_mismatched_and_ax(trained, glue_dir, run_dir):
    ckpt = trained("mnli")
    assert main([*predict_args(trained, glue_dir, "mnli", "--predictions.output_dir", "out"),
                 "--ckpt_path", ckpt]) == 0
    args = predict_args(trained, glue_dir, "mnli", "--predictions.output_dir", "out")
    assert main([*args, "--data.task_name", "ax", "--ckpt_path", ckpt]) == 0
    matched = check_submission(run_dir / "out" / "MNLI-m.tsv", NLI3, rows=20)
    check_submission(run_dir / "out" / "MNLI-mm.tsv", NLI3, rows=20)
    ax = check_submission(run_dir / "out" / "AX.tsv", NLI3, rows=20)
    # The little AX file holds the same sentence pairs as MNLI's test files: the MNLI model must agree.
    assert ax == matched


def test_predictions_on_user_files_keep_the_rows_and_add_label_and_score(trained, glue_dir, run_dir):
    ckpt = trained("sst2")
    args = predict_args(trained, glue_dir, "sst2", "--predictions.output_dir", "out")
    assert main([*args, "--ckpt_path", ckpt]) == 0
    _, glue_ids = read_submission(run_dir / "out" / "SST-2.tsv")
    sentences = [r["sentence"] for r in read_rows(glue_dir / "SST-2" / "test.tsv")]
    with (run_dir / "mine.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["note", "sentence"])
        writer.writerows([f"row {i}, quoted", s] for i, s in enumerate(sentences))
    assert main([*args, "--ckpt_path", ckpt, "--data.data_files", "{test: mine.csv}",
                 "--predictions.output_dir", "mine"]) == 0
    rows = read_rows(run_dir / "mine" / "mine.predictions.csv")
    assert [r["note"] for r in rows] == [f"row {i}, quoted" for i in range(len(sentences))]
    assert [r["sentence"] for r in rows] == sentences
    names = get_task("sst2").label_names
    assert [r["prediction"] for r in rows] == [names[int(i)] for i in glue_ids]
    assert all(0.5 <= float(r["score"]) <= 1.0 for r in rows)
    assert len(set(r["score"] for r in rows)) > 1


def test_predictions_on_a_jsonl_file_of_pairs(trained, glue_dir, run_dir):
    lines = [{"a": "the cat sat", "b": "the cat is not on the mat"}, {"a": "a dog ran", "b": "it ran"}]
    (run_dir / "pairs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    args = predict_args(trained, glue_dir, "rte", "--predictions.output_dir", "out")
    assert main([*args, "--ckpt_path", trained("rte"), "--data.data_files", "{test: pairs.jsonl}",
                 "--data.text_columns", "[a, b]"]) == 0
    rows = read_rows(run_dir / "out" / "pairs.predictions.jsonl")
    assert [(r["a"], r["b"]) for r in rows] == [(x["a"], x["b"]) for x in lines]
    assert all(r["prediction"] in NLI2 and 0.5 <= r["score"] <= 1 for r in rows)


def test_predict_never_overwrites_and_never_writes_a_partial_file(tiny_model, glue_dir, run_dir, capsys):
    args = ["predict", *fit_args(tiny_model, glue_dir, "wnli", "--predictions.output_dir", "out")]
    assert main(args) == 0
    before = (run_dir / "out" / "WNLI.tsv").read_text()
    assert main(args) == 2
    assert "WNLI.tsv already exists" in capsys.readouterr().err
    assert (run_dir / "out" / "WNLI.tsv").read_text() == before
    partial = ["predict", *fit_args(tiny_model, glue_dir, "wnli", "--predictions.output_dir", "part"),
               "--data.eval_batch_size", "8", "--trainer.limit_predict_batches", "1"]
    assert main(partial) == 2
    assert "predicted 8 of the 20 rows" in capsys.readouterr().err
    assert not (run_dir / "part" / "WNLI.tsv").exists()


def predict_dev(trained, glue_dir: Path, task: str, ckpt: str, run_dir: Path) -> list[dict]:
    """``glue_lit predict`` of ``ckpt`` on the dev texts given as a file of the user's: its rows."""
    t = get_task(task)
    dev = read_glue_split(glue_dir, t, t.validation[0])
    with (run_dir / "dev.jsonl").open("w") as f:
        for texts in zip(*dev.texts):
            f.write(json.dumps(dict(zip(t.text_keys, texts))) + "\n")
    args = predict_args(trained, glue_dir, task, "--predictions.output_dir", "out")
    assert main([*args, "--ckpt_path", ckpt, "--data.data_files", "{test: dev.jsonl}"]) == 0
    return read_rows(run_dir / "out" / "dev.predictions.jsonl")


def assert_pipeline_predicts(pipe, glue_dir: Path, task: str, ours: list[dict]) -> None:
    """The text-classification ``pipe`` gives ``ours`` (predict's rows) on the dev texts."""
    t = get_task(task)
    dev = read_glue_split(glue_dir, t, t.validation[0])
    assert pipe.model.config.id2label == t.id2label
    inputs = [texts[0] if len(texts) == 1 else {"text": texts[0], "text_pair": texts[1]}
              for texts in zip(*dev.texts)]
    theirs = pipe(inputs, truncation=True)
    if t.is_regression:
        assert [r["label"] for r in theirs] == ["score"] * len(ours)
    else:
        assert [r["label"] for r in theirs] == [r["prediction"] for r in ours]
    assert [r["score"] for r in theirs] == pytest.approx([r["score"] for r in ours], abs=1e-5)


SLOW_TASKS = [pytest.param(t, marks=pytest.mark.slow) for t in ("mrpc", "stsb")]  # 8-13 s each


@pytest.mark.parametrize("task", ["cola", *SLOW_TASKS])
def test_exported_folder_works_offline_in_a_pipeline_like_predict(task, trained, glue_dir, run_dir):
    from transformers import pipeline

    ckpt = trained(task)
    hidden = trained.base.with_name("base-hidden")
    trained.base.rename(hidden)  # export must need neither the Hub nor the base model
    try:
        assert main(["export", "--ckpt_path", ckpt, "--out", "exported"]) == 0
    finally:
        hidden.rename(trained.base)
    ours = predict_dev(trained, glue_dir, task, ckpt, run_dir)
    pipe = pipeline("text-classification", model=str(run_dir / "exported"), device="cpu")
    assert_pipeline_predicts(pipe, glue_dir, task, ours)


def test_a_checkpoint_alone_holds_the_config_tokenizer_and_weights(trained, tiny_model):
    from glue_lit.checkpoint import GlueCheckpoint
    from glue_lit.hub import load_tokenizer

    ckpt = GlueCheckpoint.read(Path(trained("stsb")))
    assert (ckpt.task_name, ckpt.max_length) == ("stsb", 128)
    config = ckpt.hf_config()
    assert (config.problem_type, config.num_labels) == ("regression", 1)
    text = "the cat is not on the mat"
    assert ckpt.tokenizer()(text)["input_ids"] == load_tokenizer(tiny_model)(text)["input_ids"]
    assert {"classifier.weight", "classifier.bias"} <= set(ckpt.model_weights)


def test_export_refuses_a_used_folder_and_a_missing_checkpoint(trained, run_dir, capsys):
    (run_dir / "used").mkdir()
    (run_dir / "used" / "keep.txt").write_text("mine")
    assert main(["export", "--ckpt_path", trained("cola"), "--out", "used"]) == 2
    assert "used already exists and is not empty" in capsys.readouterr().err
    assert main(["export", "--ckpt_path", "nowhere.ckpt", "--out", "new"]) == 2
    assert "checkpoint not found: nowhere.ckpt" in capsys.readouterr().err
    assert not (run_dir / "new").exists() and (run_dir / "used" / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_ddp_predict_writes_each_row_once_in_file_order(trained, glue_dir, run_dir):
    """Two CPU processes predict half each and rank 0 merges: the same rows and scores as one process."""
    rte = get_task("rte")
    pairs = zip(*read_glue_split(glue_dir, rte, rte.validation[0]).texts)
    (run_dir / "pairs.tsv").write_text("sentence1\tsentence2\n" + "".join(f"{a}\t{b}\n" for a, b in pairs))
    outputs = {}
    for name, extra in (("one", []), ("ddp", ["--trainer.strategy", "ddp_spawn", "--trainer.devices", "2"])):
        args = [*predict_args(trained, glue_dir, "rte", "--predictions.output_dir", name, *extra),
                "--ckpt_path", trained("rte"), "--data.eval_batch_size", "4",
                "--data.data_files", "{test: pairs.tsv}"]
        if extra:  # spawned workers need an importable entry point, not pytest's
            proc = subprocess.run([sys.executable, "-m", "glue_lit", *args], cwd=run_dir,
                                  capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr[-3000:]
        else:
            assert main(args) == 0
        outputs[name] = read_rows(run_dir / name / "pairs.predictions.tsv")
    one, ddp = outputs["one"], outputs["ddp"]
    assert len(ddp) == 40 and [r["sentence1"] for r in ddp] == [r["sentence1"] for r in one]
    assert [r["prediction"] for r in ddp] == [r["prediction"] for r in one]
    assert [float(r["score"]) for r in ddp] == pytest.approx([float(r["score"]) for r in one], abs=1e-5)


# --- the real CoLA data and the packaged MiniLM ----------------------------------------------------

real = pytest.mark.skipif(not SHARED_GLUE.is_dir(), reason="real GLUE data not present")


@pytest.fixture(scope="module")
def real_cola(tmp_path_factory):
    """A 30-step MiniLM fit on real CoLA (480 examples, batch 16): not good, but really trained."""
    root = tmp_path_factory.mktemp("real_cola")
    with pytest.MonkeyPatch.context() as mp:
        work_in(root, mp)
        cli = cli_main(["fit", "--config", f"{REPO}/configs/cola.yaml",
                        "--config", f"{REPO}/configs/minilm.yaml", "--data.data_dir", str(SHARED_GLUE),
                        "--data.train_subset", "480", "--data.batch_size", "16",
                        "--model.learning_rate", "1e-4", "--trainer.max_epochs", "1",
                        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"])
    callback = cli.trainer.checkpoint_callback
    return root, str(root / callback.best_model_path), float(callback.best_model_score)


@pytest.fixture
def real_run(real_cola, monkeypatch):
    """real_cola, with the test running in its folder: predict's logs stay out of the caller's."""
    work_in(real_cola[0], monkeypatch)
    return real_cola


def real_args(root: Path, out: str, *extra: str) -> list[str]:
    return ["predict", "--config", f"{REPO}/configs/cola.yaml", "--config", f"{REPO}/configs/minilm.yaml",
            "--data.data_dir", str(SHARED_GLUE), "--predictions.output_dir", str(root / out),
            "--trainer.enable_progress_bar", "false", *extra]


@real
@pytest.mark.slow
def test_real_cola_checkpoint_writes_the_1063_row_submission(real_run):
    root, ckpt, _ = real_run
    assert main(real_args(root, "submission", "--ckpt_path", ckpt)) == 0
    check_submission(root / "submission" / "CoLA.tsv", BINARY, rows=1063)


@real
@pytest.mark.slow
def test_real_cola_export_matches_predict_and_the_fit_metric(real_run):
    import torch
    from torchmetrics.classification import MatthewsCorrCoef
    from transformers import pipeline

    root, ckpt, fit_mcc = real_run
    cola = get_task("cola")
    dev = read_glue_split(SHARED_GLUE, cola, cola.validation[0])
    (root / "dev.tsv").write_text("sentence\n" + "".join(s + "\n" for s in dev.texts[0]), encoding="utf-8")
    user_file = f"{{test: {root}/dev.tsv}}"
    assert main(real_args(root, "dev", "--ckpt_path", ckpt, "--data.data_files", user_file)) == 0
    ours = read_rows(root / "dev" / "dev.predictions.tsv")
    assert main(["export", "--ckpt_path", ckpt, "--out", str(root / "exported")]) == 0

    pipe = pipeline("text-classification", model=str(root / "exported"), device="cpu")
    theirs = pipe(list(dev.texts[0]), batch_size=64, truncation=True)
    assert [r["label"] for r in theirs] == [r["prediction"] for r in ours]
    assert [r["score"] for r in theirs] == pytest.approx([float(r["score"]) for r in ours], abs=1e-4)
    predicted = torch.tensor([cola.label_names.index(r["prediction"]) for r in ours])
    mcc = MatthewsCorrCoef(task="binary")(predicted, torch.tensor(dev.labels, dtype=torch.long))
    assert float(mcc) == pytest.approx(fit_mcc, abs=1e-6)
