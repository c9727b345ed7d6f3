"""``export --format onnx [--quantize int8]``: a fine-tuned model as an onnxruntime folder.

Steps: the transformers model (from a checkpoint, LoRA merged, or from a folder ``export`` wrote)
is traced by ``torch.onnx.export``; onnxruntime's transformer optimizer fuses attention, LayerNorm
and GELU (what optimum's ``ORTOptimizer`` runs); ``--quantize int8`` then stores the MatMul weights as
int8, one scale per output channel (onnxruntime's dynamic quantization: activations are quantized
per batch at run time, so no calibration data is needed). The folder's layout is in onnx_model.py.

optimum-onnx (0.1, the newest release) pins transformers < 4.58 and fails to import with
transformers 5, so the export calls torch.onnx directly, with its TorchScript exporter
(``dynamo=False``): the dynamo exporter needs onnxscript, one more dependency. The fp32 graph's
logits are checked against PyTorch's before anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from glue_lit.errors import GlueLitError
from glue_lit.onnx_model import INFO_FILE, ONNX_FILE, require_onnx, run_logits, session

OPSET = 17
# Model types onnxruntime's "bert" optimizer fuses (their layers share BERT's graph pattern).
FUSABLE = {"bert", "roberta", "distilbert", "electra", "xlm-roberta", "camembert"}
# Largest |logit| difference between the fp32 ONNX model and PyTorch accepted at export time; the
# fused MiniLM differed by under 1e-5.
FP32_TOLERANCE = 1e-3
_CHECK_TEXTS = (["a short one", "a somewhat longer sentence to classify, with punctuation."],
                ["and its pair", "the second text of the pair"])


def _trace(model, tokenizer, input_names: list[str], path: Path) -> None:
    import torch

    # Real, padded texts: with an attention mask of all ones transformers may skip the mask, and the
    # traced graph would then ignore padding.
    enc = tokenizer(*_CHECK_TEXTS, padding=True, return_tensors="pt")
    dummy = {n: enc[n] for n in input_names}
    axes = {n: {0: "batch", 1: "sequence"} for n in input_names}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter, nothing a user can act on
        torch.onnx.export(model, (), str(path), kwargs=dummy, input_names=input_names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)


def _fuse(raw: Path, dest: Path, config) -> bool:
    """Fused copy of ``raw`` at ``dest``; ``False`` (nothing written) for an architecture the
    optimizer does not know."""
    if config.model_type not in FUSABLE:
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", 0)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim", 0)
    optimized = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden)
    optimized.save_model_to_file(str(dest))
    return True


def _quantize(src: Path, dest: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Fused ops (com.microsoft Attention) have no ONNX shape inference: their outputs are float.
    quantize_dynamic(src, dest, weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})


def _check(model, tokenizer, input_names: list[str], path: Path, max_length: int) -> float:
    """Largest |logit| difference between PyTorch and the ONNX file on two pairs of texts."""
    import torch

    enc = tokenizer(*_CHECK_TEXTS, padding=True, truncation=True, max_length=max_length,
                    return_tensors="np")
    with torch.no_grad():
        ours = model(**{n: torch.from_numpy(enc[n]) for n in input_names}).logits.float().numpy()
    theirs = run_logits(session(path), {n: enc[n] for n in input_names})
    return float(np.abs(ours - theirs).max())


def export_onnx(source: Path, out: Path, quantize: str | None = None, task_name: str | None = None) -> Path:
    """Write the model at ``source`` (checkpoint or transformers folder) as an ONNX folder ``out``
    (new or empty); ``quantize="int8"``: int8 weights."""
    import inspect

    from glue_lit.inference import load_torch, model_format

    require_onnx()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GlueLitError(f"{out} already exists and is not empty; choose a new --out folder")
    if not source.exists():
        raise GlueLitError(f"checkpoint not found: {source}")
    if model_format(source) == "onnx":
        raise GlueLitError(f"{source} is already an ONNX folder; export its checkpoint or transformers "
                           "folder instead")
    model, tokenizer, task, max_length = load_torch(source, task_name)
    model = model.float()
    takes = inspect.signature(model.forward).parameters
    # In the order of forward's parameters: torch.onnx.export names the traced inputs in that order,
    # whatever the order of the keyword arguments (the tokenizer's order swapped the mask and the
    # token types of BERT).
    input_names = [n for n in takes if n in tokenizer.model_input_names]
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside `out` and renamed into place: a failed export leaves nothing half-written.
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)
    try:
        raw, fused = work / "raw.onnx", work / "fused.onnx"
        _trace(model, tokenizer, input_names, raw)
        fp32 = fused if _fuse(raw, fused, model.config) else raw
        diff = _check(model, tokenizer, input_names, fp32, max_length)
        if diff > FP32_TOLERANCE:
            raise GlueLitError(f"the ONNX graph of {source} gives logits {diff:.2g} away from PyTorch's "
                               f"(over {FP32_TOLERANCE}); the architecture {model.config.model_type!r} "
                               "does not export faithfully")
        if quantize == "int8":
            _quantize(fp32, work / ONNX_FILE)
        else:
            fp32.rename(work / ONNX_FILE)
        for temp in (raw, fused):
            temp.unlink(missing_ok=True)
        model.config.save_pretrained(work)
        tokenizer.model_max_length = max_length
        tokenizer.save_pretrained(work)
        info = {"task": task.name, "source": str(source.resolve()), "max_length": max_length,
                "format": "onnx", "precision": quantize or "fp32", "opset": OPSET,
                "fp32_max_logit_difference": diff}
        (work / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
