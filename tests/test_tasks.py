import pytest

from glue_lit import TASKS, GlueLitError, get_task


def test_every_glue_task_is_in_the_table():
    assert set(TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli", "ax"}


@pytest.mark.parametrize(
    "name, monitor, metrics",
    [
        ("cola", "val/mcc", ("mcc", "accuracy")),
        ("mrpc", "val/f1", ("accuracy", "f1")),
        ("qqp", "val/f1", ("accuracy", "f1")),
        ("stsb", "val/pearson", ("pearson", "spearman")),
        ("mnli", "val_matched/accuracy", ("accuracy",)),
        ("rte", "val/accuracy", ("accuracy",)),
    ],
)
def test_glue_metrics_and_monitor(name, monitor, metrics):
    task = get_task(name)
    assert task.monitor_key == monitor and task.metrics == metrics and task.monitor_mode == "max"


def test_stsb_is_regression_with_one_output():
    assert get_task("STS-B").is_regression and get_task("stsb").num_labels == 1


def test_mnli_has_matched_and_mismatched_splits_and_submissions():
    mnli = get_task("mnli")
    assert [s.prefix for s in mnli.validation] == ["val_matched", "val_mismatched"]
    assert [s.submission for s in mnli.test] == ["MNLI-m.tsv", "MNLI-mm.tsv"]


def test_ax_is_test_only_and_predicted_with_mnli():
    ax = get_task("ax")
    assert ax.train is None and not ax.validation and ax.model_task == "mnli"
    assert ax.label_names == get_task("mnli").label_names


def test_unknown_task_names_the_choices():
    with pytest.raises(GlueLitError, match="unknown task 'colaa'.*cola, sst2"):
        get_task("colaa")
