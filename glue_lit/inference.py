"""One loader for every format a fine-tuned model leaves glue_lit in, ready to classify texts.

``load_classifier(path)`` reads a checkpoint written by ``fit`` (full or LoRA), a transformers
folder written by ``export``, or an ONNX folder written by ``export --format onnx`` (fp32 or int8),
and gives a ``Classifier``: the task, the training tokenizer and truncation length, and a function
from token arrays to logits (PyTorch or onnxruntime). ``serve`` and benchmarks/serving.py use it;
``predict`` and ``validate`` read the same ONNX folders through ``hub.load_model``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glue_lit.checkpoint import GlueCheckpoint
from glue_lit.errors import GlueLitError
from glue_lit.onnx_model import folder_info, is_onnx_folder
from glue_lit.tasks import GlueTask, get_task


@dataclass
class Classifier:
    """A fine-tuned model that turns texts into GLUE predictions.

    Args:
        task: the task whose labels it predicts.
        tokenizer: the tokenizer it was trained with.
        max_length: longer inputs are truncated to this many tokens, as in training.
        logits: token arrays (numpy, by input name) -> logits (numpy float32).
        kind: what runs it, for logs and benchmark tables ("pytorch float32", "onnx int8").
        input_names: the token arrays ``logits`` takes.
    """

    task: GlueTask
    tokenizer: object
    max_length: int
    logits: Callable[[dict[str, np.ndarray]], np.ndarray]
    kind: str
    input_names: tuple[str, ...]

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Token arrays of ``texts`` (and their second texts), padded to the longest, truncated as in
        training (``longest_first`` over a pair, as batching.py does)."""
        enc = self.tokenizer(list(texts), list(pairs) if pairs is not None else None, padding=True,
                             truncation=True, max_length=self.max_length, return_tensors="np")
        return {n: enc[n] for n in self.input_names if n in enc}

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """Logits of ``texts`` (one row per text)."""
        return self.logits(self.encode(texts, pairs))

    def results(self, logits: np.ndarray) -> list[dict]:
        """One answer per row: the label name, its probability and every label's (``scores``);
        for a regression task (STS-B) the ``score``, clipped to the task's range like predict's."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.task.is_regression:
            return [{"score": self.task.prediction_value(v)} for v in logits.reshape(len(logits), -1)[:, 0]]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        out = []
        for row in probs:
            best = int(row.argmax())
            out.append({"label": self.task.label_names[best], "score": float(row[best]),
                        "scores": {n: float(p) for n, p in zip(self.task.label_names, row)}})
        return out


def model_format(path: Path) -> str:
    """``checkpoint``, ``onnx`` or ``transformers``: what ``path`` holds."""
    if path.is_file():
        return "checkpoint"
    if is_onnx_folder(path):
        return "onnx"
    if (path / "config.json").is_file():
        return "transformers"
    raise GlueLitError(f"{path}: neither a checkpoint nor a folder written by export "
                       "(no model.onnx or config.json)")


def _task_of(path: Path, task_name: str | None, num_labels: int) -> GlueTask:
    saved = folder_info(path).get("task")
    if task_name and saved and get_task(task_name).name != get_task(saved).name:
        raise GlueLitError(f"{path} was fine-tuned on {saved}, not {task_name}")
    name = task_name or saved
    if not name:
        raise GlueLitError(f"{path} does not say its GLUE task (no glue_lit.json); name it with --task")
    task = get_task(name)
    if task.num_labels != num_labels:
        raise GlueLitError(f"{path} has {num_labels} outputs; {task.name} needs {task.num_labels}")
    return task


def _max_length(path: Path, tokenizer) -> int:
    saved = folder_info(path).get("max_length")
    limit = tokenizer.model_max_length
    return int(saved or (limit if limit and limit < 100_000 else 512))


def task_of_model(path: str | os.PathLike, task_name: str | None = None) -> GlueTask:
    """The task of the model at ``path`` (see ``load_classifier``), without loading the model."""
    path = Path(path).expanduser()
    if not path.exists():
        raise GlueLitError(f"model not found: {path}")
    if model_format(path) == "checkpoint":
        from glue_lit.checkpoint import GlueCheckpoint

        task = get_task(GlueCheckpoint.read(path).task_name)
        if task_name and get_task(task_name).name != task.name:
            raise GlueLitError(f"{path} was fine-tuned on {task.name}, not {task_name}")
        return task
    from transformers import AutoConfig

    return _task_of(path, task_name, AutoConfig.from_pretrained(path, local_files_only=True).num_labels)


def load_classifier(path: str | os.PathLike, task_name: str | None = None, dtype=None,
                    threads: int | None = None) -> Classifier:
    """The model at ``path`` (checkpoint, transformers folder or ONNX folder) as a ``Classifier``.

    Args:
        path: what ``fit`` or ``export`` wrote.
        task_name: the GLUE task, needed only for folders that do not record it.
        dtype: torch dtype of a PyTorch model (default: ``precision.serving_dtype``); ONNX models keep theirs.
        threads: onnxruntime intra-op threads (default: every core the process may use).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise GlueLitError(f"model not found: {path}")
    kind = model_format(path)
    if kind == "onnx":
        from transformers import AutoConfig

        from glue_lit.hub import load_tokenizer
        from glue_lit.onnx_model import ONNX_FILE, run_logits, session

        config = AutoConfig.from_pretrained(path, local_files_only=True)
        task = _task_of(path, task_name, config.num_labels)
        tokenizer = load_tokenizer(str(path))
        sess = session(path / ONNX_FILE, threads)
        names = tuple(i.name for i in sess.get_inputs())
        precision = folder_info(path).get("precision", "fp32")
        return Classifier(task, tokenizer, _max_length(path, tokenizer),
                          lambda arrays: run_logits(sess, arrays), f"onnx {precision}", names)
    model, tokenizer, task, max_length = load_torch(path, task_name)
    return torch_classifier(model, tokenizer, task, max_length, dtype)


def load_torch(path: Path, task_name: str | None = None):
    """The transformers model (eval mode, LoRA merged), tokenizer, task and truncation length of a
    checkpoint or a transformers folder."""
    if model_format(path) == "checkpoint":
        from glue_lit.checkpoint import GlueCheckpoint

        ckpt = GlueCheckpoint.read(path)
        task = get_task(ckpt.task_name)
        if task_name and get_task(task_name).name != task.name:
            raise GlueLitError(f"{path} was fine-tuned on {task.name}, not {task_name}")
        model, tokenizer = model_from_checkpoint(ckpt, task)
        return model, tokenizer, task, tokenizer.model_max_length
    from glue_lit.hub import load_model, load_tokenizer

    model = load_model(str(path)).eval()
    tokenizer = load_tokenizer(str(path))
    return model, tokenizer, _task_of(path, task_name, model.config.num_labels), _max_length(path, tokenizer)


def torch_classifier(model, tokenizer, task: GlueTask, max_length: int, dtype=None) -> Classifier:
    """A ``Classifier`` running the transformers ``model`` in ``dtype`` (default: ``serving_dtype``)."""
    import inspect

    import torch

    if dtype is None:
        from glue_lit.precision import serving_dtype

        # Requests come one to a few at a time: timed at 8 rows of the task's usual length.
        dtype = serving_dtype(model.config, 8, task.tokens)
    model = model.to(dtype).eval()
    takes = inspect.signature(model.forward).parameters
    names = tuple(n for n in tokenizer.model_input_names if n in takes)

    def logits(arrays: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            out = model(**{n: torch.from_numpy(np.asarray(arrays[n], dtype=np.int64)) for n in names
                           if n in arrays})
        return out.logits.float().numpy()

    return Classifier(task, tokenizer, max_length, logits, f"pytorch {str(dtype).removeprefix('torch.')}",
                      names)


def _build_model(ckpt: GlueCheckpoint, task: GlueTask):
    """The classifier with the checkpoint's weights, labelled from the task table."""
    from transformers import AutoModelForSequenceClassification

    labels = {"id2label": task.id2label, "label2id": task.label2id, "problem_type": task.problem_type}
    config = ckpt.hf_config(**labels)
    if config is not None:
        model = AutoModelForSequenceClassification.from_config(config)
    else:  # saved before glue_lit kept the config: rebuild it from the base model
        from glue_lit.hub import load_model

        model = load_model(ckpt.model_name_or_path, num_labels=task.num_labels,
                           ignore_mismatched_sizes=True, **labels)
    missing, unexpected = model.load_state_dict(ckpt.model_weights, strict=False)
    if missing or unexpected:
        raise GlueLitError(
            f"checkpoint weights do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model


def _tokenizer(ckpt: GlueCheckpoint):
    """The training tokenizer, truncating at the training ``max_length``."""
    tokenizer = ckpt.tokenizer()
    if tokenizer is None:  # saved before glue_lit kept the tokenizer: the base model's
        from glue_lit.hub import load_tokenizer

        tokenizer = load_tokenizer(ckpt.model_name_or_path)
    if ckpt.max_length:
        # Inputs longer than this were truncated in training; `pipeline(..., truncation=True)` follows it.
        tokenizer.model_max_length = ckpt.max_length
    return tokenizer


def model_from_checkpoint(ckpt: GlueCheckpoint, task: GlueTask, merge: bool = True):
    """The transformers classifier of ``ckpt`` (in eval mode) and its training tokenizer; a LoRA
    checkpoint's adapter merged in (``merge``) or kept as a ``PeftModel``."""
    if ckpt.adapter is None:
        model = _build_model(ckpt, task)
    else:
        from glue_lit.adapters import rebuild

        model = rebuild(ckpt, task)
        model = model.merge_and_unload() if merge else model
    return model.eval(), _tokenizer(ckpt)
