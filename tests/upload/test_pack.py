"""Reading files for a batch: what pack does with files that are not what the scan saw."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from oxen_async.hashing import hash_bytes
from oxen_async.upload.pack import CompressionMemo, FileJob, PackedBatch, pack


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


def _write(folder: Path, name: str, data: bytes) -> FileJob:
    path = folder / name
    path.write_bytes(data)
    return _job(path, name)


def test_a_run_of_incompressible_files_stops_paying_a_probe_each(tmp_path: Path) -> None:
    memo = CompressionMemo()
    jobs = [_write(tmp_path, f"{i}.jpg", os.urandom(40_000)) for i in range(100)]
    batch = pack(jobs, "auto", memo=memo)
    assert not batch.failures and batch.wire_bytes == batch.raw_bytes  # all sent raw
    # The first TRUST files are probed; then only one in RECHECK is.
    assert CompressionMemo.TRUST <= memo.probes <= CompressionMemo.TRUST + 100 // 32 + 1
    assert [j.hash for j in batch.jobs] == [hash_bytes(Path(j.abs_path).read_bytes()) for j in jobs]


def test_an_extension_that_starts_compressing_is_noticed(tmp_path: Path) -> None:
    memo = CompressionMemo()
    noise = [_write(tmp_path, f"n{i}.dat", os.urandom(40_000)) for i in range(40)]
    pack(noise, "auto", memo=memo)
    text = [_write(tmp_path, f"t{i}.dat", b"line %d of text\n" % i * 2000) for i in range(80)]
    batch = pack(text, "auto", memo=memo)
    # Trusted as raw at first, but the recheck sees gzip paying off and the verdict flips.
    assert batch.wire_bytes < batch.raw_bytes / 2
    assert memo.verdict(".dat") is True


def test_files_of_other_extensions_are_judged_on_their_own(tmp_path: Path) -> None:
    memo = CompressionMemo()
    pack([_write(tmp_path, f"{i}.bin", os.urandom(30_000)) for i in range(20)], "auto", memo=memo)
    csv = _write(tmp_path, "table.csv", b"a,b,c\n1,2,3\n" * 5000)
    batch = pack([csv], "auto", memo=memo)
    assert batch.wire_bytes < batch.raw_bytes / 4
