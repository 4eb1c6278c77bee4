"""Reading sources and writing results through local paths or ObjectStoragePath (any fsspec scheme)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def as_path(location: Any) -> Any:
    """Return an ObjectStoragePath for ``scheme://`` strings, a Path for plain local paths, else as is."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if isinstance(location, (str, os.PathLike)) and not isinstance(location, ObjectStoragePath):
        text = os.fspath(location)
        return ObjectStoragePath(text) if "://" in text else Path(text)
    return location


def read_source(source: Any, *, field: str) -> tuple[str, bytes]:
    """Return ``(file name, content)`` of a local path, ObjectStoragePath or ``scheme://`` string."""
    path = as_path(source)
    if not hasattr(path, "read_bytes"):
        raise ValueError(
            f"{field}: expected a path, an ObjectStoragePath or bytes, got {type(source).__name__}"
        )
    try:
        return path.name, path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{field}: {source} does not exist") from None


def write_stream(destination: Any, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``destination`` one at a time (constant memory); return the bytes written."""
    path = as_path(destination)
    with contextlib.suppress(NotImplementedError, OSError):  # object stores have no directories
        path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            written += len(chunk)
    return written


def is_folder(destination: Any) -> bool:
    """Whether ``destination`` names a folder (ends with "/" or is an existing directory)."""
    if isinstance(destination, str) and destination.endswith("/"):
        return True
    path = as_path(destination)
    try:
        return bool(path.is_dir())
    except Exception:
        return False
