"""Tokenized splits, their on-disk cache, length-grouped batch samplers and dynamic padding.

A tokenized split is stored as flat int32 arrays plus offsets, so a cache hit is one ``np.load``
and a batch is a handful of slices padded to its own longest row.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from glue_lit.cache import default_cache_dir as default_cache_dir  # where the cache lives
from glue_lit.sources import Examples

CACHE_VERSION = "1"


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of the tokenizer's full definition (vocab, normalizer, special tokens)."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    # Truncation and padding are set on the backend by each call: not part of its identity.
    spec.pop("truncation", None)
    spec.pop("padding", None)
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    h.update(json.dumps(spec, sort_keys=True).encode())
    return h.hexdigest()[:16]


def examples_fingerprint(ex: Examples) -> str:
    h = hashlib.sha256()
    for column in ex.texts:
        h.update("\x1f".join(column).encode())
        h.update(b"\x1e")
    h.update(np.asarray(ex.labels if ex.labels is not None else [], dtype=np.float64).tobytes())
    h.update(np.asarray(ex.index, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


class TokenizedSplit(Dataset):
    """Token ids of one split; ``__getitems__`` returns a batch padded to its longest row."""

    def __init__(self, arrays: dict[str, np.ndarray], pad_id: int, pad_to_multiple_of: int = 1):
        self.arrays = arrays
        self.offsets = arrays["offsets"]
        self.lengths = np.diff(self.offsets)
        self.keys = [k for k in ("input_ids", "token_type_ids") if k in arrays]
        self.labels = arrays.get("labels")
        self.pad_id = pad_id
        self.multiple = max(1, pad_to_multiple_of)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    def __len__(self) -> int:
        return len(self.lengths)

    def subset(self, keep: np.ndarray) -> TokenizedSplit:
        """The examples at positions ``keep``, as a split of their own."""
        offsets = np.concatenate([[0], np.cumsum(self.lengths[keep])])
        arrays = {"offsets": offsets, "index": self.arrays["index"][keep]}
        for key in self.keys:
            flat = self.arrays[key]
            arrays[key] = np.concatenate([flat[self.offsets[i] : self.offsets[i + 1]] for i in keep])
        if self.labels is not None:
            arrays["labels"] = self.labels[keep]
        return TokenizedSplit(arrays, self.pad_id, self.multiple)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        lengths = self.lengths[indices]
        width = -(-int(lengths.max()) // self.multiple) * self.multiple
        batch = {}
        for key in self.keys:
            out = np.full((len(indices), width), self.pad_id if key == "input_ids" else 0, np.int64)
            flat = self.arrays[key]
            for row, i in enumerate(indices):
                out[row, : lengths[row]] = flat[self.offsets[i] : self.offsets[i + 1]]
            batch[key] = torch.from_numpy(out)
        batch["attention_mask"] = torch.from_numpy(
            (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        )
        batch["idx"] = torch.from_numpy(self.arrays["index"][indices])
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[indices])
        return batch


def collate(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The dataset already returns whole batches; a named function so workers can pickle it."""
    return batch


def encode(tokenizer, texts: tuple[list[str], ...], max_length: int) -> list:
    """Rust encodings of one or two text columns, truncated as ``tokenizer(..., truncation=True)``.

    The same ids as calling the tokenizer, which also builds a Python dict per row: that is about
    half of its time on a large split such as SST-2.
    """
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(max_length, strategy="longest_first", direction=tokenizer.truncation_side)
    backend.no_padding()
    rows = list(zip(*texts)) if len(texts) > 1 else texts[0]
    return backend.encode_batch(rows, add_special_tokens=True)


def tokenize(tokenizer, ex: Examples, max_length: int, label_dtype: str) -> dict[str, np.ndarray]:
    """Flat token arrays of ``ex``; labels as ``label_dtype`` (the task's: float scores or class ids)."""
    encodings = encode(tokenizer, ex.texts, max_length)
    ids = [e.ids for e in encodings]
    arrays = {}
    lengths = np.fromiter(map(len, ids), np.int64, len(ex))
    arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths)])
    total = int(arrays["offsets"][-1])
    arrays["input_ids"] = np.fromiter(chain.from_iterable(ids), np.int32, total)
    if "token_type_ids" in tokenizer.model_input_names:
        types = chain.from_iterable(e.type_ids for e in encodings)
        arrays["token_type_ids"] = np.fromiter(types, np.int32, total)
    arrays["index"] = np.asarray(ex.index, np.int64)
    if ex.labels is not None:
        arrays["labels"] = np.asarray(ex.labels, label_dtype)
    return arrays


def load_or_tokenize(
    tokenizer, ex: Examples, max_length: int, label_dtype: str, cache_dir: Path | None
) -> dict[str, np.ndarray]:
    """Tokenized arrays of ``ex``, from the cache when tokenizer, length and data are unchanged."""
    if cache_dir is None:
        return tokenize(tokenizer, ex, max_length, label_dtype)
    key = "-".join(
        (CACHE_VERSION, tokenizer_fingerprint(tokenizer), str(max_length), examples_fingerprint(ex))
    )
    path = cache_dir / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as data:
                return dict(data)
        except (OSError, ValueError):
            pass  # unreadable (e.g. truncated by a full disk): tokenize again and replace it
    arrays = tokenize(tokenizer, ex, max_length, label_dtype)
    try:
        _write_atomically(path, arrays)
    except OSError as err:
        # A cache that cannot be written (full disk, cleared meanwhile, ...) only costs time next run.
        warnings.warn(f"tokenization cache not written: {err}", stacklevel=2)
    return arrays


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a private file and rename: concurrent runs never see a half-written cache entry.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length in random order, so little compute goes to padding.

    Each epoch shuffles all examples with ``seed + epoch``, sorts them by length inside windows of
    ``window`` batches, cuts batches and shuffles the batch order: training stays random while
    padding shrinks. With ``shuffle=False`` (evaluation) batches are cut from the length-sorted
    split. Under DDP each rank takes every ``world_size``-th batch; training ranks get equal counts.
    Windows of 256 batches: on CoLA (batch 32) 98.5% of the padded tokens are real, against 96.7%
    with 64, and the dev MCC over three seeds stayed within seed-to-seed spread.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        group_by_length: bool = True,
        seed: int = 0,
        window: int = 256,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.seed = seed
        self.window = window
        self.rank = rank
        self.world_size = world_size
        # Not `self.drop_last`: with both batch_size and drop_last, Lightning's predict re-creates the
        # sampler as cls(sampler, batch_size=, drop_last=), which this class does not take.
        self._drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[np.ndarray]:
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            # Every rank needs a batch: one without any would skip the metric sync the others wait in.
            bs = min(bs, max(1, -(-n // self.world_size)))
            order = np.argsort(-self.lengths, kind="stable") if self.group_by_length else np.arange(n)
            return [order[i : i + bs] for i in range(0, n, bs)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        if self.group_by_length:
            span = bs * self.window
            order = np.concatenate([
                chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                for chunk in np.split(order, range(span, n, span))
            ])
        batches = [order[i : i + bs] for i in range(0, n, bs)]
        if self._drop_last and len(batches[-1]) < bs:
            batches.pop()
        if self.group_by_length:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        # DDP ranks must run the same number of steps; drop the remainder batches.
        usable = len(batches) - len(batches) % self.world_size
        return batches[:usable]

    def __iter__(self):
        for batch in self._batches()[self.rank :: self.world_size]:
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._batches()[self.rank :: self.world_size])

