"""Which request carries a file, by its size: the one home of the line every reader draws (the
folder engine, ``iter_files``, fsspec's ``cat`` of many paths, the torch datasets).

- up to ``SMALL_FILE_BYTES``: many to a ``QUERY /versions`` (a gzipped tar). A request per
  file would cost the server ~1.3 ms of CPU each whatever the size; the batch costs it ~0.1 ms
  a file plus its gzip, ~55 us a KiB of text and ~31 us a KiB of incompressible bytes
  (measured on real 0.65.2), so past ~22-40 KiB the batch is the dearer of the two.
- up to ``WHOLE_FILE_BYTES``: one ``GET /chunk`` of the whole file, held in memory (``whole``).
  Not ``GET /file``: same bytes, 2.1 ms of server CPU a file against 1.3.
- larger: ranged reads, several in flight, streamed to disk (``ranged``).
"""

from __future__ import annotations

SMALL_FILE_BYTES = 32 * 1024
WHOLE_FILE_BYTES = 1024 * 1024


def batched(size: int) -> bool:
    """Whether a file of ``size`` bytes travels in a QUERY batch."""
    return size <= SMALL_FILE_BYTES
