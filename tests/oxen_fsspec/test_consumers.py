"""The ecosystem reading and writing through the filesystem: pandas, pyarrow, datasets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oxen_async.fs import OxenFileSystem
from oxen_async.testing.handle import ServerHandle

from .conftest import Wire, history

pd = pytest.importorskip("pandas", reason="pandas drives these consumer tests (test extra)")
pa = pytest.importorskip("pyarrow", reason="pyarrow drives these consumer tests (test extra)")
import pyarrow.parquet as pq  # noqa: E402


def _frame(rows: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "small": rng.integers(0, 10, rows).astype("int8"),
            "noise_a": rng.random(rows),
            "noise_b": rng.random(rows),
            "noise_c": rng.random(rows),
            "text": [f"row-{i}-{'x' * (i % 17)}" for i in range(rows)],
        }
    )


def test_pandas_csv_and_parquet_round_trip(
    fs: OxenFileSystem, url: Callable[[str], str], storage_options: dict[str, Any]
) -> None:
    df = _frame(500)
    df.to_csv(url("tables/frame.csv"), index=False, storage_options=storage_options)
    df.to_parquet(url("tables/frame.parquet"), storage_options=storage_options)
    assert [c.message for c in history(fs)[:2]] == [
        "Write tables/frame.parquet",
        "Write tables/frame.csv",
    ]  # one commit each, as each to_* call closes its file
    back_csv = pd.read_csv(url("tables/frame.csv"), storage_options=storage_options)
    pd.testing.assert_frame_equal(back_csv, df, check_dtype=False)  # CSV keeps no dtypes
    back_pq = pd.read_parquet(url("tables/frame.parquet"), storage_options=storage_options)
    pd.testing.assert_frame_equal(back_pq, df)


def test_parquet_projection_reads_only_some_ranges(
    fs: OxenFileSystem, wire: Wire, oxen_server: ServerHandle
) -> None:
    table = pa.Table.from_pandas(_frame(200_000), preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=50_000, compression="none")
    fs.pipe("big/frame.parquet", sink.getvalue().to_pybytes())
    size = fs.info("big/frame.parquet")["size"]
    assert size > 4 * 1024 * 1024
    wire.clear()
    stats = oxen_server.faults.stats if oxen_server.faults is not None else None
    if stats is not None:
        stats.reset()
    with fs.open("big/frame.parquet", "rb", cache_type="none") as f:
        footer = pq.ParquetFile(f).metadata  # the footer alone
    assert footer.num_rows == 200_000
    footer_bytes = wire.bytes_from("chunk")
    assert wire.to("file") == [] and 0 < footer_bytes < size / 50
    wire.clear()
    with fs.open("big/frame.parquet", "rb", cache_type="none") as f:
        small = pq.read_table(f, columns=["small"])
    assert small.column("small").to_pylist() == table.column("small").to_pylist()
    fetched = wire.bytes_from("chunk", "file")
    assert wire.to("file") == []  # ranges only: no whole-file download
    # int8 is 1 of the 45 or so bytes a row holds: the projection reads a small fraction.
    assert fetched < size / 10, (fetched, size)
    if stats is not None:  # the bundled server counts what it sent the same way
        assert stats.file_bytes("chunk_download") == footer_bytes + fetched
        assert stats.requests("file_get") == 0


def test_datasets_load_dataset_from_an_oxen_url(
    fs: OxenFileSystem,
    url: Callable[[str], str],
    storage_options: dict[str, Any],
    tmp_path: Any,
) -> None:
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets (test extra)")
    for i in range(2):
        part = _frame(300).assign(part=i)
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), buffer)
        fs.pipe(f"hf/train-{i}.parquet", buffer.getvalue().to_pybytes())
    loaded = datasets.load_dataset(
        "parquet",
        data_files={"train": url("hf/train-*.parquet")},
        storage_options=storage_options,
        cache_dir=str(tmp_path / "hf-cache"),
    )["train"]
    assert loaded.num_rows == 600
    assert sorted(set(loaded["part"])) == [0, 1]
    assert loaded[299]["text"] == _frame(300)["text"][299]
