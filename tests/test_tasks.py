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


def test_labels_problem_type_and_label_dtype_come_from_the_table():
    stsb, mnli = get_task("stsb"), get_task("mnli")
    assert (stsb.problem_type, stsb.label_dtype, stsb.id2label) == ("regression", "float32", {0: "score"})
    assert (mnli.problem_type, mnli.label_dtype) == ("single_label_classification", "int64")
    assert mnli.label2id == {"entailment": 0, "neutral": 1, "contradiction": 2}


def test_metric_keys_are_the_logged_names_on_every_evaluation_split():
    assert get_task("cola").metric_keys == {"validation": ("val/mcc", "val/accuracy"),
                                            "test": ("test/mcc", "test/accuracy")}
    assert get_task("mnli").metric_keys == {
        "validation_matched": ("val_matched/accuracy",),
        "validation_mismatched": ("val_mismatched/accuracy",),
        "test_matched": ("test_matched/accuracy",), "test_mismatched": ("test_mismatched/accuracy",),
    }
    assert get_task("mnli").validation[0].key("loss") == "val_matched/loss"


def test_glue_score_averages_the_tasks_glue_metrics():
    assert get_task("cola").score({"val/mcc": 0.3, "val/accuracy": 0.8}) == 0.3  # MCC alone
    mnli = get_task("mnli")
    assert mnli.score({"val_matched/accuracy": 0.8, "val_mismatched/accuracy": 0.7}) == pytest.approx(0.75)
    assert mnli.score({"val_matched/accuracy": 0.8}) is None  # mismatched missing: no score


def test_predictions_read_as_label_names_or_clipped_scores():
    assert get_task("rte").prediction_value(1) == "not_entailment"
    assert [get_task("stsb").prediction_value(x) for x in (-0.4, 2.34567, 7.1)] == [0.0, 2.346, 5.0]
