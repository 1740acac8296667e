"""The download engine: folders mirrored at the wire's speed, files streamed, blobs cached.

- ``download_folder`` (also ``RemoteRepo.download_folder`` and ``oxen-async download``): small
  files in ``QUERY /versions`` batches unpacked as they stream, mid-size ones one ranged read
  each, large ones by concurrent ranged reads (``/chunk``), every file hash-checked before it
  is renamed into place.
- ``iter_files``: ``(path, bytes)`` of a folder's files with bounded read-ahead.
- ``ContentCache``: a local content-addressed cache shared by processes, bounded in size.
- Building blocks for other front ends (fsspec, torch): ``fetch_bytes`` (many blobs as bytes,
  one request, cache first), ``fetch_batch`` (many blobs into any sink), ``fetch_whole`` (one
  file in one ranged read), ``fetch_large`` (one file by ranges), ``download_to`` (one file
  by ``/file``).
"""

from .batch import BatchRefused, Blob, BlobsMissing, fetch_batch
from .blobs import FETCH_BYTES_LIMIT, fetch_bytes
from .cache import CACHE_ENV, ContentCache, default_cache_dir
from .engine import (
    BATCH_BYTES,
    BATCH_FILES,
    FIRST_BATCH_FILES,
    LARGE_FILE_BYTES,
    download_folder,
)
from .pathlist import PathList
from .ranged import fetch_large
from .report import DownloadReport
from .routes import SMALL_FILE_BYTES, WHOLE_FILE_BYTES
from .single import download_to
from .stream import iter_files
from .whole import fetch_whole

__all__ = [
    "BATCH_BYTES",
    "BATCH_FILES",
    "CACHE_ENV",
    "FETCH_BYTES_LIMIT",
    "FIRST_BATCH_FILES",
    "LARGE_FILE_BYTES",
    "SMALL_FILE_BYTES",
    "WHOLE_FILE_BYTES",
    "BatchRefused",
    "Blob",
    "BlobsMissing",
    "ContentCache",
    "DownloadReport",
    "PathList",
    "default_cache_dir",
    "download_folder",
    "download_to",
    "fetch_batch",
    "fetch_bytes",
    "fetch_large",
    "fetch_whole",
    "iter_files",
]
