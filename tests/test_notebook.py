"""The walkthrough notebook executes top to bottom, offline, and shows real metrics."""

import json
import os

import pytest
from conftest import REPO, SHARED_GLUE

NOTEBOOK = REPO / "notebooks" / "glue_finetune.ipynb"


def test_notebook_is_stored_without_outputs():
    code = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and not c["execution_count"] for c in code)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_GLUE.is_dir(), reason="real GLUE data not present")
def test_notebook_runs_offline_and_reports_metrics(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("GLUE_LIT_NOTEBOOK_DIR", str(tmp_path / "nb"))
    monkeypatch.setenv("GLUE_LIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GLUE_DIR", str(SHARED_GLUE))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "dev val/accuracy:" in text and "best config for fit" in text
    # The suite's check that the packaged MiniLM learns real data: 2,000 SST-2 sentences, one epoch
    # (63 steps) reach dev accuracy ~0.76 (majority class 0.51). The 3-epoch runs on every task are
    # the benchmark's (README, Results), not CI's: a 3-epoch CoLA fit took 6-10 min of CI's 2 cores.
    accuracy = float(text.split("dev val/accuracy:")[1].split()[0])
    assert accuracy >= 0.7, accuracy
    assert "'label': 'positive'" in text and "'label': 'negative'" in text
    assert os.path.isdir(tmp_path / "nb" / "exported")
