"""The real GLUE files in ../shared/glue_data and the packaged MiniLM."""

import pytest
from conftest import SHARED_GLUE

from glue_lit import get_task
from glue_lit.sources import read_glue_split

pytestmark = pytest.mark.skipif(not SHARED_GLUE.is_dir(), reason="real GLUE data not present")

# Row counts from GLUE_FORMATS.md: train, dev, test.
COUNTS = {
    "cola": (8551, 1043, 1063), "sst2": (67349, 872, 1821), "mrpc": (3668, 408, 1725),
    "stsb": (5749, 1500, 1379), "rte": (2490, 277, 3000), "wnli": (635, 71, 146),
}


@pytest.mark.parametrize("name", COUNTS)
def test_real_glue_files_read_completely(name):
    task = get_task(name)
    splits = (task.train, task.validation[0], task.test[0])
    got = [read_glue_split(SHARED_GLUE, task, s) for s in splits]
    assert tuple(map(len, got)) == COUNTS[name]
    assert got[0].labels is not None and got[2].labels is None
    assert all(t.strip() for column in got[1].texts for t in column)


def test_real_mrpc_header_bom_and_labels():
    dev = read_glue_split(SHARED_GLUE, get_task("mrpc"), get_task("mrpc").validation[0])
    assert sorted(set(dev.labels)) == [0, 1] and 0.6 < sum(dev.labels) / len(dev) < 0.75


# That the packaged MiniLM learns real data (2,000 SST-2 sentences, one epoch, dev accuracy >= 0.70)
# is checked once, by the notebook's test (tests/test_notebook.py), which runs that very fit.
