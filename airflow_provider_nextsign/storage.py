"""Reading sources and writing results through local paths or ObjectStoragePath (any fsspec scheme).

Shared by the documents operators and the report's file writers. Results are written to a temporary
name beside the destination and renamed into place when complete, so a failure part way never leaves a
truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from airflow_provider_nextsign.exceptions import NextSignConnectionError

__all__ = [
    "DOWNLOAD_ATTEMPTS",
    "MAX_NAME_BYTES",
    "as_path",
    "atomic_open",
    "download_to",
    "fit_name",
    "is_folder",
    "read_source",
    "write_stream",
]

log = logging.getLogger(__name__)

#: The longest file name most file systems allow, in bytes.
MAX_NAME_BYTES = 255
#: Attempts of a download whose body breaks off part way.
DOWNLOAD_ATTEMPTS = 3


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


def fit_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` if it fits in ``limit`` UTF-8 bytes, else shortened keeping its extension plus a hash.

    The hash of the full name keeps two long names that share their beginning apart.
    """
    encoded = name.encode("utf-8")
    if len(encoded) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    suffix = f".{extension}" if dot and stem and len(extension.encode("utf-8")) <= 16 else ""
    if not suffix:
        stem = name
    tag = "-" + hashlib.sha256(encoded).hexdigest()[:12]
    room = limit - len(suffix.encode("utf-8")) - len(tag)
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore") + tag + suffix


@contextlib.contextmanager
def atomic_open(destination: Any) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``destination`` for writing; rename it into place if the block succeeds.

    On any error the temporary file is removed and ``destination`` (if it existed) is left as it was.
    """
    path = as_path(destination)
    with contextlib.suppress(NotImplementedError, OSError):  # object stores have no directories
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{uuid.uuid4().hex}.nextsign-part"
    try:
        with temporary.open("wb") as fh:
            yield fh
        temporary.rename(path)  # POSIX rename locally; copy then delete on object stores
    except BaseException:
        with contextlib.suppress(Exception):
            temporary.unlink()
        raise


def write_stream(destination: Any, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``destination`` one at a time (constant memory); return the bytes written.

    The file appears under its name only when every chunk was written.
    """
    written = 0
    with atomic_open(destination) as fh:
        for chunk in chunks:
            fh.write(chunk)
            written += len(chunk)
    return written


def download_to(
    destination: Any, open_stream: Callable[[], Iterable[bytes]], *, attempts: int = DOWNLOAD_ATTEMPTS
) -> int:
    """Write the stream ``open_stream()`` returns to ``destination``, starting again if it breaks off.

    A body that breaks off part way (:class:`NextSignConnectionError`) is downloaded again from the
    start, up to ``attempts`` times in all; the destination is only ever replaced by a complete file.
    """
    for attempt in range(1, attempts + 1):
        try:
            return write_stream(destination, open_stream())
        except NextSignConnectionError as err:
            if attempt >= attempts:
                raise
            log.warning(
                "Download to %s broke off (%s); starting it again (%d/%d)",
                destination,
                err,
                attempt + 1,
                attempts,
            )
    raise AssertionError("unreachable")  # pragma: no cover


def is_folder(destination: Any) -> bool:
    """Whether ``destination`` names a folder (ends with "/" or is an existing directory)."""
    if isinstance(destination, str) and destination.endswith("/"):
        return True
    path = as_path(destination)
    try:
        return bool(path.is_dir())
    except Exception:
        return False
