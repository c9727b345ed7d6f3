"""An exported ONNX folder (``export --format onnx``) run by onnxruntime.

The folder holds ``model.onnx`` (fp32, or int8 with ``--quantize int8``), ``config.json`` with the
label names, the tokenizer, and ``glue_lit.json`` (task, training ``max_length``, precision): the
layout optimum's ``ORTModelForSequenceClassification.from_pretrained(folder)`` reads, and one file
a plain ``onnxruntime.InferenceSession`` opens.

``OnnxSequenceClassifier`` puts the session behind the call of a transformers classifier
(``model(input_ids=..., labels=...) -> .loss, .logits``), so ``predict`` and ``validate`` run an
exported model through the same module, metrics and prediction writer as a checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from glue_lit.errors import GlueLitError

ONNX_FILE = "model.onnx"
INFO_FILE = "glue_lit.json"


def is_onnx_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding an exported ONNX model."""
    return (Path(path).expanduser() / ONNX_FILE).is_file()


def folder_info(folder: Path) -> dict:
    """``glue_lit.json`` of an exported folder (empty for a folder exported by other tools)."""
    path = folder / INFO_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise GlueLitError(f"{path}: not readable as JSON ({err})") from None


def require_onnx() -> None:
    """A GlueLitError naming the extra to install when onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise GlueLitError("ONNX models need onnx and onnxruntime: pip install 'glue_lit[onnx]'") from None


def session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session with every graph optimization and ``threads`` intra-op threads
    (default: one per core the process may use, onnxruntime's own default counts all cores)."""
    require_onnx()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    # Passive waiting between ops, as glue_lit sets for torch (OMP_WAIT_POLICY): on shared cores a
    # spinning pool slows every other process.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
        raise GlueLitError(f"onnxruntime cannot load {path}: {str(err).splitlines()[0]}") from None


def run_logits(sess, arrays: dict):
    """The session's logits for tokenized ``arrays`` (numpy), given only the inputs it takes."""
    import numpy as np

    feed = {i.name: np.asarray(arrays[i.name], dtype=np.int64) for i in sess.get_inputs()}
    return sess.run(["logits"], feed)[0]


def _torch_module():
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class OnnxSequenceClassifier(torch.nn.Module):
        """An ONNX folder called like ``AutoModelForSequenceClassification``: tokens in, logits
        (and the loss the transformers model computes, given ``labels``) out."""

        def __init__(self, folder: str | os.PathLike, config):
            super().__init__()
            self.folder = Path(folder).expanduser()
            self.config = config
            self.session = session(self.folder / ONNX_FILE)
            self.input_names = [i.name for i in self.session.get_inputs()]

        def forward(self, labels=None, **inputs):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise GlueLitError(f"{self.folder}: the model needs inputs {missing}, which the "
                                   "tokenizer did not give")
            device = next(iter(inputs.values())).device
            logits = torch.from_numpy(run_logits(self.session, {n: inputs[n].cpu().numpy()
                                                                for n in self.input_names})).to(device)
            loss = None
            if labels is not None:
                if self.config.num_labels == 1:
                    loss = torch.nn.functional.mse_loss(logits.squeeze(-1), labels.float())
                else:
                    loss = torch.nn.functional.cross_entropy(logits, labels)
            return SequenceClassifierOutput(loss=loss, logits=logits)

        def train(self, mode: bool = True):
            return super().train(False)  # an exported graph has no dropout to switch on

    return OnnxSequenceClassifier


def load_onnx_classifier(folder: str | os.PathLike, **config_overrides):
    """The ONNX folder as a torch module (see ``OnnxSequenceClassifier``); ``config_overrides``
    (labels, problem type) must agree with what was exported."""
    from transformers import AutoConfig

    folder = Path(folder).expanduser()
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    num_labels = config_overrides.pop("num_labels", None)
    if num_labels is not None and num_labels != config.num_labels:
        raise GlueLitError(f"{folder}: the exported model has {config.num_labels} outputs, the task "
                           f"needs {num_labels}")
    for key in ("output_loading_info", "ignore_mismatched_sizes", "attn_implementation", "dtype"):
        config_overrides.pop(key, None)
    wanted = config_overrides.get("id2label")
    have = {int(i): str(n) for i, n in (config.id2label or {}).items()}
    generic = all(n.startswith("LABEL_") for n in have.values())
    if wanted and not generic and len(wanted) > 1 and have != {int(i): str(n) for i, n in wanted.items()}:
        # A transformers head can be reordered or replaced (heads.py); an exported graph cannot.
        raise GlueLitError(f"{folder}: the exported model's labels {list(have.values())} are not the "
                           f"task's {list(wanted.values())}; export a checkpoint of this task")
    for key, value in config_overrides.items():
        setattr(config, key, value)
    return _torch_module()(folder, config)
