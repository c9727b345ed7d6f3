"""The GLUE task table: the one place where anything that differs between tasks is written down.

Standard library only, so it is cheap to import from the CLI, the tuner and the tests. Text keys and
split names follow the Hub copy (``nyu-mll/glue``); ``tsv_*`` fields say how the original GLUE
download (``glue_data/<Folder>/<file>.tsv``) spells the same things.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from glue_lit.errors import GlueLitError


@dataclass(frozen=True)
class Split:
    """One split of a task.

    Args:
        name: split name on the Hub (``train``, ``validation_matched``, ...).
        file: file name inside the task's folder in the original GLUE download.
        prefix: prefix of the metrics logged for it (``val``, ``val_matched``, ...).
        submission: GLUE leaderboard file written from predictions on it (test splits only).
    """

    name: str
    file: str
    prefix: str = ""
    submission: str = ""

    def key(self, metric: str) -> str:
        """Logged name of ``metric`` on this split: ``val_matched/accuracy``, ``val/loss``."""
        return f"{self.prefix}/{metric}"


@dataclass(frozen=True)
class GlueTask:
    """Everything glue_lit needs to know about one GLUE task.

    Args:
        name: short name used on the command line (``cola``).
        hub_config: configuration name of ``nyu-mll/glue`` on the Hub.
        folder: folder of the task in the original GLUE download.
        text_keys: one or two text columns (Hub names), fed to the tokenizer as a pair.
        label_names: class names by label id; empty for regression (STS-B).
        metrics: metric names computed on every labelled evaluation split (see ``metrics.py``).
        monitor: metric that picks the best checkpoint and drives early stopping and tuning.
        validation: labelled evaluation splits (MNLI has matched and mismatched).
        test: unlabelled test splits, each with its submission file.
        train: training split; ``None`` for AX, which is predicted with an MNLI model.
        tsv_text: GLUE TSV header name of each text key, in the same order.
        tsv_label: GLUE TSV header name of the label column.
        tsv_index: GLUE TSV header name of the test example index.
        tsv_headerless: column names of labelled files that ship without a header (CoLA).
        submit_label_names: submission holds label names (MNLI, QNLI, RTE, AX) instead of ids.
        model_task: task whose fine-tuned model predicts this one (AX uses MNLI).
        score_range: range of a regression target; submitted predictions are clipped to it.
        glue_metrics: metrics GLUE averages into the task's score; empty means all ``metrics``.
        tokens: median tokens per training row (WordPiece, with special tokens): the row length
            the CPU precision probe times (see precision.py).
        adversarial_dev: the dev set is adversarial (WNLI): reported beside its majority class.
    """

    name: str
    hub_config: str
    folder: str
    text_keys: tuple[str, ...]
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    monitor: str
    validation: tuple[Split, ...]
    test: tuple[Split, ...]
    train: Split | None = Split("train", "train.tsv")
    tsv_text: tuple[str, ...] = ()
    tsv_label: str = "label"
    tsv_index: str = "index"
    tsv_headerless: tuple[str, ...] = ()
    submit_label_names: bool = False
    model_task: str = ""
    score_range: tuple[float, float] | None = None
    glue_metrics: tuple[str, ...] = ()
    tokens: int = 32
    adversarial_dev: bool = False

    is_regression = property(lambda self: not self.label_names)
    num_labels = property(lambda self: len(self.label_names) or 1)

    @property
    def problem_type(self) -> str:
        """The ``problem_type`` of a transformers config: it picks the loss (MSE or cross-entropy)."""
        return "regression" if self.is_regression else "single_label_classification"

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names or ("score",)))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in self.id2label.items()}

    @property
    def label_dtype(self) -> str:
        """numpy dtype of the label tensors: the loss wants float scores or integer class ids."""
        return "float32" if self.is_regression else "int64"

    @property
    def metric_keys(self) -> dict[str, tuple[str, ...]]:
        """Logged metric names of each validation and test split: ``{"validation": ("val/mcc", ...)}``."""
        return {s.name: tuple(s.key(m) for m in self.metrics) for s in (*self.validation, *self.test)}

    @property
    def monitor_key(self) -> str:
        """Logged name of the monitored metric, on the first validation split."""
        return self.validation[0].key(self.monitor) if self.validation else ""

    @property
    def monitor_mode(self) -> str:
        return "min" if self.monitor == "loss" else "max"

    @property
    def score_keys(self) -> tuple[str, ...]:
        """Logged dev metrics whose mean is the task's GLUE score (MNLI: matched and mismatched)."""
        return tuple(s.key(m) for s in self.validation for m in self.glue_metrics or self.metrics)

    def score(self, metrics: dict[str, float]) -> float | None:
        """GLUE's score of the task: the mean of its ``score_keys``; ``None`` when one is missing."""
        values = [metrics.get(k) for k in self.score_keys]
        if not values or None in values:
            return None
        return sum(values) / len(values)

    def parse_label(self, value: str, where: str) -> float:
        """Label id of a label name or id string (float score for regression); ``where`` names the row."""
        value = value.strip()
        if self.is_regression:
            try:
                if math.isfinite(score := float(value)):
                    return score
            except ValueError:
                pass
            raise GlueLitError(f"{where}: regression target {value!r} is not a number")
        if value in self.label_names:
            return self.label_names.index(value)
        if value.isascii() and value.lstrip("-").isdigit() and 0 <= int(value) < self.num_labels:
            return int(value)
        names = ", ".join(f"{i}={n}" for i, n in self.id2label.items())
        raise GlueLitError(f"{where}: label {value!r} is not one of the {self.name} labels ({names})")

    def prediction_value(self, prediction: float) -> str | float:
        """A predicted label id's name, or a score clipped to ``score_range`` with GLUE's 3 decimals."""
        if self.is_regression:
            low, high = self.score_range or (-math.inf, math.inf)
            return round(min(max(float(prediction), low), high), 3)
        return self.label_names[int(prediction)]

    def submission_value(self, prediction: float) -> str:
        """A prediction as the task's GLUE leaderboard file holds it (label id, name, or score)."""
        value = self.prediction_value(prediction)
        if self.is_regression:
            return f"{value:.3f}"
        return value if self.submit_label_names else str(int(prediction))

    @property
    def tsv_columns(self) -> tuple[str, ...]:
        return self.tsv_text or self.text_keys

    @property
    def splits(self) -> tuple[Split, ...]:
        return ((self.train,) if self.train else ()) + self.validation + self.test


_VAL = (Split("validation", "dev.tsv", "val"),)


def _test(submission: str, file: str = "test.tsv") -> tuple[Split, ...]:
    return (Split("test", file, "test", submission),)


_NLI3, _NLI2 = ("entailment", "neutral", "contradiction"), ("entailment", "not_entailment")
# ``tokens``: measured on the GLUE files with the MiniLM tokenizer (QNLI on dev); MNLI and QQP keep
# the default (pairs of one or two short sentences).
TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in (
        GlueTask(
            "cola", "cola", "CoLA", ("sentence",), ("unacceptable", "acceptable"),
            ("mcc", "accuracy"), "mcc", _VAL, _test("CoLA.tsv"),
            tsv_headerless=("source", "label", "mark", "sentence"), glue_metrics=("mcc",), tokens=10,
        ),
        GlueTask(
            "sst2", "sst2", "SST-2", ("sentence",), ("negative", "positive"),
            ("accuracy",), "accuracy", _VAL, _test("SST-2.tsv"), tokens=10,
        ),
        GlueTask(
            "mrpc", "mrpc", "MRPC", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"),
            ("accuracy", "f1"), "f1", _VAL, _test("MRPC.tsv"),
            tsv_text=("#1 String", "#2 String"), tsv_label="Quality", tokens=53,
        ),
        GlueTask(
            "qqp", "qqp", "QQP", ("question1", "question2"), ("not_duplicate", "duplicate"),
            ("accuracy", "f1"), "f1", _VAL, _test("QQP.tsv"),
            tsv_label="is_duplicate", tsv_index="id",
        ),
        GlueTask(
            "stsb", "stsb", "STS-B", ("sentence1", "sentence2"), (),
            ("pearson", "spearman"), "pearson", _VAL, _test("STS-B.tsv"),
            tsv_label="score", score_range=(0.0, 5.0), tokens=23,
        ),
        GlueTask(
            "mnli", "mnli", "MNLI", ("premise", "hypothesis"), _NLI3,
            ("accuracy",), "accuracy",
            (
                Split("validation_matched", "dev_matched.tsv", "val_matched"),
                Split("validation_mismatched", "dev_mismatched.tsv", "val_mismatched"),
            ),
            (
                Split("test_matched", "test_matched.tsv", "test_matched", "MNLI-m.tsv"),
                Split("test_mismatched", "test_mismatched.tsv", "test_mismatched", "MNLI-mm.tsv"),
            ),
            tsv_text=("sentence1", "sentence2"), tsv_label="gold_label", submit_label_names=True,
        ),
        GlueTask(
            "qnli", "qnli", "QNLI", ("question", "sentence"), _NLI2,
            ("accuracy",), "accuracy", _VAL, _test("QNLI.tsv"), submit_label_names=True, tokens=48,
        ),
        GlueTask(
            "rte", "rte", "RTE", ("sentence1", "sentence2"), _NLI2,
            ("accuracy",), "accuracy", _VAL, _test("RTE.tsv"), submit_label_names=True, tokens=56,
        ),
        GlueTask(
            "wnli", "wnli", "WNLI", ("sentence1", "sentence2"), ("not_entailment", "entailment"),
            ("accuracy",), "accuracy", _VAL, _test("WNLI.tsv"), tokens=32, adversarial_dev=True,
        ),
        GlueTask(
            "ax", "ax", "diagnostic", ("premise", "hypothesis"), _NLI3,
            ("accuracy",), "accuracy", (), _test("AX.tsv", "diagnostic.tsv"), train=None,
            tsv_text=("sentence1", "sentence2"), submit_label_names=True, model_task="mnli",
        ),
    )
}


def get_task(name: str) -> GlueTask:
    """Look a task up by name, case-insensitively, with a clear error for unknown names."""
    key = name.lower().replace("-", "")
    if key not in TASKS:
        raise GlueLitError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[key]
