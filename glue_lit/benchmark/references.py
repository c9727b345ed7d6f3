"""Published GLUE dev-set results, each beside the one checkpoint it was measured on.

A published number is only comparable to a run of the same checkpoint: MiniLM-L12-H384 (12 layers,
a distilled general model) says nothing about the packaged all-MiniLM-L6-v2 (6 layers, an
embedding fine-tune). So a reference shows as a column only when the benchmarked model *is* its
checkpoint; otherwise the report lists it apart, under its own name, as what that Hub model
reaches.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """Published GLUE dev-set results of one checkpoint, in percent.

    Args:
        checkpoint: Hub id of the checkpoint the numbers were measured on.
        source: where they are published.
        dev: task -> logged metric name -> value; only numbers the source states for that metric.
    """

    checkpoint: str
    source: str
    dev: dict[str, dict[str, float]]

    def applies_to(self, model_name: str) -> bool:
        """Whether ``model_name`` (a Hub id or a folder named after it) is this checkpoint."""
        name = model_name.rstrip("/").lower()
        own = self.checkpoint.lower()
        return name == own or name.rsplit("/", 1)[-1] == own.rsplit("/", 1)[-1]


REFERENCES = (
    Reference(
        "bert-base-cased",
        "Hugging Face transformers, examples/pytorch/text-classification/README.md: run_glue.py "
        "results on the dev sets (3 epochs; 5 for MRPC and WNLI)",
        {
            "cola": {"val/mcc": 56.53},
            "sst2": {"val/accuracy": 92.32},
            "mrpc": {"val/f1": 88.85, "val/accuracy": 84.07},
            "stsb": {"val/pearson": 88.64, "val/spearman": 88.48},
            "qqp": {"val/accuracy": 90.71, "val/f1": 87.49},
            "mnli": {"val_matched/accuracy": 83.91, "val_mismatched/accuracy": 84.10},
            "qnli": {"val/accuracy": 90.66},
            "rte": {"val/accuracy": 65.70},
            "wnli": {"val/accuracy": 56.34},
        },
    ),
    Reference(
        "microsoft/MiniLM-L12-H384-uncased",
        "its model card (Wang et al. 2020, arXiv:2002.10957): dev sets; its MRPC and QQP numbers are "
        "left out because the card does not name their metric",
        {
            "mnli": {"val_matched/accuracy": 85.7},
            "sst2": {"val/accuracy": 93.0},
            "qnli": {"val/accuracy": 91.5},
            "cola": {"val/mcc": 58.5},
            "rte": {"val/accuracy": 73.3},
        },
    ),
)
