import numpy as np
import pytest

from glue_lit import GLUEDataModule, GlueLitError, get_task
from glue_lit.batching import LengthGroupedBatchSampler
from glue_lit.sources import read_glue_split


@pytest.mark.parametrize("task", ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"])
def test_every_task_reads_from_a_glue_folder(glue_dir, task):
    t = get_task(task)
    train = read_glue_split(glue_dir, t, t.train)
    assert len(train) == 160 and len(train.texts) == len(t.text_keys)
    assert train.labels is not None
    if t.is_regression:
        assert all(0.0 <= y <= 5.0 for y in train.labels)
    else:
        assert set(train.labels) <= set(range(t.num_labels))
    for split in t.test:
        test = read_glue_split(glue_dir, t, split)
        assert test.labels is None and test.index == list(range(20))


def test_data_module_batches_are_padded_to_their_longest_row(glue_dir, tiny_model, run_dir):
    dm = GLUEDataModule("mrpc", tiny_model, data_dir=str(glue_dir), batch_size=8)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    lengths = batch["attention_mask"].sum(1)
    assert batch["input_ids"].shape == (8, int(lengths.max()))
    assert batch["token_type_ids"].max() == 1  # a sentence pair
    assert batch["labels"].dtype.is_floating_point is False


def test_tokenization_cache_is_reused_and_keyed_on_max_length(glue_dir, tiny_model, run_dir):
    GLUEDataModule("cola", tiny_model, data_dir=str(glue_dir)).setup("fit")
    files = sorted((run_dir / "cache" / "cola").glob("*.npz"))
    assert len(files) == 2  # train and validation
    mtimes = [f.stat().st_mtime_ns for f in files]
    GLUEDataModule("cola", tiny_model, data_dir=str(glue_dir)).setup("fit")
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    GLUEDataModule("cola", tiny_model, data_dir=str(glue_dir), max_length=16).setup("fit")
    assert len(list((run_dir / "cache" / "cola").glob("*.npz"))) == 4


def test_train_subset_by_fraction_and_count(glue_dir, tiny_model, run_dir):
    for subset, expected in ((0.25, 40), (10, 10)):
        dm = GLUEDataModule("cola", tiny_model, data_dir=str(glue_dir), train_subset=subset)
        dm.setup("fit")
        assert len(dm.train_split()) == expected


def test_length_grouped_sampler_covers_every_example_once_in_random_order():
    lengths = np.random.default_rng(0).integers(3, 60, size=1000)
    sampler = LengthGroupedBatchSampler(lengths, 32, seed=1, window=4)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert sorted(i for b in epoch0 for i in b) == list(range(1000))
    assert epoch0 != epoch1
    padded = sum(len(b) * lengths[b].max() for b in epoch0)
    random_batches = [list(range(i, min(i + 32, 1000))) for i in range(0, 1000, 32)]
    padded_random = sum(len(b) * lengths[b].max() for b in random_batches)
    assert padded < 0.8 * padded_random


def test_sampler_shards_evaluation_without_duplicates():
    lengths = np.arange(101)
    shards = [list(LengthGroupedBatchSampler(lengths, 8, shuffle=False, rank=r, world_size=2))
              for r in range(2)]
    seen = [i for shard in shards for b in shard for i in b]
    assert sorted(seen) == list(range(101))


def test_missing_task_folder_names_the_path(tmp_path, tiny_model, run_dir):
    dm = GLUEDataModule("rte", tiny_model, data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(GlueLitError, match="no RTE/ folder .*nowhere"):
        dm.setup("fit")


@pytest.mark.parametrize("task", ["cola", "mrpc", "stsb", "mnli", "rte"])
def test_hub_and_glue_folder_give_the_same_examples(glue_dir, task, monkeypatch):
    """A Hub split (nyu-mll/glue column names, -1 test labels) reads like the GLUE folder."""
    import datasets

    from glue_lit import hub, sources

    t = get_task(task)
    local = {s.name: sources.read_glue_split(glue_dir, t, s) for s in t.splits}

    def fake_hub(path, config, split, cache_dir=None):
        assert (path, config) == ("nyu-mll/glue", t.hub_config)
        ex = local[split]
        columns = dict(zip(t.text_keys, ex.texts))
        labels = ex.labels if ex.labels is not None else [-1] * len(ex)
        return datasets.Dataset.from_dict({**columns, "label": labels, "idx": ex.index})

    monkeypatch.setattr(hub, "load_hub_dataset", fake_hub)
    for split in t.splits:
        assert sources.read_hub_split(t, split) == local[split.name]
