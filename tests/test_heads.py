"""A classifier fine-tuned elsewhere is scored by its label names, not by its label ids."""

from __future__ import annotations

import logging
import shutil

import pytest
import torch
from conftest import fit_args

from glue_lit.__main__ import main
from glue_lit.cli import cli_main
from glue_lit.heads import HeadPlan, plan_head
from glue_lit.tasks import get_task


def save_classifier(tiny_model: str, folder, labels: list[str], rows: list[int], source=None) -> str:
    """A copy of the tiny BERT with a 3-way head named ``labels``; its rows are ``source``'s ``rows``."""
    from transformers import BertForSequenceClassification

    shutil.copytree(tiny_model, folder)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        source or tiny_model, num_labels=3, id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)}, ignore_mismatched_sizes=True)
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[rows])
        model.classifier.bias.copy_(model.classifier.bias[rows] + torch.tensor([0.3, 0.0, -0.3])[rows])
    model.save_pretrained(folder)
    return str(folder)


def accuracy(model: str, glue_dir) -> float:
    cli = cli_main(["validate", *fit_args(model, glue_dir, "mnli")])
    return float(cli.trainer.callback_metrics["val_matched/accuracy"])


def test_plans_follow_label_names_case_insensitively():
    mnli, rte = get_task("mnli"), get_task("rte")
    assert plan_head(mnli, {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, "m").action == "keep"
    assert plan_head(mnli, {0: "entailment", 1: "neutral", 2: "contradiction"}, "m").action == "keep"
    plan = plan_head(mnli, {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}, "roberta-large-mnli")
    assert plan.action == "reorder" and plan.order == (2, 1, 0)
    assert plan_head(rte, {0: "entailment", 1: "neutral", 2: "contradiction"}, "m").action == "replace"
    assert plan_head(get_task("stsb"), {0: "LABEL_0"}, "m").action == "keep"


def test_validate_aligns_a_head_whose_labels_are_in_another_order(tiny_model, glue_dir, run_dir, caplog,
                                                                 monkeypatch):
    in_order = save_classifier(tiny_model, run_dir / "in-order", ["entailment", "neutral", "contradiction"],
                               [0, 1, 2])
    # The same classifier with its labels (and head rows) listed contradiction, neutral, entailment.
    reversed_ = save_classifier(tiny_model, run_dir / "reversed", ["contradiction", "neutral", "entailment"],
                                [2, 1, 0], source=in_order)
    expected = accuracy(in_order, glue_dir)
    with caplog.at_level(logging.INFO):
        assert accuracy(reversed_, glue_dir) == pytest.approx(expected)
    assert "classifier rows are reordered to the mnli label ids" in caplog.text
    # Trusting the ids instead would score another number: the check above can fail.
    monkeypatch.setattr("glue_lit.model.plan_head", lambda *a: HeadPlan("keep"))
    assert accuracy(reversed_, glue_dir) != pytest.approx(expected)


def test_a_head_for_other_labels_is_an_error_to_validate_and_replaced_by_fit(tiny_model, glue_dir, run_dir,
                                                                            capsys, caplog):
    other = save_classifier(tiny_model, run_dir / "yes-no", ["yes", "no", "maybe"], [0, 1, 2])
    assert main(["validate", *fit_args(other, glue_dir, "mnli")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("glue_lit: error: model ")
    assert "fine-tuned for labels ['yes', 'no', 'maybe'], not the mnli labels " \
        "['entailment', 'neutral', 'contradiction']" in err[-1]
    with caplog.at_level(logging.INFO):
        assert main(["fit", *fit_args(other, glue_dir, "mnli", "--trainer.max_epochs", "1")]) == 0
    assert "fit starts a new classifier head" in caplog.text
