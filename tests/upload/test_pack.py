"""Reading files for a batch: what pack does with files that are not what the scan saw."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from oxen_async.hashing import hash_bytes
from oxen_async.upload.pack import FileJob, PackedBatch, pack


def _job(path: Path, rel: str) -> FileJob:
    return FileJob(rel, str(path), 0, 0, "")


def test_a_file_swapped_for_a_fifo_is_reported_not_waited_on(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(b"hello\n" * 100)
    fifo = tmp_path / "was-a-file"
    os.mkfifo(fifo)  # no writer will ever come: a blocking open would hang forever
    result: list[PackedBatch] = []
    worker = threading.Thread(
        target=lambda: result.append(pack([_job(fifo, "fifo"), _job(good, "good.txt")], "auto")),
        daemon=True,
    )
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "pack hung on a FIFO"
    (batch,) = result
    assert [(j.rel_path, why) for j, why in batch.failures] == [
        ("fifo", "cannot read: no longer a regular file")
    ]
    assert [j.rel_path for j in batch.jobs] == ["good.txt"]
    assert batch.jobs[0].hash == hash_bytes(good.read_bytes())
    assert batch.jobs[0].size == 600
