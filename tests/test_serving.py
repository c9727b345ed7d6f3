"""export --format onnx [--quantize int8]; predict/validate on an ONNX folder; serve over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, fit_args, work_in

from glue_lit.__main__ import main
from glue_lit.cli import cli_main

# fp32 ONNX logits against PyTorch's: onnxruntime's fused kernels sum in another order (measured:
# under 1e-6 on the tiny BERT, under 1e-5 on MiniLM).
LOGIT_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_model, glue_dir):
    """``models(task, *fit options)``: (checkpoint, ONNX fp32 folder, ONNX int8 folder) of a 3-step fit."""
    root = tmp_path_factory.mktemp("serving")
    base = shutil.copytree(tiny_model, root / "base")
    made: dict[tuple[str, ...], tuple[str, Path, Path]] = {}

    def get(task: str, *options: str):
        key = (task, *options)
        if key not in made:
            with pytest.MonkeyPatch.context() as mp:
                work_in(root, mp)
                cli = cli_main(["fit", *fit_args(str(base), glue_dir, task, "--trainer.max_epochs", "1",
                                                 "--trainer.limit_train_batches", "3", *options)])
                ckpt = str(root / cli.trainer.checkpoint_callback.best_model_path)
                name = "-".join(key).replace(".", "")
                out = [root / f"{name}-onnx", root / f"{name}-int8"]
                assert main(["export", "--ckpt_path", ckpt, "--format", "onnx", "--out", str(out[0])]) == 0
                assert main(["export", "--ckpt_path", ckpt, "--format", "onnx", "--quantize", "int8",
                             "--out", str(out[1])]) == 0
            made[key] = (ckpt, *out)
        return made[key]

    get.base = base
    return get


def _predict(model: str, glue_dir: Path, task: str, out: str, *extra: str) -> None:
    cli_main(["predict", *fit_args(model, glue_dir, task, "--predictions.output_dir", out, *extra)])


def _validate(model: str, glue_dir: Path, task: str, *extra: str) -> dict[str, float]:
    cli = cli_main(["validate", *fit_args(model, glue_dir, task, *extra)])
    return {k: float(v) for k, v in cli.trainer.callback_metrics.items()}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("task", ["cola", "stsb"])
def test_an_onnx_folder_predicts_and_validates_as_its_checkpoint(task, models, glue_dir, run_dir):
    ckpt, onnx, int8 = models(task)
    _predict(str(models.base), glue_dir, task, "from_ckpt", "--ckpt_path", ckpt)
    _predict(str(onnx), glue_dir, task, "from_onnx")
    name = {"cola": "CoLA.tsv", "stsb": "STS-B.tsv"}[task]
    ours = (run_dir / "from_ckpt" / name).read_text().splitlines()
    theirs = (run_dir / "from_onnx" / name).read_text().splitlines()
    if task == "cola":
        assert theirs == ours
    else:  # three decimals: a 1e-4 logit difference may round the last one the other way
        assert [float(r.split("\t")[1]) for r in theirs[1:]] == pytest.approx(
            [float(r.split("\t")[1]) for r in ours[1:]], abs=1.1e-3)
    # The user-file writer too: every row, the same labels, scores within the tolerance.
    mine = run_dir / "mine.jsonl"
    keys = ("sentence",) if task == "cola" else ("sentence1", "sentence2")
    mine.write_text("".join(json.dumps({k: f"the cat {i} is not here" if i % 2 else "a big red house"
                                        for k in keys} | {"id": i}) + "\n" for i in range(12)))
    files = ["--data.data_files", json.dumps({"test": str(mine)})]
    _predict(str(models.base), glue_dir, task, "user_ckpt", "--ckpt_path", ckpt, *files)
    _predict(str(onnx), glue_dir, task, "user_onnx", *files)
    a, b = _rows(run_dir / "user_ckpt" / "mine.predictions.jsonl"), _rows(run_dir / "user_onnx" /
                                                                           "mine.predictions.jsonl")
    assert [r["id"] for r in b] == list(range(12))
    assert [r["score"] for r in b] == pytest.approx([r["score"] for r in a], abs=LOGIT_TOLERANCE)
    if task == "cola":
        assert [r["prediction"] for r in b] == [r["prediction"] for r in a]
    # validate: the same dev metrics from the checkpoint, the fp32 and the int8 folder (to 1e-4; int8
    # is a rounding of the same weights: its metrics are real numbers of the same kind)
    want = _validate(str(models.base), glue_dir, task, "--ckpt_path", ckpt)
    got = _validate(str(onnx), glue_dir, task)
    assert set(got) == set(want)
    for key, value in want.items():
        # The 3-step STS-B model's outputs are nearly constant: their correlations turn 1e-6 score
        # differences into up to 1.4e-4 (measured), so those get 2e-3.
        close = 2e-3 if key.endswith(("pearson", "spearman")) else LOGIT_TOLERANCE
        assert got[key] == pytest.approx(value, abs=close), key
    quantized = _validate(str(int8), glue_dir, task)
    assert set(quantized) == set(want) and all(np.isfinite(list(quantized.values())))


def test_onnx_folders_load_in_plain_onnxruntime_with_labels_and_tokenizer(models):
    import onnxruntime as ort
    from transformers import AutoTokenizer

    ckpt, onnx, int8 = models("mrpc")
    config = json.loads((onnx / "config.json").read_text())
    assert config["id2label"] == {"0": "not_equivalent", "1": "equivalent"}
    info = json.loads((int8 / "glue_lit.json").read_text())
    assert (info["task"], info["precision"], info["max_length"]) == ("mrpc", "int8", 128)
    tok = AutoTokenizer.from_pretrained(int8)
    enc = tok(["the cat sat"], ["the cat is not on the mat"], return_tensors="np")
    for folder in (onnx, int8):
        sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        logits = sess.run(["logits"], {i.name: enc[i.name] for i in sess.get_inputs()})[0]
        assert logits.shape == (1, 2) and np.isfinite(logits).all()
    # int8 weights: the MatMuls hold a quarter of the bytes.
    assert (int8 / "model.onnx").stat().st_size < (onnx / "model.onnx").stat().st_size


def test_a_lora_checkpoint_exports_to_onnx_with_the_adapter_merged(models, tmp_path):
    from glue_lit.inference import load_classifier

    ckpt, onnx, _ = models("rte", "--model.peft.r", "4")
    texts, pairs = ["a big red house", "the man reads"], ["it is not small", "a woman writes quickly"]
    want = load_classifier(ckpt).predict(texts, pairs)
    got = load_classifier(onnx).predict(texts, pairs)
    assert got == pytest.approx(want, abs=LOGIT_TOLERANCE)
    info = json.loads((onnx / "glue_lit.json").read_text())
    assert info["task"] == "rte" and info["fp32_max_logit_difference"] < LOGIT_TOLERANCE


def test_export_onnx_refuses_bad_sources_and_fit_refuses_an_onnx_model(models, glue_dir, run_dir, capsys):
    ckpt, onnx, _ = models("cola")
    assert main(["export", "--ckpt_path", str(onnx), "--format", "onnx", "--out", "again"]) == 2
    assert "already an ONNX folder" in capsys.readouterr().err
    assert main(["export", "--ckpt_path", ckpt, "--quantize", "int8", "--out", "q"]) == 2
    assert "--quantize needs --format onnx" in capsys.readouterr().err
    assert main(["fit", *fit_args(str(onnx), glue_dir, "cola")]) == 2
    assert "fit cannot train" in capsys.readouterr().err
    assert not (run_dir / "again").exists() and not (run_dir / "q").exists()


# --- serve ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(models, tmp_path):
    """A ``serve`` process of the CoLA ONNX folder on a free loopback port: (base URL, log path)."""
    import httpx

    _, onnx, _ = models("cola")
    port, log = _free_port(), tmp_path / "serve.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "glue_lit", "serve", "--model", str(onnx), "--port", str(port),
             "--max_batch_size", "8", "--batch_timeout", "0.01", "--max_items", "16", "--threads", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"serve did not answer /health in 120 s:\n{log.read_text()[-3000:]}")
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the worker processes it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_serve_answers_8_clients_like_predict_and_refuses_bad_requests(server, models, glue_dir, run_dir):
    import httpx

    url, log = server
    _, onnx, _ = models("cola")
    texts = [f"the {w} cat is not on the mat" if i % 3 else f"a {w} dog sat {i}"
             for i, w in enumerate(["big", "small", "red", "blue", "happy", "sad", "good", "bad"] * 25)]
    texts[0] = " ".join(["the cat is not on the mat"] * 60)  # 420 words: truncated to 128 tokens as in fit
    mine = run_dir / "texts.jsonl"
    mine.write_text("".join(json.dumps({"sentence": t}) + "\n" for t in texts))
    _predict(str(onnx), glue_dir, "cola", "out", "--data.data_files", json.dumps({"test": str(mine)}))
    expected = _rows(run_dir / "out" / "texts.predictions.jsonl")

    # 8 clients, 200 requests in all, one text each.
    def client(k: int) -> list[dict]:
        with httpx.Client(base_url=url, timeout=30) as c:
            return [c.post("/predict", json={"text": texts[i]}).json() for i in range(k, len(texts), 8)]

    with ThreadPoolExecutor(8) as pool:
        answers = dict(zip(range(8), pool.map(client, range(8))))
    got = {i: a for k, part in answers.items() for i, a in zip(range(k, len(texts), 8), part)}
    assert len(got) == 200
    for i, row in enumerate(expected):
        assert got[i]["label"] == row["prediction"]
        assert got[i]["score"] == pytest.approx(row["score"], abs=LOGIT_TOLERANCE)
        assert set(got[i]["scores"]) == {"unacceptable", "acceptable"}
    # A list in one request: answers in its order.
    listed = httpx.post(f"{url}/predict", json=[{"text": t} for t in texts[:5]], timeout=30).json()
    assert [a["label"] for a in listed] == [r["prediction"] for r in expected[:5]]

    bad = {
        "missing field": ({"sentence": "a cat"}, "missing field 'text'"),
        "pair to a single-text task": ({"text": "a", "text_pair": "b"}, "cola classifies single texts"),
        "empty text": ([{"text": "a cat"}, {"text": "  "}], "item 1: 'text' is empty"),
        "not JSON": (b"{text: oops", "not valid JSON"),
        "oversized batch": ([{"text": "a cat"}] * 17, "at most 16"),
    }
    for what, (body, message) in bad.items():
        kw = {"content": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, bytes) \
            else {"json": body}
        r = httpx.post(f"{url}/predict", timeout=30, **kw)
        assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
        assert message in r.json()["error"], (what, r.text)
    # Still up and right after them.
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    again = httpx.post(f"{url}/predict", json={"text": texts[7]}, timeout=30).json()
    assert again["label"] == expected[7]["prediction"]
