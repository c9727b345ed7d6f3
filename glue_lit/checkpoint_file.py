"""Whether a checkpoint file is whole, without loading it (no torch or Lightning import)."""

from __future__ import annotations

import zipfile
from pathlib import Path


def unreadable(path: Path) -> str | None:
    """Why ``path`` is not a whole checkpoint file (cut short, corrupted), or None if it is.

    torch saves a zip archive with a checksum per record: checking them reads the file once without
    unpickling anything (a 270 MB MiniLM checkpoint with its optimizer state is read in well under a
    second), and catches what torch.load would only report as a failure deep in the zip reader.
    """

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile:
        return "cut short, or not a checkpoint: no complete zip archive"
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    except Exception as err:  # zipfile raises several types on damaged headers
        return f"corrupted: {type(err).__name__}"
    return f"corrupted: record {bad} fails its checksum" if bad is not None else None
