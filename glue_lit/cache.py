"""``python -m glue_lit clear-cache [--cache_dir DIR]``: delete the tokenization cache and the
precision timings.

The cache holds one ``<task>/<key>.npz`` per tokenized split (see batching.py) and
``precision.json``, the bf16-against-fp32 step timings behind the CPU's default precision (see
precision.py); runs rebuild what they need. A timing taken while other jobs loaded the cores can pick
the slower precision: clearing the cache times it again. Only those files (and temporary files left
by killed runs) are deleted, so a mistyped ``--cache_dir`` cannot wipe anything else.
"""

from __future__ import annotations

import argparse
import os
from contextlib import suppress
from pathlib import Path

from glue_lit.tasks import TASKS


def default_cache_dir() -> Path:
    """``$GLUE_LIT_CACHE``, else ``~/.cache/glue_lit``. Here, not in batching.py: ``clear-cache``
    must not wait seconds for torch to load."""
    return Path(os.environ.get("GLUE_LIT_CACHE", Path.home() / ".cache" / "glue_lit"))


def clear_cache(root: Path) -> tuple[int, int]:
    """Delete the cache entries under ``root``; returns how many files and bytes were freed."""
    files = size = 0
    for folder in (root / name for name in TASKS):
        if not folder.is_dir():
            continue
        for path in [*folder.glob("*.npz"), *folder.glob("*.tmp")]:
            with suppress(FileNotFoundError):  # another clear-cache, or a run renaming its entry
                size += path.stat().st_size
                path.unlink()
                files += 1
        with suppress(OSError):  # left in place when it holds anything else
            folder.rmdir()
    for path in [root / "precision.json", *root.glob("precision.json.*.tmp")]:
        with suppress(FileNotFoundError):
            size += path.stat().st_size
            path.unlink()
            files += 1
    return files, size


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m glue_lit clear-cache",
        description="Delete the tokenization cache and the precision timings; the next runs redo them.",
    )
    parser.add_argument(
        "--cache_dir", help="cache folder (default: $GLUE_LIT_CACHE, else ~/.cache/glue_lit)"
    )
    args = parser.parse_args(argv)
    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    files, size = clear_cache(root)
    print(f"{root}: deleted {files} cached files ({size / 2**20:.1f} MiB)")
